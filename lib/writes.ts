// Building blocks of directory writes that the entity modules share: whole-attribute replacements
// (for fields whose new value is the complete list the client sent) and the compensating steps
// that undo the finished part of a multi-step write when a later step fails.
import { Attribute, Change } from 'ldapts';
import { log } from './log.js';

/** A modification that sets an attribute to exactly `vals`; an empty list removes the attribute. */
export const replace = (type: string, vals: string[]): Change =>
  new Change({ operation: 'replace', modification: new Attribute({ type, values: vals }) });

/** Runs a compensation step; its own failure is logged, never allowed to hide the first error. */
export const undo = async (what: string, step: () => Promise<void>): Promise<void> => {
  try {
    await step();
  } catch (error) {
    log('error', 'undo failed', { what, error: String(error) });
  }
};
