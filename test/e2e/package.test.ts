// `npm run package` (stage prod, example settings) with no AWS credentials and no network, in a copy
// of the service while a local API runs there as `npm start` runs it: one bundled Lambda per
// operation, each under 1 MB and its bundle within budget, on nodejs24.x behind the HTTP API routes;
// no secret in any function's environment or anywhere in the template; each function's role reads
// the SSM parameters its code uses and no other; log retention; timeouts below API Gateway's 29 s;
// a stage that throttles every route, `POST /api/login` harder. The running API still answers after
// packaging, and the repository's `.serverless/` is left as it was. The local stage (and the other
// names lib/config.ts treats as local) cannot be packaged or deployed, and the local stage does not
// run without the secrets `npm start` gives it.
import { execFile } from 'node:child_process';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { load } from 'js-yaml';
import JSZip from 'jszip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteFacts } from '../../lib/handler.js';
import { buildBundles, MAX_BUNDLE_BYTES, POWERTOOLS_ALLOWANCE_BYTES, SIGNING_ALLOWANCE_BYTES } from '../../scripts/bundles.js';
import { serviceCopy, startOffline, startWorkFolder, type RunningOffline } from '../../scripts/offline.js';
import { env } from '../helpers.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const osls = path.join(repoRoot, 'node_modules/osls/bin/serverless.js');

// Secrets a deploying machine might hold in its environment: none may reach the template.
const CANARY_JWT_SECRET = 'canary-jwt-secret-0123456789abcdef0123456789';
const CANARY_BIND_PASSWORD = 'canary-bind-password-5f3a';
const KMS_KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/00000000-1111-2222-3333-444444444444';

interface Resource {
  Type: string;
  Properties: Record<string, unknown>;
  DependsOn?: string | string[];
}

interface Template {
  Resources: Record<string, Resource>;
  Conditions?: Record<string, unknown>;
}

interface Throttle {
  ThrottlingRateLimit?: unknown;
  ThrottlingBurstLimit?: unknown;
}

interface ServerlessYml {
  functions: Record<string, { handler: string; events?: { httpApi?: { method: string; path: string } }[] }>;
}

let service: Awaited<ReturnType<typeof serviceCopy>> | undefined;
let offline: RunningOffline | undefined;
let outDir = '';
let repoServerlessBefore = '';

/** What the repository's `.serverless/` holds (names, sizes, times), or that there is none. */
const serverlessFolderState = async (): Promise<string> => {
  const dir = path.join(repoRoot, '.serverless');
  const entries = await readdir(dir).catch(() => undefined);
  if (entries === undefined) return 'absent';
  const lines = await Promise.all(entries.sort().map(async (entry) => {
    const { size, mtimeMs } = await stat(path.join(dir, entry));
    return `${entry} ${size} ${mtimeMs}`;
  }));
  return lines.join('\n');
};

const yml = async (): Promise<ServerlessYml> => load(await readFile(path.join(repoRoot, 'serverless.yml'), 'utf8')) as ServerlessYml;

const readTemplate = async (): Promise<Template> =>
  JSON.parse(await readFile(path.join(outDir, 'cloudformation-template-update-stack.json'), 'utf8')) as Template;

/** The environment variables of every function of the packaged template (at least 20 functions). */
const functionVariables = async (): Promise<Record<string, unknown>[]> => {
  const functions = Object.values((await readTemplate()).Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
  expect(functions.length).toBeGreaterThanOrEqual(20);
  return functions.map((resource) => (resource.Properties.Environment as { Variables: Record<string, unknown> }).Variables);
};

/** The environment of a machine with no AWS credentials (and a HOME of its own). */
const noAws = (home: string): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: home,
  AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'no-credentials'),
  AWS_CONFIG_FILE: path.join(home, 'no-config'),
});

/** Runs serverless in the service copy; its exit code and output. */
const serverless = (args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ code: number; output: string }> =>
  new Promise((resolve) => {
    execFile(process.execPath, [osls, ...args], { cwd: service!.dir, env: { ...noAws(service!.dir), ...extraEnv }, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, output: `${stdout}${stderr}` }),
    );
  });

beforeAll(async () => {
  repoServerlessBefore = await serverlessFolderState();
  service = await serviceCopy();
  outDir = path.join(service.dir, '.serverless');
  // The local API as `npm start` runs it (scripts/start.ts): its own esbuild work folder.
  offline = await startOffline(env(), { cwd: service.dir, workFolder: startWorkFolder(3000) });
  // `npm run package` as a developer would run it beside it: no stage settings given, no credentials.
  await promisify(execFile)('npm', ['run', 'package'], {
    cwd: service.dir,
    env: { ...noAws(service.dir), npm_config_update_notifier: 'false', JWT_SECRET: CANARY_JWT_SECRET, LDAP_BIND_PASSWORD: CANARY_BIND_PASSWORD, SECRETS_KMS_KEY_ARN: KMS_KEY_ARN },
    timeout: 240_000,
  });
}, 400_000);

afterAll(async () => {
  await offline?.stop();
  await service?.remove();
});

describe('npm run package', () => {
  it('leaves a running local API working: it loads its functions from a build packaging does not touch', async () => {
    // Functions not called before the packaging: their first load reads the build now.
    const health = await fetch(`${offline!.apiUrl}/health`);
    expect(await health.json()).toEqual({ status: 'ok' });
    const description = (await (await fetch(`${offline!.apiUrl}/openapi.json`)).json()) as { openapi?: string };
    expect(description.openapi).toMatch(/^3\./);
  });

  it("leaves the repository's .serverless/ as it was", async () => {
    expect(await serverlessFolderState()).toBe(repoServerlessBefore);
  });

  it('makes one zip per function, each under 1 MB and without source maps', async () => {
    const functions = Object.keys((await yml()).functions);
    expect(functions.length).toBeGreaterThanOrEqual(20);
    const zips = (await readdir(outDir)).filter((file) => file.endsWith('.zip')).sort();
    expect(zips).toEqual(functions.map((name) => `${name}.zip`).sort());
    for (const zip of zips) expect((await stat(path.join(outDir, zip))).size, zip).toBeLessThan(1024 * 1024);
    // No source maps deployed: the functions run without them, and they would carry the whole source.
    for (const zip of zips) expect(Object.keys((await JSZip.loadAsync(await readFile(path.join(outDir, zip)))).files).filter((entry) => entry.endsWith('.map')), zip).toEqual([]);
  });

  it(`bundles each function within ${MAX_BUNDLE_BYTES / 1024} KB and ${POWERTOOLS_ALLOWANCE_BYTES / 1024} KB of Powertools (${SIGNING_ALLOWANCE_BYTES / 1024} KB more for those that read a CA key; source map apart), as scripts/bundles.ts builds and measures it`, async () => {
    const bundles = await buildBundles(path.join(outDir, 'bundles'));
    expect(bundles.length).toBeGreaterThanOrEqual(20);
    for (const { name, file, bytes, budget } of bundles) {
      const zip = await JSZip.loadAsync(await readFile(path.join(outDir, `${name}.zip`)));
      const entries = Object.keys(zip.files).filter((entry) => entry.endsWith('.cjs'));
      expect(entries, name).toEqual([path.relative(path.join(outDir, 'bundles'), file)]);
      const packaged = await zip.file(entries[0]!)!.async('uint8array');
      expect(packaged.byteLength, name).toBe(bytes);
      expect(budget, name).toBeLessThanOrEqual(MAX_BUNDLE_BYTES + POWERTOOLS_ALLOWANCE_BYTES + SIGNING_ALLOWANCE_BYTES);
      expect(bytes, name).toBeLessThanOrEqual(budget);
    }
    // Functions whose routes take no input bundle no zod: lib/input.ts validates without importing it.
    const parts = new Map(bundles.map((b) => [b.name, b.parts.map(([part]) => part)]));
    for (const name of ['health', 'preflight', 'openapi', 'userca', 'hostca', 'krlca', 'logout', 'checkToken']) expect(parts.get(name), name).not.toContain('zod');
    expect(parts.get('login')).toContain('zod');
    // Routes without a token (publicRoute) bundle no token checking: sshd's routes start faster.
    for (const name of ['health', 'krlca', 'authkeys', 'authprinc', 'usercert', 'hostcert', 'userca', 'hostca', 'openapi', 'preflight']) expect(parts.get(name), name).not.toContain('jose');
    expect(parts.get('getUser')).toContain('jose');
  });

  it('declares one nodejs24.x function per operation behind exactly the HTTP API routes of serverless.yml', async () => {
    const template = await readTemplate();
    const resources = Object.values(template.Resources);
    const lambdas = resources.filter((r) => r.Type === 'AWS::Lambda::Function');
    const { functions } = await yml();
    expect(lambdas).toHaveLength(Object.keys(functions).length);
    for (const lambda of lambdas) expect(lambda.Properties.Runtime).toBe('nodejs24.x');
    const declared = Object.values(functions).flatMap(({ events }) => (events ?? []).flatMap(({ httpApi }) => (httpApi === undefined ? [] : [`${httpApi.method.toUpperCase()} ${httpApi.path}`])));
    const routes = resources.filter((r) => r.Type === 'AWS::ApiGatewayV2::Route').map((r) => r.Properties.RouteKey);
    expect(routes.sort()).toEqual(declared.sort());
    expect(routes).toEqual(expect.arrayContaining(['POST /api/login', 'GET /api/users/{name}', 'GET /api/authkeys', 'POST /api/authkeys']));
  });

  it('puts no secret in any function environment nor anywhere in the template: only where the secrets are', async () => {
    const text = await readFile(path.join(outDir, 'cloudformation-template-update-stack.json'), 'utf8');
    for (const secret of [CANARY_JWT_SECRET, CANARY_BIND_PASSWORD, 'PRIVATE KEY']) expect(text).not.toContain(secret);
    const template = await readTemplate();
    for (const [id, resource] of Object.entries(template.Resources)) {
      if (resource.Type !== 'AWS::Lambda::Function') continue;
      const variables = (resource.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(Object.keys(variables), id).not.toContain('JWT_SECRET');
      expect(Object.keys(variables), id).not.toContain('LDAP_BIND_PASSWORD');
      expect(variables, id).toMatchObject({
        STAGE: 'prod',
        LDAP_BIND_PASSWORD_PARAMETER: '/keyper/prod/ldap-bind-password',
        JWT_SECRET_PARAMETER: '/keyper/prod/jwt-secret',
        SECRETS_CACHE_SECONDS: '300',
        CA_KEY_SOURCE: 'ssm',
        CA_USER_KEY: '/keyper/prod/ca-user-key',
        CA_HOST_KEY: '/keyper/prod/ca-host-key',
      });
    }
  });

  it('lets each function read the SSM parameters its code reads, and no other; and decrypt with the stage key only', async () => {
    const template = await readTemplate();
    const parameterOf = { LDAP_BIND_PASSWORD: '/keyper/prod/ldap-bind-password', JWT_SECRET: '/keyper/prod/jwt-secret', user: '/keyper/prod/ca-user-key', host: '/keyper/prod/ca-host-key' };
    /** The parameters and keys a role's policies allow reading (ARNs built with Fn::Join end with the name). */
    const allowed = (roleId: string): { parameters: string[]; keys: string[] } => {
      const role = template.Resources[roleId];
      expect(role?.Type, roleId).toBe('AWS::IAM::Role');
      const parameters: string[] = [];
      const keys: string[] = [];
      const policies = (role!.Properties.Policies ?? []) as { PolicyDocument: { Statement: unknown[] } }[];
      for (const statement of policies.flatMap((policy) => policy.PolicyDocument.Statement)) {
        // A statement under a condition: the one it takes when the condition holds.
        const chosen = (statement as { 'Fn::If'?: [string, unknown, unknown] })['Fn::If'];
        if (chosen !== undefined) expect(template.Conditions?.[chosen[0]]).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [KMS_KEY_ARN, ''] }] });
        const { Effect, Action, Resource, Condition } = (chosen?.[1] ?? statement) as { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };
        expect(Effect).toBe('Allow');
        const resources = [Resource].flat();
        const actions = [Action].flat();
        // The default role's own: its functions' log streams.
        if (actions.every((action) => action.startsWith('logs:'))) continue;
        if (actions.includes('kms:Decrypt')) {
          expect(actions).toEqual(['kms:Decrypt']);
          // Through SSM only (kms:ViaService), not any ciphertext of the key that reaches the function.
          expect(Condition).toEqual({ StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['ssm.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } });
          keys.push(...(resources as string[]));
          continue;
        }
        expect(actions).toEqual(['ssm:GetParameters']);
        for (const resource of resources) {
          const parts = (resource as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
          const last = parts.at(-1) as string;
          expect(last).toMatch(/^:parameter\/keyper\/prod\/[a-z-]+$/);
          parameters.push(last.slice(':parameter'.length));
        }
      }
      return { parameters: parameters.sort(), keys };
    };
    for (const [name, { handler }] of Object.entries((await yml()).functions)) {
      const lambda = Object.values(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler === handler)!;
      const module = handler.slice(0, handler.lastIndexOf('.'));
      const { handler: built } = (await import(/* @vite-ignore */ new URL(`../../${module}.ts`, import.meta.url).href)) as { handler: { route: RouteFacts } };
      const expected = [...built.route.secrets, ...built.route.cas].map((secret) => parameterOf[secret]).sort();
      const role = lambda.Properties.Role as { 'Fn::GetAtt': [string, string] };
      const { parameters, keys } = allowed(role['Fn::GetAtt'][0]);
      expect(parameters, name).toEqual(expected);
      expect(keys, name).toEqual(expected.length === 0 ? [] : [KMS_KEY_ARN]);
    }
  });

  it('keeps logs 30 days and every function below API Gateway\'s 29 s', async () => {
    const template = await readTemplate();
    for (const [id, resource] of Object.entries(template.Resources)) {
      if (resource.Type === 'AWS::Logs::LogGroup') expect(resource.Properties.RetentionInDays, id).toBe(30);
      if (resource.Type !== 'AWS::Lambda::Function') continue;
      expect(resource.Properties.Timeout, id).toBeLessThan(29);
      const logGroup = [resource.DependsOn].flat().find((dependency) => template.Resources[dependency!]?.Type === 'AWS::Logs::LogGroup');
      expect(logGroup, `${id} has a log group`).toBeDefined();
    }
  });

  it('passes LOG_LEVEL, the Powertools service name and the metrics namespace to every function', async () => {
    for (const variables of await functionVariables()) {
      expect(variables).toMatchObject({ LOG_LEVEL: 'info', POWERTOOLS_SERVICE_NAME: 'keyper-serverless', POWERTOOLS_METRICS_NAMESPACE: 'KeyperServerless' });
    }
  });

  it('starts deployed functions without source maps, which cost every cold start and change no log line', async () => {
    for (const variables of await functionVariables()) expect(String(variables.NODE_OPTIONS ?? '')).not.toContain('--enable-source-maps');
  });

  it('throttles the stage, and POST /api/login below it, with the deployed stage settings', async () => {
    const template = await readTemplate();
    const stages = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::ApiGatewayV2::Stage');
    expect(stages).toHaveLength(1);
    const [, stage] = stages[0]!;
    const stageSettings = await readFile(path.join(repoRoot, 'local/stages/deployed.yml'), 'utf8');
    const setting = (name: string): number => {
      const match = new RegExp(`^${name}: (\\d+(?:\\.\\d+)?)$`, 'm').exec(stageSettings);
      if (match === null) throw new Error(`local/stages/deployed.yml has no ${name}`);
      return Number(match[1]);
    };
    const defaults = stage.Properties.DefaultRouteSettings as Throttle;
    expect(defaults).toEqual({ ThrottlingRateLimit: setting('throttleRateLimit'), ThrottlingBurstLimit: setting('throttleBurstLimit') });
    const routes = stage.Properties.RouteSettings as Record<string, Throttle>;
    expect(Object.keys(routes)).toEqual(['POST /api/login']);
    const login = routes['POST /api/login']!;
    expect(login).toEqual({ ThrottlingRateLimit: setting('loginThrottleRateLimit'), ThrottlingBurstLimit: setting('loginThrottleBurstLimit') });
    expect(login.ThrottlingRateLimit).toBeLessThan(defaults.ThrottlingRateLimit as number);
    expect(login.ThrottlingBurstLimit).toBeLessThan(defaults.ThrottlingBurstLimit as number);
    // A stage naming a route that does not exist yet fails to create: it must wait for the route.
    const [loginRouteId] = Object.entries(template.Resources).find(([, r]) => r.Type === 'AWS::ApiGatewayV2::Route' && r.Properties.RouteKey === 'POST /api/login')!;
    expect([stage.DependsOn].flat()).toContain(loginRouteId);
  });
});

describe('the local stage', () => {
  it.each(['deploy', 'package', 'deploy --stage local', 'deploy function --function login'])('refuses `serverless %s`', async (command) => {
    const { code, output } = await serverless(command.split(' '));
    expect(code).not.toBe(0);
    expect(output).toContain('The "local" stage is for `npm start` and the tests');
  });

  // The functions of these stages would take LDAP_TLS_INSECURE (lib/config.ts treats them as local).
  it.each([['package --stage test', 'test'], ['deploy --stage offline', 'offline']])('refuses `serverless %s`, with deployed settings and LDAP_TLS_INSECURE', async (command, stage) => {
    const { code, output } = await serverless(command.split(' '), { LDAP_URL: 'ldaps://ldap.example.org:636', LDAP_TLS_INSECURE: 'true' });
    expect(code).not.toBe(0);
    expect(output).toContain(`The "${stage}" stage is for \`npm start\` and the tests`);
  });

  it('does not start without the secrets npm start gives it: each function would make up its own JWT secret', async () => {
    const withoutJwt = await serverless(['offline'], { LDAP_BIND_PASSWORD: 'keyper-manager', ESBUILD_WORK_FOLDER: '.esbuild-guard' });
    expect(withoutJwt.code).not.toBe(0);
    expect(withoutJwt.output).toMatch(/JWT_SECRET not set: run the local API with `npm start`/);
    const withoutBind = await serverless(['offline'], { JWT_SECRET: CANARY_JWT_SECRET, ESBUILD_WORK_FOLDER: '.esbuild-guard' });
    expect(withoutBind.output).toMatch(/LDAP_BIND_PASSWORD not set/);
    await rm(path.join(service!.dir, '.esbuild-guard'), { recursive: true, force: true });
  }, 300_000);
});
