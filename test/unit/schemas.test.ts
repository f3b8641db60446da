// Every zod schema declared at the top of a module is marked /* @__PURE__ */ (lib/zod.ts says why):
// without the mark, esbuild keeps an unused schema and everything it refers to in every bundle
// that imports its module.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

const sources = async (folder: string): Promise<string[]> =>
  (await readdir(path.join(root, folder), { recursive: true })).filter((file) => file.endsWith('.ts')).map((file) => path.join(folder, file));

/** Top-level `const name = z.something(` declarations without the mark, as `file:line`. */
const unmarked = (file: string, text: string): string[] =>
  text.split('\n').flatMap((line, i) => (/^(export )?const \w+(: [^=]+)? = z\./.test(line) ? [`${file}:${i + 1}`] : []));

describe('top-level schemas', () => {
  it('are all marked /* @__PURE__ */', async () => {
    const files = [...(await sources('lib')), ...(await sources('functions'))];
    const found: string[] = [];
    let marked = 0;
    for (const file of files) {
      const text = await readFile(path.join(root, file), 'utf8');
      found.push(...unmarked(file, text));
      marked += (text.match(/^(export )?const \w+(: [^=]+)? = \/\* @__PURE__ \*\/ /gm) ?? []).length;
    }
    expect(found).toEqual([]);
    // The scan finds the schemas at all: the marked ones are there to be counted.
    expect(marked).toBeGreaterThan(30);
  });
});
