// The order in which a warm function tries the directory's servers: those that failed within
// SERVER_RETRY_MS after the others, each group in the order LDAP_URL gives.
import { describe, expect, it } from 'vitest';
import { SERVER_RETRY_MS, serverOrder } from '../../lib/directory.js';

const urls = ['ldaps://a', 'ldaps://b', 'ldaps://c'];
const now = 1_000_000;

describe('serverOrder', () => {
  it('keeps the order given when no server failed', () => {
    expect(serverOrder(urls, new Map(), now)).toEqual(urls);
  });

  it('puts servers that failed lately last, in the order given', () => {
    const failures = new Map([['ldaps://a', now - 1_000], ['ldaps://b', now - 10]]);
    expect(serverOrder(urls, failures, now)).toEqual(['ldaps://c', 'ldaps://a', 'ldaps://b']);
  });

  it('tries a server in its place again once SERVER_RETRY_MS has passed since it failed', () => {
    expect(serverOrder(urls, new Map([['ldaps://a', now - SERVER_RETRY_MS + 1]]), now)).toEqual(['ldaps://b', 'ldaps://c', 'ldaps://a']);
    expect(serverOrder(urls, new Map([['ldaps://a', now - SERVER_RETRY_MS]]), now)).toEqual(urls);
  });

  it('still tries every server when all failed lately, in the order given', () => {
    const failures = new Map(urls.map((url) => [url, now - 5] as const));
    expect(serverOrder(urls, failures, now)).toEqual(urls);
  });

  it('ignores failures of servers no longer listed', () => {
    expect(serverOrder(['ldaps://b'], new Map([['ldaps://a', now]]), now)).toEqual(['ldaps://b']);
  });
});
