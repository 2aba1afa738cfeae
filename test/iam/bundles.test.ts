/**
 * What ships is what is checked: the SDK commands in each function's packaged bundle are exactly the
 * calls shared/aws-calls.ts lists for that function (and so evaluates in policies.test.ts). A command the
 * list does not name fails here even if no unit test reaches the code that sends it; a listed call the
 * bundle cannot make is a permission the role does not need.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FUNCTION_CALLS } from '../../shared/aws-calls';
import { PACKAGE_DIR, renderPackage } from '../contract/render';
import { handlerSource, loadServerless } from '../contract/support';
import { commandsInBundle, commandsInPackage } from './bundles';

/**
 * The SDK's default credential chain (SSO, web identity, assume-role profiles) is bundled with every
 * client. On Lambda the environment's credentials come first, so these are never sent.
 */
const CREDENTIAL_CHAIN = new Set([
  'STS:AssumeRole',
  'STS:AssumeRoleWithWebIdentity',
  'SSO:GetRoleCredentials',
  'SSOOIDC:CreateToken',
  'Signin:CreateOAuth2Token',
  'Signin:CreateOAuth2TokenWithIAM',
]);

beforeAll(async () => {
  await renderPackage();
}, 400_000);

describe('the commands in the shipped bundles', () => {
  const functions = Object.entries(loadServerless().functions);

  it.each(functions.map(([key, fn]) => [key, fn.handler]))('%s: its bundle sends exactly the calls listed for it', (key, handler) => {
    // Prepare
    const module = handlerSource(handler).file.replace(/\.ts$/, '');
    // Act
    const bundled = commandsInPackage(join(PACKAGE_DIR, `${key}.zip`), module)
      .map(({ client, operation }) => `${client}:${operation}`)
      .filter((command) => !CREDENTIAL_CHAIN.has(command));
    const listed = (FUNCTION_CALLS[key] ?? []).map(({ client, operation }) => `${client}:${operation}`);
    // Assess
    expect([...new Set(bundled)].sort(), `shared/aws-calls.ts FUNCTION_CALLS.${key}`).toEqual([...new Set(listed)].sort());
  });
});

describe('the bundle scan', () => {
  it("finds each client's commands in esbuild's minified output", () => {
    // Prepare: what esbuild makes of @aws-sdk/client-ec2's commandBuilder.js and two commands
    const code = 'var OC=An(PH,"AmazonEC2","EC2Client",fr),FC={};var B$=class extends OC(FC,qC,"DescribeInstances",WRe){};' +
      'var Q=Yn(k,"AmazonSSM","SSMClient",z);var U=class extends Q(a,b,"SendCommand",c){};';
    // Act
    const commands = commandsInBundle(code);
    // Assess
    expect(commands).toEqual([
      { client: 'EC2', operation: 'DescribeInstances' },
      { client: 'SSM', operation: 'SendCommand' },
    ]);
  });

  it('refuses a bundle with a client and no recognisable command, rather than find nothing', () => {
    // Act
    const scan = () => commandsInBundle('var OC=An(PH,"AmazonEC2","EC2Client",fr);class RunInstancesCommand extends OC.classBuilder(){}');
    // Assess
    expect(scan).toThrow(/changed shape/);
  });
});
