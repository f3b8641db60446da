// Who is calling and what they may do. Runs on the connection the handler opens anyway: the token
// proves identity, the caller's current entry decides (deleted, locked, logged out, role).
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { Client } from 'ldapts';
import { config } from './config.js';
import { entityDN, sameDN, USER_NAME } from './dn.js';
import { readEntry, values } from './directory.js';
import { forbidden, unauthorized } from './errors.js';
import { lockFacts, lockState } from './locks.js';
import { isRevoked } from './sessions.js';
import { bearerToken, TokenError, verifyToken, type TokenClaims } from './tokens.js';

/**
 * public: no token. session: any valid access token. admin: members of KeyperAdmins.
 * owner: admins, or the user named by the `{name}` path parameter. refresh: a refresh token.
 */
export type Access = 'public' | 'session' | 'admin' | 'owner' | 'refresh';

export interface Caller {
  name: string;
  dn: string;
  admin: boolean;
  claims: TokenClaims;
}

export const ADMIN_GROUP = 'KeyperAdmins';
export const HOSTS_GROUP = 'AllHosts';

/** Attributes of the caller's entry that authentication needs. */
export const CALLER_ATTRIBUTES = ['pwdAccountLockedTime', 'pwdFailureTime', 'memberOf', 'labeledURI'];

export const isAdminMember = (memberOf: string[], baseDN: string): boolean =>
  memberOf.some((dn) => sameDN(dn, entityDN('group', ADMIN_GROUP, baseDN)));

export const authenticate = async (
  client: Client,
  event: APIGatewayProxyEventV2,
  access: Exclude<Access, 'public'>,
): Promise<Caller> => {
  const { tokens, ldap } = config();
  const token = bearerToken(event.headers.authorization);
  if (token === undefined) throw unauthorized('Missing Authorization Header');
  let claims: TokenClaims;
  try {
    claims = await verifyToken(tokens, token, access === 'refresh' ? 'refresh' : 'access');
  } catch (error) {
    if (error instanceof TokenError) throw unauthorized(error.message);
    throw error;
  }
  if (!USER_NAME.test(claims.sub)) throw unauthorized('Invalid token');
  const dn = entityDN('user', claims.sub, ldap.baseDN);
  const entry = await readEntry(client, dn, CALLER_ATTRIBUTES);
  if (entry === undefined) throw unauthorized('Invalid token');
  // Only an administrator's lock ends sessions: strangers failing logins must not log a user out.
  if (lockState(lockFacts(entry)) === 'administrator') throw unauthorized('Account is locked');
  if (isRevoked(values(entry, 'labeledURI'), claims.sid)) throw unauthorized('Token has been revoked');
  const admin = isAdminMember(values(entry, 'memberOf'), ldap.baseDN);
  const caller: Caller = { name: claims.sub, dn, admin, claims };
  if (access === 'admin' && !admin) throw forbidden();
  if (access === 'owner' && !admin && event.pathParameters?.name !== claims.sub) throw forbidden();
  return caller;
};
