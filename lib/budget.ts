// The time one invocation may spend on the directory. Lambda says how much is left
// (context.getRemainingTimeInMillis) and Middy aborts its `signal` just before that; a write cut
// off by the end of the invocation would stay half-done, so the work must stop early enough for
// the writes already made to be undone: the last `undoReserveMs` belong to the undo alone.

export interface Budget {
  /** Epoch ms by which the invocation must have finished, undo included. */
  readonly end: number;
  /** Epoch ms after which the work starts no operation and waits for none: the rest is for undo. */
  readonly workEnd: number;
  /** Middy's abort signal: aborted when its own timeout has answered the request. */
  readonly signal?: AbortSignal;
}

/** Left between our end and Middy's timeout (5 ms before Lambda's), to shape and send the answer. */
export const RESPONSE_MARGIN_MS = 50;

/** No deadline: scripts and tests that call the library without a Lambda context. */
export const UNLIMITED: Budget = { end: Infinity, workEnd: Infinity };

/** The budget of an invocation with `remainingMs` left (undefined: no deadline known). */
export const budgetFor = (remainingMs: number | undefined, undoReserveMs: number, signal?: AbortSignal, now = Date.now()): Budget => {
  const end = remainingMs === undefined ? Infinity : now + remainingMs - RESPONSE_MARGIN_MS;
  return { end, workEnd: end - undoReserveMs, ...(signal === undefined ? {} : { signal }) };
};

/**
 * The error of an operation that did not fit in the budget: refused before it was sent
 * (`sent: false`, it certainly did not happen) or cut off while the directory had it (`sent: true`,
 * it may have happened). Named like Middy's own timeout error; both answer 503.
 */
export class OutOfTimeError extends Error {
  override readonly name = 'TimeoutError';
  constructor(
    message: string,
    readonly sent: boolean,
  ) {
    super(message);
  }
}
