// POST /api/hosts — create a host with its own group and its place in AllHosts (all or nothing),
// and its certificates (sshPublicCerts, signed with the host CA); 201 with [host].
import { caKeys } from '../../lib/cakeys.js';
import { config } from '../../lib/config.js';
import { json, route } from '../../lib/handler.js';
import { createHost, HostCreateSchema, toHostJson } from '../../lib/hosts.js';

export const handler = route({ access: 'admin', body: HostCreateSchema, ca: caKeys(['host']) }, async ({ client, body, cas }) => {
  const { baseDN } = config().ldap;
  return json(201, [toHostJson(await createHost(client, body, baseDN, cas), baseDN)]);
});
