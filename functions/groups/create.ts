// POST /api/groups — create a group of existing users and hosts (none: the placeholder); 201 with [group].
import { config } from '../../lib/config.js';
import { responseEncoding } from '../../lib/encoding.js';
import { createGroup, GroupCreateSchema, toGroupJson } from '../../lib/groups.js';
import { json, route } from '../../lib/handler.js';

export const handler = route({ access: 'admin', body: GroupCreateSchema, encoding: responseEncoding() }, async ({ client, body }) => {
  const { baseDN } = config().ldap;
  return json(201, [toGroupJson(await createGroup(client, body, baseDN), baseDN)]);
});
