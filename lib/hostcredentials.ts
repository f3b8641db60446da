// Per-host credentials for the public server routes (/api/authkeys, and the certificate routes to
// come). A host entry may carry one; those routes then answer for that host only to a request
// presenting it as `Authorization: Bearer <token>`, and treat any other request like one for a
// host that does not exist. Hosts without one are answered as Keyper answers them.
//
// The token is 256 random bits (base64url), shown once when an administrator rotates it. The
// directory keeps only its SHA-256, as a value of the host's labeledURI (an attribute Keyper does
// not use on hosts; extensibleObject allows it) with our URN prefix; other values are left alone.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { log } from './log.js';
import { bearerToken } from './tokens.js';

export const CREDENTIAL_ATTRIBUTE = 'labeledURI';
const PREFIX = 'urn:keyper:host-credential:sha256:';
const STORED_DIGEST = /^[0-9a-f]{64}$/;

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/** A new credential: the token for the host (answered once) and the value the directory keeps. */
export const newHostCredential = (): { token: string; stored: string } => {
  const token = randomBytes(32).toString('base64url');
  return { token, stored: `${PREFIX}${digest(token).toString('hex')}` };
};

/** The credential values among an entry's labeledURI values. */
export const credentialValues = (uris: string[]): string[] => uris.filter((uri) => uri.startsWith(PREFIX));

/** The credential a request presents, if any. */
export const presentedCredential = (event: APIGatewayProxyEventV2): string | undefined => bearerToken(event.headers.authorization);

/**
 * Whether a request may be answered for a host with these labeledURI values: always when the host
 * has no credential; otherwise only when the presented token hashes to a stored digest. A stored
 * value that is not a digest as we write it matches nothing (fail closed).
 */
export const admitsHost = (uris: string[], presented: string | undefined): boolean => {
  const stored = credentialValues(uris);
  if (stored.length === 0) return true;
  if (presented === undefined) return false;
  const offered = digest(presented);
  return stored.some((value) => {
    const hex = value.slice(PREFIX.length);
    return STORED_DIGEST.test(hex) && timingSafeEqual(Buffer.from(hex, 'hex'), offered);
  });
};

/**
 * The check a public server route makes once it has read the host entry (`uris`: its labeledURI
 * values). A refusal is logged (with the request's source address) for the host's administrators;
 * the client is told nothing.
 */
export const requestAdmitted = (event: APIGatewayProxyEventV2, host: string, uris: string[]): boolean => {
  const admitted = admitsHost(uris, presentedCredential(event));
  if (!admitted) {
    log('warn', 'host credential missing or wrong', { route: event.routeKey, host });
  }
  return admitted;
};
