// GET or POST /api/authkeys?username=&host=[&fingerprint=] — the authorized_keys lines sshd may
// accept for that login on that host (no token: sshd's AuthorizedKeysCommand calls it, see
// scripts/sshd/auth.sh). Parameters come from the query string or a form or JSON body (query
// wins). Missing parameters are a 400; names that cannot exist, unknown users and hosts get an
// empty 200, like any login that has no keys. So does a host with a credential when the request
// does not present it (lib/hostcredentials.ts): to a stranger it looks like an unknown host.
// Revoked keys are never answered: the revocation of the request's fingerprint is read together
// with the user and the host; without a fingerprint, the candidates' are read after them.
import * as z from '../../lib/zod.js';
import { authkeysBody, AuthkeysParamsSchema, canMatch, candidateFingerprints, decide, readFacts } from '../../lib/authkeys.js';
import { config } from '../../lib/config.js';
import { publicRoute, text } from '../../lib/handler.js';
import { requestAdmitted } from '../../lib/hostcredentials.js';
import { log } from '../../lib/log.js';
import { revokedKeys } from '../../lib/revocations.js';

/** The body's fields are checked together with the query's (`params`), before the directory is opened. */
const FormBody = /* @__PURE__ */ z.record(z.string(), z.unknown());

export const handler = publicRoute({ body: FormBody, form: true, params: AuthkeysParamsSchema, matchable: canMatch }, async ({ client, event, query: params }) => {
  const { baseDN } = config().ldap;
  const fingerprint = params.fingerprint;
  const [{ users, hostMemberOf, hostCredentials }, revokedAlready] = await Promise.all([
    readFacts(client, params, baseDN),
    fingerprint === undefined ? undefined : revokedKeys(client, baseDN, [fingerprint]),
  ]);
  const admitted = requestAdmitted(event, params.host, hostCredentials);
  const revoked = revokedAlready ?? (admitted && hostMemberOf !== undefined ? await revokedKeys(client, baseDN, candidateFingerprints(users)) : new Set<string>());
  const decision = decide(users, admitted ? hostMemberOf : undefined, params, baseDN, new Date(), revoked);
  for (const invalid of decision.invalid) log('warn', 'authkeys skipped an invalid stored key', invalid);
  return text(200, authkeysBody(decision.lines));
});
