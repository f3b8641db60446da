// Structured logs: one JSON object per line, which CloudWatch Logs Insights can query.
// LOG_LEVEL (debug, info, warn, error, silent; default info) drops the less important lines.
export type Level = 'debug' | 'info' | 'warn' | 'error';

const RANK: Record<Level | 'silent', number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

const threshold = (): number => RANK[(process.env.LOG_LEVEL ?? 'info') as Level] ?? RANK.info;

export const log = (level: Level, msg: string, fields: Record<string, unknown> = {}): void => {
  if (RANK[level] < threshold()) return;
  const line = JSON.stringify({ level, msg, ...fields });
  if (level === 'error' || level === 'warn') console.error(line);
  else console.log(line);
};
