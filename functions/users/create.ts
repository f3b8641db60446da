// POST /api/users — create a user with password, lock state, groups and SSH keys; 201 with [user].
import { config } from '../../lib/config.js';
import { json, route } from '../../lib/handler.js';
import { createUser, toUserJson, UserCreateSchema } from '../../lib/users.js';

export const handler = route({ access: 'admin', body: UserCreateSchema }, async ({ client, body }) =>
  json(201, [toUserJson(await createUser(client, body, config().ldap.baseDN))]),
);
