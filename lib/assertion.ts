// The LDAP Assertion control (RFC 4528): a write that applies only if its target entry still
// matches a filter, checked by the directory inside the write itself. It turns "read, check,
// write" into one atomic check-and-write (slapd supports it on modify, delete and add's parent).
import { AndFilter, BerWriter, Control, EqualityFilter, NotFilter, OrFilter, ResultCodeError, type Filter } from 'ldapts';

const ASSERTION_OID = '1.3.6.1.1.12';
/** LDAP result code assertionFailed: the entry did not match, nothing was written. */
export const ASSERTION_FAILED = 122;

/**
 * The control asserting `filter` on a write to an entry of `objectClass`. slapd's memberof overlay
 * passes the control on to the modifies it makes of the members' entries (their memberOf), where a
 * filter about the group would fail and leave memberOf wrong; so the filter is scoped: it holds
 * trivially for entries of any other class.
 */
export const assertion = (objectClass: string, filter: Filter): AssertionControl =>
  new AssertionControl(
    new OrFilter({ filters: [new NotFilter({ filter: new EqualityFilter({ attribute: 'objectClass', value: objectClass }) }), filter] }),
  );

export class AssertionControl extends Control {
  constructor(readonly filter: Filter) {
    // Critical: a directory that does not know the control must refuse the write, not ignore the check.
    super(ASSERTION_OID, { critical: true });
  }

  protected override writeControl(writer: BerWriter): void {
    const value = new BerWriter();
    this.filter.write(value);
    writer.writeBuffer(value.buffer, 0x04);
  }
}

export const isAssertionFailed = (error: unknown): boolean => error instanceof ResultCodeError && error.code === ASSERTION_FAILED;

/** A filter matching entries that hold every one of these attribute values. */
export const holdsAll = (attributes: Record<string, string | string[]>): Filter =>
  new AndFilter({
    filters: Object.entries(attributes).flatMap(([attribute, value]) =>
      (Array.isArray(value) ? value : [value]).map((v) => new EqualityFilter({ attribute, value: v })),
    ),
  });

/** The filters that apply (undefined ones skipped), as one; undefined when there are none. */
export const allOf = (...filters: (Filter | undefined)[]): Filter | undefined => {
  const present = filters.filter((f): f is Filter => f !== undefined);
  if (present.length <= 1) return present[0];
  return new AndFilter({ filters: present });
};

/** `controls` with `extra` added; two assertions become one asserting both (a request takes one). */
export const withAssertion = (controls: Control[], extra: AssertionControl): Control[] => {
  const own = controls.find((control): control is AssertionControl => control instanceof AssertionControl);
  if (own === undefined) return [...controls, extra];
  return [...controls.filter((control) => control !== own), new AssertionControl(new AndFilter({ filters: [own.filter, extra.filter] }))];
};
