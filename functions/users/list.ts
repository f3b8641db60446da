// GET /api/users — users in Keyper's JSON shape, all in one array or a page at a time
// (?limit=, ?cursor=, ?q=; see lib/listing.ts); admins only.
import { config } from '../../lib/config.js';
import { responseEncoding } from '../../lib/encoding.js';
import { route } from '../../lib/handler.js';
import { listResponse } from '../../lib/listing.js';
import { USER_LIST } from '../../lib/users.js';

export const handler = route({ access: 'admin', encoding: responseEncoding() }, async ({ client, event }) => listResponse(client, USER_LIST, event, config().ldap));
