// GET /api/groups — every group with its members (the placeholder never shown); admins only.
import { config } from '../../lib/config.js';
import { listGroups } from '../../lib/groups.js';
import { json, route } from '../../lib/handler.js';

export const handler = route({ access: 'admin' }, async ({ client }) => json(200, await listGroups(client, config().ldap.baseDN)));
