import { GetParametersCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { isAwsError } from '../errors';
import { TAG } from '../tags';
import { checkKeySet, type KeyStore, type StoredToolKey, type ToolKeySet } from './keys';

/**
 * The tool's key set in SSM Parameter Store, one SecureString per slot:
 *
 *   /hello-fleet/<stage>/lti/tool-key/current
 *   /hello-fleet/<stage>/lti/tool-key/next
 *   /hello-fleet/<stage>/lti/tool-key/previous
 *
 * each holding `{"kid", "createdAt", "privateJwk"}`. One parameter per slot because a 2048-bit private
 * JWK is about 1.7 KB and three would pass the Standard tier's 4 KB (the Advanced tier costs money).
 *
 * A save writes previous, then current, then next. Interrupted anywhere, the slots still hold a valid
 * set: at worst one kid sits in two slots (published once, see publishedKeys), and the key that signs is
 * always one that was already published as `next` before.
 */

export const toolKeyParameterPrefix = (stage: string): string => `/hello-fleet/${stage}/lti/tool-key`;

const SLOTS = ['previous', 'current', 'next'] as const;
type Slot = (typeof SLOTS)[number];

export class SsmKeyStore implements KeyStore {
  constructor(
    private readonly ssm: SSMClient,
    private readonly stage: string,
  ) {}

  private name(slot: Slot): string {
    return `${toolKeyParameterPrefix(this.stage)}/${slot}`;
  }

  async load(): Promise<ToolKeySet | undefined> {
    const names = SLOTS.map((slot) => this.name(slot));
    const reply = await this.ssm.send(new GetParametersCommand({ Names: names, WithDecryption: true }));
    const values = new Map((reply.Parameters ?? []).map((parameter) => [parameter.Name, parameter.Value]));
    if (!values.has(this.name('current')) && !values.has(this.name('next'))) return undefined;
    const parse = (slot: Slot): unknown => {
      const value = values.get(this.name(slot));
      if (value === undefined) return undefined;
      try {
        return JSON.parse(value);
      } catch {
        // The value itself is never put in an error: it is a private key.
        return { unparseable: true };
      }
    };
    return checkKeySet({ current: parse('current'), next: parse('next'), previous: parse('previous') });
  }

  async save(keys: ToolKeySet): Promise<void> {
    for (const slot of SLOTS) {
      const key: StoredToolKey | undefined = keys[slot];
      if (key === undefined) continue;
      await this.put(slot, JSON.stringify(key));
    }
  }

  private async put(slot: Slot, value: string): Promise<void> {
    const parameter = {
      Name: this.name(slot),
      Value: value,
      Type: 'SecureString',
      Tier: 'Standard',
      Description: `hello-fleet LTI tool key (${slot}); its public half is at the tool's /lti/jwks`,
    } as const;
    try {
      await this.ssm.send(
        new PutParameterCommand({
          ...parameter,
          Tags: [
            { Key: TAG.managed, Value: 'true' },
            { Key: TAG.stage, Value: this.stage },
          ],
        }),
      );
    } catch (error) {
      if (!isAwsError(error, 'ParameterAlreadyExists')) throw error;
      // SSM refuses Tags together with Overwrite; the parameter already carries them from its first write.
      await this.ssm.send(new PutParameterCommand({ ...parameter, Overwrite: true }));
    }
  }
}
