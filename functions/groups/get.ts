// GET /api/groups/{name} — one group as a one-element array, as Keyper answers; admins only.
import { config } from '../../lib/config.js';
import { responseEncoding } from '../../lib/encoding.js';
import { readGroup, toGroupJson } from '../../lib/groups.js';
import { json, route } from '../../lib/handler.js';
import { pathName } from '../../lib/params.js';

export const handler = route({ access: 'admin', encoding: responseEncoding() }, async ({ client, event }) => {
  const { baseDN } = config().ldap;
  return json(200, [toGroupJson(await readGroup(client, pathName(event, 'group'), baseDN), baseDN)]);
});
