// Revoked login sessions, kept on the user's entry so every Lambda instance sees a logout at once.
// Each value of the user's `labeledURI` that starts with our URN prefix names one revoked session
// and when its last token expires (so it can be pruned); other labeledURI values are left alone.
const PREFIX = 'urn:keyper:revoked-session:';

export interface Revocation {
  sid: string;
  /** Unix seconds after which no token of the session can be valid any more. */
  until: number;
}

export const revocationValue = ({ sid, until }: Revocation): string => `${PREFIX}${sid}:${until}`;

export const parseRevocation = (value: string): Revocation | undefined => {
  if (!value.startsWith(PREFIX)) return undefined;
  const match = /^([0-9a-f-]{36}):(\d+)$/.exec(value.slice(PREFIX.length));
  return match?.[1] !== undefined && match[2] !== undefined ? { sid: match[1], until: Number(match[2]) } : undefined;
};

export const isRevoked = (uris: string[], sid: string): boolean => uris.some((uri) => parseRevocation(uri)?.sid === sid);

/** The stored values whose sessions can no longer have a valid token: safe to delete. */
export const expiredRevocations = (uris: string[], now: number): string[] =>
  uris.filter((uri) => {
    const revocation = parseRevocation(uri);
    return revocation !== undefined && revocation.until < now;
  });
