// GET /api/check_jwt_token — lets the console ask whether its access token still works.
import { json, route } from '../../lib/handler.js';

export const handler = route({ access: 'session' }, async () => json(200, { msg: 'Token Valid' }));
