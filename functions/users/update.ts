// PUT /api/users/{name} — update a user. Admins may change everything but cn; a user may change
// only their own names, mail, password and SSH keys (keys for groups they already belong to).
// A new password ends the user's other sessions (all of them when an administrator sets it).
import { config } from '../../lib/config.js';
import { forbidden } from '../../lib/errors.js';
import { json, route } from '../../lib/handler.js';
import { assertCurrentPassword, endSessions } from '../../lib/login.js';
import { pathName } from '../../lib/params.js';
import { SELF_SERVICE_FIELDS, toUserJson, updateUser, UserUpdateSchema } from '../../lib/users.js';

export const handler = route({ access: 'owner', body: UserUpdateSchema }, async ({ client, event, caller, body }) => {
  const name = pathName(event, 'user');
  if (!caller.admin && Object.keys(body).some((field) => !SELF_SERVICE_FIELDS.has(field))) throw forbidden();
  const cfg = config();
  if (body.currentPassword !== undefined) await assertCurrentPassword(client, name, body.currentPassword, cfg);
  const spared = caller.name === name ? caller.claims.sid : undefined;
  const entry = await updateUser(client, name, body, cfg.ldap.baseDN, (dn) => endSessions(client, dn, spared));
  return json(200, [toUserJson(entry)]);
});
