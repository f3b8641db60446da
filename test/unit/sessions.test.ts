// Session state on the user's entry: revocations, generations, and what a logout or a password
// change writes and prunes.
import { describe, expect, it } from 'vitest';
import {
  currentGeneration,
  generationValue,
  isSuperseded,
  MAX_REVOCATIONS,
  parseGeneration,
  raiseGeneration,
  revocationValue,
  revokeOne,
} from '../../lib/sessions.js';

const sid = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const FOREIGN = 'https://example.org/home';

describe('generations', () => {
  it('round-trip, and ignore values that are not ours', () => {
    expect(parseGeneration(generationValue({ n: 3 }))).toEqual({ n: 3 });
    expect(parseGeneration(generationValue({ n: 4, spared: sid(1) }))).toEqual({ n: 4, spared: sid(1) });
    for (const other of [FOREIGN, 'urn:keyper:session-generation:x', 'urn:keyper:session-generation:1:not-a-sid', revocationValue({ sid: sid(1), until: 9 })]) {
      expect(parseGeneration(other), other).toBeUndefined();
    }
    expect(currentGeneration([FOREIGN])).toBe(0);
    expect(currentGeneration([generationValue({ n: 2 }), generationValue({ n: 5, spared: sid(1) }), FOREIGN])).toBe(5);
  });

  it('end the sessions of older generations, but the one every value at the top spares', () => {
    const uris = [generationValue({ n: 1 }), generationValue({ n: 2, spared: sid(1) })];
    expect(isSuperseded([], { sid: sid(9), gen: 0 })).toBe(false);
    expect(isSuperseded(uris, { sid: sid(2), gen: 1 })).toBe(true);
    expect(isSuperseded(uris, { sid: sid(1), gen: 0 })).toBe(false);
    // A login after the raise carries its generation, however soon after it came.
    expect(isSuperseded(uris, { sid: sid(3), gen: 2 })).toBe(false);
    // Two raises at once to the same generation: only a session both spare survives.
    expect(isSuperseded([...uris, generationValue({ n: 2, spared: sid(2) })], { sid: sid(1), gen: 1 })).toBe(true);
    expect(isSuperseded([...uris, generationValue({ n: 2 })], { sid: sid(1), gen: 1 })).toBe(true);
  });

  it('a raise adds the next generation and prunes what it makes redundant, keeping what is not ours', () => {
    const uris = [FOREIGN, generationValue({ n: 1 }), revocationValue({ sid: sid(1), until: 50 }), revocationValue({ sid: sid(2), until: 60 })];
    expect(raiseGeneration(uris)).toEqual({ add: generationValue({ n: 2 }), prune: uris.slice(1) });
    // The spared session's own revocation stays: a logged-out session is not brought back.
    expect(raiseGeneration(uris, sid(2))).toEqual({ add: generationValue({ n: 2, spared: sid(2) }), prune: uris.slice(1, 3) });
  });
});

describe('a logout', () => {
  it('adds its revocation and prunes only the expired ones', () => {
    const expired = revocationValue({ sid: sid(1), until: 99 });
    const live = revocationValue({ sid: sid(2), until: 101 });
    expect(revokeOne([FOREIGN, expired, live], { sid: sid(3), until: 700 }, 100)).toEqual({
      add: revocationValue({ sid: sid(3), until: 700 }),
      prune: [expired],
    });
  });

  it(`ends every session instead once ${MAX_REVOCATIONS} revocations are live`, () => {
    const live = Array.from({ length: MAX_REVOCATIONS }, (_, i) => revocationValue({ sid: sid(i), until: 1000 }));
    const below = revokeOne([FOREIGN, ...live.slice(1)], { sid: sid(99), until: 1000 }, 100);
    expect(below.add).toBe(revocationValue({ sid: sid(99), until: 1000 }));
    const atCap = revokeOne([FOREIGN, ...live], { sid: sid(99), until: 1000 }, 100);
    expect(atCap).toEqual({ add: generationValue({ n: 1 }), prune: live });
    expect(isSuperseded([...live, atCap.add], { sid: sid(99), gen: 0 })).toBe(true);
  });
});
