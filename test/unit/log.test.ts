// lib/log.ts: the level follows LOG_LEVEL as it is at each line, and a line below the level is
// left out without reaching the Logger (which would drop it too).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { log, withLogFields } from '../../lib/log.js';
import { captureLines } from '../log-lines.js';

describe('log', () => {
  const saved = process.env.LOG_LEVEL;
  afterEach(() => {
    vi.restoreAllMocks();
    if (saved === undefined) delete process.env.LOG_LEVEL;
    else process.env.LOG_LEVEL = saved;
  });

  it('writes the lines at or above LOG_LEVEL as it is at each line, with the request fields', () => {
    const lines = captureLines();
    withLogFields({ requestId: 'r1' }, () => {
      process.env.LOG_LEVEL = 'warn';
      log('info', 'not at warn');
      log('debug', 'not at warn either');
      log('warn', 'at warn', { n: 1 });
      process.env.LOG_LEVEL = 'debug';
      log('debug', 'at debug');
      process.env.LOG_LEVEL = 'ERROR';
      log('warn', 'not at error');
      log('error', 'at error');
      process.env.LOG_LEVEL = 'silent';
      log('error', 'not when silent');
    });
    expect(lines.map(({ level, message, requestId }) => [level, message, requestId])).toEqual([
      ['WARN', 'at warn', 'r1'],
      ['DEBUG', 'at debug', 'r1'],
      ['ERROR', 'at error', 'r1'],
    ]);
    expect(lines[0]?.n).toBe(1);
  });
});
