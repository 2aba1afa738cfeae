import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../localcloud/ports';

describe('localcloud/ports', () => {
  it('returns a loopback port that can be bound right away', async () => {
    // Act
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    // Assess
    expect(port).toBeGreaterThan(0);
    expect((server.address() as { port: number }).port).toBe(port);
    await new Promise((resolve) => server.close(resolve));
  });

  it('returns different ports to concurrent callers', async () => {
    // Act
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    // Assess: the OS hands out ephemeral ports in turn; a repeat would mean a port was not released
    expect(new Set(ports).size).toBeGreaterThan(15);
  });
});
