// GET or POST /api/authkeys?username=&host=[&fingerprint=] — the authorized_keys lines sshd may
// accept for that login on that host (no token: sshd's AuthorizedKeysCommand calls it, see
// scripts/sshd/auth.sh). Parameters come from the query string or a form or JSON body (query
// wins). Missing parameters are a 400; names that cannot exist, unknown users and hosts get an
// empty 200, like any login that has no keys. So does a host with a credential when the request
// does not present it (lib/hostcredentials.ts): to a stranger it looks like an unknown host.
import * as z from '../../lib/zod.js';
import { authkeysBody, AuthkeysParamsSchema, canMatch, decide, readFacts } from '../../lib/authkeys.js';
import { config } from '../../lib/config.js';
import { route, text } from '../../lib/handler.js';
import { requestAdmitted } from '../../lib/hostcredentials.js';
import { log } from '../../lib/log.js';
import { parseInput } from '../../lib/validation.js';

/** The body's fields are checked together with the query's, below. */
const FormBody = z.record(z.string(), z.unknown());

export const handler = route({ access: 'public', body: FormBody, form: true }, async ({ client, event, body }) => {
  const params = parseInput(AuthkeysParamsSchema, { ...body, ...event.queryStringParameters });
  if (!canMatch(params)) return text(200, '');
  const { baseDN } = config().ldap;
  const { users, hostMemberOf, hostCredentials } = await readFacts(client, params, baseDN);
  const admitted = requestAdmitted(event, params.host, hostCredentials);
  const decision = decide(users, admitted ? hostMemberOf : undefined, params, baseDN, new Date());
  for (const invalid of decision.invalid) log('warn', 'authkeys skipped an invalid stored key', invalid);
  return text(200, authkeysBody(decision.lines));
});
