// DELETE /api/hosts/{name} — take the host out of every group, delete its own group, then the entry.
import { config } from '../../lib/config.js';
import { json, route } from '../../lib/handler.js';
import { deleteHost } from '../../lib/hosts.js';
import { pathName } from '../../lib/params.js';

export const handler = route({ access: 'admin' }, async ({ client, event }) => {
  const name = pathName(event, 'host');
  await deleteHost(client, name, config().ldap.baseDN);
  return json(200, `Deleted host: ${name}`);
});
