/**
 * Runs a real statemachine/*.asl.json in-process with aws-local-stepfunctions, every Task state
 * bound to the real handler that serverless.yml deploys for it (Resource placeholder → function key →
 * handler file), waits and retry intervals overridden to zero so no test sleeps.
 *
 * Guard: a Task state with no local handler would make the engine call real Lambda; the harness
 * refuses to run such a machine instead.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StateMachine } from 'aws-local-stepfunctions';
import { type Asl, bindTaskHandlers, deployDefinition, functionKeyOf, type LocalHandler, loadAsl, serverlessFunctions } from '../../localcloud/handlers';

// The deployed wiring lives in localcloud/handlers.ts, shared with the local cloud.
export { bindTaskHandlers, functionKeyOf, loadAsl, serverlessFunctions };

type Json = Parameters<StateMachine['run']>[0];
/** The engine's event log entries (its type is not exported). */
export type EventLog = {
  type: string;
  state?: { name: string };
  Error?: string;
  Cause?: unknown;
  /** StateRetried: the retrier that matched, and its attempt number. */
  retry?: { retrier: { ErrorEquals: string[] }; attempt: number };
};

export interface RunResult {
  status: 'SUCCEEDED' | 'FAILED';
  output?: unknown;
  error?: string;
  cause?: string;
  /** The states entered, in order. */
  path: string[];
  events: EventLog[];
}

/**
 * Runs the machine with zero waits and zero retry intervals; every Task must be bound. `waitMs` gives
 * chosen Wait states a real duration (ms), for a test that acts while the machine waits.
 */
export const runStateMachine = async (
  asl: Asl,
  handlers: Record<string, LocalHandler>,
  input: Json,
  executionName = 'test-execution',
  waitMs: Record<string, number> = {},
): Promise<RunResult> => {
  const unbound = Object.entries(asl.States).filter(([name, s]) => s.Type === 'Task' && !handlers[name]);
  if (unbound.length > 0) throw new Error(`Task states without a local handler: ${unbound.map(([n]) => n).join(', ')}`);
  const zero = (type?: string) =>
    Object.fromEntries(Object.entries(asl.States).filter(([, s]) => (type ? s.Type === type : s.Retry)).map(([n]) => [n, 0]));
  const deployed = deployDefinition(asl, { stage: 'test' });
  const machine = new StateMachine(deployed as never);
  const execution = machine.run(input, {
    overrides: { taskResourceLocalHandlers: handlers, waitTimeOverrides: { ...zero('Wait'), ...waitMs }, retryIntervalOverrides: zero() },
    context: { Execution: { Id: `arn:aws:states:ap-northeast-2:123456789012:execution:test:${executionName}`, Name: executionName } } as never,
  });
  const events: EventLog[] = [];
  const collecting = (async () => {
    for await (const event of execution.eventLogs) events.push(event as EventLog);
  })();
  let result: RunResult;
  try {
    const output = await execution.result;
    await collecting;
    result = { status: 'SUCCEEDED', output, path: [], events };
  } catch (error) {
    await collecting.catch(() => undefined);
    const failed = events.find((e) => e.type === 'ExecutionFailed');
    result = {
      status: 'FAILED',
      error: failed?.Error ?? (error as Error).name,
      cause: String(failed?.Cause ?? (error as Error).message),
      path: [],
      events,
    };
  }
  result.path = events.filter((e) => e.type === 'StateEntered').map((e) => e.state?.name ?? '');
  return result;
};

export type AppAnswer = { status: number; body: string } | 'refuse';

/**
 * A loopback HTTP proxy that stands in for the instances' public IPs: the health check is pointed
 * at it with HEALTH_CHECK_PROXY_URL, and `answer` decides what "the app" at an address says. Nothing
 * ever leaves the machine.
 */
export class AppProxy {
  answer: (target: string) => AppAnswer = () => ({ status: 200, body: '{"Hello":"World"}' });
  readonly requests: string[] = [];
  private server?: Server;

  async start(): Promise<string> {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const target = req.url ?? '';
      this.requests.push(target);
      const answer = this.answer(target);
      // What a forward proxy answers when the upstream port refuses the connection.
      if (answer === 'refuse') {
        res.writeHead(502).end();
        return;
      }
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }
}
