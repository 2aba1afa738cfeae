import { createServer } from 'node:net';

/**
 * A TCP port that is free on 127.0.0.1 right now: the OS picks one (listen on port 0), we read it and
 * close. Another process could take it before the caller binds it, so a caller that spawns a server on
 * it should be ready to retry with a new port (startMoto does).
 */
export const freePort = (host = '127.0.0.1'): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close((error) => {
        if (error !== undefined) reject(error);
        else if (port === undefined) reject(new Error('the OS returned no port'));
        else resolve(port);
      });
    });
  });
