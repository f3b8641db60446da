// GET /api/users — every user, in Keyper's JSON shape (admins only).
import { config } from '../../lib/config.js';
import { json, route } from '../../lib/handler.js';
import { listUsers } from '../../lib/users.js';

export const handler = route({ access: 'admin' }, async ({ client }) => json(200, await listUsers(client, config().ldap.baseDN)));
