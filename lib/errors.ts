// The API's error type and the mapping of directory failures to HTTP statuses.
// Errors become responses in exactly one place (lib/handler.ts); everything else throws.
import { createError } from '@middy/util';
import {
  AlreadyExistsError,
  BusyError,
  NoSuchObjectError,
  ResultCodeError,
  TypeOrValueExistsError,
  UnavailableError,
} from 'ldapts';

/** The JSON body every error response carries: `msg` is what Keyper clients display. */
export interface ErrorBody {
  msg: string;
  [detail: string]: unknown;
}

/** An HTTP error whose message is the JSON error body (so @middy/http-error-handler sends JSON). */
export type ApiError = ReturnType<typeof createError> & { body: ErrorBody };

export const apiError = (statusCode: number, msg: string, details: Record<string, unknown> = {}, cause?: unknown): ApiError => {
  const body: ErrorBody = { msg, ...details };
  const error = createError(statusCode, JSON.stringify(body), { cause, expose: true }) as ApiError;
  error.body = body;
  return error;
};

export const badRequest = (msg: string, details?: Record<string, unknown>): ApiError => apiError(400, msg, details);
export const unauthorized = (msg = 'Missing or invalid token'): ApiError => apiError(401, msg);
export const forbidden = (msg = 'Not Authorized to Access this resource'): ApiError => apiError(403, msg);
export const notFound = (msg: string): ApiError => apiError(404, msg);
export const conflict = (msg: string): ApiError => apiError(409, msg);

export const isApiError = (error: unknown): error is ApiError =>
  error instanceof Error && 'body' in error && 'statusCode' in error;

/** Errors raised while reaching the directory at all (refused, reset, DNS, timeouts, time up, TLS refused). */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE',
  'ERR_SOCKET_CONNECTION_TIMEOUT', 'ERR_SOCKET_CLOSED_BEFORE_CONNECTION', 'EDIRECTORYTLS',
]);

/**
 * Node's codes of a failed TLS handshake or certificate check: ERR_TLS_* and ERR_SSL_* (OpenSSL's
 * reasons), and the verification codes (CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE, ...).
 */
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|ERR_OSSL_|CERT_|UNABLE_TO_|CRL_|ERROR_IN_C(ERT|RL)_)|^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|HOSTNAME_MISMATCH|INVALID_CA|INVALID_PURPOSE|PATH_LENGTH_EXCEEDED)$/;

const codeOf = (error: Error): unknown => (error as { code?: unknown }).code;

/** Whether Node says a TLS handshake or certificate check failed (never a server that cannot be reached). */
export const isTlsFailure = (error: unknown): boolean => {
  const code = error instanceof Error ? codeOf(error) : undefined;
  return typeof code === 'string' && TLS_CODE.test(code);
};

export const isDirectoryUnavailable = (error: unknown): boolean => {
  if (!(error instanceof Error)) return false;
  // Middy's timeout (its `timeoutEarlyResponse`), an aborted operation, or the time budget's own.
  if (error.name === 'TimeoutError' || error.name === 'AbortError') return true;
  // An error with a code is judged by it alone: its message may hold words chosen by others, such
  // as a certificate's names in Node's wrong-host error ("DNS:connection-timeout.example").
  const code = codeOf(error);
  if (typeof code === 'string') return UNAVAILABLE_CODES.has(code);
  // ldapts reports its own connect/operation timeouts and closed sockets with plain Errors.
  return /timeout|timed out|connection closed|socket closed|not established/i.test(error.message);
};

/**
 * Maps any error thrown by the work to the ApiError the client sees. LDAP text is never part of
 * the response; the caller logs the original error.
 */
export const toApiError = (error: unknown): ApiError => {
  if (isApiError(error)) return error;
  if (error instanceof NoSuchObjectError) return apiError(404, 'Not found', {}, error);
  if (error instanceof AlreadyExistsError || error instanceof TypeOrValueExistsError) {
    return apiError(409, 'Already exists', {}, error);
  }
  if (error instanceof BusyError || error instanceof UnavailableError || (!(error instanceof ResultCodeError) && isDirectoryUnavailable(error))) {
    return apiError(503, 'Directory unavailable', {}, error);
  }
  // SSM could not give a secret (lib/secrets.ts): matched by code, so that bundles without it stay so.
  if ((error as NodeJS.ErrnoException).code === 'ESECRETUNAVAILABLE') return apiError(503, 'Service unavailable', {}, error);
  const statusCode = (error as { statusCode?: unknown }).statusCode;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    // Middy's own errors (e.g. 415 from the JSON body parser): keep the status, shape the body.
    return apiError(statusCode, (error as Error).message, {}, error);
  }
  return apiError(500, 'Internal server error', {}, error);
};
