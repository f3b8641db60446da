// Reading README.md the way a newcomer does, for the tests that keep it true: its sections, its
// shell examples, its tables, and the repository paths it mentions.

/** The text under a heading (any level), up to the next heading of the same or a higher level. */
export const markdownSection = (markdown: string, heading: string): string => {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => /^#+ /.test(line) && line.replace(/^#+ /, '').trim() === heading);
  if (start === -1) throw new Error(`README has no heading "${heading}"`);
  const level = /^#+/.exec(lines[start]!)![0].length;
  const end = lines.findIndex((line, i) => i > start && /^#+ /.test(line) && /^#+/.exec(line)![0].length <= level && !insideFence(lines, i));
  return lines.slice(start + 1, end === -1 ? undefined : end).join('\n');
};

/** Whether line `index` lies inside a ``` fence (a `# comment` there is no heading). */
const insideFence = (lines: string[], index: number): boolean => lines.slice(0, index).filter((line) => line.startsWith('```')).length % 2 === 1;

/** The contents of the ```sh fenced blocks. */
export const shellBlocks = (markdown: string): string[] => [...markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((match) => match[1]!);

/** The commands of a shell block: backslash-continued lines joined, blank lines and comments dropped. */
export const shellCommands = (block: string): string[] =>
  block
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));

/** The markdown tables of a text (runs of lines starting with `|`), each as one string. */
export const markdownTables = (markdown: string): string[] => {
  const tables: string[][] = [];
  let previous = false;
  for (const line of markdown.split('\n')) {
    const row = line.startsWith('|');
    if (row && !previous) tables.push([]);
    if (row) tables.at(-1)!.push(line);
    previous = row;
  }
  return tables.map((lines) => lines.join('\n'));
};

/** The cells of a markdown table's rows (header and separator left out), one array per row. */
export const tableRows = (markdown: string): string[][] =>
  markdown
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .slice(2)
    .map((line) => line.replace(/^\||\|$/g, '').split('|').map((cell) => cell.trim()));

/** Environment variable names in backticks: `LDAP_URL`, `CA_USER_KEY`, ... */
export const variableNames = (text: string): string[] => [...text.matchAll(/`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)`/g)].map((match) => match[1]!);

/** File extensions whose bare mentions (`serverless.yml`) name a file of the repository. */
const FILE_EXTENSIONS = ['ts', 'mjs', 'js', 'json', 'yml', 'yaml', 'md', 'sh', 'ldif', 'schema', 'template'];

/**
 * Relative paths the text mentions: targets of relative links, and words of code spans that are
 * a path (`scripts/start.ts`, `functions/`, `.ci/run`) or a file name with one of
 * FILE_EXTENSIONS. Words with placeholders or wildcards, URLs and absolute paths are not paths of
 * the repository.
 */
export const mentionedPaths = (markdown: string): string[] => {
  const prose = markdown.replace(/^```[\s\S]*?^```$/gm, '');
  const links = [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]!).filter((target) => !/^([a-z]+:|#|\/)/.test(target));
  // Each word of a code span: `npx serverless invoke local --path test/events/login-alice.json`.
  const spans = [...prose.matchAll(/`([^`\n]+)`/g)].flatMap((match) => match[1]!.split(/\s+/));
  const paths = spans.filter((span) => {
    if (!/^\.?[\w-][\w.-]*(\/[\w.-]+)*\/?$/.test(span)) return false;
    if (span.includes('/')) return !/^\d/.test(span) && !span.includes('..');
    const extension = /\.([a-z]+)$/.exec(span)?.[1];
    return extension !== undefined && FILE_EXTENSIONS.includes(extension);
  });
  return [...new Set([...links.map((target) => target.replace(/#.*$/, '')), ...paths])];
};
