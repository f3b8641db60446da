// Cutting a write at each of its LDAP messages in turn (test/fault-proxy.ts) and checking the
// directory afterwards: as before the request, or exactly as after a clean run of it (when the
// request succeeded, or when the fault came after its last write).
import type { Context } from 'aws-lambda';
import { expect } from 'vitest';
import { reloadConfig } from '../lib/config.js';
import { startFaultProxy, type FaultKind, type FaultProxy, type Message } from './fault-proxy.js';
import { env, snapshot, type Reply } from './helpers.js';

/**
 * Parts of a snapshot that differ between two equal runs: salted password hashes, key expiry and
 * session revocation times (clock), host credential digests, certificates and their serials (random).
 */
export const comparable = (snap: string): string =>
  withoutRevocations(snap)
    .replace(/\{SSHA\}[A-Za-z0-9+/=]+/g, '{SSHA}')
    .replace(/(\\"dateExpire\\":\\")\d+/g, '$1')
    // Certificates: the signature and serial are new with every signing.
    .replace(/(\\"cert\\":\\")[^\\]+/g, '$1')
    .replace(/(\\"serial\\":\\")\d+/g, '$1')
    .replace(/(urn:keyper:revoked-session:[0-9a-f-]+:)\d+/g, '$1')
    .replace(/(urn:keyper:host-credential:sha256:)[0-9a-f]+/g, '$1');

/**
 * A snapshot without ou=revocations and its entries: revocations are never undone (lib/writes.ts
 * Journal.atEnd), so they stand outside the all-or-nothing comparison.
 */
const withoutRevocations = (snap: string): string =>
  JSON.stringify((JSON.parse(snap) as { dn: string }[]).filter(({ dn }) => !/(^|,)ou=revocations,/.test(dn)));

export interface Proxied {
  proxy: FaultProxy;
  /** Points the handlers back at the directory and closes the proxy. */
  restore: () => Promise<void>;
}

/** Sets environment variables and rereads the configuration; returns how to put them back. */
const setEnv = (changes: Record<string, string>): (() => void) => {
  const saved = Object.fromEntries(Object.keys(changes).map((key) => [key, process.env[key]]));
  Object.assign(process.env, changes);
  reloadConfig();
  return () => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    reloadConfig();
  };
};

/** The operation timeout while a proxy is in use: a stalled connection fails this fast. */
const STALL_TIMEOUT_MS = '500';

/**
 * Starts a fault proxy in front of this run's slapd and points the handlers invoked in this
 * process at it, with a short operation timeout so a stalled connection fails fast.
 */
export const useProxy = async (overrides: Record<string, string> = {}): Promise<Proxied> => {
  const direct = new URL(env().LDAP_URL!);
  const proxy = await startFaultProxy({ host: direct.hostname, port: Number(direct.port) });
  const putBack = setEnv({ LDAP_URL: proxy.url, LDAP_TIMEOUT_MS: STALL_TIMEOUT_MS, ...overrides });
  return {
    proxy,
    restore: async () => {
      putBack();
      await proxy.close();
    },
  };
};

export interface Scenario {
  /** Sends the request under test (through the proxy), with Lambda context overrides. */
  send: (context?: Partial<Context>) => Promise<Reply>;
  /** Puts the directory back after a successful send. */
  revert: () => Promise<void>;
}

/**
 * How each fault is applied: `deadline` stalls the message and gives the invocation little time
 * (the default undo reserve and WORK_MS more), with an operation timeout far beyond it, so that
 * only the time budget can end the stalled write.
 */
type Cut = FaultKind | 'deadline';
const WORK_MS = 600;
const DEADLINE_CONTEXT: Partial<Context> = { getRemainingTimeInMillis: () => 2000 + WORK_MS };

/** Two snapshots are equal; compared parsed, so that a failure shows the entries that differ. */
const same = (actual: string, expected: string, message: string): void => {
  if (actual !== expected) expect(JSON.parse(actual), message).toEqual(JSON.parse(expected));
};

/** Stalls and deadlines cost a timeout each: only at the writes (and, for stalls, the bind). */
const worthCutting = (cut: Cut, message: Message, index: number): boolean =>
  cut === 'drop' || cut === 'error' || message.write || (cut === 'stall' && index === 0);

/**
 * Sends the scenario's request once cleanly to learn its LDAP messages and the complete result,
 * then once per cut and message: each reply must be a 5xx with the directory unchanged (or
 * complete, when the cut came after the last write), or a success with the change complete.
 * Returns the messages of the clean run.
 */
export const cutEverywhere = async (proxy: FaultProxy, scenario: Scenario, cuts: Cut[] = ['drop', 'error', 'stall', 'deadline']): Promise<Message[]> => {
  const before = await snapshot();
  proxy.record();
  const clean = await scenario.send();
  expect(clean.status, clean.text).toBeLessThan(300);
  const messages = proxy.messages();
  const lastWrite = messages.findLastIndex((m) => m.write);
  expect(lastWrite, 'the request writes').toBeGreaterThanOrEqual(0);
  const complete = comparable(await snapshot());
  await scenario.revert();
  let base = await snapshot();
  same(comparable(base), comparable(before), 'revert() puts the directory back');
  for (const cut of cuts) {
    const putBack = cut === 'deadline' ? setEnv({ LDAP_TIMEOUT_MS: '600000' }) : () => undefined;
    try {
      for (const [index, message] of messages.entries()) {
        if (!worthCutting(cut, message, index)) continue;
        const where = `${cut} at message ${index + 1} (${message.operation})`;
        // A busy machine may time a request out before it reaches the message: try once more. A
        // success that did not reach it took a shorter way (a container the clean run created).
        let fired = false;
        let reply: Reply | undefined;
        for (let attempt = 0; attempt < 2 && !fired; attempt += 1) {
          proxy.arm({ kind: cut === 'deadline' ? 'stall' : cut, at: index + 1 });
          reply = await scenario.send(cut === 'deadline' ? DEADLINE_CONTEXT : {});
          fired = proxy.fired();
          // Disarmed before anything else talks to the directory through the proxy.
          proxy.record();
          const after = await snapshot();
          if (reply.status < 300) {
            same(comparable(after), complete, `${where}: answered ${reply.status}, so the change must be complete`);
          } else {
            expect(reply.status, `${where}: ${reply.text}`).toBeGreaterThanOrEqual(500);
            if (index > lastWrite && after !== base) {
              same(comparable(after), complete, `${where} (after the last write): unchanged or complete`);
            } else {
              same(after, base, `${where}: answered ${reply.status}, so nothing may have changed`);
            }
          }
          if (after !== base) {
            await scenario.revert();
            base = await snapshot();
          }
          if (!fired && reply.status < 300) break;
        }
        if (!fired) expect(reply?.status, `${where} never happened: ${reply?.status} ${reply?.text}`).toBeLessThan(300);
      }
    } finally {
      putBack();
    }
  }
  return messages;
};
