// GET /api/hosts/{name} — one host as a one-element array, as Keyper answers; admins only.
import { config } from '../../lib/config.js';
import { withETag } from '../../lib/etags.js';
import { json, route } from '../../lib/handler.js';
import { readHost, toHostJson } from '../../lib/hosts.js';
import { pathName } from '../../lib/params.js';

export const handler = route({ access: 'admin' }, async ({ client, event }) => {
  const { baseDN } = config().ldap;
  const entry = await readHost(client, pathName(event, 'host'), baseDN);
  return withETag(json(200, [toHostJson(entry, baseDN)]), entry);
});
