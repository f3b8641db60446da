// POST /api/refresh — a new access token for a valid, unrevoked refresh token. Any body
// (Keyper's console sends `{}`) or none is accepted and ignored.
import { config } from '../../lib/config.js';
import { json, route } from '../../lib/handler.js';
import { issueToken } from '../../lib/tokens.js';

export const handler = route({ access: 'refresh' }, async ({ caller }) => {
  // Same session, account and generation as the refresh token: a logout or password change that
  // ended the session ends the new token too.
  const { sid, account, gen } = caller.claims;
  return json(200, { access_token: await issueToken(config().tokens, 'access', { name: caller.name, admin: caller.admin, sid, account, gen }) });
});
