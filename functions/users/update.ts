// PUT /api/users/{name} — update a user. Admins may change everything but cn; a user may change
// only their own names, mail, password and SSH keys (keys for groups they already belong to).
import { config } from '../../lib/config.js';
import { forbidden } from '../../lib/errors.js';
import { json, route } from '../../lib/handler.js';
import { pathName } from '../../lib/params.js';
import { SELF_SERVICE_FIELDS, toUserJson, updateUser, UserUpdateSchema } from '../../lib/users.js';

export const handler = route({ access: 'owner', body: UserUpdateSchema }, async ({ client, event, caller, body }) => {
  const name = pathName(event, 'user');
  if (!caller.admin && Object.keys(body).some((field) => !SELF_SERVICE_FIELDS.has(field))) throw forbidden();
  return json(200, [toUserJson(await updateUser(client, name, body, config().ldap.baseDN))]);
});
