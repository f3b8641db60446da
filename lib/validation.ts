// Input validation: zod schemas for the fields the API shares, and the one function that turns a
// schema failure into a 400 listing every failing field.
import { z } from 'zod';
import { badRequest } from './errors.js';

/** Printable text: no control characters (they would corrupt LDIF exports and logs). */
export const text = (max: number) =>
  z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters');

/** Keyper's console sends numbers as strings ("30"); accept both, same range. */
export const duration = z
  .union([z.number(), z.string().regex(/^\d{1,3}$/, 'must be a whole number').transform(Number)])
  .pipe(z.number().int('must be a whole number').min(1, 'must be at least 1').max(500, 'must be at most 500'));

export const durationUnit = z.enum(['Hours', 'Days', 'Weeks'], { message: 'must be Hours, Days or Weeks' });

/** An SSH principal: what sshd compares with a certificate's principals or a login name. */
export const principal = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$/, 'must be a valid principal name');

export const dnList = z.array(z.string().max(1024, 'must be at most 1024 characters')).max(1000);

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
export const parseInput = <T>(schema: z.ZodType<T>, input: unknown): T => {
  const result = schema.safeParse(input ?? {}, { error: (issue) => (issue.input === undefined ? 'is required' : undefined) });
  if (result.success) return result.data;
  const errors: Record<string, string> = {};
  for (const issue of result.error.issues) {
    const message = issue.code === 'unrecognized_keys' ? 'is not a known field' : issue.message;
    for (const field of fieldsOf(issue)) errors[field] ??= message;
  }
  throw badRequest(`Invalid input: ${Object.keys(errors).join(', ')}`, { errors });
};
