// Test and benchmark fixtures: fresh OpenSSH public key lines made with Node's crypto and the
// SSH wire format (RFC 4251 strings), no ssh-keygen needed. Not used by the service itself.
import { generateKeyPairSync } from 'node:crypto';

/** An RFC 4251 string: uint32 big-endian length, then the bytes. */
export const sshString = (data: Buffer | string): Buffer => {
  const bytes = Buffer.from(data);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
};

/** A new `ssh-ed25519 <base64> <comment>` line (the private half is thrown away). */
export const ed25519Line = (comment = 'fixture'): string => {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url');
  const blob = Buffer.concat([sshString('ssh-ed25519'), sshString(raw)]);
  return `ssh-ed25519 ${blob.toString('base64')}${comment === '' ? '' : ` ${comment}`}`;
};
