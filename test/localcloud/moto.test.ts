import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CreateSecurityGroupCommand, DescribeImagesCommand, DescribeInstancesCommand, DescribeSecurityGroupsCommand, DescribeTagsCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { instanceRolePolicies, type Moto, startMoto } from '../../localcloud/moto';
import { ensurePythonEnv } from '../../localcloud/python';
import { clientConfig, isAlive, SETUP_TIMEOUT_MS } from './support';

describe('localcloud/moto', () => {
  let python: string;
  let moto: Moto;

  beforeAll(async () => {
    ({ python } = await ensurePythonEnv());
    moto = await startMoto({ python });
  }, SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await moto?.stop();
  });

  it('answers on a loopback URL once started', async () => {
    // Act
    const response = await fetch(`${moto.url}/moto-api/`);
    // Assess
    expect(moto.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(response.status).toBe(200);
  });

  it('creates the instance profile the handlers launch with, and finds an x86_64 Ubuntu AMI', async () => {
    // Act
    const setup = await moto.setup({ instanceProfileName: 'hello-fleet-local-instance' });
    const again = await moto.setup({ instanceProfileName: 'hello-fleet-local-instance' });
    const ec2 = new EC2Client(clientConfig(moto.url));
    const { Images } = await ec2.send(new DescribeImagesCommand({ ImageIds: [setup.amiId] }));
    const { Instances } = await ec2.send(
      new RunInstancesCommand({
        ImageId: setup.amiId,
        MinCount: 1,
        MaxCount: 1,
        IamInstanceProfile: { Name: 'hello-fleet-local-instance' },
      }),
    );
    // Assess
    expect(again).toEqual(setup);
    expect(setup).toMatchObject({
      instanceProfileName: 'hello-fleet-local-instance',
      instanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/hello-fleet-local-instance',
      policies: ['ssm-agent'],
    });
    expect(Images?.[0]).toMatchObject({ Architecture: 'x86_64', OwnerId: '099720109477' });
    expect(Images?.[0]?.Name).toMatch(/ubuntu/);
    expect(Instances?.[0]?.IamInstanceProfile?.Arn).toBe(setup.instanceProfileArn);
    ec2.destroy();
  });

  it("gives the instance role serverless.yml's InstanceRole policy, and no managed policy", async () => {
    // Prepare
    await moto.setup({ instanceProfileName: 'profile-with-policy' });
    const iam = (action: string, extra = '') =>
      fetch(moto.url, {
        method: 'POST',
        headers: {
          authorization: 'AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0',
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: `Action=${action}&Version=2010-05-08&RoleName=profile-with-policy${extra}`,
      }).then((response) => response.text());
    // Act
    const attached = await iam('ListAttachedRolePolicies');
    const inline = await iam('GetRolePolicy', '&PolicyName=ssm-agent');
    const document = JSON.parse(decodeURIComponent(/<PolicyDocument>([^<]+)<\/PolicyDocument>/.exec(inline)?.[1] ?? '%7B%7D')) as unknown;
    // Assess
    expect(attached).not.toContain('<PolicyArn>');
    expect(document).toEqual(instanceRolePolicies()[0]?.PolicyDocument);
    expect(JSON.stringify(document)).toContain('"Effect":"Deny"');
  });

  it('evaluates no IAM policy, unlike AWS: any credentials read a SecureString (test/iam/ proves the instance role cannot)', async () => {
    // Prepare
    const anyone = { ...clientConfig(moto.url), credentials: { accessKeyId: 'AKIAINSTANCEROLE0000', secretAccessKey: 'not-checked' } };
    const ssm = new SSMClient(anyone);
    await ssm.send(new PutParameterCommand({ Name: '/hello-fleet/local/servers/hf-abcdefgh2345/private-key', Value: 'PEM', Type: 'SecureString' }));
    // Act
    const { Parameter } = await ssm.send(new GetParameterCommand({ Name: '/hello-fleet/local/servers/hf-abcdefgh2345/private-key', WithDecryption: true }));
    // Assess
    expect(Parameter?.Value).toBe('PEM');
    ssm.destroy();
  });

  it("reads a resource's tags from its own entry: the tags DescribeTags lists, and tag filters select exactly", async () => {
    // Prepare: two tagged instances and a tagged group (the prelude's fast lookup serves all three).
    const { amiId } = await moto.setup({ instanceProfileName: 'tags-fast-path' });
    const ec2 = new EC2Client(clientConfig(moto.url));
    const tagged = (server: string) => [{ Key: 'hello-fleet:server-id', Value: server }, { Key: 'Name', Value: `app ${server}` }];
    const launch = (server: string) =>
      ec2.send(new RunInstancesCommand({ ImageId: amiId, MinCount: 1, MaxCount: 1, TagSpecifications: [{ ResourceType: 'instance', Tags: tagged(server) }] }));
    const [a] = (await launch('hf-fastpathaaaa')).Instances ?? [];
    await launch('hf-fastpathbbbb');
    const { GroupId } = await ec2.send(
      new CreateSecurityGroupCommand({ GroupName: 'tags-fast-path', Description: 'd', TagSpecifications: [{ ResourceType: 'security-group', Tags: tagged('hf-fastpathaaaa') }] }),
    );
    const filter = [{ Name: 'tag:hello-fleet:server-id', Values: ['hf-fastpathaaaa'] }];
    // Act
    const { Reservations = [] } = await ec2.send(new DescribeInstancesCommand({ Filters: filter }));
    const { SecurityGroups = [] } = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: filter }));
    const { Tags = [] } = await ec2.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [a!.InstanceId!] }] }));
    // Assess
    const found = Reservations.flatMap((r) => r.Instances ?? []);
    expect(found.map((i) => i.InstanceId)).toEqual([a!.InstanceId]);
    const sorted = (tags: { Key?: string; Value?: string }[]) => tags.map((t) => `${t.Key}=${t.Value}`).sort();
    expect(sorted(found[0]!.Tags ?? [])).toEqual(sorted(Tags));
    expect(sorted(found[0]!.Tags ?? [])).toEqual(['Name=app hf-fastpathaaaa', 'hello-fleet:server-id=hf-fastpathaaaa']);
    expect(SecurityGroups.map((g) => g.GroupId)).toEqual([GroupId]);
    expect(moto.stderrTail()).not.toContain('left unpatched');
    ec2.destroy();
  });

  it('forgets everything on reset, and setup works again afterwards', async () => {
    // Prepare
    const ec2 = new EC2Client(clientConfig(moto.url));
    await moto.setup({ instanceProfileName: 'before-reset' });
    // Act
    await moto.reset();
    const error = await ec2
      .send(new RunInstancesCommand({ ImageId: 'ami-785db401', MinCount: 1, MaxCount: 1, IamInstanceProfile: { Name: 'before-reset' } }))
      .catch((e: Error) => e);
    const setup = await moto.setup({ instanceProfileName: 'before-reset' });
    // Assess
    expect(error).toMatchObject({ name: 'NoSuchEntity' });
    expect(setup.instanceProfileName).toBe('before-reset');
    ec2.destroy();
  });

  it('stops the process and waits for it to exit', async () => {
    // Prepare
    const second = await startMoto({ python });
    // Act
    await second.stop();
    await second.stop();
    // Assess
    expect(second.pid).toBeGreaterThan(0);
    expect(isAlive(second.pid)).toBe(false);
    expect(await fetch(`${second.url}/moto-api/`).then(() => 'answered', () => 'refused')).toBe('refused');
  });

  it('goes away with the Node process that started it, even one killed with SIGKILL', async () => {
    // Prepare: a child Node process starts moto and prints its pid
    const fixture = fileURLToPath(new URL('./fixtures/moto-orphan.ts', import.meta.url));
    const parent = spawn(process.execPath, ['--import', 'tsx', fixture, python], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: parent.stdout }).once('line', resolve);
      parent.once('exit', (code) => reject(new Error(`fixture exited with ${code}`)));
    });
    const { pid } = JSON.parse(line) as { pid: number };
    const exited = new Promise((resolve) => parent.once('exit', resolve));
    // Act
    parent.kill('SIGKILL');
    await exited;
    for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    // Assess
    expect(pid).toBeGreaterThan(0);
    expect(isAlive(pid)).toBe(false);
  });

  it('fails with moto’s own output when it cannot start on the requested port', async () => {
    // Prepare: the port is taken
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    // Act
    const error = await startMoto({ python, port }).catch((e: Error) => e);
    // Assess
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/died on startup[\s\S]*(already in use|Address)/i);
    blocker.close();
  });

  it('fails clearly when the python does not exist', async () => {
    // Act
    const error = await startMoto({ python: '/nonexistent/bin/python' }).catch((e: Error) => e);
    // Assess
    expect((error as Error).message).toMatch(/died on startup \(spawn \/nonexistent\/bin\/python ENOENT\)/);
  });
});
