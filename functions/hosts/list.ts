// GET /api/hosts — every host with its owners, groups, principals and certificates; admins only.
import { config } from '../../lib/config.js';
import { json, route } from '../../lib/handler.js';
import { listHosts } from '../../lib/hosts.js';

export const handler = route({ access: 'admin' }, async ({ client }) => json(200, await listHosts(client, config().ldap.baseDN)));
