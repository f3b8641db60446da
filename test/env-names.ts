// The environment variables the code reads, found in the source itself (TypeScript's parser), so
// that README's Configuration tables are checked against the code and not against a third list.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const ENV_NAME = /^[A-Z][A-Z0-9_]*$/;
/** Expressions that stand for an environment: `process.env`, and parameters named `env`. */
const isEnvironment = (node: ts.Expression): boolean => {
  const text = node.getText();
  return text === 'process.env' || text === 'env';
};
/** zod calls whose object literal, when its keys are upper case, is a schema of the environment. */
const ZOD_OBJECT = /^z\.(object|strictObject|looseObject|extend)$/;

const keyName = (name: ts.PropertyName | ts.BindingName): string | undefined =>
  ts.isIdentifier(name) || ts.isStringLiteral(name) ? name.text : undefined;

/**
 * Names read in one source text: `process.env.X`, `process.env['X']`, `env.X` (a parameter
 * holding an environment), `const { X } = process.env`, and upper-case keys of zod object schemas
 * (`z.object({ X: ... })`, which parse an environment).
 */
export const envReadsIn = (source: string, fileName = 'source.ts'): string[] => {
  const kind = fileName.endsWith('.mjs') || fileName.endsWith('.js') ? ts.ScriptKind.JS : ts.ScriptKind.TS;
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, kind);
  const names = new Set<string>();
  const add = (name: string | undefined): void => {
    if (name !== undefined && ENV_NAME.test(name)) names.add(name);
  };
  const visit = (node: ts.Node): void => {
    if (ts.isPropertyAccessExpression(node) && isEnvironment(node.expression)) add(node.name.text);
    else if (ts.isElementAccessExpression(node) && isEnvironment(node.expression) && ts.isStringLiteralLike(node.argumentExpression)) {
      add(node.argumentExpression.text);
    } else if (ts.isVariableDeclaration(node) && ts.isObjectBindingPattern(node.name) && node.initializer && isEnvironment(node.initializer)) {
      for (const element of node.name.elements) add(keyName(element.propertyName ?? element.name));
    } else if (ts.isCallExpression(node) && ZOD_OBJECT.test(node.expression.getText())) {
      for (const argument of node.arguments) {
        if (!ts.isObjectLiteralExpression(argument)) continue;
        for (const property of argument.properties) if (property.name !== undefined) add(keyName(property.name));
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return [...names];
};

const sourceFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(ts|mts|mjs|js)$/.test(entry.name) && !entry.name.endsWith('.d.ts'))
    .map((entry) => path.join(entry.parentPath, entry.name));

/** The names read anywhere under `dirs` (relative to `root`), sorted. */
export const envReadsUnder = (root: string, dirs: string[]): string[] =>
  [...new Set(dirs.flatMap((dir) => sourceFiles(path.join(root, dir)).flatMap((file) => envReadsIn(readFileSync(file, 'utf8'), file))))].sort();

/** The names a Serverless configuration takes from the environment (`${env:NAME}` or `${env:NAME, default}`). */
export const envReadsInYaml = (text: string): string[] => [...new Set([...text.matchAll(/\$\{env:([A-Z][A-Z0-9_]*)/g)].map((match) => match[1]!))].sort();
