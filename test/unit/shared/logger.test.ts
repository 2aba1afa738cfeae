import { describe, expect, it } from 'vitest';
import { Logger } from '../../../shared/logger';

describe('shared/logger', () => {
  it('keeps each concurrent invocation on its own server id', async () => {
    // Prepare
    const lines: string[] = [];
    const logger = new Logger('test', 'INFO', (line) => lines.push(line));
    const invocation = async (serverId: string, delayMs: number) => {
      logger.resetKeys();
      logger.appendKeys({ serverId });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      logger.info('done');
    };

    // Act
    await Promise.all([invocation('hf-aaaaaaaaaaaa', 20), invocation('hf-bbbbbbbbbbbb', 5)]);

    // Assess
    const ids = lines.map((line) => (JSON.parse(line) as { serverId: string }).serverId).sort();
    expect(ids).toEqual(['hf-aaaaaaaaaaaa', 'hf-bbbbbbbbbbbb']);
  });

  it('redacts private key material wherever it appears', () => {
    // Prepare
    const lines: string[] = [];
    const logger = new Logger('test', 'INFO', (line) => lines.push(line));
    const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIEsecret\n-----END RSA PRIVATE KEY-----';

    // Act
    logger.error('oops', { detail: `material: ${pem}`, keyMaterial: 'MIIEsecret', nested: { list: [pem] } });

    // Assess
    expect(lines.join('\n')).not.toContain('MIIEsecret');
    expect(lines.join('\n')).toContain('[REDACTED PRIVATE KEY]');
  });
});
