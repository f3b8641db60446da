// Tests for lib/sshwire.ts: the encodings against the examples of RFC 4251 section 5, and the
// reader's refusals of truncated and malformed data.
import { describe, expect, it } from 'vitest';
import { WireReader, WireWriter, wireString } from '../../lib/sshwire.js';

class TestWireError extends Error {}
const fail = (message: string): never => {
  throw new TestWireError(message);
};

const hex = (bytes: Buffer): string => bytes.toString('hex');
const reader = (hexText: string): WireReader => new WireReader(Buffer.from(hexText, 'hex'), fail, 'blob');

describe('WireWriter: RFC 4251 section 5 examples', () => {
  it('writes mpints', () => {
    const mpint = (magnitude: string): string => hex(new WireWriter().mpint(Buffer.from(magnitude, 'hex')).toBuffer());
    expect(mpint('')).toBe('00000000');
    expect(mpint('00')).toBe('00000000');
    expect(mpint('09a378f9b2e332a7')).toBe('0000000809a378f9b2e332a7');
    expect(mpint('80')).toBe('000000020080');
    // Leading zeros of the magnitude are not part of the encoding.
    expect(mpint('000080')).toBe('000000020080');
    expect(mpint('0001')).toBe('0000000101');
  });

  it('writes name-lists', () => {
    const list = (names: string[]): string => hex(new WireWriter().nameList(names).toBuffer());
    expect(list([])).toBe('00000000');
    expect(list(['zlib'])).toBe('000000047a6c6962');
    expect(list(['zlib', 'none'])).toBe('000000097a6c69622c6e6f6e65');
  });

  it('refuses names that would break a name-list', () => {
    for (const bad of ['', 'a,b', 'a b', 'caf\u00e9', 'a\nb']) {
      expect(() => new WireWriter().nameList([bad])).toThrow(RangeError);
    }
  });

  it('writes integers big-endian and strings length-prefixed', () => {
    const bytes = new WireWriter()
      .byte(0xfe)
      .uint32(0x29b7f4aa)
      .uint64(0x0102030405060708n)
      .string('testing')
      .string(Buffer.from([0, 1]))
      .toBuffer();
    expect(hex(bytes)).toBe('fe29b7f4aa01020304050607080000000774657374696e67000000020001');
    expect(hex(wireString(''))).toBe('00000000');
  });

  it('refuses integers out of range', () => {
    expect(() => new WireWriter().uint32(2 ** 32)).toThrow(RangeError);
    expect(() => new WireWriter().uint32(-1)).toThrow(RangeError);
    expect(() => new WireWriter().uint32(1.5)).toThrow(RangeError);
    expect(() => new WireWriter().uint64(1n << 64n)).toThrow(RangeError);
    expect(() => new WireWriter().uint64(-1n)).toThrow(RangeError);
    expect(hex(new WireWriter().uint64((1n << 64n) - 1n).toBuffer())).toBe('ffffffffffffffff');
  });
});

describe('WireReader', () => {
  it('reads back what the writer wrote', () => {
    const bytes = new WireWriter()
      .byte(7)
      .uint32(0xffffffff)
      .uint64((1n << 64n) - 2n)
      .string('héllo')
      .mpint(Buffer.from('80ff', 'hex'))
      .mpint(Buffer.alloc(0))
      .toBuffer();
    const wire = new WireReader(bytes, fail);
    expect(wire.readByte()).toBe(7);
    expect(wire.readUint32()).toBe(0xffffffff);
    expect(wire.readUint64()).toBe((1n << 64n) - 2n);
    expect(wire.readText()).toBe('héllo');
    expect(hex(wire.readPositiveMpint())).toBe('80ff');
    expect(wire.atEnd()).toBe(false);
    expect(hex(wire.readUnsignedMpint())).toBe('');
    expect(wire.atEnd()).toBe(true);
    expect(wire.offset).toBe(bytes.length);
  });

  it('refuses to read past the end, naming the data', () => {
    expect(() => reader('000000').readUint32()).toThrow(/blob is truncated/);
    expect(() => reader('00000005abcd').readString()).toThrow(/blob is truncated/);
    expect(() => reader('ffffffff').readString()).toThrow(TestWireError);
    expect(() => reader('00000000000000').readUint64()).toThrow(/truncated/);
    expect(() => reader('').readByte()).toThrow(/truncated/);
  });

  it('refuses negative, zero-length and non-minimal mpints as OpenSSH does', () => {
    expect(() => reader('0000000180').readPositiveMpint()).toThrow(/negative/);
    expect(() => reader('00000000').readPositiveMpint()).toThrow(/zero-length/);
    expect(() => reader('000000020001').readPositiveMpint()).toThrow(/malformed/);
    expect(() => reader('0000000100').readUnsignedMpint()).toThrow(/malformed/);
    expect(hex(reader('000000020080').readPositiveMpint())).toBe('80');
  });

  it('refuses text with NUL or invalid UTF-8', () => {
    expect(() => reader('000000026100').readText()).toThrow(/not valid text/);
    expect(() => reader('00000001ff').readText()).toThrow(/not valid text/);
  });
});
