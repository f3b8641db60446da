// Zod schemas for the fields the API shares (lib/input.ts validates input against them).
import * as z from './zod.js';

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
export const principal = /* @__PURE__ */ z.lazy(() => z.string().check(z.regex(/^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$/, 'must be a valid principal name')));

/**
 * A list of principals. The directory compares them ignoring case, so two that differ only in
 * case are one principal twice: refused. Exact repeats are harmless and collapse (see unique).
 */
export const principals = /* @__PURE__ */ z.lazy(() =>
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

const dn = /* @__PURE__ */ z.lazy(() => z.string().check(z.maxLength(1024, 'must be at most 1024 characters')));

export const dnList = /* @__PURE__ */ z.lazy(() => z.array(dn).check(z.maxLength(1000)));

/**
 * A group's members: a group may hold tens of thousands. 100,000 DNs of users are about 6 MB of
 * JSON, the most a Lambda request may carry.
 */
export const MAX_MEMBERS = 100_000;
export const memberList = /* @__PURE__ */ z.lazy(() => z.array(dn).check(z.maxLength(MAX_MEMBERS)));
