// The JSON lines the service writes (Powertools' Logger and Metrics write to process.stdout and
// process.stderr through their own Console, not through `console`): collected while a test runs.
import { afterEach, beforeEach, vi } from 'vitest';

export type Line = Record<string, unknown>;

/**
 * Collects every JSON line written from now until vi.restoreAllMocks() (or the spies' own restore),
 * into `lines` (a new array unless given).
 */
export const captureLines = (lines: Line[] = []): Line[] => {
  const collect = (chunk: unknown): boolean => {
    for (const text of String(chunk).split('\n')) {
      if (!text.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(text) as Line);
      } catch {
        // Not one of ours.
      }
    }
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(collect);
  vi.spyOn(process.stderr, 'write').mockImplementation(collect);
  return lines;
};

/**
 * For each test of the calling file: LOG_LEVEL set to `level` and the lines written collected in
 * the array returned (emptied before each test); after each, the spies removed (vi.restoreAllMocks)
 * and LOG_LEVEL put back as it was.
 */
export const captureLinesAt = (level: string): Line[] => {
  const lines: Line[] = [];
  let saved: string | undefined;
  beforeEach(() => {
    saved = process.env.LOG_LEVEL;
    process.env.LOG_LEVEL = level;
    lines.length = 0;
    captureLines(lines);
  });
  afterEach(() => {
    vi.restoreAllMocks();
    if (saved === undefined) delete process.env.LOG_LEVEL;
    else process.env.LOG_LEVEL = saved;
  });
  return lines;
};
