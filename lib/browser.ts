// What browsers get with every response of the functions: CORS for the configured console origins
// only (CORS_ORIGINS; none by default) and security headers. The functions answer CORS themselves,
// preflight included (functions/public/preflight.ts); API Gateway's own CORS (provider.httpApi.cors)
// stays off, since it would replace the functions' headers with its own.
import type middy from '@middy/core';
import httpCors from '@middy/http-cors';
import httpSecurityHeaders from '@middy/http-security-headers';
import { normalizeHttpResponse } from '@middy/util';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

type Middleware = middy.MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>;

/** What a console may send (token, JSON, conditional writes) and read (validators, paging, back-off). */
const ALLOWED_HEADERS = 'Authorization, Content-Type, If-Match, If-None-Match';
const EXPOSED_HEADERS = 'ETag, Link, Retry-After';
const ALLOWED_METHODS = 'GET, POST, PUT, DELETE';
/** How long a browser may reuse a preflight answer (Chromium caps it at 2 hours). */
const PREFLIGHT_MAX_AGE_SECONDS = 7200;

/**
 * An allowed origin is echoed. Any other request, with or without an Origin, is answered with the
 * first allowed origin, which grants nothing to anyone else, rather than with none: a layer in front
 * that fills in a missing Access-Control-Allow-Origin (serverless-offline reflects any Origin into
 * such a response) cannot then grant it either. Several origins make the answer vary: http-cors adds
 * `Vary: Origin` then.
 */
const cors = (origins: readonly string[]): Middleware => {
  const allowed = new Set(origins);
  return httpCors({
    origins: [...origins],
    getOrigin: (incoming) => (allowed.has(incoming) ? incoming : origins[0]!),
    headers: ALLOWED_HEADERS,
    methods: ALLOWED_METHODS,
    exposeHeaders: EXPOSED_HEADERS,
    maxAge: PREFLIGHT_MAX_AGE_SECONDS,
  }) as Middleware;
};

/**
 * The library's headers for every content type: nosniff (no JSON or text/plain read as HTML),
 * HSTS, no referrer, no cross-domain policies. Changed: HSTS without `preload` (a commitment of the
 * whole domain, not the API's to make), no empty `Reporting-Endpoints` (nothing to report to), and
 * Server / X-Powered-By left alone (the default writes undefined values; API Gateway sets its own).
 */
const securityHeaders = (): Middleware =>
  httpSecurityHeaders({
    strictTransportSecurity: { preload: false },
    poweredBy: false,
    // Not in the package's type, but read like the others.
    ...{ reportingEndpoints: false },
  }) as Middleware;

/**
 * What the library sets for HTML only, and an API's answers need as well (OWASP's REST security
 * headers): never framed, nothing loaded if opened as a page, not kept in a cache (users, keys,
 * tokens) unless a route says otherwise.
 */
const API_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
  'Cache-Control': 'no-store',
};

const apiHeaders = (): Middleware => {
  const after: middy.MiddlewareFn<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> = (request) => {
    if (request.response === undefined && request.error !== undefined) return;
    normalizeHttpResponse(request);
    const headers = request.response!.headers!;
    const present = new Set(Object.keys(headers).map((name) => name.toLowerCase()));
    for (const [name, value] of Object.entries(API_HEADERS)) if (!present.has(name.toLowerCase())) headers[name] = value;
  };
  return { after, onError: after };
};

/** CORS (when origins are configured) and security headers, for responses and error responses alike. */
export const browserSafety = (origins: readonly string[]): Middleware[] => [
  ...(origins.length === 0 ? [] : [cors(origins)]),
  securityHeaders(),
  apiHeaders(),
];
