// GET /api/hosts — hosts with their owners, groups, principals and certificates, all in one array
// or a page at a time (?limit=, ?cursor=, ?q=; see lib/listing.ts); admins only.
import { config } from '../../lib/config.js';
import { responseEncoding } from '../../lib/encoding.js';
import { route } from '../../lib/handler.js';
import { hostList } from '../../lib/hosts.js';
import { listResponse } from '../../lib/listing.js';

export const handler = route({ access: 'admin', encoding: responseEncoding() }, async ({ client, event }) => listResponse(client, hostList(config().ldap.baseDN), event, config().ldap));
