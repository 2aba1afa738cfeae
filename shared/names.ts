/**
 * Every name hello-fleet gives a resource is derived from the stage and the server id, so any step
 * (and the rollback, and the reaper) can find a resource again without having been told its id.
 */

/** `hf-` and 12 lowercase base-32 characters: short enough for every AWS name limit, safe in URLs. */
export const SERVER_ID_PATTERN = /^hf-[a-z2-7]{12}$/;

export const isServerId = (value: unknown): value is string =>
  typeof value === 'string' && SERVER_ID_PATTERN.test(value);

/** Key pair and security group name: `hello-fleet-<stage>-<serverId>`. The private key file is `<keyName>.pem`. */
export const resourceName = (stage: string, serverId: string): string => `hello-fleet-${stage}-${serverId}`;

export const keyPairName = resourceName;
export const securityGroupName = resourceName;

/** The SecureString that holds the private key, as CloudFormation's AWS::EC2::KeyPair does under /ec2/keypair/. */
export const keyParameterName = (stage: string, serverId: string): string =>
  `/hello-fleet/${stage}/servers/${serverId}/private-key`;

/**
 * The SecureString holding the LMS webhook's shared secret(s): one per line, so a new secret can be added
 * before the LMS switches to it and the old one removed after (rotation without a 401 window).
 */
export const lmsWebhookSecretParameterName = (stage: string): string => `/hello-fleet/${stage}/lms/webhook-secret`;

/** Canonical's public SSM parameter for the Ubuntu LTS AMI, amd64. */
export const ubuntuAmiParameter = (ubuntuVersion: '22.04' | '24.04'): string =>
  ubuntuVersion === '22.04'
    ? '/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id'
    : '/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id';

/** The port the tutorial's uvicorn listens on. */
export const APP_PORT = 8000;

/** The user Canonical's Ubuntu images log in as. */
export const SSH_USER = 'ubuntu';
