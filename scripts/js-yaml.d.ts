// js-yaml (a devDependency, the parser osls reads serverless.yml with) has no types of its own;
// scripts/bundles.ts reads serverless.yml with it too, and needs only `load`.
declare module 'js-yaml' {
  export function load(text: string): unknown;
}
