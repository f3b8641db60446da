// Structured logs: one JSON object per line, which CloudWatch Logs Insights can query.
// LOG_LEVEL (debug, info, warn, error, silent; default info) drops the less important lines.
// Lines written while a request is handled carry its id and source address (withLogFields), so a
// failed login or a refused host credential leads to the request line and to where it came from.
import { AsyncLocalStorage } from 'node:async_hooks';

export type Level = 'debug' | 'info' | 'warn' | 'error';

const RANK: Record<Level | 'silent', number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

const threshold = (): number => RANK[(process.env.LOG_LEVEL ?? 'info') as Level] ?? RANK.info;

const requestFields = new AsyncLocalStorage<Record<string, unknown>>();

/** Runs `work` with `fields` added to every line it logs (concurrent invocations keep their own). */
export const withLogFields = <T>(fields: Record<string, unknown>, work: () => T): T => requestFields.run(fields, work);

export const log = (level: Level, msg: string, fields: Record<string, unknown> = {}): void => {
  if (RANK[level] < threshold()) return;
  const line = JSON.stringify({ level, msg, ...requestFields.getStore(), ...fields });
  if (level === 'error' || level === 'warn') console.error(line);
  else console.log(line);
};
