// The validity of a user's or host's keys and certificates: how long a new key or certificate
// lasts, kept as JSON in the entry's `info` attribute (Keyper's `{"duration": 1, "durationUnit":
// "Days"}`). The input fields, the default, and reading, writing and updating `info`.
import { present } from './input.js';
import { remembered } from './memo.js';
import * as z from './zod.js';

/** Keyper's console sends numbers as strings ("30"); accept both, same range. */
export const duration = /* @__PURE__ */ z.lazy(() =>
  z.pipe(
    z.union([z.number(), z.pipe(z.string().check(z.regex(/^\d{1,3}$/, 'must be a whole number')), z.transform(Number))]),
    z.number().check(z.int('must be a whole number'), z.gte(1, 'must be at least 1'), z.lte(500, 'must be at most 500')),
  ),
);

export const durationUnit = /* @__PURE__ */ z.lazy(() => z.enum(['Hours', 'Days', 'Weeks'], { message: 'must be Hours, Days or Weeks' }));

export interface Validity {
  duration: number;
  durationUnit: z.infer<typeof durationUnit>;
}

/** What an entry without a (readable) `info` gets, and what a host created without one gets. */
export const DEFAULT_VALIDITY: Validity = { duration: 1, durationUnit: 'Days' };

const UNIT_MS: Record<Validity['durationUnit'], number> = { Hours: 3_600_000, Days: 86_400_000, Weeks: 7 * 86_400_000 };

/** How long a validity lasts, in seconds (certificates count in seconds). */
export const validitySeconds = (validity: Validity): number => (validity.duration * UNIT_MS[validity.durationUnit]) / 1000;

/** The instant a validity starting at `now` ends. */
export const validityEnd = (now: Date, validity: Validity): Date => new Date(now.getTime() + validity.duration * UNIT_MS[validity.durationUnit]);

const isUnit = (value: unknown): value is Validity['durationUnit'] => typeof value === 'string' && Object.hasOwn(UNIT_MS, value);

/** A stored duration as the `duration` input accepts it (a whole number 1 to 500, or up to three digits), else undefined. */
const storedDuration = (value: unknown): number | undefined => {
  const number = typeof value === 'string' && /^\d{1,3}$/.test(value) ? Number(value) : value;
  return typeof number === 'number' && Number.isInteger(number) && number >= 1 && number <= 500 ? number : undefined;
};

/**
 * Reads `info`, including Keyper's form where duration is a string; falls back to the default.
 * The rules of the `duration` and `durationUnit` inputs, without zod: a function that only reads
 * entries bundles none (a unit test compares the two on many values).
 */
const readInfo = (raw: string | undefined): Validity => {
  try {
    const parsed: unknown = JSON.parse(raw ?? '');
    if (parsed === null || typeof parsed !== 'object') return DEFAULT_VALIDITY;
    const fields = parsed as Record<string, unknown>;
    const stored = storedDuration(fields.duration);
    return stored !== undefined && isUnit(fields.durationUnit) ? { duration: stored, durationUnit: fields.durationUnit } : DEFAULT_VALIDITY;
  } catch {
    return DEFAULT_VALIDITY;
  }
};

/** Parsed `info` values: a directory holds few distinct ones, so each is read once per process. */
const readInfoOnce = remembered((raw: string): Validity => Object.freeze(readInfo(raw)), 1_000);

/** `info` as readInfo reads it (each distinct value once). */
export const parseInfo = (raw: string | undefined): Validity => (raw === undefined ? DEFAULT_VALIDITY : readInfoOnce(raw));

/** The `info` of a new entry. */
export const infoValue = ({ duration, durationUnit }: Validity): string => JSON.stringify({ duration, durationUnit });

/** Replaces duration/durationUnit in an existing `info` document, keeping any other keys. */
export const mergeInfo = (raw: string | undefined, update: Partial<Validity>): string => {
  let current: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(raw ?? '{}');
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) current = parsed as Record<string, unknown>;
  } catch {
    current = {};
  }
  const base = { duration: DEFAULT_VALIDITY.duration, durationUnit: DEFAULT_VALIDITY.durationUnit, ...current };
  return JSON.stringify({ ...base, ...update });
};

/** The fields of an update that change the validity (either may be left out). */
export type ValidityUpdate = { duration?: number | undefined; durationUnit?: Validity['durationUnit'] | undefined };

/** The new `info` of an update that changes the validity; undefined when it does not. */
export const updatedInfo = (input: ValidityUpdate, currentInfo: string | undefined): string | undefined => {
  if (input.duration === undefined && input.durationUnit === undefined) return undefined;
  const update: Partial<Validity> = {};
  if (input.duration !== undefined) update.duration = input.duration;
  if (input.durationUnit !== undefined) update.durationUnit = input.durationUnit;
  return mergeInfo(currentInfo, update);
};

/** The validity that new keys and certificates get: the entry's, as this update leaves it. */
export const updatedValidity = (input: ValidityUpdate, currentInfo: string | undefined): Validity => ({
  ...parseInfo(currentInfo),
  ...present('duration', input.duration),
  ...present('durationUnit', input.durationUnit),
});
