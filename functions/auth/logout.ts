// DELETE /api/logout — revokes the caller's session (its access and refresh tokens) in the
// directory, so every instance refuses them from the next request on.
import { config } from '../../lib/config.js';
import { json, route } from '../../lib/handler.js';
import { revokeSession } from '../../lib/login.js';

export const handler = route({ access: 'session' }, async ({ client, caller }) => {
  await revokeSession(client, caller, config().tokens.refreshTtlSeconds);
  return json(200, { msg: 'Successfully logged out' });
});
