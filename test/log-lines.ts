// The JSON lines the service writes (Powertools' Logger and Metrics write to process.stdout and
// process.stderr through their own Console, not through `console`): collected while a test runs.
import { vi } from 'vitest';

export type Line = Record<string, unknown>;

/** Collects every JSON line written from now until vi.restoreAllMocks() (or the spies' own restore). */
export const captureLines = (): Line[] => {
  const lines: Line[] = [];
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
