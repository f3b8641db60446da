// Input validation: zod schemas for the fields the API shares, and the one function that turns a
// schema failure into a 400 listing every failing field.
import * as z from './zod.js';
import { badRequest } from './errors.js';

/**
 * Printable text: no control characters or line separators (they would corrupt LDIF exports and
 * logs); no invisible or direction-changing characters (zero-width, word joiner, BOM, bidi
 * embeddings, overrides and isolates), which make one name look like another; and no U+FFFD or
 * lone surrogates, which is what invalid UTF-8 in a request body turns into.
 */
export const textField = (max: number) =>
  z.string().check(
    z.trim(),
    z.minLength(1, 'must not be empty'),
    z.maxLength(max, `must be at most ${max} characters`),
    z.regex(/^[^\p{Cc}\u2028\u2029]*$/u, 'must not contain control characters'),
    z.regex(/^[^\u200B-\u200D\u2060\uFEFF\u202A-\u202E\u2066-\u2069]*$/u, 'must not contain invisible or direction-changing characters'),
    z.regex(/^[^\uFFFD\p{Cs}]*$/u, 'must be valid UTF-8 (no U+FFFD, no lone surrogates)'),
  );

/**
 * A description field (groups and hosts). Keyper's console sends `null` for a field left empty, so
 * null and blank mean "none": omitted on create, removed on update. A factory, like textField, so
 * that bundles whose schemas have no description leave it out.
 */
export const descriptionField = () =>
  z.pipe(
    z.transform((v: unknown) => (typeof v === 'string' && v.trim() === '' ? null : v)),
    z.nullable(textField(1024)),
  );

/** An SSH principal: what sshd compares with a certificate's principals or a login name. */
export const principal = z.lazy(() => z.string().check(z.regex(/^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$/, 'must be a valid principal name')));

/**
 * A list of principals. The directory compares them ignoring case, so two that differ only in
 * case are one principal twice: refused. Exact repeats are harmless and collapse (see unique).
 */
export const principals = z.lazy(() =>
  z.array(principal).check(
    z.maxLength(100),
    (ctx) => {
      const seen = new Map<string, string>();
      for (const name of ctx.value) {
        const earlier = seen.get(name.toLowerCase());
        if (earlier !== undefined && earlier !== name) {
          ctx.issues.push({ code: 'custom', input: ctx.value, message: `has ${earlier} and ${name}: one principal, differing in case` });
          return;
        }
        seen.set(name.toLowerCase(), name);
      }
    },
  ),
);

const dn = z.lazy(() => z.string().check(z.maxLength(1024, 'must be at most 1024 characters')));

export const dnList = z.lazy(() => z.array(dn).check(z.maxLength(1000)));

/**
 * A group's members: a group may hold tens of thousands. 100,000 DNs of users are about 6 MB of
 * JSON, the most a Lambda request may carry.
 */
export const MAX_MEMBERS = 100_000;
export const memberList = z.lazy(() => z.array(dn).check(z.maxLength(MAX_MEMBERS)));

export const unique = <T>(items: T[]): T[] => [...new Set(items)];

/** `{ [key]: value }` when there is a value, `{}` otherwise: for optional JSON fields and attributes. */
export const present = <K extends string, V>(key: K, value: V | null | undefined): Partial<Record<K, V>> =>
  value === undefined || value === null ? {} : ({ [key]: value } as Record<K, V>);

const fieldsOf = (issue: z.core.$ZodIssue): string[] => {
  const prefix = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => (prefix === '' ? key : `${prefix}.${key}`));
  return [prefix === '' ? 'body' : prefix];
};

/**
 * Validates a parsed body against a schema; on failure a 400 whose `msg` names every failing field
 * and whose `errors` maps each field to its first problem.
 */
export const parseInput = <T>(schema: z.ZodMiniType<T>, input: unknown): T => {
  const result = schema.safeParse(input ?? {}, { error: (issue) => (issue.input === undefined ? 'is required' : undefined) });
  if (result.success) return result.data;
  // A Map, not an object: field names such as __proto__ or constructor are body keys like any other.
  const errors = new Map<string, string>();
  for (const issue of result.error.issues) {
    const message = issue.code === 'unrecognized_keys' ? 'is not a known field' : issue.message;
    for (const field of fieldsOf(issue)) if (!errors.has(field)) errors.set(field, message);
  }
  throw badRequest(`Invalid input: ${[...errors.keys()].join(', ')}`, { errors: Object.fromEntries(errors) });
};
