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
  // Encoded by the key generation itself: exporting a freshly generated KeyObject can deadlock Node
  // (see generateCaKey in lib/sshca.ts). An Ed25519 SPKI ends with the 32-byte key.
  const { publicKey } = generateKeyPairSync('ed25519', { publicKeyEncoding: { type: 'spki', format: 'der' }, privateKeyEncoding: { type: 'pkcs8', format: 'der' } });
  const raw = publicKey.subarray(-32);
  const blob = Buffer.concat([sshString('ssh-ed25519'), sshString(raw)]);
  return `ssh-ed25519 ${blob.toString('base64')}${comment === '' ? '' : ` ${comment}`}`;
};
