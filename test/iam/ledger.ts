/**
 * The unit tests' ledger of AWS calls: every SDK command sent to a client mocked with aws-sdk-client-mock,
 * in any test file, is recorded (test/setup.ts wraps `mockClient`). When the file tests handlers (it
 * imports `functions/...`), each recorded command must be one that shared/aws-calls.ts lists for one of
 * those functions; otherwise the file fails, naming the command. So a handler cannot start sending a new
 * command without its IAM requests being listed, and so evaluated by the IAM tier.
 *
 * A stub's history is read before aws-sdk-client-mock clears it (`reset`, `resetHistory`, `restore`) and
 * once more when the file ends, so nothing a test sent is missed.
 */
import { existsSync, readFileSync } from 'node:fs';

/** What the ledger needs of aws-sdk-client-mock's AwsStub. */
interface TrackedStub {
  clientName(): string;
  send: unknown;
  reset(): unknown;
  resetHistory(): unknown;
  restore(): void;
}
type SinonLike = { getCalls(): { args: unknown[] }[] };

const recorded = new Set<string>();
const sendStubs = new Set<SinonLike>();

/** `EC2Client` → `EC2`; `RunInstancesCommand` → `RunInstances`. */
export const commandKey = (clientName: string, command: unknown): string =>
  `${clientName.replace(/Client$/, '')}:${(command as object | undefined)?.constructor?.name?.replace(/Command$/, '') ?? 'unknown'}`;

const harvest = (clientName: string, send: SinonLike) => {
  for (const call of send.getCalls()) recorded.add(commandKey(clientName, call.args[0]));
};

/** Records every command the stub receives, from now on. Returns the stub itself. */
export const trackStub = <S extends TrackedStub>(stub: S): S => {
  const clientName = stub.clientName();
  const remember = () => {
    const send = stub.send as unknown as SinonLike;
    sendStubs.add(send);
    (send as SinonLike & { clientName?: string }).clientName = clientName;
  };
  remember();
  const wrap = <K extends 'reset' | 'resetHistory' | 'restore'>(name: K) => {
    const original = stub[name].bind(stub) as (...args: unknown[]) => unknown;
    Object.assign(stub, {
      [name]: (...args: unknown[]) => {
        harvest(clientName, stub.send as unknown as SinonLike);
        const result = original(...args);
        if (name === 'reset') remember();
        return result;
      },
    });
  };
  wrap('reset');
  wrap('resetHistory');
  wrap('restore');
  return stub;
};

/** Every command recorded so far in this test file: `EC2:RunInstances`. */
export const recordedCommands = (): string[] => {
  for (const send of sendStubs) harvest((send as SinonLike & { clientName?: string }).clientName ?? 'Unknown', send);
  return [...recorded].sort();
};

/** The handler modules a test file imports, statically or with `await import(...)`: `functions/steps/run-instance`. */
export const handlerModulesImportedBy = (source: string): string[] => [
  ...new Set(
    [...source.matchAll(/(?:from\s*|import\s*\(\s*)['"](?:\.\.?\/)+functions\/(\w+)\/([\w-]+)(?:\.ts)?['"]/g)].map(
      (match) => `functions/${match[1]}/${match[2]}`,
    ),
  ),
];

/**
 * The recorded commands that none of `functionKeys` lists, each with the functions that were checked.
 * `calls` is shared/aws-calls.ts FUNCTION_CALLS (passed in, so this module stays light for every test file).
 */
export const undeclaredCommands = (
  commands: readonly string[],
  functionKeys: readonly string[],
  calls: Record<string, readonly { client: string; operation: string }[]>,
): string[] => {
  const listed = new Set(functionKeys.flatMap((key) => (calls[key] ?? []).map((call) => `${call.client}:${call.operation}`)));
  return commands.filter((command) => !listed.has(command));
};

/**
 * Fails the test file when it tested a handler that sent a command its function's calls do not list.
 *
 * @throws Error naming each such command and where to list it.
 */
export const checkCommandLedger = async (testPath: string | undefined): Promise<void> => {
  const commands = recordedCommands();
  if (testPath === undefined || commands.length === 0 || !existsSync(testPath)) return;
  const modules = handlerModulesImportedBy(readFileSync(testPath, 'utf8'));
  if (modules.length === 0) return;
  const [{ FUNCTION_CALLS }, { handlerSource, loadServerless }] = await Promise.all([import('../../shared/aws-calls'), import('../contract/support')]);
  const keys = Object.entries(loadServerless().functions)
    .filter(([, fn]) => modules.includes(handlerSource(fn.handler).file.replace(/\.ts$/, '')))
    .map(([key]) => key);
  const undeclared = undeclaredCommands(commands, keys, FUNCTION_CALLS);
  if (undeclared.length > 0) {
    throw new Error(
      `the handlers this file tests (${keys.join(', ')}) sent ${undeclared.join(', ')}, which shared/aws-calls.ts does not list for them: ` +
        'add each call there with every IAM request it makes, so the IAM tier (test/iam/) checks that its role allows it',
    );
  }
};
