// GET /api/users/{name} — one user as a one-element array, as Keyper answers (admins, or the user), with its ETag.
import { config } from '../../lib/config.js';
import { withETag } from '../../lib/etags.js';
import { json, route } from '../../lib/handler.js';
import { pathName } from '../../lib/params.js';
import { readUser, toUserJson } from '../../lib/users.js';

export const handler = route({ access: 'owner' }, async ({ client, event }) => {
  const entry = await readUser(client, pathName(event, 'user'), config().ldap.baseDN);
  return withETag(json(200, [toUserJson(entry)]), entry);
});
