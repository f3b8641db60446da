// The SSH wire encoding (RFC 4251 section 5): big-endian uint32/uint64, length-prefixed strings,
// mpints and name-lists. Keys, certificates, private key files and KRLs are all built from these.
// The reader never reads past its buffer; every malformed input goes to the caller's `fail`, so
// each format reports errors with its own error class and wording.

export type Fail = (message: string) => never;

export class WireReader {
  private position = 0;

  /** `what` names the data in messages: "key blob is truncated". */
  constructor(
    private readonly data: Buffer,
    private readonly fail: Fail,
    private readonly what = 'data',
  ) {}

  get offset(): number {
    return this.position;
  }

  get remaining(): number {
    return this.data.length - this.position;
  }

  atEnd(): boolean {
    return this.position === this.data.length;
  }

  readBytes(length: number): Buffer {
    if (length > this.remaining) this.fail(`${this.what} is truncated`);
    const start = this.position;
    this.position += length;
    return this.data.subarray(start, this.position);
  }

  readByte(): number {
    return this.readBytes(1).readUInt8(0);
  }

  readUint32(): number {
    return this.readBytes(4).readUInt32BE(0);
  }

  readUint64(): bigint {
    return this.readBytes(8).readBigUInt64BE(0);
  }

  readString(): Buffer {
    return this.readBytes(this.readUint32());
  }

  /** A string that must be UTF-8 text without NUL (OpenSSH reads these as C strings). */
  readText(): string {
    const bytes = this.readString();
    const text = bytes.toString('utf8');
    if (bytes.includes(0) || !Buffer.from(text, 'utf8').equals(bytes)) {
      this.fail(`${this.what} has a string that is not valid text`);
    }
    return text;
  }

  /** An mpint that must be positive; returns its magnitude without the sign-padding zero. */
  readPositiveMpint(): Buffer {
    const bytes = this.readString();
    if (bytes.length === 0) this.fail(`${this.what} has a zero-length number`);
    return this.checkMagnitude(bytes);
  }

  /** An mpint that may be zero (the empty string) but not negative; returns its magnitude. */
  readUnsignedMpint(): Buffer {
    const bytes = this.readString();
    return bytes.length === 0 ? bytes : this.checkMagnitude(bytes);
  }

  // Same rules as OpenSSH: no negatives, no superfluous leading zero.
  private checkMagnitude(bytes: Buffer): Buffer {
    const first = bytes[0] ?? 0;
    const second = bytes[1];
    if (first >= 0x80) this.fail(`${this.what} has a negative number`);
    if (first === 0 && (second === undefined || second < 0x80)) this.fail(`${this.what} has a malformed number`);
    return first === 0 ? bytes.subarray(1) : bytes;
  }
}

const UINT64_MAX = (1n << 64n) - 1n;

/** Collects wire fields; every method returns the writer so fields chain in protocol order. */
export class WireWriter {
  private readonly chunks: Buffer[] = [];

  raw(bytes: Buffer): this {
    this.chunks.push(bytes);
    return this;
  }

  byte(value: number): this {
    return this.raw(Buffer.from([value]));
  }

  uint32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError('uint32 out of range');
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE(value);
    return this.raw(bytes);
  }

  uint64(value: bigint): this {
    if (value < 0n || value > UINT64_MAX) throw new RangeError('uint64 out of range');
    const bytes = Buffer.alloc(8);
    bytes.writeBigUInt64BE(value);
    return this.raw(bytes);
  }

  string(value: Buffer | string): this {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    return this.uint32(bytes.length).raw(bytes);
  }

  /** A non-negative mpint from its big-endian magnitude (leading zeros allowed, and stripped). */
  mpint(magnitude: Buffer): this {
    let start = 0;
    while (start < magnitude.length && magnitude[start] === 0) start += 1;
    const digits = magnitude.subarray(start);
    // A set top bit would read as negative: a zero byte in front keeps it positive.
    const top = digits[0] ?? 0;
    return this.string(top >= 0x80 ? Buffer.concat([Buffer.from([0]), digits]) : digits);
  }

  /** A comma-separated name-list; each name must be non-empty, without commas, US-ASCII. */
  nameList(names: readonly string[]): this {
    for (const name of names) {
      if (!/^[\x21-\x2b\x2d-\x7e]+$/.test(name)) throw new RangeError(`not a valid name for a name-list: ${name}`);
    }
    return this.string(names.join(','));
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** Shorthand for a standalone length-prefixed string. */
export const wireString = (value: Buffer | string): Buffer => new WireWriter().string(value).toBuffer();
