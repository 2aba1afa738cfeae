import {
  CreateKeyPairCommand,
  DeleteKeyPairCommand,
  DeleteSecurityGroupCommand,
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  DescribeVolumesCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { DescribeParametersCommand, ListTagsForResourceCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from '../../localcloud/gateway';
import type { Moto, MotoSetup } from '../../localcloud/moto';
import {
  deleteServerKeyPair,
  deleteServerKeyParameter,
  deleteServerSecurityGroups,
  terminateServerInstances,
} from '../../shared/cleanup';
import { ingressRules } from '../../shared/ingress';
import { openIngress } from '../../shared/ingress';
import { launchInstance, pollInstance, resolveAmiId } from '../../shared/instance';
import { ensureKeyPair, parameterExists } from '../../shared/key-pair';
import { keyPairName, keyParameterName, securityGroupName } from '../../shared/names';
import { ensureSecurityGroup } from '../../shared/security-group';
import { serverFilters, serverTags, TAG } from '../../shared/tags';
import type { ServerSpec } from '../../shared/types';
import { clientConfig, SETUP_TIMEOUT_MS, startTestMoto } from './support';

/**
 * Issue 2's domain functions (the handlers' whole AWS behaviour) run against moto through the
 * gateway, with the real AWS SDK v3 clients: create one server's resources, check what moto returns
 * for each call the handlers depend on, then clean up with the rollback's own functions and check
 * nothing tagged for the server is left. localcloud/moto.ts's header sums up the findings.
 */

const STAGE = 'local';
const INSTANCE_PROFILE = 'hello-fleet-local-instance';

const spec = (serverId: string): ServerSpec => ({
  serverId,
  name: 'fastapi-tutorial',
  instanceType: 't2.micro',
  ubuntuVersion: '22.04',
  keyType: 'ed25519',
  volumeSizeGiB: 8,
  appCidr: '0.0.0.0/0',
  sshCidr: '203.0.113.0/24',
  ttlHours: 4,
  createdAt: '2025-01-01T00:00:00.000Z',
  expiresAt: '2025-01-01T04:00:00.000Z',
});

const LIVE_STATES = ['pending', 'running', 'shutting-down', 'stopping', 'stopped'];

describe('moto through the gateway, with the handlers’ domain functions', () => {
  let moto: Moto;
  let gateway: Gateway;
  let setup: MotoSetup;
  let ec2: EC2Client;
  let ssm: SSMClient;

  beforeAll(async () => {
    moto = await startTestMoto();
    setup = await moto.setup({ instanceProfileName: INSTANCE_PROFILE });
    // The compat interceptor is part of the local cloud's gateway: without it moto never deletes a key pair by id.
    gateway = await startGateway({ motoUrl: moto.url, interceptors: [moto.compatInterceptor()] });
    ec2 = new EC2Client(clientConfig(gateway.url));
    ssm = new SSMClient(clientConfig(gateway.url));
  }, SETUP_TIMEOUT_MS);

  afterAll(async () => {
    ec2?.destroy();
    ssm?.destroy();
    await gateway?.close();
    await moto?.stop();
  });

  /** Everything tagged for the server, by the tags the rollback uses. */
  const leftovers = async (serverId: string) => {
    const filters = serverFilters(STAGE, serverId);
    const { Reservations = [] } = await ec2.send(
      new DescribeInstancesCommand({ Filters: [...filters, { Name: 'instance-state-name', Values: LIVE_STATES }] }),
    );
    const { SecurityGroups = [] } = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: filters }));
    const { KeyPairs = [] } = await ec2.send(new DescribeKeyPairsCommand({ Filters: filters }));
    const { Volumes = [] } = await ec2.send(new DescribeVolumesCommand({ Filters: filters }));
    const parameter = await parameterExists(ssm, keyParameterName(STAGE, serverId));
    return {
      instances: Reservations.flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId),
      securityGroups: SecurityGroups.map((g) => g.GroupId),
      keyPairs: KeyPairs.map((k) => k.KeyPairId),
      volumes: Volumes.map((v) => v.VolumeId),
      parameter,
    };
  };

  it('provisions one server idempotently and rolls it back to nothing tagged for it', async () => {
    // Prepare
    const server = spec('hf-aaaaaaaaaaaa');
    const clients = { ec2, ssm };
    const tags = serverTags(STAGE, server);

    // Act + Assess: CreateKeyPair (ed25519, tagged) and the private key into a tagged SecureString
    const keyPair = await ensureKeyPair(clients, STAGE, server);
    expect(keyPair).toMatchObject({ keyName: keyPairName(STAGE, server.serverId), keyType: 'ed25519' });
    const { KeyPairs } = await ec2.send(new DescribeKeyPairsCommand({ KeyNames: [keyPair.keyName] }));
    expect(KeyPairs?.[0]).toMatchObject({ KeyPairId: keyPair.keyPairId, KeyType: 'ed25519' });
    expect(KeyPairs?.[0]?.Tags).toEqual(expect.arrayContaining(tags));
    const { TagList } = await ssm.send(new ListTagsForResourceCommand({ ResourceType: 'Parameter', ResourceId: keyPair.parameterName }));
    expect(TagList).toEqual(expect.arrayContaining(tags));
    // A retry finds both (DescribeKeyPairs' tags, DescribeParameters Name Equals) and creates nothing.
    expect(await ensureKeyPair(clients, STAGE, server)).toEqual(keyPair);

    // CreateSecurityGroup with tags; a retry gets InvalidGroup.Duplicate and adopts it by group-name + vpc-id
    const group = await ensureSecurityGroup(ec2, STAGE, server);
    expect(group.groupName).toBe(securityGroupName(STAGE, server.serverId));
    expect(await ensureSecurityGroup(ec2, STAGE, server)).toEqual(group);
    const { SecurityGroups } = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [group.groupId] }));
    expect(SecurityGroups?.[0]?.Tags).toEqual(expect.arrayContaining(tags));
    expect(SecurityGroups?.[0]?.IpPermissions).toEqual([]);

    // RunInstances with everything the handler sends; a retry finds it by tag + instance-state-name
    const options = { keyName: keyPair.keyName, securityGroupId: group.groupId, instanceProfileName: INSTANCE_PROFILE, amiId: setup.amiId };
    const launched = await launchInstance(clients, STAGE, server, options);
    expect(launched).toMatchObject({ attempt: 0, ready: false, imageId: setup.amiId });
    expect((await launchInstance(clients, STAGE, server, options)).instanceId).toBe(launched.instanceId);

    // DescribeInstances: running at once, with a public IP, and what RunInstances asked for
    const status = await pollInstance(ec2, { instanceId: launched.instanceId, attempt: 0, maxAttempts: 3 });
    expect(status).toMatchObject({ state: 'running', ready: true, attempt: 1 });
    expect(status.publicIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const { Reservations } = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [launched.instanceId] }));
    const instance = Reservations?.[0]?.Instances?.[0];
    expect(instance).toMatchObject({
      InstanceType: 't2.micro',
      KeyName: keyPair.keyName,
      SecurityGroups: [{ GroupId: group.groupId, GroupName: group.groupName }],
      IamInstanceProfile: { Arn: setup.instanceProfileArn },
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 },
    });
    expect(instance?.Tags).toEqual(expect.arrayContaining(tags));
    const volumeId = instance?.BlockDeviceMappings?.[0]?.Ebs?.VolumeId;
    const { Volumes } = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId ?? 'none'] }));
    expect(Volumes?.[0]).toMatchObject({ Size: 8, VolumeType: 'gp3', Encrypted: true });
    expect(Volumes?.[0]?.Tags).toEqual(expect.arrayContaining(tags));

    // AuthorizeSecurityGroupIngress: both rules, and InvalidPermission.Duplicate on a retry
    const ingress = await openIngress(ec2, STAGE, server, group.groupId);
    expect(ingress.rules).toEqual(ingressRules(server).map((r) => ({ port: r.port, cidr: r.cidr, created: true })));
    const again = await openIngress(ec2, STAGE, server, group.groupId);
    expect(again.rules.map((r) => r.created)).toEqual([false, false]);

    // Rollback, in the ASL's order: terminate (polled until done), security group, key pair, parameter
    const terminated = await terminateServerInstances(ec2, STAGE, server.serverId);
    expect(terminated).toMatchObject({ deleted: [launched.instanceId], skipped: [], done: false });
    expect(await terminateServerInstances(ec2, STAGE, server.serverId)).toEqual({ deleted: [], skipped: [], done: true });
    expect(await deleteServerSecurityGroups(ec2, STAGE, server.serverId)).toEqual({ deleted: [group.groupId], skipped: [] });
    expect(await deleteServerKeyPair(ec2, STAGE, server.serverId)).toEqual({ deleted: [keyPair.keyPairId], skipped: [] });
    expect(await deleteServerKeyParameter(ssm, STAGE, server.serverId)).toEqual({ deleted: [keyPair.parameterName], skipped: [] });

    expect(await leftovers(server.serverId)).toEqual({ instances: [], securityGroups: [], keyPairs: [], volumes: [], parameter: false });
  });

  it('rolls back a server that has nothing yet: every already-gone case is success', async () => {
    // Prepare
    const serverId = 'hf-bbbbbbbbbbbb';
    // Act
    const outcomes = [
      await terminateServerInstances(ec2, STAGE, serverId),
      await deleteServerSecurityGroups(ec2, STAGE, serverId),
      await deleteServerKeyPair(ec2, STAGE, serverId),
      await deleteServerKeyParameter(ssm, STAGE, serverId),
    ];
    // Assess
    expect(outcomes).toEqual([
      { deleted: [], skipped: [], done: true },
      { deleted: [], skipped: [] },
      { deleted: [], skipped: [] },
      { deleted: [], skipped: [] },
    ]);
  });

  it('leaves look-alikes (our names, not our tags) alone, because moto returns their tags', async () => {
    // Prepare: a key pair and a group with our names but another server's tags
    const server = spec('hf-cccccccccccc');
    const other = serverTags(STAGE, spec('hf-dddddddddddd'));
    const { KeyPairId } = await ec2.send(
      new CreateKeyPairCommand({
        KeyName: keyPairName(STAGE, server.serverId),
        KeyType: 'ed25519',
        TagSpecifications: [{ ResourceType: 'key-pair', Tags: other }],
      }),
    );
    const group = await ensureSecurityGroup(ec2, STAGE, spec('hf-dddddddddddd'));
    // Act
    const keyPair = await deleteServerKeyPair(ec2, STAGE, server.serverId);
    const ensured = await ensureKeyPair({ ec2, ssm }, STAGE, server).catch((error: Error) => error);
    // Assess
    expect(keyPair).toEqual({ deleted: [], skipped: [KeyPairId] });
    expect(ensured).toMatchObject({ name: 'ValidationError' });
    const byId = [{ Name: 'key-pair-id', Values: [KeyPairId ?? ''] }];
    expect((await ec2.send(new DescribeKeyPairsCommand({ Filters: byId }))).KeyPairs).toHaveLength(1);
    expect(await deleteServerSecurityGroups(ec2, STAGE, server.serverId)).toEqual({ deleted: [], skipped: [] });
    await ec2.send(new DeleteKeyPairCommand({ KeyPairId }));
    await ec2.send(new DeleteSecurityGroupCommand({ GroupId: group.groupId }));
  });

  it('only deletes a key parameter that carries the server’s tags', async () => {
    // Prepare: the key pair and parameter of one server, then the parameter's tags checked for another
    const server = spec('hf-eeeeeeeeeeee');
    await ensureKeyPair({ ec2, ssm }, STAGE, server);
    const { TagList = [] } = await ssm.send(
      new ListTagsForResourceCommand({ ResourceType: 'Parameter', ResourceId: keyParameterName(STAGE, server.serverId) }),
    );
    // Act
    const deleted = await deleteServerKeyParameter(ssm, STAGE, server.serverId);
    const { Parameters } = await ssm.send(
      new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Name', Option: 'Equals', Values: [keyParameterName(STAGE, server.serverId)] }] }),
    );
    // Assess
    expect(TagList.find((t) => t.Key === TAG.serverId)?.Value).toBe(server.serverId);
    expect(deleted.deleted).toEqual([keyParameterName(STAGE, server.serverId)]);
    expect(Parameters).toEqual([]);
    await deleteServerKeyPair(ec2, STAGE, server.serverId);
  });

  describe('where moto differs from AWS (the local cloud makes up for these, or tests with mocks do)', () => {
    it('has no Canonical Ubuntu AMI parameter, so the AMI id comes from configuration', async () => {
      // Act
      const error = await resolveAmiId(ssm, '22.04').catch((e: Error) => e);
      // Assess
      expect(error).toMatchObject({ name: 'ImageNotFoundError' });
      expect(await resolveAmiId(ssm, '22.04', setup.amiId)).toBe(setup.amiId);
      expect(setup.amiName).toMatch(/^ubuntu\/images\/.*amd64/);
    });

    it('ignores KeyPairId in DeleteKeyPair and DescribeKeyPairs unless the compat interceptor translates it', async () => {
      // Prepare: straight to moto, not through the gateway
      const raw = new EC2Client(clientConfig(moto.url));
      const { KeyPairId } = await raw.send(new CreateKeyPairCommand({ KeyName: 'raw-moto-key', KeyType: 'ed25519' }));
      await raw.send(new CreateKeyPairCommand({ KeyName: 'raw-moto-other', KeyType: 'ed25519' }));
      const byId = [{ Name: 'key-pair-id', Values: [KeyPairId ?? ''] }];
      // Act
      const rawDelete = await raw.send(new DeleteKeyPairCommand({ KeyPairId }));
      const afterRawDelete = await raw.send(new DescribeKeyPairsCommand({ Filters: byId }));
      const describedById = await raw.send(new DescribeKeyPairsCommand({ KeyPairIds: [KeyPairId ?? ''] }));
      await ec2.send(new DeleteKeyPairCommand({ KeyPairId }));
      const afterGatewayDelete = await raw.send(new DescribeKeyPairsCommand({ Filters: byId }));
      // Assess
      expect(rawDelete.Return).toBe(true);
      expect(afterRawDelete.KeyPairs).toHaveLength(1);
      expect(describedById.KeyPairs?.map((k) => k.KeyName)).toContain('raw-moto-other');
      expect(afterGatewayDelete.KeyPairs).toEqual([]);
      await raw.send(new DeleteKeyPairCommand({ KeyName: 'raw-moto-other' }));
      raw.destroy();
    });

    it('launches a second instance for the same ClientToken', async () => {
      // Prepare
      const input = { ImageId: setup.amiId, InstanceType: 't2.micro' as const, MinCount: 1, MaxCount: 1, ClientToken: 'hf-ffffffffffff' };
      // Act
      const first = await ec2.send(new RunInstancesCommand(input));
      const second = await ec2.send(new RunInstancesCommand(input));
      // Assess
      const ids = [first.Instances?.[0]?.InstanceId, second.Instances?.[0]?.InstanceId];
      expect(ids[0]).not.toBe(ids[1]);
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids as string[] }));
    });

    it('deletes a security group still in use by a running instance (AWS: DependencyViolation)', async () => {
      // Prepare
      const server = spec('hf-gggggggggggg');
      const group = await ensureSecurityGroup(ec2, STAGE, server);
      const { Instances } = await ec2.send(
        new RunInstancesCommand({ ImageId: setup.amiId, InstanceType: 't2.micro', MinCount: 1, MaxCount: 1, SecurityGroupIds: [group.groupId] }),
      );
      // Act
      const deleted = await deleteServerSecurityGroups(ec2, STAGE, server.serverId);
      // Assess
      expect(deleted.deleted).toEqual([group.groupId]);
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [Instances?.[0]?.InstanceId ?? ''] }));
    });

    it('terminates at once: no shutting-down state for the rollback to wait through', async () => {
      // Prepare
      const { Instances } = await ec2.send(new RunInstancesCommand({ ImageId: setup.amiId, InstanceType: 't2.micro', MinCount: 1, MaxCount: 1 }));
      const instanceId = Instances?.[0]?.InstanceId ?? '';
      // Act
      const { TerminatingInstances } = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
      const { Reservations } = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
      // Assess
      expect(Instances?.[0]?.State?.Name).toBe('pending');
      expect(TerminatingInstances?.[0]?.CurrentState?.Name).toBe('shutting-down');
      expect(Reservations?.[0]?.Instances?.[0]?.State?.Name).toBe('terminated');
    });

    it('accepts RunInstances with an AMI and a key pair it does not know (AWS: InvalidAMIID.NotFound, InvalidKeyPair.NotFound)', async () => {
      // Act
      const { Instances } = await ec2.send(
        new RunInstancesCommand({ ImageId: 'ami-12345678', KeyName: 'no-such-key', InstanceType: 't2.micro', MinCount: 1, MaxCount: 1 }),
      );
      // Assess
      expect(Instances?.[0]?.InstanceId).toMatch(/^i-/);
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [Instances?.[0]?.InstanceId ?? ''] }));
    });

    it('answers an unknown instance profile with NoSuchEntity (AWS: InvalidParameterValue)', async () => {
      // Act
      const error = await ec2
        .send(new RunInstancesCommand({ ImageId: setup.amiId, MinCount: 1, MaxCount: 1, IamInstanceProfile: { Name: 'no-such-profile' } }))
        .catch((e: Error) => e);
      // Assess
      expect(error).toMatchObject({ name: 'NoSuchEntity' });
    });

    it('reports a SendCommand as Success at once, without running anything', async () => {
      // Prepare
      const { Instances } = await ec2.send(new RunInstancesCommand({ ImageId: setup.amiId, InstanceType: 't2.micro', MinCount: 1, MaxCount: 1 }));
      const instanceId = Instances?.[0]?.InstanceId ?? '';
      // Act
      const { Command } = await ssm.send(
        new SendCommandCommand({ InstanceIds: [instanceId], DocumentName: 'AWS-RunShellScript', Parameters: { commands: ['exit 1'] } }),
      );
      // Assess
      expect(Command?.Status).toBe('Success');
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    });
  });
});
