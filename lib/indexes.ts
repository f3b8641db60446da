// What the service says when the directory refuses a search for want of an index.
//
// slapd reports an unindexed search only in its own log, and only at `loglevel filter`
// ("<= mdb_equality_candidates: (owner) not indexed"); nothing about it reaches a client. What a
// client can see is a refusal: a directory that limits the candidates a search may examine
// unchecked (`limits ... size.unchecked=<n>`, the usual guard against unindexed searches) answers
// adminLimitExceeded to a search that would examine more. That is reported here, with a warning
// once per cold start that points at the indexes the README lists, and a 503 to the client.
import { AdminLimitExceededError } from 'ldapts';
import { apiError, type ApiError } from './errors.js';
import { log } from './log.js';

let warned = false;

/** The 503 for a search the directory refused as too costly; undefined for any other error. */
export const refusedSearchError = (error: unknown): ApiError | undefined => {
  if (!(error instanceof AdminLimitExceededError)) return undefined;
  if (!warned) {
    warned = true;
    log('warn', 'the directory refused a search over too many unchecked entries (adminLimitExceeded): an index the service needs is probably missing (README: Indexes)', {
      error: String(error),
    });
  }
  return apiError(503, 'The directory refused the search (administrative limit); see the service log', {}, error);
};
