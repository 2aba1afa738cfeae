import { randomUUID } from 'node:crypto';
import { awsErrorReply, jsonReply } from './aws-protocol';
import type { AwsReply, AwsRequest, Interceptor } from './gateway';
import type { InvocationStatus, LocalInstances, ScriptRun } from './instances';

/**
 * SSM Run Command, answered by the local instances instead of moto (which runs nothing and reports
 * Success at once): SendCommand, ListCommands and GetCommandInvocation in the AWS JSON 1.1 shapes
 * that @aws-sdk/client-ssm reads (timestamps as epoch seconds; GetCommandInvocation's dates as ISO
 * strings, as AWS sends them). Only AWS-RunShellScript to InstanceIds is supported: that is all the
 * workflow sends. Every other SSM action goes on to moto.
 */

const ACCOUNT_ID = '123456789012';
const DOCUMENT = 'AWS-RunShellScript';
const PLUGIN = 'aws:runShellScript';
/** AWS-RunShellScript's default executionTimeout, and its bounds. */
const DEFAULT_EXECUTION_TIMEOUT = 3600;
const MAX_EXECUTION_TIMEOUT = 172_800;
const DEFAULT_DELIVERY_TIMEOUT = 3600;
const MAX_LIST_RESULTS = 50;

type CommandStatus = 'Pending' | 'InProgress' | 'Success' | 'Cancelled' | 'Failed' | 'TimedOut';

interface StoredCommand {
  commandId: string;
  comment: string;
  instanceIds: string[];
  parameters: Record<string, string[]>;
  requestedAt: Date;
  timeoutSeconds: number;
  region: string;
  cloudWatch: { CloudWatchLogGroupName?: string; CloudWatchOutputEnabled: boolean };
  runs: ScriptRun[];
}

/** Thrown inside the store, turned into an AWS error reply by the interceptor. */
export class SsmError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

const epochSeconds = (date: Date): number => date.getTime() / 1000;

/** `PT1.234S`, as GetCommandInvocation's ExecutionElapsedTime. */
const elapsed = (start: Date, end: Date): string => `PT${((end.getTime() - start.getTime()) / 1000).toFixed(3)}S`;

/** A command's overall status from its invocations (one per instance). */
const aggregate = (runs: ScriptRun[]): { status: CommandStatus; details: string } => {
  const statuses = runs.map((r) => r.status);
  const all = (s: InvocationStatus) => statuses.every((x) => x === s);
  if (all('Pending')) return { status: 'Pending', details: 'Pending' };
  if (statuses.some((s) => s === 'Pending' || s === 'InProgress')) return { status: 'InProgress', details: 'In Progress' };
  if (all('Success')) return { status: 'Success', details: 'Success' };
  if (all('Cancelled')) return { status: 'Cancelled', details: 'Cancelled' };
  if (runs.length === 1 && statuses[0] === 'TimedOut') return { status: 'TimedOut', details: 'Execution Timed Out' };
  return { status: 'Failed', details: 'Failed' };
};

/** The commands sent to the local instances; one per LocalInstances. */
export class SsmCommandStore {
  private readonly commands: StoredCommand[] = [];

  constructor(private readonly instances: LocalInstances) {}

  /** SendCommand: validates like AWS, then starts the script on each instance. */
  async send(input: any, region: string): Promise<Record<string, unknown>> {
    const documentName = input?.DocumentName;
    if (documentName !== DOCUMENT) {
      throw new SsmError('InvalidDocument', `Document ${String(documentName)} is not supported by the local cloud (only ${DOCUMENT})`);
    }
    const instanceIds: unknown = input.InstanceIds;
    if (input.Targets !== undefined && (input.Targets as unknown[]).length > 0) {
      throw new SsmError('InvalidParameters', 'Targets are not supported by the local cloud: send InstanceIds');
    }
    if (!Array.isArray(instanceIds) || instanceIds.length === 0 || !instanceIds.every((i) => typeof i === 'string')) {
      throw new SsmError('ValidationException', 'InstanceIds must be a non-empty list of instance ids');
    }
    const comment = input.Comment ?? '';
    if (typeof comment !== 'string' || comment.length > 100) {
      throw new SsmError('ValidationException', "Value at 'comment' failed to satisfy constraint: Member must have length less than or equal to 100");
    }
    const parameters = (input.Parameters ?? {}) as Record<string, unknown>;
    const commands = parameters.commands;
    if (!Array.isArray(commands) || commands.length === 0 || !commands.every((c) => typeof c === 'string')) {
      throw new SsmError('InvalidParameters', 'Parameters.commands must be a non-empty list of strings');
    }
    const timeoutText = (parameters.executionTimeout as unknown[] | undefined)?.[0];
    const executionTimeoutSeconds = timeoutText === undefined ? DEFAULT_EXECUTION_TIMEOUT : Number(timeoutText);
    if (!Number.isInteger(executionTimeoutSeconds) || executionTimeoutSeconds < 1 || executionTimeoutSeconds > MAX_EXECUTION_TIMEOUT) {
      throw new SsmError('InvalidParameters', `executionTimeout must be 1-${MAX_EXECUTION_TIMEOUT} seconds, got ${String(timeoutText)}`);
    }
    const unmanaged: string[] = [];
    for (const id of instanceIds as string[]) if (!(await this.instances.isManaged(id))) unmanaged.push(id);
    if (unmanaged.length > 0) {
      throw new SsmError('InvalidInstanceId', `Instances [[${unmanaged.join(', ')}]] not in a valid state for account ${ACCOUNT_ID}`);
    }

    const commandId = randomUUID();
    const script = (commands as string[]).join('\n');
    const stored: StoredCommand = {
      commandId,
      comment,
      instanceIds: [...(instanceIds as string[])],
      parameters: Object.fromEntries(Object.entries(parameters).map(([k, v]) => [k, (v as unknown[]).map(String)])),
      requestedAt: new Date(),
      timeoutSeconds: Number(input.TimeoutSeconds ?? DEFAULT_DELIVERY_TIMEOUT),
      region,
      cloudWatch: input.CloudWatchOutputConfig ?? { CloudWatchOutputEnabled: false },
      runs: [],
    };
    stored.runs = stored.instanceIds.map((id) =>
      this.instances.startScript(id, { commandId, script, comment, executionTimeoutSeconds }),
    );
    this.commands.push(stored);
    return { Command: this.toCommand(stored) };
  }

  /** ListCommands: newest first, filtered by CommandId, InstanceId and the Filters AWS knows. */
  list(input: any): Record<string, unknown> {
    const maxResults = Number(input?.MaxResults ?? MAX_LIST_RESULTS);
    if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > MAX_LIST_RESULTS) {
      throw new SsmError('ValidationException', `MaxResults must be 1-${MAX_LIST_RESULTS}`);
    }
    let selected = [...this.commands].reverse();
    if (input?.CommandId !== undefined) {
      selected = selected.filter((c) => c.commandId === input.CommandId);
      if (selected.length === 0) throw new SsmError('InvalidCommandId', `Command ${String(input.CommandId)} does not exist`);
    }
    if (input?.InstanceId !== undefined) selected = selected.filter((c) => c.instanceIds.includes(input.InstanceId));
    for (const filter of (input?.Filters ?? []) as { key: string; value: string }[]) {
      selected = selected.filter((c) => this.matches(c, filter));
    }
    const start = input?.NextToken === undefined ? 0 : decodeToken(input.NextToken);
    const page = selected.slice(start, start + maxResults);
    const next = start + maxResults < selected.length ? encodeToken(start + maxResults) : undefined;
    return { Commands: page.map((c) => this.toCommand(c)), ...(next !== undefined && { NextToken: next }) };
  }

  /** GetCommandInvocation: one command on one instance; InvocationDoesNotExist for any other pair. */
  get(input: any): Record<string, unknown> {
    const command = this.commands.find((c) => c.commandId === input?.CommandId);
    const run = command?.runs.find((r) => r.instanceId === input?.InstanceId);
    if (command === undefined || run === undefined || (input.PluginName !== undefined && input.PluginName !== PLUGIN)) {
      throw new SsmError('InvocationDoesNotExist', 'The command ID and instance ID you specified did not match any invocations.');
    }
    const now = new Date();
    return {
      CommandId: command.commandId,
      InstanceId: run.instanceId,
      Comment: command.comment,
      DocumentName: DOCUMENT,
      DocumentVersion: '$DEFAULT',
      PluginName: PLUGIN,
      ResponseCode: run.responseCode,
      ExecutionStartDateTime: run.startedAt?.toISOString() ?? '',
      ExecutionElapsedTime: run.startedAt === undefined ? '' : elapsed(run.startedAt, run.endedAt ?? now),
      ExecutionEndDateTime: run.endedAt?.toISOString() ?? '',
      Status: run.status,
      StatusDetails: run.statusDetails,
      StandardOutputContent: run.stdout,
      StandardOutputUrl: '',
      StandardErrorContent: run.stderr,
      StandardErrorUrl: '',
      CloudWatchOutputConfig: command.cloudWatch,
    };
  }

  private matches(command: StoredCommand, filter: { key: string; value: string }): boolean {
    switch (filter.key) {
      case 'DocumentName':
        return filter.value === DOCUMENT;
      case 'Status':
        return aggregate(command.runs).status === filter.value;
      case 'InvokedAfter':
        return command.requestedAt.getTime() >= Date.parse(filter.value);
      case 'InvokedBefore':
        return command.requestedAt.getTime() <= Date.parse(filter.value);
      case 'ExecutionStage': {
        const status = aggregate(command.runs).status;
        const executing = status === 'Pending' || status === 'InProgress';
        return filter.value === 'Executing' ? executing : !executing;
      }
      default:
        throw new SsmError('InvalidFilterKey', `The filter key ${filter.key} is not valid`);
    }
  }

  private toCommand(command: StoredCommand): Record<string, unknown> {
    const { status, details } = aggregate(command.runs);
    const done = command.runs.filter((r) => r.status !== 'Pending' && r.status !== 'InProgress');
    return {
      CommandId: command.commandId,
      DocumentName: DOCUMENT,
      DocumentVersion: '$DEFAULT',
      Comment: command.comment,
      ExpiresAfter: epochSeconds(command.requestedAt) + command.timeoutSeconds,
      Parameters: command.parameters,
      InstanceIds: command.instanceIds,
      Targets: [],
      RequestedDateTime: epochSeconds(command.requestedAt),
      Status: status,
      StatusDetails: details,
      OutputS3Region: command.region,
      OutputS3BucketName: '',
      OutputS3KeyPrefix: '',
      MaxConcurrency: '50',
      MaxErrors: '0',
      TargetCount: command.runs.length,
      CompletedCount: done.length,
      ErrorCount: done.filter((r) => r.status !== 'Success').length,
      DeliveryTimedOutCount: 0,
      ServiceRole: '',
      NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
      CloudWatchOutputConfig: command.cloudWatch,
      TimeoutSeconds: command.timeoutSeconds,
      TriggeredAlarms: [],
    };
  }
}

const encodeToken = (offset: number): string => Buffer.from(JSON.stringify({ offset })).toString('base64');

const decodeToken = (token: unknown): number => {
  try {
    const offset = (JSON.parse(Buffer.from(String(token), 'base64').toString('utf8')) as { offset?: unknown }).offset;
    if (typeof offset === 'number' && Number.isInteger(offset) && offset >= 0) return offset;
  } catch {
    // Falls through to the error below.
  }
  throw new SsmError('InvalidNextToken', 'The specified token is not valid');
};

const HANDLED = new Set(['SendCommand', 'ListCommands', 'GetCommandInvocation']);

/** The gateway interceptor: answers the three Run Command actions from the store, lets the rest through. */
export const ssmInterceptor =
  (store: SsmCommandStore): Interceptor =>
  async (req: AwsRequest): Promise<AwsReply | undefined> => {
    if (req.service !== 'ssm' || !HANDLED.has(req.action)) return undefined;
    try {
      switch (req.action) {
        case 'SendCommand':
          return jsonReply(await store.send(req.json, req.region));
        case 'ListCommands':
          return jsonReply(store.list(req.json));
        default:
          return jsonReply(store.get(req.json));
      }
    } catch (error) {
      if (error instanceof SsmError) return awsErrorReply(req, error.code, error.message);
      throw error;
    }
  };
