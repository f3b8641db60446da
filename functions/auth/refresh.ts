// POST /api/refresh — a new access token for a valid, unrevoked refresh token. Any body
// (Keyper's console sends `{}`) or none is accepted and ignored.
import { config } from '../../lib/config.js';
import { json, route } from '../../lib/handler.js';
import { issueToken } from '../../lib/tokens.js';

export const handler = route({ access: 'refresh' }, async ({ caller }) =>
  json(200, { access_token: await issueToken(config().tokens, 'access', caller.name, caller.admin, caller.claims.sid) }),
);
