// Token issue and verification: claims the console relies on, types, algorithms, expiry.
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { bearerToken, issueToken, TokenError, verifyToken } from '../../lib/tokens.js';

const tokens = { secret: new TextEncoder().encode('k'.repeat(32)), accessTtlSeconds: 900, refreshTtlSeconds: 604800 };
const ACCOUNT = '3f1d2c4e-1111-4222-8333-444455556666';
const subject = (name: string, admin: boolean, sid: string) => ({ name, admin, sid, account: ACCOUNT, gen: 2 });
const decode = (jwt: string): Record<string, unknown> => JSON.parse(atob(jwt.split('.')[1]!)) as Record<string, unknown>;

describe('tokens', () => {
  it('carry Keyper\'s claims next to the standard ones', async () => {
    const jwt = await issueToken(tokens, 'access', subject('alice', false, '0b5e1f43-0000-4000-8000-000000000000'), 1_000_000);
    expect(decode(jwt)).toEqual({
      sub: 'alice', identity: 'alice', type: 'access', user_claims: '{role: keyper_user}', sid: '0b5e1f43-0000-4000-8000-000000000000',
      account: ACCOUNT, gen: 2, jti: expect.stringMatching(/^[0-9a-f-]{36}$/), iat: 1_000_000, exp: 1_000_900,
    });
    const refresh = await issueToken(tokens, 'refresh', subject('admin', true, 's'), 1_000_000);
    expect(decode(refresh)).toMatchObject({ type: 'refresh', user_claims: '{role: keyper_admin}', exp: 1_000_000 + 604800 });
  });

  it('verify a token of the expected type and refuse the other type', async () => {
    const access = await issueToken(tokens, 'access', subject('alice', false, 'sid'));
    expect((await verifyToken(tokens, access, 'access')).sub).toBe('alice');
    await expect(verifyToken(tokens, access, 'refresh')).rejects.toThrow('Only refresh tokens are allowed');
  });

  it('refuse expired, foreign, unsigned and malformed tokens', async () => {
    const expired = await issueToken(tokens, 'access', subject('alice', false, 'sid'), Math.floor(Date.now() / 1000) - 3600);
    await expect(verifyToken(tokens, expired, 'access')).rejects.toThrow('Token has expired');
    const foreign = await issueToken({ ...tokens, secret: new TextEncoder().encode('o'.repeat(32)) }, 'access', subject('alice', false, 'sid'));
    await expect(verifyToken(tokens, foreign, 'access')).rejects.toThrow(TokenError);
    const [, payload] = (await issueToken(tokens, 'access', subject('alice', false, 'sid'))).split('.');
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`;
    await expect(verifyToken(tokens, none, 'access')).rejects.toThrow('Invalid token');
    await expect(verifyToken(tokens, 'garbage', 'access')).rejects.toThrow('Invalid token');
  });

  it('refuse HS512 and tokens without Keyper\'s claims', async () => {
    const hs512 = await new SignJWT({ identity: 'a', type: 'access', sid: 's' }).setProtectedHeader({ alg: 'HS512' })
      .setSubject('a').setJti('j').setIssuedAt().setExpirationTime('5m').sign(tokens.secret);
    await expect(verifyToken(tokens, hs512, 'access')).rejects.toThrow('Invalid token');
    const bare = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('a').setJti('j').setIssuedAt().setExpirationTime('5m').sign(tokens.secret);
    await expect(verifyToken(tokens, bare, 'access')).rejects.toThrow('Invalid token');
    // A token of an account instance and generation is required (older tokens are refused).
    const unbound = await new SignJWT({ identity: 'a', type: 'access', user_claims: '{role: keyper_user}', sid: 's' })
      .setProtectedHeader({ alg: 'HS256' }).setSubject('a').setJti('j').setIssuedAt().setExpirationTime('5m').sign(tokens.secret);
    await expect(verifyToken(tokens, unbound, 'access')).rejects.toThrow('Invalid token');
  });

  it('read the bearer token from an Authorization header', () => {
    expect(bearerToken('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(bearerToken('bearer  abc')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});
