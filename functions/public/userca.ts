// GET /api/userca — the user CA's public key, one OpenSSH public key line (no token, no directory):
// what servers put into sshd's `TrustedUserCAKeys`.
import { caKeys } from '../../lib/cakeys.js';
import { caPublicLine } from '../../lib/sshca.js';
import { routeWithoutDirectory, text } from '../../lib/handler.js';

export const handler = routeWithoutDirectory(async ({ cas }) => text(200, `${caPublicLine(cas.get('user'))}\n`), { ca: caKeys(['user']) });
