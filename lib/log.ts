// Structured logs through Powertools for AWS Lambda's Logger: one JSON object per line (level,
// message, timestamp, service, and, once lib/handler.ts's injectLambdaContext ran, cold start,
// function name and request id, X-Ray trace id), which CloudWatch Logs Insights can query.
// LOG_LEVEL (debug, info, warn, error, silent; default info) drops the less important lines;
// AWS_LAMBDA_LOG_LEVEL (Lambda's advanced logging controls), when set, takes precedence.
// Lines written while a request is handled carry its fields (withLogFields: request id, route,
// source address, caller), so a failed login or a refused host credential leads to the request
// line and to where it came from. Audit lines are lib/audit.ts's: LOG_LEVEL cannot silence them.
import { AsyncLocalStorage } from 'node:async_hooks';
import { Logger, LogLevelThreshold } from '@aws-lambda-powertools/logger';

export type Level = 'debug' | 'info' | 'warn' | 'error';

/** The service's name in every line (POWERTOOLS_SERVICE_NAME, set by serverless.yml). */
export const serviceName = (): string => process.env.POWERTOOLS_SERVICE_NAME || 'keyper-serverless';

const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'] as const;
type PowertoolsLevel = (typeof LEVELS)[number];

/** LOG_LEVEL (POWERTOOLS_LOG_LEVEL first, as Powertools reads them) in any case: Powertools takes upper case only. */
const configuredLevel = (): PowertoolsLevel => {
  const wanted = (process.env.POWERTOOLS_LOG_LEVEL || process.env.LOG_LEVEL || 'INFO').toUpperCase();
  return LEVELS.find((level) => level === wanted) ?? 'INFO';
};

export const logger = new Logger({ serviceName: serviceName(), logLevel: configuredLevel() });

const requestFields = new AsyncLocalStorage<Record<string, unknown>>();

/** Runs `work` with `fields` added to every line it logs (concurrent invocations keep their own). */
export const withLogFields = <T>(fields: Record<string, unknown>, work: () => T): T => requestFields.run(fields, work);

/** The fields of the request being handled (a live object: fields added later show in later lines). */
export const logFields = (): Record<string, unknown> | undefined => requestFields.getStore();

// The level follows LOG_LEVEL as it is at each line: in Lambda it never changes, tests and local
// runs change it between invocations. (With Lambda's AWS_LAMBDA_LOG_LEVEL set, Powertools keeps that.)
// Levels compared by number (getLevelName() searches the table at every call).
const followLevel = (): void => {
  const wanted = configuredLevel();
  if (logger.level !== LogLevelThreshold[wanted]) logger.setLogLevel(wanted);
};

const THRESHOLDS: Readonly<Record<Level, number>> = { debug: LogLevelThreshold.DEBUG, info: LogLevelThreshold.INFO, warn: LogLevelThreshold.WARN, error: LogLevelThreshold.ERROR };

export const log = (level: Level, msg: string, fields: Record<string, unknown> = {}): void => {
  followLevel();
  // A line below the level is dropped by the Logger (which buffers none here): its fields need not be gathered.
  if (THRESHOLDS[level] < logger.level) return;
  logger[level](msg, { ...requestFields.getStore(), ...fields });
};
