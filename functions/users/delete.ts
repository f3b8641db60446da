// DELETE /api/users/{name} — remove a user from their groups, then the entry; `admin` is protected.
import { config } from '../../lib/config.js';
import { json, route } from '../../lib/handler.js';
import { pathName } from '../../lib/params.js';
import { deleteUser } from '../../lib/users.js';

export const handler = route({ access: 'admin' }, async ({ client, event }) => {
  const name = pathName(event, 'user');
  await deleteUser(client, name, config().ldap.baseDN);
  return json(200, `Deleted User: ${name}`);
});
