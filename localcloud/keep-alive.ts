import type { Server } from 'node:http';

/**
 * Idle keep-alive connections on the local cloud's HTTP servers (the local API, the gateway, the control
 * server, the internet proxy): never closed under a client that is about to reuse one.
 *
 * Why: Node's default server closes an idle connection 5 s (+1 s) after its last response and tells the
 * client so (`Keep-Alive: timeout=5`); fetch (undici) stops reusing it 2 s before that, Node's Agent
 * 1 s before. The margin is measured in the event loop's time: when the process is starved (the test,
 * the handlers and the local cloud share one loop; twenty local instances pip-installing share two
 * cores), a poll can go out on a connection in the same turn the server destroys it, with the request
 * unread, and the client reads `ECONNRESET` (`fetch failed: read ECONNRESET`). API Gateway never resets
 * a connection under a request. So the servers still advertise 5 s, which clients honour, and close an
 * idle connection only after a minute more: a client that honours the hint has always left first,
 * however late its timers run. (A client that ignores the hint still gets a clean close after 65 s.)
 */
export const KEEP_ALIVE_HINT_MS = 5_000;
export const KEEP_ALIVE_GRACE_MS = 60_000;

export const keepIdleConnectionsSafely = (server: Server): Server => {
  server.keepAliveTimeout = KEEP_ALIVE_HINT_MS;
  const withBuffer = server as Server & { keepAliveTimeoutBuffer?: number };
  if (typeof withBuffer.keepAliveTimeoutBuffer === 'number') {
    // Node ≥ 22.19 / 24.6: the socket's timeout is keepAliveTimeout + keepAliveTimeoutBuffer.
    withBuffer.keepAliveTimeoutBuffer = KEEP_ALIVE_GRACE_MS;
  } else {
    // An older Node cannot advertise less than it waits: then never close an idle connection (no hint;
    // clients use their own idle timeouts, undici 4 s) rather than race them.
    server.keepAliveTimeout = 0;
  }
  return server;
};
