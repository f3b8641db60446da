// Cutting a write at each of its LDAP messages in turn (test/fault-proxy.ts) and checking the
// directory afterwards: as before the request, or, when the request succeeded, exactly as after
// a clean run of it.
import { expect } from 'vitest';
import { reloadConfig } from '../lib/config.js';
import { startFaultProxy, type FaultKind, type FaultProxy, type Message } from './fault-proxy.js';
import { env, snapshot, type Reply } from './helpers.js';

/** Parts of a snapshot that differ between two equal runs: salted password hashes, key expiry times. */
export const comparable = (snap: string): string =>
  snap.replace(/\{SSHA\}[A-Za-z0-9+/=]+/g, '{SSHA}').replace(/\\"dateExpire\\":\\"\d+\\"/g, '"dateExpire"');

export interface Proxied {
  proxy: FaultProxy;
  /** Points the handlers back at the directory and closes the proxy. */
  restore: () => Promise<void>;
}

/**
 * Starts a fault proxy in front of this run's slapd and points the handlers invoked in this
 * process at it, with a short operation timeout so a stalled connection fails fast.
 */
export const useProxy = async (overrides: Record<string, string> = {}): Promise<Proxied> => {
  const direct = new URL(env().LDAP_URL!);
  const proxy = await startFaultProxy({ host: direct.hostname, port: Number(direct.port) });
  const changes: Record<string, string> = { LDAP_URL: proxy.url, LDAP_TIMEOUT_MS: '1000', ...overrides };
  const saved = Object.fromEntries(Object.keys(changes).map((key) => [key, process.env[key]]));
  Object.assign(process.env, changes);
  reloadConfig();
  return {
    proxy,
    restore: async () => {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      reloadConfig();
      await proxy.close();
    },
  };
};

export interface Scenario {
  /** Sends the request under test (through the proxy). */
  send: () => Promise<Reply>;
  /** Puts the directory back after a successful send. */
  revert: () => Promise<void>;
}

/** Which messages to stall at: stalls cost an operation timeout each, so the writes and the bind. */
const worthStalling = (message: Message, index: number): boolean => message.write || index === 0;

/**
 * Sends the scenario's request once cleanly to learn its LDAP messages and the complete result,
 * then once per fault kind and message: each reply must be a 5xx with the directory unchanged,
 * or a success with the change complete. Returns the messages of the clean run.
 */
export const cutEverywhere = async (proxy: FaultProxy, scenario: Scenario, kinds: FaultKind[] = ['drop', 'error', 'stall']): Promise<Message[]> => {
  const before = await snapshot();
  proxy.record();
  const clean = await scenario.send();
  expect(clean.status, clean.text).toBeLessThan(300);
  const messages = proxy.messages();
  const complete = comparable(await snapshot());
  await scenario.revert();
  let base = await snapshot();
  expect(comparable(base)).toBe(comparable(before));
  for (const kind of kinds) {
    for (const [index, message] of messages.entries()) {
      if (kind === 'stall' && !worthStalling(message, index)) continue;
      const where = `${kind} at message ${index + 1} (${message.operation})`;
      proxy.arm({ kind, at: index + 1 });
      const reply = await scenario.send();
      expect(proxy.fired(), where).toBe(true);
      const after = await snapshot();
      if (reply.status < 300) {
        expect(comparable(after), `${where}: answered ${reply.status}, so the change must be complete`).toBe(complete);
        await scenario.revert();
        base = await snapshot();
      } else {
        expect(reply.status, `${where}: ${reply.text}`).toBeGreaterThanOrEqual(500);
        expect(after, `${where}: answered ${reply.status}, so nothing may have changed`).toBe(base);
      }
    }
  }
  return messages;
};
