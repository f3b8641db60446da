// GET /api/groups/{name} — one group as a one-element array, as Keyper answers; admins only.
import { config } from '../../lib/config.js';
import { responseEncoding } from '../../lib/encoding.js';
import { withETag } from '../../lib/etags.js';
import { readGroup, toGroupJson } from '../../lib/groups.js';
import { json, route } from '../../lib/handler.js';
import { pathName } from '../../lib/params.js';

export const handler = route({ access: 'admin', encoding: responseEncoding() }, async ({ client, event }) => {
  const { baseDN } = config().ldap;
  const entry = await readGroup(client, pathName(event, 'group'), baseDN);
  return withETag(json(200, [toGroupJson(entry, baseDN)]), entry);
});
