// Who is calling and what they may do, in two steps: the token alone (signature, expiry, type),
// checked before any directory connection so that strangers cost the directory nothing; then the
// caller's current entry, on the handler's connection (same account, locked, logged out, role).
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { Client } from 'ldapts';
import { config } from './config.js';
import { entityDN, sameDN, USER_NAME } from './dn.js';
import { readEntry, value, values } from './directory.js';
import { forbidden, unauthorized } from './errors.js';
import { ADMIN_GROUP } from './layout.js';
import { LOCK_ATTRIBUTES, lockFacts, lockState } from './locks.js';
import { isRevoked, isSuperseded, SESSION_ATTRIBUTES } from './sessions.js';
import { bearerToken, TokenError, verifyToken, type TokenClaims } from './tokens.js';

/**
 * public: no token. session: any valid access token. admin: members of KeyperAdmins.
 * owner: admins, or the user named by the `{name}` path parameter. refresh: a refresh token.
 */
export type Access = 'public' | 'session' | 'admin' | 'owner' | 'refresh';

/** A token whose signature, expiry, type and shape are right, for a route of `access`. */
export interface VerifiedToken {
  access: Exclude<Access, 'public'>;
  claims: TokenClaims;
}

export interface Caller {
  name: string;
  dn: string;
  admin: boolean;
  claims: TokenClaims;
}

/** Attributes of the caller's entry that authentication needs (operational ones by name). */
export const CALLER_ATTRIBUTES = [...LOCK_ATTRIBUTES, 'memberOf', ...SESSION_ATTRIBUTES];

export const isAdminMember = (memberOf: string[], baseDN: string): boolean =>
  memberOf.some((dn) => sameDN(dn, entityDN('group', ADMIN_GROUP, baseDN)));

/** Checks the request's token without the directory; 401 for a missing or invalid one. */
export const verifyCaller = async (event: APIGatewayProxyEventV2, access: Exclude<Access, 'public'>): Promise<VerifiedToken> => {
  const token = bearerToken(event.headers.authorization);
  if (token === undefined) throw unauthorized('Missing Authorization Header');
  let claims: TokenClaims;
  try {
    claims = await verifyToken(config().tokens, token, access === 'refresh' ? 'refresh' : 'access');
  } catch (error) {
    if (error instanceof TokenError) throw unauthorized(error.message);
    throw error;
  }
  if (!USER_NAME.test(claims.sub)) throw unauthorized('Invalid token');
  return { access, claims };
};

/** Reads the caller's entry: the token's account, still unlocked, its session not ended; then the role. */
export const authenticate = async (client: Client, event: APIGatewayProxyEventV2, { access, claims }: VerifiedToken): Promise<Caller> => {
  const { ldap } = config();
  const dn = entityDN('user', claims.sub, ldap.baseDN);
  const entry = await readEntry(client, dn, CALLER_ATTRIBUTES);
  if (entry === undefined) throw unauthorized('Invalid token');
  // Only an administrator's lock ends sessions: strangers failing logins must not log a user out.
  if (lockState(lockFacts(entry)) === 'administrator') throw unauthorized('Account is locked');
  if (isRevoked(values(entry, 'labeledURI'), claims.sid)) throw unauthorized('Token has been revoked');
  if (isSuperseded(values(entry, 'labeledURI'), claims)) throw unauthorized('Token has been revoked');
  // Another account of the same name (deleted and re-created) is not the one the token was for.
  if (value(entry, 'entryUUID') !== claims.account) throw unauthorized('Invalid token');
  const admin = isAdminMember(values(entry, 'memberOf'), ldap.baseDN);
  const caller: Caller = { name: claims.sub, dn, admin, claims };
  if (access === 'admin' && !admin) throw forbidden();
  if (access === 'owner' && !admin && event.pathParameters?.name !== claims.sub) throw forbidden();
  return caller;
};
