// GET /api/openapi.json — the OpenAPI 3.1 description of every route; no token, no directory.
// It is openapi.json as `npm run openapi` writes it from lib/openapi.ts, bundled into this function
// (lib/openapi.ts itself, with every schema, stays out of every bundle).
import { routeWithoutDirectory } from '../../lib/handler.js';
import document from '../../openapi.json' with { type: 'json' };

const body = JSON.stringify(document);

// A new answer each time: the middlewares add headers to it.
export const handler = routeWithoutDirectory(async () => ({ statusCode: 200, headers: { 'Content-Type': 'application/json' }, body }));
