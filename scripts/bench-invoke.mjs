// Child process of `npm run bench` (scripts/bench-lists.ts): loads one bundled handler as the Lambda
// runtime does (plain node, CommonJS bundle), invokes it with the events of a spec file in turn,
// and prints one JSON line: per event, the p50 of the warm invocations, what was answered, and the
// peak RSS of this process. The time includes serialising the result, which the runtime does too.
// Usage: node scripts/bench-invoke.mjs <spec.json>
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';

/** @type {{ bundle: string, events: object[], warmup: number, runs: number, keepBody?: boolean }} */
const spec = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8'));
const require = createRequire(import.meta.url);
const { handler } = require(spec.bundle);
const context = { awsRequestId: 'bench', functionName: 'bench', memoryLimitInMB: '256', getRemainingTimeInMillis: () => 10_000 };

/** @param {object} event */
const invoke = async (event) => {
  const t0 = performance.now();
  const result = await handler(JSON.parse(JSON.stringify(event)), context);
  const payloadBytes = Buffer.byteLength(JSON.stringify(result));
  return { ms: performance.now() - t0, result, payloadBytes };
};

/** @type {number[][]} */
const latencies = spec.events.map(() => []);
/** @type {object[]} */
const last = [];
for (let round = 0; round < spec.warmup + spec.runs; round += 1) {
  for (const [index, event] of spec.events.entries()) {
    const { ms, result, payloadBytes } = await invoke(event);
    if (round >= spec.warmup) latencies[index]?.push(ms);
    const headers = Object.fromEntries(Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
    last[index] = { status: result.statusCode, encoding: headers['content-encoding'] ?? 'identity', link: headers.link, payloadBytes, body: spec.keepBody ? result.body : undefined };
  }
}
/** @param {number[]} values */
const p50 = (values) => [...values].sort((a, b) => a - b)[Math.max(0, Math.ceil(values.length / 2) - 1)];
console.log(JSON.stringify({ events: last.map((answer, index) => ({ ...answer, p50: p50(latencies[index] ?? []) })), maxRssMB: process.resourceUsage().maxRSS / 1024 }));
