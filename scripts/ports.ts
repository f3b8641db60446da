// Local TCP port helpers for the development directory and the tests: finding a free port and
// telling whether one is taken, both on the loopback interface where every local service listens.
import net from 'node:net';

const LOOPBACK = '127.0.0.1';

/** A port that was free a moment ago (the OS picks it); another process could still take it. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      // listen() on a TCP address always yields an AddressInfo; a string means a pipe.
      const port = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close(() => (port === undefined ? reject(new Error('no TCP port assigned')) : resolve(port)));
    });
  });

/** True when something already listens on `port` (binding it fails with EADDRINUSE). */
export const portInUse = (port: number, host = LOOPBACK): Promise<boolean> =>
  new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE' ? resolve(true) : reject(error),
    );
    server.listen(port, host, () => server.close(() => resolve(false)));
  });
