// Smaller input defects, handlers invoked directly against the private slapd: one password limit
// for setting and logging in, body keys that are Object.prototype names, invisible and
// direction-changing characters in text fields, the stored spelling of group DNs, duplicate
// principals within a request, and malformed JSON (400) versus the wrong content type (415).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as login } from '../../functions/auth/login.js';
import { handler as createGroup } from '../../functions/groups/create.js';
import { handler as updateGroup } from '../../functions/groups/update.js';
import { handler as createHost } from '../../functions/hosts/create.js';
import { handler as createUser } from '../../functions/users/create.js';
import { handler as deleteUser } from '../../functions/users/delete.js';
import { handler as updateUser } from '../../functions/users/update.js';
import { MAX_PASSWORD_LENGTH } from '../../lib/passwords.js';
import { parsePublicKey } from '../../lib/sshkeys.js';
import { ed25519Line } from '../../scripts/sshkey-lines.js';
import {
  ADMIN_PASSWORD,
  apiEvent,
  baseDN,
  expectRefusedWithoutChange,
  groupDN,
  invoke,
  lambdaContext,
  uniqueName,
  userDN,
  withManager,
  type Reply,
  tokenOf,
} from '../helpers.js';

let admin: string;
const created: string[] = [];

const newUser = (cn: string, extra: Record<string, unknown> = {}) => ({
  cn, userPassword: 'hardening-test', confirmPassword: 'hardening-test', givenName: 'Hard', sn: 'Ening', duration: 1, durationUnit: 'Days', ...extra,
});
const create = (json: unknown): Promise<Reply> => invoke(createUser, { method: 'POST', route: '/api/users', token: admin, json });
const update = (name: string, json: unknown): Promise<Reply> =>
  invoke(updateUser, { method: 'PUT', route: '/api/users/{name}', pathParameters: { name }, token: admin, json });
const logIn = (username: string, password: string): Promise<Reply> => invoke(login, { method: 'POST', route: '/api/login', json: { username, password } });

/** A fresh user made through the API, deleted after the file. */
const scratch = async (extra: Record<string, unknown> = {}): Promise<string> => {
  const cn = uniqueName('hd');
  const reply = await create(newUser(cn, extra));
  expect(reply.status, reply.text).toBe(201);
  created.push(cn);
  return cn;
};

const errorsOf = (reply: Reply): Record<string, string> => (reply.body as { errors?: Record<string, string> }).errors ?? {};

/** Invokes a handler with the body sent base64-encoded, as API Gateway does for binary payloads. */
const invokeBase64 = async (
  handler: typeof createUser,
  input: Parameters<typeof apiEvent>[0],
  bytes: Buffer,
): Promise<Reply> => {
  const event = { ...apiEvent(input), body: bytes.toString('base64'), isBase64Encoded: true };
  const result = await handler(event, lambdaContext());
  const text = result.body ?? '';
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: result.statusCode ?? 200, headers: {}, body, text };
};

beforeAll(async () => {
  admin = await tokenOf('admin', ADMIN_PASSWORD);
});

afterAll(async () => {
  for (const name of created) await invoke(deleteUser, { method: 'DELETE', route: '/api/users/{name}', pathParameters: { name }, token: admin });
});

describe('one password limit everywhere', () => {
  it(`a password of up to ${MAX_PASSWORD_LENGTH} characters that can be set can be used to log in`, async () => {
    expect(MAX_PASSWORD_LENGTH).toBeGreaterThan(100);
    const long = 'p'.repeat(MAX_PASSWORD_LENGTH);
    const name = await scratch({ userPassword: long, confirmPassword: long });
    expect((await logIn(name, long)).status).toBe(200);
    const medium = 'm'.repeat(101);
    expect((await update(name, { userPassword: medium, confirmPassword: medium })).status).toBe(200);
    expect((await logIn(name, medium)).status).toBe(200);
  });

  it('a password one character longer is refused when set and when logging in', async () => {
    const tooLong = 'q'.repeat(MAX_PASSWORD_LENGTH + 1);
    const name = await scratch();
    await expectRefusedWithoutChange(async () => {
      const replies = [await create(newUser(uniqueName('hd'), { userPassword: tooLong, confirmPassword: tooLong })), await update(name, { userPassword: tooLong, confirmPassword: tooLong })];
      for (const reply of replies) expect(errorsOf(reply), reply.text).toHaveProperty('userPassword');
      return replies;
    });
    const refused = await logIn(name, tooLong);
    expect(refused.status).toBe(400);
    expect(errorsOf(refused)).toHaveProperty('password');
  });

  it('an all-blank password cannot be set (login refuses blank passwords)', async () => {
    const name = await scratch();
    for (const blank of [' '.repeat(12), '\t'.repeat(9), ` \n${' '.repeat(8)}`]) {
      await expectRefusedWithoutChange(async () => {
        const replies = [await create(newUser(uniqueName('hd'), { userPassword: blank, confirmPassword: blank })), await update(name, { userPassword: blank, confirmPassword: blank })];
        for (const reply of replies) {
          expect(reply.status, JSON.stringify(blank)).toBe(400);
          expect(errorsOf(reply)).toHaveProperty('userPassword');
        }
        return replies;
      });
    }
  });
});

describe('body keys that are names of Object.prototype', () => {
  it.each(['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__defineGetter__', 'valueOf'])(
    '%s is a 400 naming the field',
    async (key) => {
      const name = await scratch();
      const body = `{"sn": "Safe", ${JSON.stringify(key)}: {"admin": true}}`;
      const headers = { 'content-type': 'application/json' };
      await expectRefusedWithoutChange(async () => {
        const replies = [
          await invoke(updateUser, { method: 'PUT', route: '/api/users/{name}', pathParameters: { name }, token: admin, body, headers }),
          await invoke(createUser, { method: 'POST', route: '/api/users', token: admin, body: JSON.stringify(newUser(uniqueName('hd'))).replace(/}$/, `, ${JSON.stringify(key)}: 1}`), headers }),
        ];
        for (const reply of replies) {
          expect(reply.status, reply.text).toBe(400);
          expect((reply.body as { msg: string }).msg).toBe(`Invalid input: ${key}`);
          expect(Object.hasOwn(errorsOf(reply), key), reply.text).toBe(true);
        }
        return replies;
      });
    },
  );
});

describe('text fields take printable text only', () => {
  const hostile = {
    'zero width space': '\u200B',
    'zero width joiner': '\u200D',
    'word joiner': '\u2060',
    'byte order mark': '\uFEFF',
    'right-to-left override': '\u202E',
    'left-to-right embedding': '\u202A',
    'first strong isolate': '\u2068',
    'pop directional isolate': '\u2069',
    'replacement character (invalid UTF-8)': '\uFFFD',
    'lone surrogate': '\uD800',
    'line separator': '\u2028',
    'escape (control)': '\u001B',
  };

  it.each(Object.entries(hostile))('%s is a 400 naming the field, in every free-text field', async (_, char) => {
    const name = await scratch();
    const group = uniqueName('hdg');
    const line = ed25519Line();
    await expectRefusedWithoutChange(async () => {
      const replies: [string, Reply][] = [];
      for (const field of ['givenName', 'sn', 'displayName', 'mail']) {
        const value = field === 'mail' ? `a${char}b@example.org` : `Mal${char}lory`;
        replies.push([field, await create(newUser(uniqueName('hd'), { [field]: value }))]);
        replies.push([field, await update(name, { [field]: value })]);
      }
      replies.push(['sshPublicKeys.0.name', await update(name, { sshPublicKeys: [{ name: `lap${char}top`, key: line, hostGroups: [] }] })]);
      replies.push(['description', await invoke(createGroup, { method: 'POST', route: '/api/groups', token: admin, json: { cn: group, description: `Ops${char}team` } })]);
      replies.push(['description', await invoke(updateGroup, { method: 'PUT', route: '/api/groups/{name}', pathParameters: { name: 'demo_servers' }, token: admin, json: { description: `x${char}y` } })]);
      replies.push(['description', await invoke(createHost, { method: 'POST', route: '/api/hosts', token: admin, json: { cn: `${group}.example.org`, description: `d${char}b` } })]);
      for (const [field, reply] of replies) {
        expect(reply.status, `${field}: ${reply.text}`).toBe(400);
        expect(errorsOf(reply), `${field}: ${reply.text}`).toHaveProperty([field]);
      }
      return replies.map(([, reply]) => reply);
    });
  });

  it('invalid UTF-8 in a base64-encoded body is a 400 naming the field, not a stored U+FFFD', async () => {
    const name = await scratch();
    const bytes = Buffer.concat([Buffer.from('{"sn": "Bad'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]);
    await expectRefusedWithoutChange(async () => {
      const reply = await invokeBase64(updateUser, { method: 'PUT', route: '/api/users/{name}', pathParameters: { name }, token: admin, headers: { 'content-type': 'application/json' } }, bytes);
      expect(reply.status, reply.text).toBe(400);
      expect(errorsOf(reply)).toHaveProperty('sn');
      return [reply];
    });
  });

  // (Emoji joined by U+200D are refused with the zero-width characters.)
  it('ordinary non-ASCII text is still accepted and stored as sent', async () => {
    const name = await scratch();
    const reply = await update(name, { givenName: 'Zoë', sn: 'Łukasiewicz-Ñúñez', displayName: '山田 太郎 🙂' });
    expect(reply.status, reply.text).toBe(200);
    expect((reply.body as [Record<string, string>])[0]).toMatchObject({ givenName: 'Zoë', sn: 'Łukasiewicz-Ñúñez', displayName: '山田 太郎 🙂' });
  });
});

describe('group DNs are stored as the directory spells them', () => {
  const oddly = (name: string): string => `CN=${name.toUpperCase()} , OU=Groups,${baseDN().toUpperCase()}`;
  const stored = (dn: string): Promise<{ memberOf: string[]; keys: { hostGroups: string[] }[] }> =>
    withManager(async (client) => {
      const { searchEntries } = await client.search(dn, { scope: 'base', attributes: ['memberOf', 'sshPublicKey'] });
      const entry = searchEntries[0]!;
      return {
        memberOf: [entry.memberOf ?? []].flat().map(String),
        keys: [entry.sshPublicKey ?? []].flat().map((raw) => JSON.parse(String(raw)) as { hostGroups: string[] }),
      };
    });

  it('memberOfs and key hostGroups sent in another spelling are written with the group\'s own DN', async () => {
    const line = ed25519Line();
    const name = await scratch({
      memberOfs: [oddly('web1')],
      sshPublicKeys: [{ name: 'laptop', key: line, fingerprint: parsePublicKey(line).fingerprint, hostGroups: [oddly('web1')] }],
    });
    let held = await stored(userDN(name));
    expect(held.memberOf).toEqual([groupDN('web1')]);
    expect(held.keys.map((key) => key.hostGroups)).toEqual([[groupDN('web1')]]);

    const second = ed25519Line();
    const reply = await update(name, { memberOfs: [oddly('web1'), oddly('demo_servers')], sshPublicKeys: [{ name: 'desk', key: second, hostGroups: [oddly('demo_servers')] }] });
    expect(reply.status, reply.text).toBe(200);
    held = await stored(userDN(name));
    expect(held.memberOf.sort()).toEqual([groupDN('demo_servers'), groupDN('web1')].sort());
    expect(held.keys.map((key) => key.hostGroups)).toEqual([[groupDN('web1')], [groupDN('demo_servers')]]);
  });
});

describe('duplicate principals within one request', () => {
  it('differing in case, on a host, are a 400 naming the field', async () => {
    let reply: Reply | undefined;
    await expectRefusedWithoutChange(async () => [
      (reply = await invoke(createHost, { method: 'POST', route: '/api/hosts', token: admin, json: { cn: `${uniqueName('hdh')}.example.org`, principal: ['db', 'DB'] } })),
    ]);
    expect(reply!.status).toBe(400);
    expect(errorsOf(reply!)).toHaveProperty('principal');
  });
});

describe('malformed JSON is a 400, the wrong content type a 415', () => {
  const json = { 'content-type': 'application/json' };

  it.each(['{"sn": ', '{sn: "x"}', '', '[1,'])('body %j with a JSON content type is a 400', async (body) => {
    const name = await scratch();
    await expectRefusedWithoutChange(async () => {
      const reply = await invoke(updateUser, { method: 'PUT', route: '/api/users/{name}', pathParameters: { name }, token: admin, body, headers: json });
      expect(reply.status, reply.text).toBe(400);
      expect((reply.body as { msg: string }).msg).toMatch(/JSON/);
      return [reply];
    });
  });

  it('a JSON body without any body at all is a 400; a form or no content type is a 415', async () => {
    const name = await scratch();
    const put = (input: { body?: string; headers?: Record<string, string> }) =>
      invoke(updateUser, { method: 'PUT', route: '/api/users/{name}', pathParameters: { name }, token: admin, ...input });
    await expectRefusedWithoutChange(async () => {
      const missing = await put({ headers: json });
      const form = await put({ body: 'sn=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      const none = await put({ body: '{"sn": "x"}' });
      expect(missing.status, missing.text).toBe(400);
      expect([form.status, form.body]).toEqual([415, { msg: 'Unsupported Media Type' }]);
      expect([none.status, none.body]).toEqual([415, { msg: 'Unsupported Media Type' }]);
      return [missing, form, none];
    });
  });

  it('base64-encoded bodies still parse; a malformed one is a 400', async () => {
    const name = await scratch();
    const input = { method: 'PUT', route: '/api/users/{name}', pathParameters: { name }, token: admin, headers: json };
    const good = await invokeBase64(updateUser, input, Buffer.from(JSON.stringify({ sn: 'Encoded' })));
    expect(good.status, good.text).toBe(200);
    expect((good.body as [{ sn: string }])[0].sn).toBe('Encoded');
    const bad = await invokeBase64(updateUser, input, Buffer.from('{"sn": "x'));
    expect(bad.status, bad.text).toBe(400);
  });
});
