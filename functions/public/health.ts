// GET /api/health — 200 {"status":"ok"} when the directory accepts the service account's bind,
// which the route factory makes before the work; 503 {"msg": "Directory unavailable"} otherwise,
// whatever the reason (down, too slow, a refused bind), which only the log says. No token: load
// balancers and monitors call it.
import type middy from '@middy/core';
import { apiError, toApiError } from '../../lib/errors.js';
import { json, publicRoute, type Event, type Result } from '../../lib/handler.js';
import { log } from '../../lib/log.js';

/** Every failure of the check is "not ready": a 503 with the usual body. */
const notReady = (): middy.MiddlewareObj<Event, Result> => ({
  onError: (request) => {
    if (toApiError(request.error).statusCode === 503) return;
    log('error', 'health check failed', { error: String(request.error) });
    request.error = apiError(503, 'Directory unavailable', {}, request.error);
  },
});

export const handler = publicRoute({}, async () => json(200, { status: 'ok' })).use(notReady());
