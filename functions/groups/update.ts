// PUT /api/groups/{name} — change the description and/or replace the member list; 200 with [group].
import { config } from '../../lib/config.js';
import { responseEncoding } from '../../lib/encoding.js';
import { ifMatch, withETag } from '../../lib/etags.js';
import { GroupUpdateSchema, toGroupJson, updateGroup } from '../../lib/groups.js';
import { json, route } from '../../lib/handler.js';
import { pathName } from '../../lib/params.js';

export const handler = route({ access: 'admin', body: GroupUpdateSchema, encoding: responseEncoding() }, async ({ client, event, body }) => {
  const { baseDN } = config().ldap;
  const entry = await updateGroup(client, pathName(event, 'group'), body, baseDN, ifMatch(event));
  return withETag(json(200, [toGroupJson(entry, baseDN)]), entry);
});
