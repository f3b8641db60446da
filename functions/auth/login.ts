// POST /api/login — checks the password by binding as the user (so the directory's password policy
// counts failures and locks), then returns the user with a fresh access and refresh token.
import * as z from '../../lib/zod.js';
import { config } from '../../lib/config.js';
import { json, route } from '../../lib/handler.js';
import { loginUser } from '../../lib/login.js';
import { MAX_PASSWORD_LENGTH } from '../../lib/validation.js';

const LoginSchema = z.object({
  username: z.string().check(z.minLength(1, 'is required'), z.maxLength(100, 'must be at most 100 characters')),
  password: z.string().check(z.maxLength(MAX_PASSWORD_LENGTH, `must be at most ${MAX_PASSWORD_LENGTH} characters`)),
});

export const handler = route({ access: 'public', body: LoginSchema }, async ({ client, body }) =>
  json(200, await loginUser(client, body.username, body.password, config())),
);
