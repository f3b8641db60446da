// Which login sessions of a user have ended, kept on the user's entry so every Lambda instance sees
// a logout at once. Two kinds of `labeledURI` value under our URN prefixes (other values are left
// alone):
// - `urn:keyper:revoked-session:<sid>:<until>`: one logged-out session, and when its last token
//   expires (then the value is pruned).
// - `urn:keyper:session-generation:<n>[:<sid>]`: the user's session generation. Every token carries
//   the generation that login read (before checking the password). A token of a lower generation
//   than the highest stored is dead, unless its session is named by every value at the highest
//   generation (the session that changed its own password). A raise is written after the change it
//   is for (e.g. the new password), so no login that read the entry before it survives it; a new
//   password also raises it before, so a failure in between leaves no older session alive. A raise
//   adds the value highest + 1: a single-value add, so concurrent raises all land and none is lost
//   (a session survives only when every raise at the top spared it); lower values are then
//   redundant.
//   A counter rather than a time: iat has whole seconds, so a time could not tell a login just
//   before a password change from one just after it in the same second.
// The revocations are capped: once MAX_REVOCATIONS are live, a logout raises the generation instead
// (ending every session of the user), which makes the listed revocations redundant.
import { present } from './input.js';
import type { TokenClaims } from './tokens.js';

/** The attributes that hold a user's session state (entryUUID is operational: asked for by name). */
export const SESSION_ATTRIBUTES = ['entryUUID', 'labeledURI'];

const REVOKED = 'urn:keyper:revoked-session:';
const GENERATION = 'urn:keyper:session-generation:';
const SID = '[0-9a-f-]{36}';
const REVOKED_PATTERN = new RegExp(`^(${SID}):(\\d+)$`);
const GENERATION_PATTERN = new RegExp(`^(\\d{1,15})(?::(${SID}))?$`);

/** Live revocations a user may have before a logout ends all of their sessions instead. */
export const MAX_REVOCATIONS = 50;

export interface Revocation {
  sid: string;
  /** Unix seconds after which no token of the session can be valid any more. */
  until: number;
}

export interface Generation {
  n: number;
  /** The one session that tokens of older generations may still belong to. */
  spared?: string;
}

export const revocationValue = ({ sid, until }: Revocation): string => `${REVOKED}${sid}:${until}`;

export const parseRevocation = (value: string): Revocation | undefined => {
  if (!value.startsWith(REVOKED)) return undefined;
  const match = REVOKED_PATTERN.exec(value.slice(REVOKED.length));
  return match?.[1] !== undefined && match[2] !== undefined ? { sid: match[1], until: Number(match[2]) } : undefined;
};

export const generationValue = ({ n, spared }: Generation): string => (spared === undefined ? `${GENERATION}${n}` : `${GENERATION}${n}:${spared}`);

export const parseGeneration = (value: string): Generation | undefined => {
  if (!value.startsWith(GENERATION)) return undefined;
  const match = GENERATION_PATTERN.exec(value.slice(GENERATION.length));
  if (match?.[1] === undefined) return undefined;
  return { n: Number(match[1]), ...present('spared', match[2]) };
};

const generations = (uris: string[]): Generation[] => uris.map(parseGeneration).filter((g) => g !== undefined);

/** The highest stored generation (0 when none): what a login now puts in its tokens. */
export const currentGeneration = (uris: string[]): number => Math.max(0, ...generations(uris).map((g) => g.n));

export const isRevoked = (uris: string[], sid: string): boolean => uris.some((uri) => parseRevocation(uri)?.sid === sid);

/** True when a raise of the generation ended the token's session. */
export const isSuperseded = (uris: string[], { sid, gen }: Pick<TokenClaims, 'sid' | 'gen'>): boolean => {
  const current = currentGeneration(uris);
  return gen < current && !generations(uris).every((g) => g.n < current || g.spared === sid);
};

/** The stored values whose sessions can no longer have a valid token: safe to delete. */
export const expiredRevocations = (uris: string[], now: number): string[] =>
  uris.filter((uri) => {
    const revocation = parseRevocation(uri);
    return revocation !== undefined && revocation.until < now;
  });

/** One value to add and the values it makes redundant (deleted separately, best effort). */
export interface SessionWrite {
  add: string;
  prune: string[];
}

/**
 * Ends every session of the user, but `spared` when given, from the values just read. The old
 * generations and every revocation read (but the spared session's) are then redundant: their
 * sessions' tokens carry a generation at most the current one.
 */
export const raiseGeneration = (uris: string[], spared?: string): SessionWrite => ({
  add: generationValue({ n: currentGeneration(uris) + 1, ...present('spared', spared) }),
  prune: uris.filter((uri) => {
    const revoked = parseRevocation(uri)?.sid;
    return parseGeneration(uri) !== undefined || (revoked !== undefined && revoked !== spared);
  }),
});

/** Revokes one session, or ends them all once the user has MAX_REVOCATIONS live revocations. */
export const revokeOne = (uris: string[], revocation: Revocation, now: number): SessionWrite => {
  const expired = expiredRevocations(uris, now);
  const live = uris.filter((uri) => parseRevocation(uri) !== undefined && !expired.includes(uri));
  if (live.length >= MAX_REVOCATIONS) return raiseGeneration(uris);
  return { add: revocationValue(revocation), prune: expired };
};
