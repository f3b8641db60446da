// Input against a schema, and small helpers for JSON fields and lists, without zod itself: a
// function whose routes parse nothing (health, preflight, the CA keys...) bundles no zod. The
// schemas come from modules that import lib/zod.ts, which sets zod's English messages first.
import type * as z from './zod.js';
import { badRequest } from './errors.js';

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
