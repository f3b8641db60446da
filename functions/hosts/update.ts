// PUT /api/hosts/{name} — change description, owners (replaced), principals and validity; 200 with [host].
import { config } from '../../lib/config.js';
import { json, route } from '../../lib/handler.js';
import { HostUpdateSchema, toHostJson, updateHost } from '../../lib/hosts.js';
import { pathName } from '../../lib/params.js';

export const handler = route({ access: 'admin', body: HostUpdateSchema }, async ({ client, event, body }) => {
  const { baseDN } = config().ldap;
  return json(200, [toHostJson(await updateHost(client, pathName(event, 'host'), body, baseDN), baseDN)]);
});
