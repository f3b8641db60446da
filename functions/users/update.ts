// PUT /api/users/{name} — update a user. Admins may change everything but cn; a user may change
// only their own names, mail, password and SSH keys and certificates (for groups they already
// belong to). Certificates are signed with the user CA.
// A new password ends the user's other sessions (all of them when an administrator sets it).
// With If-Match, 412 unless the user is the version the client read (the ETag of GET).
import { caKeys } from '../../lib/cakeys.js';
import { config } from '../../lib/config.js';
import { ifMatch, withETag } from '../../lib/etags.js';
import { forbidden } from '../../lib/errors.js';
import { json, route } from '../../lib/handler.js';
import { assertCurrentPassword } from '../../lib/login.js';
import { endSessions } from '../../lib/logout.js';
import { pathName } from '../../lib/params.js';
import { SELF_SERVICE_FIELDS, toUserJson, updateUser, UserUpdateSchema } from '../../lib/users.js';

export const handler = route({ access: 'owner', body: UserUpdateSchema, ca: caKeys(['user']) }, async ({ client, event, caller, body, cas }) => {
  const name = pathName(event, 'user');
  if (!caller.admin && Object.keys(body).some((field) => !SELF_SERVICE_FIELDS.has(field))) throw forbidden();
  const cfg = config();
  if (body.currentPassword !== undefined) await assertCurrentPassword(client, name, body.currentPassword, cfg);
  const spared = caller.name === name ? caller.claims.sid : undefined;
  const entry = await updateUser(client, name, body, cfg.ldap.baseDN, {
    endSessions: (journal, dn) => endSessions(journal, dn, spared),
    ifMatch: ifMatch(event),
    cas,
  });
  return withETag(json(200, [toUserJson(entry)]), entry);
});
