/**
 * Test support for the data-plane tests (instances, SSM commands, internet proxy): a real moto server,
 * the real gateway with the instances' SSM interceptor and EC2 observer, AWS SDK clients through the
 * gateway (as the handlers use them) and one straight to moto. Everything on 127.0.0.1.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { startGateway, type Gateway } from '../../localcloud/gateway';
import { LocalInstances, type LocalInstancesOptions } from '../../localcloud/instances';
import type { Moto } from '../../localcloud/moto';
import { startTestMoto } from './support';

export const REGION = 'ap-northeast-2';
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

export const ec2At = (endpoint: string) => new EC2Client({ endpoint, region: REGION, credentials, maxAttempts: 1 });
export const ssmAt = (endpoint: string) => new SSMClient({ endpoint, region: REGION, credentials, maxAttempts: 1 });

export interface DataPlane {
  moto: Moto;
  /** Straight to moto: what the data plane itself uses. */
  motoEc2: EC2Client;
  gateway: Gateway;
  /** Through the gateway, as the handlers call AWS. */
  ec2: EC2Client;
  ssm: SSMClient;
  instances: LocalInstances;
  root: string;
  amiId: string;
  /** RunInstances through the gateway (so the observer registers it); returns the instance as moto describes it. */
  launch(securityGroupIds?: string[]): Promise<Instance>;
  /** A security group in the default VPC; with `port`, an ingress rule tcp <port> from `cidr`. */
  securityGroup(name: string, rule?: { port: number; cidr: string }): Promise<string>;
  openPort(groupId: string, port: number, cidr: string): Promise<void>;
  terminate(instanceId: string): Promise<void>;
  describe(instanceId: string): Promise<Instance | undefined>;
  stop(): Promise<void>;
}

export const startDataPlane = async (options: Partial<LocalInstancesOptions> = {}): Promise<DataPlane> => {
  const moto = await startTestMoto();
  const motoEc2 = ec2At(moto.url);
  const { amiId } = await moto.setup({ instanceProfileName: 'hello-fleet-test-instance' });
  const root = mkdtempSync(join(tmpdir(), 'hello-fleet-dataplane-'));
  const instances = new LocalInstances({ root, moto: { ec2: motoEc2 }, timeScale: 0.1, ...options });
  const gateway = await startGateway({
    motoUrl: moto.url,
    interceptors: [instances.ssmInterceptor()],
    observers: [instances.ec2Observer()],
  });
  const ec2 = ec2At(gateway.url);
  const ssm = ssmAt(gateway.url);

  const describe = async (instanceId: string) => {
    const { Reservations } = await motoEc2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    return Reservations?.[0]?.Instances?.[0];
  };
  const openPort = async (groupId: string, port: number, cidr: string) => {
    await motoEc2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: groupId,
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: port, ToPort: port, IpRanges: [{ CidrIp: cidr }] }],
      }),
    );
  };

  return {
    moto,
    motoEc2,
    gateway,
    ec2,
    ssm,
    instances,
    root,
    amiId,
    launch: async (securityGroupIds) => {
      const { Instances } = await ec2.send(
        new RunInstancesCommand({
          ImageId: amiId,
          InstanceType: 't2.micro',
          MinCount: 1,
          MaxCount: 1,
          ...(securityGroupIds !== undefined && { SecurityGroupIds: securityGroupIds }),
        }),
      );
      const id = Instances?.[0]?.InstanceId;
      if (id === undefined) throw new Error('RunInstances returned no instance');
      return (await describe(id)) ?? Instances![0]!;
    },
    securityGroup: async (name, rule) => {
      const { GroupId } = await motoEc2.send(new CreateSecurityGroupCommand({ GroupName: name, Description: name }));
      if (GroupId === undefined) throw new Error('CreateSecurityGroup returned no id');
      if (rule !== undefined) await openPort(GroupId, rule.port, rule.cidr);
      return GroupId;
    },
    openPort,
    terminate: async (instanceId) => {
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    },
    describe,
    stop: async () => {
      await instances.stop();
      await gateway.close();
      ec2.destroy();
      ssm.destroy();
      motoEc2.destroy();
      await moto.stop();
    },
  };
};

/** Whether a pid is alive and not a zombie. */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '');
  } catch {
    return true;
  }
};

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
