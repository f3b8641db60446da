// Responses that fit Lambda: Accept-Encoding negotiation, the compressing middleware, the exact
// size of a result as Lambda serialises it, and the refusal of one that would not fit.
import { randomBytes } from 'node:crypto';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { compressParts, MAX_RESPONSE_BYTES, negotiateEncoding, payloadBytes, responseEncoding } from '../../lib/encoding.js';
import { isApiError } from '../../lib/errors.js';

type Result = APIGatewayProxyStructuredResultV2;

/** A handler answering `result`, behind the middleware, called with these request headers. */
const respond = async (result: Result, headers: Record<string, string> = {}): Promise<Result> => {
  const handler = middy<APIGatewayProxyEventV2, Result>().use(responseEncoding()).handler(async () => result);
  return handler({ headers } as unknown as APIGatewayProxyEventV2, {} as Context);
};

const decoded = (result: Result): string => {
  const bytes = Buffer.from(result.body ?? '', 'base64');
  const encoding = result.headers?.['Content-Encoding'];
  return (encoding === 'br' ? brotliDecompressSync(bytes) : gunzipSync(bytes)).toString('utf8');
};

const json = (body: unknown): Result => ({ statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
const users = (n: number) => Array.from({ length: n }, (_, i) => ({ cn: `user${i}`, mail: `user${i}@example.org`, note: 'a "quoted" value\n' }));

describe('Accept-Encoding', () => {
  it('picks br or gzip by weight, br on a tie, none when neither is acceptable', () => {
    expect(negotiateEncoding(undefined)).toBeUndefined();
    expect(negotiateEncoding('')).toBeUndefined();
    expect(negotiateEncoding('gzip, deflate, br, zstd')).toBe('br');
    expect(negotiateEncoding('gzip')).toBe('gzip');
    expect(negotiateEncoding('x-gzip')).toBe('gzip');
    expect(negotiateEncoding('br;q=0.5, gzip;q=0.8')).toBe('gzip');
    expect(negotiateEncoding('br;q=0, gzip;q=0')).toBeUndefined();
    expect(negotiateEncoding('*')).toBe('br');
    expect(negotiateEncoding('*;q=0.1, br;q=0')).toBe('gzip');
    expect(negotiateEncoding('identity, deflate')).toBeUndefined();
    expect(negotiateEncoding('GZIP ; Q=1')).toBe('gzip');
  });
});

describe('the response middleware', () => {
  it('compresses a JSON body of 1 KB or more when accepted, says Vary, and keeps the JSON intact', async () => {
    const body = users(200);
    for (const [accept, encoding] of [['gzip, deflate, br', 'br'], ['gzip', 'gzip']] as const) {
      const result = await respond(json(body), { 'accept-encoding': accept });
      expect(result.isBase64Encoded).toBe(true);
      expect(result.headers).toMatchObject({ 'Content-Type': 'application/json', 'Content-Encoding': encoding, Vary: 'Accept-Encoding' });
      expect(JSON.parse(decoded(result))).toEqual(body);
      expect(result.body!.length).toBeLessThan(JSON.stringify(body).length);
    }
  });

  it('leaves small bodies and clients that accept no compression alone (Vary still set)', async () => {
    const small = await respond(json({ msg: 'ok' }), { 'accept-encoding': 'gzip' });
    expect(small).toMatchObject({ body: '{"msg":"ok"}', headers: { Vary: 'Accept-Encoding' } });
    expect(small.isBase64Encoded).toBeUndefined();
    const plain = await respond(json(users(200)));
    expect(plain.headers).not.toHaveProperty('Content-Encoding');
    expect(JSON.parse(plain.body!)).toEqual(users(200));
    const varied = await respond({ ...json(users(200)), headers: { Vary: 'Origin' } });
    expect(varied.headers?.Vary).toBe('Origin, Accept-Encoding');
  });

  it('only measures a body the handler encoded itself', async () => {
    const compressed = await compressParts(['[', JSON.stringify(users(50)).slice(1, -1), ']'], 'gzip', 1000);
    const own: Result = { statusCode: 200, headers: { 'Content-Encoding': 'gzip' }, body: compressed.toString('base64'), isBase64Encoded: true };
    const result = await respond(own, { 'accept-encoding': 'br' });
    expect(result.headers?.['Content-Encoding']).toBe('gzip');
    expect(JSON.parse(gunzipSync(Buffer.from(result.body!, 'base64')).toString('utf8'))).toEqual(users(50));
  });

  it('refuses a result that would exceed 6 MB with a 400 that says to page', async () => {
    // Random text compresses little: even a client accepting br gets the refusal.
    const noise = randomBytes(3_750_000).toString('base64');
    for (const headers of [{}, { 'accept-encoding': 'br' }] as Record<string, string>[]) {
      const refused = await respond({ statusCode: 200, body: JSON.stringify([noise, noise]) }, headers).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(isApiError(refused)).toBe(true);
      expect(refused).toMatchObject({ statusCode: 400 });
      expect((refused as { body: { msg: string } }).body.msg).toMatch(/\?limit=/);
    }
    // Just under the limit goes out as it is.
    const fits = await respond({ statusCode: 200, body: 'x'.repeat(MAX_RESPONSE_BYTES - 200) });
    expect(fits.body!.length).toBe(MAX_RESPONSE_BYTES - 200);
  });
});

describe('payloadBytes', () => {
  it('is the size of the result as JSON, for bodies with quotes, line breaks, control and non-ASCII characters', () => {
    const bodies = ['', 'plain', JSON.stringify(users(3)), 'line\nline\r\n"q" \\ \u0001\u001f é ✓ 𝄞', '\u0000'.repeat(3_500_000)];
    for (const body of bodies) {
      for (const result of [{ statusCode: 200, headers: { a: 'b' }, body }, { statusCode: 200, body, isBase64Encoded: true }] as Result[]) {
        const exact = Buffer.byteLength(JSON.stringify(result));
        const measured = payloadBytes(result);
        // Never below the truth; exact once the quick bound could exceed the limit.
        expect(measured).toBeGreaterThanOrEqual(exact);
        if (measured >= MAX_RESPONSE_BYTES) expect(measured).toBe(exact);
      }
    }
  });
});
