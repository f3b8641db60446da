// README.md against the repository: its Configuration tables name exactly the variables the code
// reads, and every file it mentions exists.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { envReadsIn, envReadsInYaml, envReadsUnder } from '../env-names.js';
import { markdownSection, markdownTables, mentionedPaths, tableRows, variableNames } from '../readme.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const read = (file: string): string => readFileSync(path.join(repoRoot, file), 'utf8');
const readme = read('README.md');
const sorted = (names: Iterable<string>): string[] => [...new Set(names)].sort();

/** The names in the first column of each table of README's Configuration section, per table. */
const configurationTables = (): string[][] => {
  const section = markdownSection(readme, 'Configuration');
  return markdownTables(section).map((table) => sorted(tableRows(table).flatMap((cells) => variableNames(cells[0] ?? ''))));
};

describe('the environment variables the code reads', () => {
  it('are found however a module reads them', () => {
    // The forms the functions' code uses, with names agreed for variables being added.
    const source = `
      const Schema = z.object({ LDAP_STARTTLS: z.optional(z.string()), cn: z.string() });
      const More = z.extend(Schema, { 'LDAP_CA_FILE': z.optional(z.string()) });
      const level = process.env.LOG_LEVEL ?? 'info';
      const insecure = process.env['LDAP_TLS_INSECURE'];
      const { SECRETS_CACHE_SECONDS, JWT_SECRET_PARAMETER: jwt } = process.env;
      export const settings = (env: NodeJS.ProcessEnv) => env.LDAP_BIND_PASSWORD_PARAMETER;
      const notEnv = { NOT_A_VARIABLE: 1 }; other.SOMETHING; body.USERNAME;
    `;
    expect(envReadsIn(source).sort()).toEqual(
      ['JWT_SECRET_PARAMETER', 'LDAP_BIND_PASSWORD_PARAMETER', 'LDAP_CA_FILE', 'LDAP_STARTTLS', 'LDAP_TLS_INSECURE', 'LOG_LEVEL', 'SECRETS_CACHE_SECONDS'].sort(),
    );
  });

  it("are the functions' Configuration table, no more and no less", () => {
    const [functionsTable] = configurationTables();
    const code = envReadsUnder(repoRoot, ['lib', 'functions']);
    // What the code reads today at least: the collector must not go blind.
    expect(code).toEqual(expect.arrayContaining(['LDAP_URL', 'JWT_SECRET', 'CA_USER_KEY', 'LOG_LEVEL', 'STAGE']));
    expect(functionsTable).toEqual(code);
  });

  it('of npm start, the tests and serverless.yml are in the second table, or the first', () => {
    const [functionsTable = [], localTable = []] = configurationTables();
    const yaml = ['serverless.yml', ...readdirSync(path.join(repoRoot, 'local/stages')).map((file) => `local/stages/${file}`)];
    // PATH and HOME are the system's, passed on to the programs the scripts start.
    const system = new Set(['PATH', 'HOME']);
    const local = sorted([...envReadsUnder(repoRoot, ['scripts']), ...yaml.flatMap((file) => envReadsInYaml(read(file)))].filter((name) => !system.has(name)));
    expect(local).toEqual(expect.arrayContaining(['PORT', 'LDAP_PORT', 'OFFLINE_LAMBDA_PORT', 'LOCAL_DATA_DIR']));
    expect(local.filter((name) => !functionsTable.includes(name))).toEqual(localTable);
  });
});

/** A matcher for the patterns of .gitignore (as this repository uses them: names, `*`, `dir/`). */
const gitignored = (): ((file: string) => boolean) => {
  const patterns = read('.gitignore')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((pattern) => ({
      directory: pattern.endsWith('/'),
      name: new RegExp(`^${pattern.replace(/\/$/, '').replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`),
    }));
  return (file) => {
    const segments = file.replace(/\/$/, '').split('/');
    // A directory pattern matches a folder on the way, or the mention itself when it ends in `/`.
    return patterns.some(({ directory, name }) =>
      segments.some((segment, i) => name.test(segment) && (!directory || i < segments.length - 1 || file.endsWith('/'))),
    );
  };
};

/** The repository's files (relative paths), without git: what is not ignored, .git left out. */
const repositoryFiles = (ignored: (file: string) => boolean, dir = ''): string[] =>
  readdirSync(path.join(repoRoot, dir), { withFileTypes: true }).flatMap((entry) => {
    const file = dir === '' ? entry.name : `${dir}/${entry.name}`;
    if (entry.name === '.git' || ignored(entry.isDirectory() ? `${file}/` : file)) return [];
    return entry.isDirectory() ? repositoryFiles(ignored, file) : [file];
  });

describe('files README.md mentions', () => {
  const ignored = gitignored();
  const files = repositoryFiles(ignored);
  const topLevel = new Set(files.map((file) => file.split('/')[0]));

  it('exist (links, paths and file names in code spans), unless they are generated and git-ignored', () => {
    const mentioned = mentionedPaths(readme);
    expect(mentioned).toEqual(expect.arrayContaining(['serverless.yml', 'scripts/bootstrap.mjs', 'test/events/login-alice.json']));
    const missing = mentioned.filter((mention) => {
      if (mention.includes('/')) {
        const [first = ''] = mention.split('/');
        // `text/plain`, `zod/mini`: a slash, but no folder of this repository and no file name.
        const repoPath = topLevel.has(first) || first.startsWith('.') || /\.[a-z]+$/.test(mention);
        return repoPath && !existsSync(path.join(repoRoot, mention)) && !ignored(mention);
      }
      // A bare file name (`auth.sh`, `ci.yml`): some file of the repository has it.
      return !files.some((file) => path.basename(file) === mention) && !ignored(mention);
    });
    expect(missing).toEqual([]);
  });

  it('include no document that is not in the repository (the contract lives in README.md)', () => {
    expect(readme).not.toMatch(/API contract|API\.md|STYLE\.md/);
    for (const file of files.filter((name) => /\.(ts|mjs|yml|sh)$/.test(name) && !name.startsWith('test/unit/readme'))) {
      expect(read(file), file).not.toMatch(/\bAPI\.md\b|\bSTYLE\.md\b/);
    }
  });
});
