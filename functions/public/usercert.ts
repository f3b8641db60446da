// GET /api/usercert?username=[&keyid=][&fingerprint=] — the user's unexpired certificate lines
// (no token), filtered by keyid and fingerprint as Keyper does; the user is found by exact cn.
// Unknown users and users without certificates get an empty 200.
import { config } from '../../lib/config.js';
import { publicRoute, text } from '../../lib/handler.js';
import { canMatchUserCerts, certificateLines, linesBody, readUserCertValues, UserCertParamsSchema } from '../../lib/publiccerts.js';

export const handler = publicRoute({ query: UserCertParamsSchema, matchable: canMatchUserCerts }, async ({ client, query: params }) => {
  const raw = await readUserCertValues(client, params.username, config().ldap.baseDN);
  return text(200, linesBody(certificateLines(raw, params, new Date())));
});
