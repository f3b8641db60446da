// OPTIONS /api/{anything} — the CORS preflight of every route: 204, with the CORS headers of
// lib/browser.ts (which name the Origin only when it is one of CORS_ORIGINS). No token, no
// directory. API Gateway's own CORS is off, so this function is what answers browsers.
import { routeWithoutDirectory } from '../../lib/handler.js';

export const handler = routeWithoutDirectory(async () => ({ statusCode: 204 }));
