// GET /api/hostca — the host CA's public key, one OpenSSH public key line (no token, no directory):
// what clients put after `@cert-authority` in known_hosts.
import { caKeys } from '../../lib/cakeys.js';
import { caPublicLine } from '../../lib/sshca.js';
import { routeWithoutDirectory, text } from '../../lib/handler.js';

export const handler = routeWithoutDirectory(async ({ cas }) => text(200, `${caPublicLine(cas.get('host'))}\n`), { ca: caKeys(['host']) });
