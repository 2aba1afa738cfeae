/**
 * The shapes that travel through the provision state machine. Each Task state passes its handler only
 * what it needs (Parameters) and stores the result under its own key (ResultPath), so the state is:
 *
 *   $.server         ServerSpec          (the execution input, from POST /servers)
 *   $.keyPair        KeyPairResult       CreateKeyPair
 *   $.securityGroup  SecurityGroupResult CreateSecurityGroup
 *   $.instance       InstanceStatus      RunInstance, then WaitUntilRunning (polled)
 *   $.install        CommandStatus       InstallFastAPI, then CheckInstall (polled)
 *   $.uvicorn        CommandStatus       StartUvicorn, then CheckUvicorn (polled)
 *   $.ingress        IngressResult       OpenIngress
 *   $.health         HealthCheckResult   HealthCheck
 *   $.error          {Error, Cause}      set by a Catch
 *
 * No shape here may ever hold key material: the private key goes from EC2 straight to SSM.
 */

export type UbuntuVersion = '22.04' | '24.04';
export type KeyType = 'rsa' | 'ed25519';

/** A validated, fully defaulted provisioning request. */
export interface ServerSpec {
  serverId: string;
  /** The app's name, as in the tutorial ("my_app"): a Name tag, not an identifier. */
  name: string;
  instanceType: string;
  ubuntuVersion: UbuntuVersion;
  keyType: KeyType;
  volumeSizeGiB: number;
  /** Who may reach tcp 8000. */
  appCidr: string;
  /** Who may reach tcp 22; null: port 22 stays closed. */
  sshCidr: string | null;
  ttlHours: number;
  /** ISO-8601 UTC. */
  createdAt: string;
  /** ISO-8601 UTC: createdAt + ttlHours; the `hello-fleet:expires-at` tag. */
  expiresAt: string;
  /** Optional ids (never names or emails) for listing and the LMS. */
  owner?: string;
  course?: string;
  /** The LMS's student id (webhook and class batch): one server per (course, student). */
  student?: string;
}

export interface ProvisionInput {
  server: ServerSpec;
}

export interface KeyPairResult {
  keyName: string;
  keyPairId: string;
  keyType: KeyType;
  /** Where the private key is: an SSM SecureString. */
  parameterName: string;
}

export interface SecurityGroupResult {
  groupId: string;
  groupName: string;
  vpcId: string;
}

export type InstanceState = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';

export interface InstanceStatus {
  instanceId: string;
  state: InstanceState;
  /** True once the instance is `running` and has a public IP. */
  ready: boolean;
  /** How many times WaitUntilRunning has looked (0 after RunInstance). */
  attempt: number;
  imageId?: string;
  publicIp?: string;
  privateIp?: string;
}

export type CommandState =
  | 'Pending'
  | 'InProgress'
  | 'Delayed'
  | 'Success'
  | 'Cancelled'
  | 'TimedOut'
  | 'Failed'
  | 'Cancelling';

export interface CommandStatus {
  commandId: string;
  status: CommandState;
  /** True when the command succeeded (a failed one throws CommandFailedError instead). */
  done: boolean;
  attempt: number;
}

export interface IngressRule {
  port: number;
  cidr: string;
  /** False when the rule was already there (a retried step). */
  created: boolean;
}

export interface IngressResult {
  groupId: string;
  rules: IngressRule[];
}

export interface HealthCheckResult {
  url: string;
  statusCode: number;
  /** The parsed body: always {"Hello":"World"} when the step succeeds. */
  body: unknown;
}

/** What a rollback/teardown step reports. */
export interface CleanupResult {
  /** What was deleted (ids or names); empty when it was already gone. */
  deleted: string[];
  /** True when nothing is left to wait for. */
  done: boolean;
  attempt: number;
}

/** The execution's output (the final Pass state builds it). */
export interface ProvisionOutput {
  serverId: string;
  instanceId: string;
  publicIp: string;
  url: string;
  keyName: string;
  keyParameterName: string;
  sshCommand: string;
  expiresAt: string;
}
