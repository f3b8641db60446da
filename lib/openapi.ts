// The API description: one entry per route of serverless.yml, naming the schemas its handler
// validates with (the same objects, imported from lib/), who may call it and what it answers; and
// the builder of the OpenAPI 3.1 document from them (z.toJSONSchema). `npm run openapi` writes the
// document to openapi.json, which the openapi function serves; no function imports this module
// (it would carry every schema). test/e2e/openapi.test.ts checks it against serverless.yml, the
// handlers and real answers.
import type { Access } from './auth.js';
import { CertRemovalSchema, hostCertChange, HostCertAdditionSchema, userCertChange, UserCertAdditionSchema } from './certs.js';
import { AuthkeysParamsSchema } from './authkeys.js';
import { NAME_PATTERNS } from './dn.js';
import type { GroupJson } from './groups.js';
import { GroupCreateSchema, GroupUpdateSchema } from './groups.js';
import type { HostJson } from './hosts.js';
import { HostCreateSchema, HostUpdateSchema } from './hosts.js';
import { keyChange, KeyAdditionSchema, KeyRemovalSchema } from './keys.js';
import type { EntityKind } from './layout.js';
import { ListQuerySchema } from './listing.js';
import { LoginSchema, type LoginResult } from './login.js';
import { AuthprincParamsSchema, HostCertParamsSchema, UserCertParamsSchema } from './publiccerts.js';
import { UserCreateSchema, UserUpdateSchema, type UserJson } from './users.js';
import * as z from './zod.js';

type Schema = z.ZodMiniType<unknown>;

// ---- answers (the handlers build them from TypeScript types; the checks below keep both alike) ----

const durationUnit = /* @__PURE__ */ z.enum(['Hours', 'Days', 'Weeks']);

/** A stored sshPublicKey value, as Keyper writes it; other fields are passed through as stored. */
const StoredKey = /* @__PURE__ */ z.looseObject({
  keyid: z.optional(z.int()),
  keytype: z.optional(z.int()),
  name: z.optional(z.string()),
  key: z.optional(z.string()),
  fingerprint: z.optional(z.string()),
  dateExpire: z.optional(z.string()),
  hostGroups: z.optional(z.array(z.string())),
  cert: z.optional(z.string()),
  /** Certificates: the serial, in decimal (read from the certificate for those Keyper stored). */
  serial: z.optional(z.string()),
});

const User = /* @__PURE__ */ z.object({
  dn: z.string(),
  cn: z.string(),
  uid: z.string(),
  sn: z.string(),
  givenName: z.string(),
  displayName: z.optional(z.string()),
  mail: z.optional(z.string()),
  accountLocked: z.boolean(),
  lockReason: z.optional(z.enum(['administrator', 'failures'])),
  pwdAccountLockedTime: z.optional(z.string()),
  memberOfs: z.array(z.string()),
  principal: z.array(z.string()),
  duration: z.number(),
  durationUnit,
  sshPublicKeys: z.array(StoredKey),
  sshPublicCerts: z.array(StoredKey),
});

const LoginResultSchema = /* @__PURE__ */ z.extend(User, { access_token: z.string(), refresh_token: z.string() });

const Group = /* @__PURE__ */ z.object({ dn: z.string(), cn: z.string(), description: z.optional(z.string()), members: z.array(z.string()) });

const Host = /* @__PURE__ */ z.object({
  dn: z.string(),
  cn: z.string(),
  description: z.optional(z.string()),
  owners: z.array(z.string()),
  memberOfs: z.array(z.string()),
  principal: z.array(z.string()),
  duration: z.number(),
  durationUnit,
  sshPublicCerts: z.array(StoredKey),
  hasCredential: z.boolean(),
});

/** A host after an update; `credential` once, after `rotateCredential`. */
const UpdatedHost = /* @__PURE__ */ z.extend(Host, { credential: z.optional(z.string()) });

// Keyper answers one entity as a one-element array, like a list.
const Users = /* @__PURE__ */ z.array(User);
const Groups = /* @__PURE__ */ z.array(Group);
const Hosts = /* @__PURE__ */ z.array(Host);
const UpdatedHosts = /* @__PURE__ */ z.array(UpdatedHost);

/** Every error: `msg` for people; `errors` names each failing field of a 400. */
const ErrorSchema = /* @__PURE__ */ z.looseObject({
  msg: z.string(),
  errors: z.optional(z.record(z.string(), z.string())),
  retryAfter: z.optional(z.int()),
});

const Message = /* @__PURE__ */ z.object({ msg: z.string() });

type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T];
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** True when a schema names exactly the fields of a response type and requires the same ones. */
type Describes<T, S extends Schema> = Same<keyof T, keyof z.infer<S>> extends true ? Same<RequiredKeys<T>, RequiredKeys<z.infer<S>>> : false;
type Holds<T extends true> = T;
/** Fails to compile when a response type gains, loses or changes the requiredness of a field its schema does not. */
export type ResponseSchemasMatch = Holds<Describes<UserJson, typeof User>> &
  Holds<Describes<LoginResult, typeof LoginResultSchema>> &
  Holds<Describes<GroupJson, typeof Group>> &
  Holds<Describes<HostJson, typeof Host>>;

// ---- the registry ----

interface Answer {
  description: string;
  /** JSON body; none for an empty answer. */
  json?: Schema;
  /** A text/plain body instead. */
  text?: true;
  /** An application/octet-stream body instead. */
  binary?: true;
}

export interface Operation {
  operationId: string;
  summary: string;
  /** As the handler's route() is told: 'public' needs no token, every other level a bearer token. */
  access: Access;
  /** The schema the handler's route() validates its JSON body with (the same object). */
  body?: Schema;
  /** The schema the handler validates its query string with. */
  query?: Schema;
  /** Parameters read from the query string and the body together, validated with this schema. */
  params?: Schema;
  /** A request body in application/x-www-form-urlencoded is accepted too. */
  form?: true;
  /** `true`/`false` query flags (lib/params.ts queryFlag). */
  flags?: Record<string, string>;
  /** What `{name}` in the path names (lib/params.ts pathName checks it against the name patterns). */
  name?: EntityKind;
  /** Whether a host's credential may be presented (lib/hostcredentials.ts). */
  hostCredential?: true;
  /** False for routes that never contact the directory (no 503). */
  directory?: false;
  /** Success answers and errors beyond those every route of its kind can give (see commonErrors). */
  responses: Record<number, Answer>;
}

const json = (schema: Schema, description: string): Answer => ({ description, json: schema });
const error = (description: string): Answer => json(ErrorSchema, description);
const deleted = (kind: string): Answer => json(z.string(), `"Deleted ${kind}: <name>" (a JSON string)`);

const CONFLICT = { 409: error('The name, or a principal, is already taken') };

/** The five admin routes of an entity kind. */
const entityRoutes = (
  area: 'users' | 'groups' | 'hosts',
  kind: EntityKind,
  many: Schema,
  schemas: { create: Schema; update: Schema; updated?: Schema },
  id: string,
  access: { read: Access; update: Access },
): Record<string, Operation> => {
  const plural = `${id}s`;
  return {
    [`GET /api/${area}`]: {
      operationId: `list${plural}`, summary: `List ${area}: all, or a page with ?limit= (the next in the Link header, rel="next")`, access: 'admin', query: ListQuerySchema,
      responses: { 200: json(many, `Every ${kind} by name, or a page of them`) },
    },
    [`GET /api/${area}/{name}`]: {
      operationId: `get${id}`, summary: `One ${kind}`, access: access.read, name: kind,
      responses: { 200: json(many, `The ${kind}, as a one-element array (as Keyper answers)`) },
    },
    [`POST /api/${area}`]: {
      operationId: `create${id}`, summary: `Create a ${kind}`, access: 'admin', body: schemas.create,
      responses: { 201: json(many, `The new ${kind}, as a one-element array`), ...CONFLICT },
    },
    [`PUT /api/${area}/{name}`]: {
      operationId: `update${id}`, summary: `Update a ${kind}`, access: access.update, body: schemas.update, name: kind,
      responses: { 200: json(schemas.updated ?? many, `The ${kind} as it is now, as a one-element array`), ...CONFLICT },
    },
    [`DELETE /api/${area}/{name}`]: {
      operationId: `delete${id}`, summary: `Delete a ${kind}`, access: 'admin', name: kind,
      responses: { 200: deleted(kind === 'user' ? 'User' : kind) },
    },
  };
};

export const OPERATIONS: Record<string, Operation> = {
  'POST /api/login': {
    operationId: 'login', summary: 'Log in', access: 'public', body: LoginSchema,
    responses: { 200: json(LoginResultSchema, 'The user, with an access and a refresh token'), 401: error('Bad username or password, or the account is locked') },
  },
  'POST /api/refresh': {
    operationId: 'refresh', summary: 'A new access token, for the refresh token as bearer token (any body is ignored)', access: 'refresh',
    responses: { 200: json(z.object({ access_token: z.string() }), 'A new access token of the same session') },
  },
  'DELETE /api/logout': {
    operationId: 'logout', summary: "End the caller's session, on every instance", access: 'session',
    flags: { everywhere: "End every session of the caller, not only this one's" },
    responses: { 200: json(Message, 'Logged out') },
  },
  'GET /api/check_jwt_token': {
    operationId: 'checkToken', summary: 'Whether the access token still works', access: 'session',
    responses: { 200: json(Message, '{"msg": "Token Valid"}') },
  },
  ...entityRoutes('users', 'user', Users, { create: UserCreateSchema, update: UserUpdateSchema }, 'User', { read: 'owner', update: 'owner' }),
  ...entityRoutes('groups', 'group', Groups, { create: GroupCreateSchema, update: GroupUpdateSchema }, 'Group', { read: 'admin', update: 'admin' }),
  ...entityRoutes('hosts', 'host', Hosts, { create: HostCreateSchema, update: HostUpdateSchema, updated: UpdatedHosts }, 'Host', { read: 'admin', update: 'admin' }),
  'GET /api/authkeys': {
    operationId: 'authkeys', summary: 'The authorized_keys lines that may open an account on a host (sshd AuthorizedKeysCommand)',
    access: 'public', params: AuthkeysParamsSchema, hostCredential: true,
    responses: { 200: { description: 'One authorized_keys line per key; empty when none may', text: true } },
  },
  'POST /api/authkeys': {
    operationId: 'authkeysPost', summary: 'The same, with the parameters in a form or JSON body (the query wins)',
    access: 'public', params: AuthkeysParamsSchema, form: true, hostCredential: true,
    responses: { 200: { description: 'One authorized_keys line per key; empty when none may', text: true } },
  },
  'GET /api/authprinc': {
    operationId: 'authprinc', summary: 'The principal a certificate may use to open an account on a host (sshd AuthorizedPrincipalsCommand)',
    access: 'public', params: AuthprincParamsSchema, hostCredential: true,
    responses: { 200: { description: 'The login name on one line when that certificate may open the account on that host; empty otherwise', text: true } },
  },
  'POST /api/authprinc': {
    operationId: 'authprincPost', summary: 'The same, with the parameters in a form or JSON body (the query wins)',
    access: 'public', params: AuthprincParamsSchema, form: true, hostCredential: true,
    responses: { 200: { description: 'The login name on one line when that certificate may open the account on that host; empty otherwise', text: true } },
  },
  'GET /api/usercert': {
    operationId: 'usercert', summary: "A user's unexpired certificate lines", access: 'public', query: UserCertParamsSchema,
    responses: { 200: { description: 'One certificate line per certificate; empty when none', text: true } },
  },
  'GET /api/hostcert': {
    operationId: 'hostcert', summary: "A host's unexpired certificate lines", access: 'public', query: HostCertParamsSchema, hostCredential: true,
    responses: { 200: { description: 'One certificate line per certificate; empty when none', text: true } },
  },
  'GET /api/userca': {
    operationId: 'userca', summary: "The user CA's public key (sshd TrustedUserCAKeys)", access: 'public', directory: false,
    responses: { 200: { description: 'One OpenSSH public key line', text: true } },
  },
  'GET /api/hostca': {
    operationId: 'hostca', summary: "The host CA's public key (clients' @cert-authority line)", access: 'public', directory: false,
    responses: { 200: { description: 'One OpenSSH public key line', text: true } },
  },
  'GET /api/krlca': {
    operationId: 'krlca', summary: 'The OpenSSH Key Revocation List (sshd RevokedKeys); with an ETag', access: 'public',
    responses: {
      200: { description: 'The binary KRL (PROTOCOL.krl); krl_version is the number of revocations', binary: true },
      304: { description: 'Not modified: the If-None-Match names the current ETag' },
    },
  },
  'GET /api/health': {
    operationId: 'health', summary: 'Whether the service can work: the directory accepts its bind', access: 'public',
    responses: { 200: json(z.object({ status: z.literal('ok') }), 'Ready'), 503: error('Not ready, whatever the reason') },
  },
  'GET /api/openapi.json': {
    operationId: 'openapi', summary: 'This description', access: 'public', directory: false,
    responses: { 200: json(z.record(z.string(), z.unknown()), 'The OpenAPI 3.1 document') },
  },
  'OPTIONS /api/{proxy+}': {
    operationId: 'preflight', summary: 'CORS preflight of every route (headers only for the configured console origins)', access: 'public', directory: false,
    responses: { 204: { description: 'No body; CORS headers when the Origin is allowed' } },
  },
};

// ---- the document ----

/** Errors that every route of a kind can answer, from what its entry says. */
const commonErrors = (op: Operation): Record<number, Answer> => {
  const errors: Record<number, Answer> = {};
  if (op.body !== undefined || op.query !== undefined || op.params !== undefined || op.name !== undefined) errors[400] = error('Invalid input; `errors` names each failing field');
  if (op.access !== 'public') errors[401] = error('Missing, invalid, expired or revoked token');
  if (op.access === 'admin' || op.access === 'owner') errors[403] = error('Not allowed to this caller, or a protected entry');
  if (op.name !== undefined) errors[404] = error(`No such ${op.name}`);
  if (op.body !== undefined) errors[415] = error('A body of another content type');
  errors[500] = error('Internal server error');
  if (op.directory !== false) errors[503] = error('Directory unavailable');
  return errors;
};

type JsonSchema = Record<string, unknown>;

/** Named schemas, as components: a request's as the client may send it, an answer's as sent. */
const named = (io: 'input' | 'output', schemas: Record<string, Schema>): { registry: z.core.$ZodRegistry<{ id: string }>; components: Record<string, JsonSchema> } => {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(schemas)) registry.add(schema, { id });
  const { schemas: components } = z.toJSONSchema(registry, {
    io,
    uri: (id) => `#/components/schemas/${id}`,
    // A key or certificate change is validated in a transform (one schema or the other, by whether it has a keyid).
    override: ({ zodSchema, jsonSchema }) => {
      const [addition, removal] =
        zodSchema === keyChange ? ['KeyAddition', 'KeyRemoval'] : zodSchema === userCertChange ? ['UserCertAddition', 'CertRemoval'] : zodSchema === hostCertChange ? ['HostCertAddition', 'CertRemoval'] : [];
      if (addition === undefined) return;
      for (const key of Object.keys(jsonSchema)) delete (jsonSchema as JsonSchema)[key];
      Object.assign(jsonSchema, { anyOf: [{ $ref: `#/components/schemas/${addition}` }, { $ref: `#/components/schemas/${removal}` }] });
    },
  });
  // Components are part of one document, whose dialect is set once (jsonSchemaDialect).
  for (const component of Object.values(components)) {
    delete component.$schema;
    delete component.$id;
  }
  return { registry, components: components as Record<string, JsonSchema> };
};

const REQUESTS = {
  Login: LoginSchema,
  UserCreate: UserCreateSchema,
  UserUpdate: UserUpdateSchema,
  KeyAddition: KeyAdditionSchema,
  KeyRemoval: KeyRemovalSchema,
  UserCertAddition: UserCertAdditionSchema,
  HostCertAddition: HostCertAdditionSchema,
  CertRemoval: CertRemovalSchema,
  GroupCreate: GroupCreateSchema,
  GroupUpdate: GroupUpdateSchema,
  HostCreate: HostCreateSchema,
  HostUpdate: HostUpdateSchema,
  AuthkeysParams: AuthkeysParamsSchema,
  AuthprincParams: AuthprincParamsSchema,
};

const ANSWERS = { StoredKey, User, Users, LoginResult: LoginResultSchema, Group, Groups, Host, Hosts, UpdatedHost, UpdatedHosts, Error: ErrorSchema };

/**
 * The parameters of one operation: `{name}` (and `{proxy+}`) in the path, query parameters. Those
 * of `params` are required in the query of a GET only: a POST may send them in its body instead.
 */
const parameters = (path: string, method: string, op: Operation, inputSchema: (schema: Schema) => JsonSchema): JsonSchema[] => {
  const fromPath = [...path.matchAll(/\{([^}]+)\}/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    schema: name === 'name' && op.name !== undefined ? { type: 'string', pattern: NAME_PATTERNS[op.name].source } : { type: 'string' },
  }));
  const flags = Object.entries(op.flags ?? {}).map(([name, description]) => ({ name, in: 'query', description, schema: { type: 'string', enum: ['true', 'false'], default: 'false' } }));
  const query: JsonSchema[] = [];
  const querySchema = op.query ?? op.params;
  if (querySchema !== undefined) {
    const schema = inputSchema(querySchema) as { properties?: Record<string, JsonSchema>; required?: string[] };
    const requiredHere = op.query !== undefined || method === 'GET';
    for (const [name, property] of Object.entries(schema.properties ?? {})) {
      query.push({ name, in: 'query', required: requiredHere && (schema.required ?? []).includes(name), schema: property });
    }
  }
  return [...fromPath, ...flags, ...query];
};

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  jsonSchemaDialect: string;
  paths: Record<string, Record<string, JsonSchema>>;
  components: { schemas: Record<string, JsonSchema>; securitySchemes: Record<string, JsonSchema> };
}

/** The OpenAPI 3.1 document of OPERATIONS. */
export const buildOpenApi = (version: string): OpenApiDocument => {
  const requests = named('input', REQUESTS);
  const answers = named('output', ANSWERS);
  const ref = (registry: z.core.$ZodRegistry<{ id: string }>, io: 'input' | 'output') => (schema: Schema): JsonSchema => {
    const id = registry.get(schema)?.id;
    if (id !== undefined) return { $ref: `#/components/schemas/${id}` };
    // Small answers only (a string, a message): anything that holds a named schema is named too.
    const inline = z.toJSONSchema(schema, { io }) as JsonSchema;
    delete inline.$schema;
    return inline;
  };
  const request = ref(requests.registry, 'input');
  const answer = ref(answers.registry, 'output');
  const inputSchema = (schema: Schema): JsonSchema => {
    const id = requests.registry.get(schema)?.id;
    return id === undefined ? request(schema) : requests.components[id]!;
  };

  const paths: OpenApiDocument['paths'] = {};
  for (const [route, op] of Object.entries(OPERATIONS)) {
    const [method, path] = route.split(' ') as [string, string];
    const bodySchema = op.params !== undefined && method !== 'GET' ? op.params : op.body;
    const responses = Object.fromEntries(
      Object.entries({ ...commonErrors(op), ...op.responses })
        .sort(([a], [b]) => Number(a) - Number(b))
        .map(([status, { description, json: schema, text, binary }]) => [
          status,
          {
            description,
            ...(schema === undefined ? {} : { content: { 'application/json': { schema: answer(schema) } } }),
            ...(text === undefined ? {} : { content: { 'text/plain': { schema: { type: 'string' } } } }),
            ...(binary === undefined ? {} : { content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } } }),
          },
        ]),
    );
    const parameterList = parameters(path, method, op, inputSchema);
    (paths[path] ??= {})[method.toLowerCase()] = {
      operationId: op.operationId,
      summary: op.summary,
      security: op.access === 'public' ? (op.hostCredential ? [{}, { hostCredential: [] }] : []) : [{ bearer: [] }],
      ...(op.access === 'refresh' ? { description: 'The bearer token is the refresh token.' } : {}),
      ...(parameterList.length === 0 ? {} : { parameters: parameterList }),
      ...(bodySchema === undefined
        ? {}
        : {
            requestBody: {
              required: op.params === undefined,
              content: {
                'application/json': { schema: request(bodySchema) },
                ...(op.form ? { 'application/x-www-form-urlencoded': { schema: request(bodySchema) } } : {}),
              },
            },
          }),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Keyper Serverless',
      version,
      description: "Keyper's REST API for the users, groups, hosts and SSH keys of an organisation, kept in OpenLDAP. Errors are JSON `{\"msg\": ...}`.",
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: {
      schemas: { ...requests.components, ...answers.components },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'The access token from POST /api/login (the refresh token for POST /api/refresh)' },
        hostCredential: { type: 'http', scheme: 'bearer', description: "A host's credential (PUT /api/hosts/{name} with rotateCredential); required for a host that has one" },
      },
    },
  };
};
