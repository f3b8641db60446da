// GET /api/users/{name} — one user as a one-element array, as Keyper answers (admins, or the user).
import { config } from '../../lib/config.js';
import { json, route } from '../../lib/handler.js';
import { pathName } from '../../lib/params.js';
import { readUser, toUserJson } from '../../lib/users.js';

export const handler = route({ access: 'owner' }, async ({ client, event }) =>
  json(200, [toUserJson(await readUser(client, pathName(event, 'user'), config().ldap.baseDN))]),
);
