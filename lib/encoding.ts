// Responses that fit Lambda: compressed (br or gzip) when the client accepts it, and never larger
// than a synchronous Lambda response may be. A response that would not fit is refused with a 400
// that says how to ask for less (?limit=), instead of a runtime error the client cannot read.
// Routes whose answers can be large (lists, groups) use it (lib/handler.ts, option `encoding`).
import { brotliCompressSync, constants, createBrotliCompress, createGzip, gzipSync, type BrotliOptions } from 'node:zlib';
import type middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { badRequest, type ApiError } from './errors.js';

/** Lambda's limit for a synchronous response: the whole serialised result, base64 included. */
export const MAX_RESPONSE_BYTES = 6 * 1024 * 1024;

/** Below this, compressing costs more than it saves. */
const MIN_COMPRESS_BYTES = 1024;

/**
 * How much larger than the limit a JSON body may grow before compressing it cannot bring it under
 * the limit: the API's JSON compresses about 6:1 (a 20,000-user list: 23 MB to 3.9 MB gzipped),
 * and base64 adds a third. A body beyond this is refused before it is built in full.
 */
const MAX_COMPRESSION_RATIO = 8;

export type Encoding = 'br' | 'gzip';

type Result = APIGatewayProxyStructuredResultV2;

/**
 * The coding to use for a request's Accept-Encoding (RFC 9110 12.5.3): br or gzip, whichever the
 * client weighs higher (br on a tie: it is smaller), `*` standing for both; none when neither is
 * acceptable (q=0 refuses a coding).
 */
export const negotiateEncoding = (header: string | undefined): Encoding | undefined => {
  if (header === undefined) return undefined;
  const weights = new Map<string, number>();
  for (const part of header.split(',')) {
    const [name = '', ...parameters] = part.trim().toLowerCase().split(';');
    const q = parameters.map((p) => /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
    if (name !== '') weights.set(name.trim(), q === undefined ? 1 : Number(q));
  }
  const weight = (coding: Encoding): number => weights.get(coding) ?? (coding === 'gzip' ? weights.get('x-gzip') : undefined) ?? weights.get('*') ?? 0;
  const best = (['br', 'gzip'] as const).reduce<Encoding | undefined>((chosen, coding) => (weight(coding) > (chosen === undefined ? 0 : weight(chosen)) ? coding : chosen), undefined);
  return best;
};

export const acceptedEncoding = (event: APIGatewayProxyEventV2): Encoding | undefined => {
  const headers = event.headers ?? {};
  return negotiateEncoding(headers['accept-encoding'] ?? headers['Accept-Encoding']);
};

/**
 * Brotli quality 3 and gzip level 3. Measured on a 20,000-user list (16.5 MB of JSON): br 3 makes
 * 3.1 MB in 0.14 s and gzip 3 3.5 MB in 0.15 s, where br 5 saves 3 % in six times the time and
 * gzip 6 2 % in 1.5 times; the SSH keys in the list are random and do not compress further.
 */
const GZIP_LEVEL = 3;
const brotliOptions = (sizeHint: number): BrotliOptions => ({
  params: {
    [constants.BROTLI_PARAM_QUALITY]: 3,
    [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
    [constants.BROTLI_PARAM_SIZE_HINT]: sizeHint,
    // A 256 KB window compresses these lists as well as the default 4 MB one (quality 3 finds no
    // longer matches), and cut a 20,000-user list's peak memory by about 25 MB.
    [constants.BROTLI_PARAM_LGWIN]: 18,
  },
});

export const compress = (body: string, encoding: Encoding): Buffer =>
  encoding === 'br' ? brotliCompressSync(body, brotliOptions(body.length)) : gzipSync(body, { level: GZIP_LEVEL });

/** Batches of about this many characters go to the compressor at a time. */
const CHUNK_CHARS = 256 * 1024;

/**
 * Compresses the concatenation of `parts` without ever building it (a large list's body would
 * otherwise be held twice more: as one string and as its UTF-8 bytes).
 */
export const compressParts = async (parts: Iterable<string>, encoding: Encoding, sizeHint: number): Promise<Buffer> => {
  const stream = encoding === 'br' ? createBrotliCompress(brotliOptions(sizeHint)) : createGzip({ level: GZIP_LEVEL });
  const output: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => output.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    stream.once('end', resolve);
    stream.once('error', reject);
  });
  let batch: string[] = [];
  let chars = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const text = batch.join('');
    batch = [];
    chars = 0;
    // Respect backpressure so the input waits here, not in the stream's buffer.
    if (!stream.write(text)) await new Promise<void>((resolve) => stream.once('drain', resolve));
  };
  for (const part of parts) {
    batch.push(part);
    chars += part.length;
    if (chars >= CHUNK_CHARS) await flush();
  }
  await flush();
  stream.end();
  await ended;
  return Buffer.concat(output);
};

/** A result whose body is already compressed (the middleware below then only measures it). */
export const encodedResult = (statusCode: number, headers: Result['headers'], compressed: Buffer, encoding: Encoding): Result => ({
  statusCode,
  headers: { ...headers, 'Content-Encoding': encoding },
  body: compressed.toString('base64'),
  isBase64Encoded: true,
});

/** The 400 for a response that would not fit, whatever the client does but ask for less. */
export const responseTooLarge = (): ApiError =>
  badRequest(`The response would exceed Lambda's limit of ${MAX_RESPONSE_BYTES / 1024 / 1024} MB: ask for pages with ?limit= (1-1000) and follow the Link header`, {
    errors: { limit: 'required for a list this large' },
  });

/** The largest body (in UTF-8 bytes, uncompressed) a list may build for this request. */
export const maxBodyBytes = (event: APIGatewayProxyEventV2): number =>
  acceptedEncoding(event) === undefined ? MAX_RESPONSE_BYTES : MAX_RESPONSE_BYTES * MAX_COMPRESSION_RATIO;

/** The size of the result as Lambda serialises it (JSON), computed in full only when it may matter. */
export const payloadBytes = (result: Result): number => {
  const { body, ...rest } = result;
  const envelope = Buffer.byteLength(JSON.stringify(rest)) + '"body":"",'.length;
  if (body === undefined) return envelope;
  const bodyBytes = Buffer.byteLength(body);
  // JSON-escaping at most doubles a body of JSON, text lines or base64 (quotes, backslashes,
  // newlines); control characters could grow sixfold, so the exact count is taken when the quick
  // bound could exceed the limit.
  if (envelope + 2 * bodyBytes < MAX_RESPONSE_BYTES) return envelope + 2 * bodyBytes;
  return envelope + Buffer.byteLength(JSON.stringify(body)) - 2;
};

const headerNamed = (headers: Result['headers'], name: string): string | undefined => {
  const wanted = name.toLowerCase();
  const key = Object.keys(headers ?? {}).find((k) => k.toLowerCase() === wanted);
  return key === undefined ? undefined : String(headers?.[key]);
};

/**
 * After the handler: compresses a text body of 1 KB or more when the client accepts br or gzip
 * (API Gateway decodes the base64 and sends the bytes with Content-Encoding), says `Vary:
 * Accept-Encoding`, and refuses (400) a result that would exceed Lambda's limit. A handler may
 * return a body it encoded itself (Content-Encoding set); that one is only measured.
 */
export const responseEncoding = (): middy.MiddlewareObj<APIGatewayProxyEventV2, Result> => ({
  after: (request) => {
    const response = request.response;
    if (response === null || response === undefined || typeof response.body !== 'string') return;
    const headers: NonNullable<Result['headers']> = { ...response.headers };
    const vary = headerNamed(headers, 'Vary');
    if (vary === undefined) headers.Vary = 'Accept-Encoding';
    else if (!/accept-encoding/i.test(vary)) headers.Vary = `${vary}, Accept-Encoding`;
    const encoding = acceptedEncoding(request.event);
    let result: Result = { ...response, headers };
    const alreadyEncoded = response.isBase64Encoded === true || headerNamed(headers, 'Content-Encoding') !== undefined;
    if (!alreadyEncoded && encoding !== undefined && Buffer.byteLength(response.body) >= MIN_COMPRESS_BYTES) {
      result = { ...result, ...encodedResult(response.statusCode ?? 200, headers, compress(response.body, encoding), encoding) };
    }
    if (payloadBytes(result) > MAX_RESPONSE_BYTES) throw responseTooLarge();
    request.response = result;
  },
});
