// POST /api/users — create a user with password, lock state, groups, SSH keys and certificates
// (signed with the user CA); 201 with [user].
import { caKeys } from '../../lib/cakeys.js';
import { config } from '../../lib/config.js';
import { json, route } from '../../lib/handler.js';
import { createUser, toUserJson, UserCreateSchema } from '../../lib/users.js';

export const handler = route({ access: 'admin', body: UserCreateSchema, ca: caKeys(['user']) }, async ({ client, body, cas }) =>
  json(201, [toUserJson(await createUser(client, body, config().ldap.baseDN, cas))]),
);
