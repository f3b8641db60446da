// GET or POST /api/authprinc?username=&host=&fingerprint=&serial= — the principals sshd may accept
// for a certificate login as that account on that host (no token: sshd's
// AuthorizedPrincipalsCommand calls it, see scripts/sshd/authprinc.sh). Parameters come from the
// query string or a form or JSON body (query wins), as for /authkeys. The answer is the login name
// on one line when a stored, unexpired, unrevoked certificate of an unlocked user with that key
// and serial is meant for this host (lib/publiccerts.ts), else empty. The user, the host (with
// its credential, lib/hostcredentials.ts) and the revocations are read in one round trip.
import * as z from '../../lib/zod.js';
import { config } from '../../lib/config.js';
import { publicRoute, text } from '../../lib/handler.js';
import { requestAdmitted } from '../../lib/hostcredentials.js';
import { AuthprincParamsSchema, canMatchPrincipals, decidePrincipals, linesBody, readPrincipalFacts } from '../../lib/publiccerts.js';

/** The body's fields are checked together with the query's (`params`), before the directory is opened. */
const FormBody = /* @__PURE__ */ z.record(z.string(), z.unknown());

export const handler = publicRoute({ body: FormBody, form: true, params: AuthprincParamsSchema, matchable: canMatchPrincipals }, async ({ client, event, query: params }) => {
  const { baseDN } = config().ldap;
  const { users, hostMemberOf, hostCredentials, revocations } = await readPrincipalFacts(client, params, baseDN);
  const admitted = requestAdmitted(event, params.host, hostCredentials);
  return text(200, linesBody(decidePrincipals(users, admitted ? hostMemberOf : undefined, params, revocations, baseDN, new Date())));
});
