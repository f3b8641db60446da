// JWTs for the console and API clients: HS256 via jose, with Keyper's claim names (identity, type,
// user_claims as a string) next to the standard ones. Claims never decide anything on their own:
// the caller's entry is read from the directory on every request (lib/auth.ts).
import { randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import type { TokenConfig } from './config.js';

export type TokenType = 'access' | 'refresh';
export type Role = 'keyper_admin' | 'keyper_user';

export interface TokenClaims {
  sub: string;
  identity: string;
  type: TokenType;
  /** Keyper's console parses this exact string form; an object here breaks its login. */
  user_claims: `{role: ${Role}}`;
  /** Session id, shared by the access and refresh tokens of one login; logout revokes it. */
  sid: string;
  /** The account's entryUUID at login: a deleted and re-created user is another account. */
  account: string;
  /** The account's session generation at login (lib/sessions.ts). */
  gen: number;
  jti: string;
  iat: number;
  exp: number;
}

export const ALGORITHM = 'HS256';

export class TokenError extends Error {}

export const roleClaim = (admin: boolean): TokenClaims['user_claims'] =>
  admin ? '{role: keyper_admin}' : '{role: keyper_user}';

/** Whom a token is for, and the login session it belongs to. */
export interface TokenSubject {
  name: string;
  admin: boolean;
  sid: string;
  account: string;
  gen: number;
}

/** Signs a token of the given type for a subject; its `sid` ties it to its login session. */
export const issueToken = async (
  tokens: TokenConfig,
  type: TokenType,
  { name, admin, sid, account, gen }: TokenSubject,
  now: number = Math.floor(Date.now() / 1000),
): Promise<string> => {
  const ttl = type === 'access' ? tokens.accessTtlSeconds : tokens.refreshTtlSeconds;
  return new SignJWT({ identity: name, type, user_claims: roleClaim(admin), sid, account, gen })
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setSubject(name)
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + ttl)
    .sign(tokens.secret);
};

export const newSessionId = (): string => randomUUID();

const isTokenClaims = (payload: Record<string, unknown>): payload is Record<string, unknown> & TokenClaims =>
  typeof payload.sub === 'string' &&
  payload.identity === payload.sub &&
  (payload.type === 'access' || payload.type === 'refresh') &&
  typeof payload.sid === 'string' &&
  typeof payload.account === 'string' &&
  Number.isSafeInteger(payload.gen) &&
  typeof payload.jti === 'string' &&
  typeof payload.iat === 'number' &&
  typeof payload.exp === 'number';

/**
 * Verifies signature, algorithm, expiry and shape, and that the token is of the expected type
 * (a refresh token is not an access token). Throws TokenError with a client-safe message.
 */
export const verifyToken = async (tokens: TokenConfig, token: string, expected: TokenType): Promise<TokenClaims> => {
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, tokens.secret, {
      algorithms: [ALGORITHM],
      requiredClaims: ['exp', 'iat', 'jti', 'sub'],
    }));
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) throw new TokenError('Token has expired');
    throw new TokenError('Invalid token');
  }
  if (!isTokenClaims(payload)) throw new TokenError('Invalid token');
  if (payload.type !== expected) throw new TokenError(`Only ${expected} tokens are allowed`);
  return payload;
};

/** The bearer token of an Authorization header, or undefined. */
export const bearerToken = (authorization: string | undefined): string | undefined => {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return match?.[1];
};
