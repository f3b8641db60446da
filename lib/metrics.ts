// CloudWatch metrics as Embedded Metric Format lines (Powertools for AWS Lambda's Metrics): stored
// during an invocation, written as one JSON line to stdout by lib/handler.ts's logMetrics at its
// end; CloudWatch turns them into metrics, elsewhere they are just lines. Namespace from
// POWERTOOLS_METRICS_NAMESPACE (serverless.yml), dimension `service` from POWERTOOLS_SERVICE_NAME;
// POWERTOOLS_METRICS_DISABLED=true leaves them out (the test runs do).
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { log, serviceName } from './log.js';

export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || 'KeyperServerless',
  serviceName: serviceName(),
  // Its notices as our lines; an invocation without metrics (a token refused before any directory
  // work, the API description) is normal, not a warning.
  logger: {
    debug: (message: unknown) => log('debug', String(message)),
    info: (message: unknown) => log('info', String(message)),
    warn: (message: unknown) => log(String(message).startsWith('No application metrics') ? 'debug' : 'warn', String(message)),
    error: (message: unknown) => log('error', String(message)),
  },
});

/** The counts the service keeps: logins that got tokens, refused passwords, accounts locked by failures, 503 answers. */
export type Counted = 'Logins' | 'LoginFailures' | 'Lockouts' | 'ServiceUnavailable';

export const count = (name: Counted): void => {
  metrics.addMetric(name, MetricUnit.Count, 1);
};

/** How long one directory operation took (the connection's bind, searches and writes alike). */
export const directoryLatency = (ms: number): void => {
  metrics.addMetric('DirectoryLatency', MetricUnit.Milliseconds, ms);
};
