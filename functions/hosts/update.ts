// PUT /api/hosts/{name} — change description, owners (replaced), principals and validity; 200 with [host].
// `{"rotateCredential": true}` alone gives the host a new credential for the public server routes,
// answered once as `credential` (not cached); `{"removeCredential": true}` takes it away.
import { config } from '../../lib/config.js';
import { json, route } from '../../lib/handler.js';
import { changeHostCredential, credentialAction, HostUpdateSchema, toHostJson, updateHost } from '../../lib/hosts.js';
import { log } from '../../lib/log.js';
import { pathName } from '../../lib/params.js';

export const handler = route({ access: 'admin', body: HostUpdateSchema }, async ({ client, event, caller, body }) => {
  const { baseDN } = config().ldap;
  const name = pathName(event, 'host');
  const action = credentialAction(body);
  if (action === undefined) return json(200, [toHostJson(await updateHost(client, name, body, baseDN), baseDN)]);
  const { entry, credential } = await changeHostCredential(client, name, action, baseDN);
  log('info', `host credential ${action === 'rotate' ? 'rotated' : 'removed'}`, { host: name, by: caller.name });
  const response = json(200, [{ ...toHostJson(entry, baseDN), ...(credential === undefined ? {} : { credential }) }]);
  return { ...response, headers: { ...response.headers, 'Cache-Control': 'no-store' } };
});
