// GET /api/groups — groups with their members (the placeholder never shown), all in one array or
// a page at a time (?limit=, ?cursor=, ?q=; see lib/listing.ts); admins only.
import { config } from '../../lib/config.js';
import { responseEncoding } from '../../lib/encoding.js';
import { groupList } from '../../lib/groups.js';
import { route } from '../../lib/handler.js';
import { listResponse } from '../../lib/listing.js';

export const handler = route({ access: 'admin', encoding: responseEncoding() }, async ({ client, event }) => listResponse(client, groupList(config().ldap.baseDN), event, config().ldap));
