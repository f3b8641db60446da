// PUT /api/hosts/{name} — change description, owners (replaced), principals, validity and
// certificates (sshPublicCerts, signed with the host CA); 200 with [host].
// `{"rotateCredential": true}` alone gives the host a new credential for the public server routes,
// answered once as `credential` (not cached); `{"removeCredential": true}` takes it away.
import { caKeys } from '../../lib/cakeys.js';
import { config } from '../../lib/config.js';
import { ifMatch, withETag } from '../../lib/etags.js';
import { json, route } from '../../lib/handler.js';
import { changeHostCredential, credentialAction, HostUpdateSchema, toHostJson, updateHost } from '../../lib/hosts.js';
import { log } from '../../lib/log.js';
import { pathName } from '../../lib/params.js';

export const handler = route({ access: 'admin', body: HostUpdateSchema, ca: caKeys(['host']) }, async ({ client, event, caller, body, cas }) => {
  const { baseDN } = config().ldap;
  const name = pathName(event, 'host');
  const action = credentialAction(body);
  if (action === undefined) {
    const updated = await updateHost(client, name, body, baseDN, { ifMatch: ifMatch(event), cas });
    return withETag(json(200, [toHostJson(updated, baseDN)]), updated);
  }
  const { entry, credential } = await changeHostCredential(client, name, action, baseDN, ifMatch(event));
  log('info', `host credential ${action === 'rotate' ? 'rotated' : 'removed'}`, { host: name, by: caller.name });
  const response = json(200, [{ ...toHostJson(entry, baseDN), ...(credential === undefined ? {} : { credential }) }]);
  return withETag({ ...response, headers: { ...response.headers, 'Cache-Control': 'no-store' } }, entry);
});
