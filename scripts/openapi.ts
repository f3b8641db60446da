// `npm run openapi`: writes openapi.json, the OpenAPI 3.1 description of every route, from the
// registry in lib/openapi.ts (the handlers' own schemas). The openapi function serves that file;
// test/e2e/openapi.test.ts fails while it differs from what this script would write.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildOpenApi } from '../lib/openapi.js';
import pkg from '../package.json' with { type: 'json' };

export const OPENAPI_FILE = fileURLToPath(new URL('../openapi.json', import.meta.url));

/** The file's exact text: what the script writes and what the test compares. */
export const openApiText = (): string => `${JSON.stringify(buildOpenApi(pkg.version), null, 2)}\n`;

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await writeFile(OPENAPI_FILE, openApiText());
  console.log(`wrote ${path.relative(process.cwd(), OPENAPI_FILE)}`);
}
