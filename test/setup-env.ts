// Points the handlers that tests invoke directly at the private directory of this run.
import { inject } from 'vitest';

Object.assign(process.env, inject('env'));

// Audit lines cannot be turned off (lib/audit.ts): left out of the test report, which they would
// drown. Tests that read them spy on process.stdout.write first (test/log-lines.ts).
const write = process.stdout.write.bind(process.stdout) as (chunk: unknown, ...rest: unknown[]) => boolean;
process.stdout.write = ((chunk: unknown, ...rest: unknown[]) =>
  typeof chunk === 'string' && chunk.startsWith('{"level":"INFO","message":"audit"') ? true : write(chunk, ...rest)) as typeof process.stdout.write;
