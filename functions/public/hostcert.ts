// GET /api/hostcert?hostname=[&keyid=][&fingerprint=] — the host's unexpired certificate lines
// (no token), filtered by keyid and fingerprint as Keyper does. A host with a credential is
// answered only to a request presenting it (lib/hostcredentials.ts); unknown hosts get an empty 200.
import { config } from '../../lib/config.js';
import { publicRoute, text } from '../../lib/handler.js';
import { requestAdmitted } from '../../lib/hostcredentials.js';
import { canMatchHostCerts, certificateLines, HostCertParamsSchema, linesBody, readHostCertValues } from '../../lib/publiccerts.js';

export const handler = publicRoute({ query: HostCertParamsSchema, matchable: canMatchHostCerts }, async ({ client, event, query: params }) => {
  const host = await readHostCertValues(client, params.hostname, config().ldap.baseDN);
  if (host === undefined || !requestAdmitted(event, params.hostname, host.credentials)) return text(200, '');
  return text(200, linesBody(certificateLines(host.raw, params, new Date())));
});
