import { GetExecutionHistoryCommand, type HistoryEvent, type SFNClient } from '@aws-sdk/client-sfn';
import { ServerNotFoundError } from './errors';
import { describeExecutionNamed, executionArnFor } from './executions';
import { executionView, type ExecutionView } from './execution-view';

/** GetExecutionHistory's largest page. */
export const FULL_HISTORY_PAGE_SIZE = 1000;
/** 25 pages of 1000: Step Functions' 25,000-event cap on a standard execution's history. */
export const MAX_HISTORY_PAGES = 25;

/**
 * An execution's whole history, oldest first, without execution data (state inputs and outputs stay out:
 * they carry server details). Bounded: at most MAX_HISTORY_PAGES pages.
 *
 * @throws any SFN error unchanged (ThrottlingException: the API answers 503).
 */
export const readFullHistory = async (sfn: SFNClient, executionArn: string): Promise<HistoryEvent[]> => {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < MAX_HISTORY_PAGES; page++) {
    const reply = await sfn.send(
      new GetExecutionHistoryCommand({
        executionArn,
        maxResults: FULL_HISTORY_PAGE_SIZE,
        includeExecutionData: false,
        nextToken,
      }),
    );
    events.push(...(reply.events ?? []));
    nextToken = reply.nextToken;
    if (nextToken === undefined) break;
  }
  return events;
};

/**
 * The server's current execution: its teardown when one exists, else its provisioning; described and its
 * whole history read.
 *
 * @throws ServerNotFoundError when neither machine has an execution named `serverId`.
 * @throws any other SFN error unchanged.
 */
export const readExecutionView = async (
  sfn: SFNClient,
  machines: { provision: string; teardown: string },
  serverId: string,
): Promise<ExecutionView> => {
  const [teardown, provision] = await Promise.all([
    describeExecutionNamed(sfn, machines.teardown, serverId),
    describeExecutionNamed(sfn, machines.provision, serverId),
  ]);
  const [machine, execution, machineArn] =
    teardown !== undefined
      ? (['teardown', teardown, machines.teardown] as const)
      : (['provision', provision, machines.provision] as const);
  if (execution === undefined) throw new ServerNotFoundError(`no server ${serverId}`);
  const executionArn = execution.executionArn ?? executionArnFor(machineArn, serverId);
  const events = await readFullHistory(sfn, executionArn);
  return executionView(serverId, machine, { ...execution, executionArn }, events);
};
