// GET /api/hostca — the host CA's public key, one OpenSSH public key line (no token): what
// clients put after `@cert-authority` in known_hosts.
import { caKeys } from '../../lib/cakeys.js';
import { caPublicLine } from '../../lib/sshca.js';
import { route, text } from '../../lib/handler.js';

export const handler = route({ access: 'public', ca: caKeys(['host']) }, async ({ cas }) => text(200, `${caPublicLine(cas.get('host'))}\n`));
