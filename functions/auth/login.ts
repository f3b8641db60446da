// POST /api/login — checks the password by binding as the user (so the directory's password policy
// counts failures and locks), then returns the user with a fresh access and refresh token.
import { config } from '../../lib/config.js';
import { json, publicRoute } from '../../lib/handler.js';
import { LoginSchema, loginUser } from '../../lib/login.js';

export const handler = publicRoute({ body: LoginSchema, issuesTokens: true }, async ({ client, body }) =>
  json(200, await loginUser(client, body.username, body.password, config())),
);
