// Pointing the handlers (invoked directly) at another directory for a while, and a directory that
// counts the connections it is offered and never answers: what a request costs the directory
// before it is refused.
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { reloadConfig } from '../lib/config.js';

/** Points the handlers at `url` (by default with a short operation timeout) while `work` runs. */
export const withDirectoryAt = async <T>(url: string, work: () => Promise<T>, timeoutMs = '300'): Promise<T> => {
  const saved = { url: process.env.LDAP_URL, timeout: process.env.LDAP_TIMEOUT_MS };
  Object.assign(process.env, { LDAP_URL: url, LDAP_TIMEOUT_MS: timeoutMs });
  reloadConfig();
  try {
    return await work();
  } finally {
    Object.assign(process.env, { LDAP_URL: saved.url, LDAP_TIMEOUT_MS: saved.timeout });
    reloadConfig();
  }
};

/**
 * Runs `work` with the handlers pointed at a listener that takes connections, counts them and
 * never answers (a request that connects times out: 503).
 */
export const withSilentDirectory = async <T>(work: (connections: () => number) => Promise<T>): Promise<T> => {
  const sockets: Socket[] = [];
  const server = createServer((socket) => void sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await withDirectoryAt(`ldap://127.0.0.1:${(server.address() as AddressInfo).port}`, () => work(() => sockets.length));
  } finally {
    for (const socket of sockets) socket.destroy();
    server.close();
  }
};
