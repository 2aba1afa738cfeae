import { DeleteParameterCommand, ListTagsForResourceCommand, SSMClient, SSMServiceException } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { lambdaHandler } from '../../../../functions/steps/delete-key-parameter';
import { keyParameterName } from '../../../../shared/names';
import { TAG } from '../../../../shared/tags';

const SERVER_ID = 'hf-abcdefghijkl';
const PARAMETER = keyParameterName('test', SERVER_ID);
const OURS = [
  { Key: TAG.managed, Value: 'true' },
  { Key: TAG.stage, Value: 'test' },
  { Key: TAG.serverId, Value: SERVER_ID },
];
const ssmError = (name: string) => new SSMServiceException({ name, $fault: 'client', $metadata: {}, message: `${name} (test)` });

const ssmMock = mockClient(SSMClient);

beforeEach(() => {
  ssmMock.reset();
  ssmMock.on(ListTagsForResourceCommand).resolves({ TagList: OURS });
  ssmMock.on(DeleteParameterCommand).resolves({});
});

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('DeleteKeyParameter', () => {
  it('deletes the private-key parameter after checking its tags', async () => {
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID });
    // Assess
    expect(result).toEqual({ deleted: [PARAMETER], done: true, attempt: 0 });
    expect(ssmMock).toHaveReceivedCommandWith(ListTagsForResourceCommand, { ResourceType: 'Parameter', ResourceId: PARAMETER });
    expect(ssmMock).toHaveReceivedCommandWith(DeleteParameterCommand, { Name: PARAMETER });
  });

  it('is done with nothing deleted when the parameter is already gone', async () => {
    // Prepare
    ssmMock.on(ListTagsForResourceCommand).rejects(ssmError('InvalidResourceId'));
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID });
    // Assess
    expect(result).toEqual({ deleted: [], done: true, attempt: 0 });
    expect(ssmMock).not.toHaveReceivedCommand(DeleteParameterCommand);
  });

  it('is done with nothing deleted when DeleteParameter answers ParameterNotFound', async () => {
    // Prepare
    ssmMock.on(DeleteParameterCommand).rejects(ssmError('ParameterNotFound'));
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID });
    // Assess
    expect(result).toEqual({ deleted: [], done: true, attempt: 0 });
  });

  it('leaves a parameter at our path but without our tags untouched', async () => {
    // Prepare
    ssmMock.on(ListTagsForResourceCommand).resolves({ TagList: [] });
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID });
    // Assess
    expect(result).toEqual({ deleted: [], done: true, attempt: 0 });
    expect(ssmMock).not.toHaveReceivedCommand(DeleteParameterCommand);
  });

  it('re-throws ThrottlingException unchanged so the ASL retries it', async () => {
    // Prepare
    const throttled = ssmError('ThrottlingException');
    ssmMock.on(DeleteParameterCommand).rejects(throttled);
    // Act
    const act = lambdaHandler({ serverId: SERVER_ID });
    // Assess
    await expect(act).rejects.toBe(throttled);
  });

  it('rejects a malformed server id with a ValidationError and calls no AWS API', async () => {
    // Act
    const act = lambdaHandler({ serverId: '../other' });
    // Assess
    await expect(act).rejects.toMatchObject({ name: 'ValidationError' });
    expect(ssmMock).not.toHaveReceivedAnyCommand();
  });

  it('throws ConfigurationError at cold start when STAGE is not set', async () => {
    // Prepare
    vi.resetModules();
    vi.stubEnv('STAGE', '');
    // Act
    const act = import('../../../../functions/steps/delete-key-parameter');
    // Assess
    await expect(act).rejects.toMatchObject({ name: 'ConfigurationError' });
  });
});
