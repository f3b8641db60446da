// DELETE /api/logout — revokes the caller's session (its access and refresh tokens) in the
// directory, so every instance refuses them from the next request on; `?everywhere=true` ends
// every session of the caller.
import { config } from '../../lib/config.js';
import { json, route } from '../../lib/handler.js';
import { endSessions, revokeSession } from '../../lib/logout.js';
import { queryFlag } from '../../lib/params.js';

export const handler = route({ access: 'session' }, async ({ client, event, caller }) => {
  if (queryFlag(event, 'everywhere')) {
    await endSessions(client, caller.dn);
    return json(200, { msg: 'Successfully logged out of every session' });
  }
  await revokeSession(client, caller, config().tokens.refreshTtlSeconds);
  return json(200, { msg: 'Successfully logged out' });
});
