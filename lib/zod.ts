// The project's one import of zod: `zod/mini`, whose functional checks let the bundler keep only
// what the schemas use (full zod is about 450 KB in every function's bundle and most of its cold
// start). Import it as a namespace, `import * as z from './zod.js'`, so that unused parts are left
// out. Messages in English, as full zod gives them by default: a 400 names problems in words.
// A schema that some functions importing its module never use is built on first use,
// `z.lazy(() => ...)` (zod keeps what it built): building every schema at import costs each cold
// start (scripts/bundles.ts measures it). Every schema declared at the top of a module is marked
// `/* @__PURE__ */` (test/unit/schemas.test.ts checks): esbuild then leaves a schema no handler of
// the function uses, and all it refers to, out of that function's bundle.
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

config(en());

export * from 'zod/mini';
