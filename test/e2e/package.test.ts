// `serverless package` as a deploy would run it, but with no AWS credentials and no network: one
// bundled Lambda per operation, each under 1 MB and its bundle within budget, on nodejs24.x behind
// the HTTP API routes, and a stage that throttles every route, `POST /api/login` harder.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import JSZip from 'jszip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundles, MAX_BUNDLE_BYTES, POWERTOOLS_ALLOWANCE_BYTES, SIGNING_ALLOWANCE_BYTES } from '../../scripts/bundles.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
let outDir = '';
const workFolder = `.esbuild-package-${process.pid}`;

interface Template {
  Resources: Record<string, { Type: string; Properties: Record<string, unknown>; DependsOn?: string | string[] }>;
}

interface Throttle {
  ThrottlingRateLimit?: unknown;
  ThrottlingBurstLimit?: unknown;
}

const readTemplate = async (): Promise<Template> =>
  JSON.parse(await readFile(path.join(outDir, 'cloudformation-template-update-stack.json'), 'utf8')) as Template;

beforeAll(async () => {
  outDir = await mkdtemp(path.join(tmpdir(), 'keyper-package-'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: outDir,
    AWS_SHARED_CREDENTIALS_FILE: path.join(outDir, 'no-credentials'),
    AWS_CONFIG_FILE: path.join(outDir, 'no-config'),
    ESBUILD_WORK_FOLDER: workFolder,
  };
  await promisify(execFile)(process.execPath, [path.join(repoRoot, 'node_modules/osls/bin/serverless.js'), 'package', '--package', outDir], {
    cwd: repoRoot,
    env,
    timeout: 240_000,
  });
}, 300_000);

afterAll(async () => {
  await rm(outDir, { recursive: true, force: true });
  await rm(path.join(repoRoot, workFolder), { recursive: true, force: true });
});

describe('serverless package', () => {
  it('makes one zip per function, each under 1 MB', async () => {
    const yml = await readFile(path.join(repoRoot, 'serverless.yml'), 'utf8');
    const functions = [...yml.matchAll(/^ {2}(\w+):\n {4}handler:/gm)].map(([, name]) => name!);
    expect(functions.length).toBeGreaterThanOrEqual(20);
    const zips = (await readdir(outDir)).filter((file) => file.endsWith('.zip')).sort();
    expect(zips).toEqual(functions.map((name) => `${name}.zip`).sort());
    for (const zip of zips) expect((await stat(path.join(outDir, zip))).size, zip).toBeLessThan(1024 * 1024);
  });

  it('bundles each function within 150 KB and 38 KB of Powertools (182 + 38 KB for those that read a CA key; source map apart), as scripts/bundles.ts builds and measures it', async () => {
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
  });

  it('declares nodejs24.x functions behind the HTTP API routes', async () => {
    const template = await readTemplate();
    const resources = Object.values(template.Resources);
    const lambdas = resources.filter((r) => r.Type === 'AWS::Lambda::Function');
    for (const lambda of lambdas) expect(lambda.Properties.Runtime).toBe('nodejs24.x');
    const routes = resources.filter((r) => r.Type === 'AWS::ApiGatewayV2::Route').map((r) => r.Properties.RouteKey);
    expect(routes).toEqual(expect.arrayContaining(['POST /api/login', 'GET /api/users/{name}', 'GET /api/authkeys', 'POST /api/authkeys']));
    expect(routes).toHaveLength(lambdas.length + 2); // authkeys and authprinc answer GET and POST
  });

  it('lets only the functions that sign or publish with a CA read its SSM parameter', async () => {
    const template = await readTemplate();
    const readers: Record<string, string[]> = {};
    for (const [id, resource] of Object.entries(template.Resources)) {
      if (resource.Type !== 'AWS::IAM::Role') continue;
      const text = JSON.stringify(resource.Properties);
      if (text.includes('ssm:')) readers[id] = [];
    }
    expect(Object.keys(readers).sort()).toEqual(['HostCaReaderRole', 'UserCaReaderRole']);
    for (const [id, resource] of Object.entries(template.Resources)) {
      if (resource.Type !== 'AWS::Lambda::Function') continue;
      const role = JSON.stringify(resource.Properties.Role);
      for (const reader of Object.keys(readers)) if (role.includes(`"${reader}"`)) readers[reader]!.push(id);
    }
    expect(readers.UserCaReaderRole!.sort()).toEqual(['CreateUserLambdaFunction', 'UpdateUserLambdaFunction', 'UsercaLambdaFunction']);
    expect(readers.HostCaReaderRole!.sort()).toEqual(['CreateHostLambdaFunction', 'HostcaLambdaFunction', 'UpdateHostLambdaFunction']);
    // The key's location is in the environment (a file here, an SSM parameter name deployed), never the key.
    for (const resource of Object.values(template.Resources)) {
      if (resource.Type === 'AWS::Lambda::Function') expect(JSON.stringify(resource.Properties)).not.toContain('PRIVATE KEY');
    }
  });

  it('passes LOG_LEVEL, the Powertools service name and the metrics namespace to every function', async () => {
    const template = await readTemplate();
    const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThanOrEqual(20);
    for (const resource of functions) {
      const variables = (resource.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(variables).toMatchObject({ LOG_LEVEL: 'info', POWERTOOLS_SERVICE_NAME: 'keyper-serverless', POWERTOOLS_METRICS_NAMESPACE: 'KeyperServerless' });
    }
  });

  it('throttles the stage, and POST /api/login below it, with the local stage settings', async () => {
    const template = await readTemplate();
    const stages = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::ApiGatewayV2::Stage');
    expect(stages).toHaveLength(1);
    const [, stage] = stages[0]!;
    const stageSettings = await readFile(path.join(repoRoot, 'local/stages/local.yml'), 'utf8');
    const setting = (name: string): number => {
      const match = new RegExp(`^${name}: (\\d+(?:\\.\\d+)?)$`, 'm').exec(stageSettings);
      if (match === null) throw new Error(`local/stages/local.yml has no ${name}`);
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
