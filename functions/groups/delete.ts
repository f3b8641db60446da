// DELETE /api/groups/{name} — delete a group; KeyperAdmins and AllHosts are protected (403).
import { config } from '../../lib/config.js';
import { deleteGroup } from '../../lib/groups.js';
import { json, route } from '../../lib/handler.js';
import { pathName } from '../../lib/params.js';

export const handler = route({ access: 'admin' }, async ({ client, event }) => {
  const name = pathName(event, 'group');
  await deleteGroup(client, name, config().ldap.baseDN);
  return json(200, `Deleted group: ${name}`);
});
