// Helpers for running serverless-offline from scripts and tests.
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `url` until it answers any HTTP status (the server is up), or fails after `timeoutMs`. */
export const waitForHttp = async (url: string, timeoutMs: number, child?: ChildProcess): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child !== undefined && child.exitCode !== null) throw new Error(`process exited with code ${child.exitCode}`);
    try {
      await fetch(url, { signal: AbortSignal.timeout(2000) });
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`no answer from ${url} after ${timeoutMs} ms`);
      await sleep(250);
    }
  }
};
