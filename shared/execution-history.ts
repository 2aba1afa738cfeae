import { GetExecutionHistoryCommand, type HistoryEvent, type SFNClient } from '@aws-sdk/client-sfn';
import { decodeCursor, encodeCursor, type ExecutionCursor } from './execution-cursor';
import { advanceProgress, emptyProgress, type ExecutionView, type Machine, viewOf } from './execution-view';
import { ServerNotFoundError } from './errors';
import { describeExecutionNamed, executionArnFor } from './executions';

/** GetExecutionHistory's largest page. */
export const FULL_HISTORY_PAGE_SIZE = 1000;
/** 25 pages of 1000: Step Functions' 25,000-event cap on a standard execution's history. */
export const MAX_HISTORY_PAGES = 25;
/** Newest-first page size when only the events since a cursor are read: a poll's worth, usually one page. */
export const NEW_EVENTS_PAGE_SIZE = 100;

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
 * The events of an execution newer than `afterId`, read newest first (reverseOrder) in pages of
 * NEW_EVENTS_PAGE_SIZE until a page reaches `afterId`: a history that only grows is never read twice.
 * Without execution data; bounded by MAX_HISTORY_PAGES.
 *
 * @throws any SFN error unchanged.
 */
export const readEventsAfter = async (sfn: SFNClient, executionArn: string, afterId: number): Promise<HistoryEvent[]> => {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < MAX_HISTORY_PAGES; page++) {
    const reply = await sfn.send(
      new GetExecutionHistoryCommand({
        executionArn,
        reverseOrder: true,
        maxResults: NEW_EVENTS_PAGE_SIZE,
        includeExecutionData: false,
        nextToken,
      }),
    );
    const found = reply.events ?? [];
    events.push(...found.filter((event) => (event.id ?? 0) > afterId));
    nextToken = reply.nextToken;
    if (nextToken === undefined || found.some((event) => (event.id ?? 0) <= afterId)) break;
  }
  return events.reverse();
};

/**
 * The server's current execution: its teardown when one exists, else its provisioning, described, with
 * its history read: all of it, or with `cursor` (a previous answer's) only the events since. The answer
 * carries the cursor for the next poll.
 *
 * A cursor of the provisioning once a teardown exists is set aside (the teardown is read from its start);
 * a teardown's cursor spares the DescribeExecution of the provisioning (a teardown never goes away).
 *
 * @throws ValidationError (field `cursor`) for a cursor this API did not issue for this server.
 * @throws ServerNotFoundError when neither machine has an execution named `serverId`.
 * @throws any other SFN error unchanged.
 */
export const readExecutionView = async (
  sfn: SFNClient,
  machines: { provision: string; teardown: string },
  serverId: string,
  cursor?: string,
): Promise<ExecutionView> => {
  const previous: ExecutionCursor | undefined = cursor === undefined ? undefined : decodeCursor(cursor, serverId);
  const describeProvision = () => describeExecutionNamed(sfn, machines.provision, serverId);
  let [teardown, provision] = await Promise.all([
    describeExecutionNamed(sfn, machines.teardown, serverId),
    previous?.machine === 'teardown' ? undefined : describeProvision(),
  ]);
  if (teardown === undefined && provision === undefined && previous?.machine === 'teardown') provision = await describeProvision();
  const [machine, execution, machineArn]: readonly [Machine, typeof teardown, string] =
    teardown !== undefined ? ['teardown', teardown, machines.teardown] : ['provision', provision, machines.provision];
  if (execution === undefined) throw new ServerNotFoundError(`no server ${serverId}`);
  const executionArn = execution.executionArn ?? executionArnFor(machineArn, serverId);
  const start = previous?.machine === machine ? previous.progress : undefined;
  const progress =
    start === undefined
      ? advanceProgress(emptyProgress(), machine, await readFullHistory(sfn, executionArn))
      : advanceProgress(start, machine, await readEventsAfter(sfn, executionArn, start.lastEventId));
  const view = viewOf(serverId, machine, { ...execution, executionArn }, progress);
  const next = encodeCursor({ serverId, machine, progress });
  return next === undefined ? view : { ...view, cursor: next };
};
