// GET /api/krlca — the OpenSSH Key Revocation List that servers load with `RevokedKeys` (no token;
// scripts/sshd/krl-refresh.sh fetches it). Built from the revocations in the directory, the same
// bytes for the same list: an ETag, and 304 to an If-None-Match that names it. A warm function
// checks with one small read whether the list changed since it built it (lib/revocations.ts).
// It is always a whole, valid KRL (the header alone when nothing is revoked); a failure is a 5xx,
// never an empty or partial 200, since sshd refuses every key when its KRL is unreadable.
import { config } from '../../lib/config.js';
import { publicRoute } from '../../lib/handler.js';
import { currentKrl, matchesEtag } from '../../lib/revocations.js';

export const handler = publicRoute({}, async ({ client, event }) => {
  const krl = await currentKrl(client, config().ldap.baseDN);
  const headers = { ETag: krl.etag, 'Cache-Control': 'no-cache', 'X-KRL-Version': String(krl.version) };
  if (matchesEtag(event.headers['if-none-match'], krl.etag)) return { statusCode: 304, headers };
  return {
    statusCode: 200,
    headers: { ...headers, 'Content-Type': 'application/octet-stream' },
    body: krl.body.toString('base64'),
    isBase64Encoded: true,
  };
});
