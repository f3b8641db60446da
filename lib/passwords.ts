// Passwords: what a new one may be, and setting one through the directory, which hashes it with
// its own scheme (RFC 3062 Password Modify) and, through ppolicy, clears the lock and failed logins
// with it. Checking one is a bind as the user (lib/login.ts).
import { BerWriter, type Client, type Entry } from 'ldapts';
import * as z from './zod.js';
import { PASSWORD_MODIFY_OID } from './audit.js';
import { values } from './directory.js';
import { LOCK_ATTRIBUTES, RELAX_RULES } from './locks.js';
import { replace, type Journal } from './writes.js';

/** The longest password accepted, when setting one and when logging in. */
export const MAX_PASSWORD_LENGTH = 128;

// Login refuses longer and blank passwords: setting one would lock its owner out.
export const password = /* @__PURE__ */ z.lazy(() =>
  z.string().check(
    z.minLength(8, 'must be at least 8 characters'),
    z.maxLength(MAX_PASSWORD_LENGTH, `must be at most ${MAX_PASSWORD_LENGTH} characters`),
    z.refine((value) => value.trim() !== '', 'must not be blank'),
  ),
);

/** RFC 3062 PasswdModifyRequestValue: the directory hashes the password with its own scheme. */
export const passwordModifyRequest = (dn: string, newPassword: string): Buffer => {
  const writer = new BerWriter();
  writer.startSequence();
  writer.writeString(dn, 0x80);
  writer.writeString(newPassword, 0x82);
  writer.endSequence();
  return writer.buffer;
};

export const setPassword = async (client: Client, dn: string, newPassword: string): Promise<void> => {
  await client.exop(PASSWORD_MODIFY_OID, passwordModifyRequest(dn, newPassword));
};

/** Attributes a password change touches: ppolicy clears the failure count and lock with it. */
export const PASSWORD_STATE = ['userPassword', ...LOCK_ATTRIBUTES];

/**
 * Sets a password as a journal step whose undo puts back the stored hash, the lock and the failure
 * count, which ppolicy clears with every password change (Relax Rules: pwdFailureTime is
 * NO-USER-MODIFICATION). `before` holds the PASSWORD_STATE attributes.
 */
export const changePassword = (journal: Journal, before: Entry, newPassword: string): Promise<void> =>
  journal.write(
    `set the password of ${before.dn}`,
    (c) => setPassword(c, before.dn, newPassword),
    (c) => c.modify(before.dn, PASSWORD_STATE.map((attribute) => replace(attribute, values(before, attribute))), RELAX_RULES),
  );
