import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { ExecutionView } from '../shared/execution-view';
import { INSTANCE_TYPES, KEY_TYPES, LIMITS, UBUNTU_VERSIONS } from '../shared/validation';
import { HelloFleetApi, type Json, type ServerRequestBody, type ServerStatusBody } from './api';
import { type Backoff, DEFAULT_BACKOFF, type Sleep } from './backoff';
import { CliError, EXIT, EXIT_CODES_HELP, type ExitCode } from './errors';
import { follow, type Pacing, waitOutLimits } from './follow';
import { loadMachine, machineNames } from './graph/index';
import { renderMermaid } from './graph/mermaid';
import { renderSvg } from './graph/svg';
import { assertNoKeyFile, keyFilePath, readPrivateKey, ssmClientFor, writeKeyFile } from './key';
import { type OutputMode, type Renderer, rendererFor } from './render';
import { defaultTargetDeps, resolveTarget, type TargetDeps, type TargetOptions } from './target';

/**
 * Spinners need a terminal that knows its width: a pseudo-terminal without a size (columns 0, as under
 * `script` or some CI runners) makes the spinner library redraw endlessly, so it gets plain lines.
 */
export const isTerminal = (stdout: { isTTY?: boolean; columns?: number }): boolean =>
  stdout.isTTY === true && typeof stdout.columns === 'number' && stdout.columns > 0;

/** What the CLI runs against: the process by default, fakes in tests. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted on Ctrl-C. */
  interrupt: AbortSignal;
  targetDeps?: TargetDeps;
  /** The shortest poll interval while following (ms); polls back off to 15 times it while nothing changes. */
  pollMs?: number;
  /** Pacing within the API's limits (cli/backoff.ts); pollMs, when given, sets the poll part. */
  backoff?: Partial<Backoff>;
  /** Every wait goes through it (tests record the waits instead of waiting). */
  sleep?: Sleep;
  random?: () => number;
}

interface GlobalOptions extends TargetOptions {
  json?: boolean;
  plain?: boolean;
}

const TERMINAL_PROVISION = new Set(['READY', 'FAILED']);
const TERMINAL_TEARDOWN = new Set(['TERMINATED', 'TEARDOWN_FAILED']);
const FAILED_STATUSES = new Set(['FAILED', 'TEARDOWN_FAILED']);

const integer = (name: string, min: number, max: number) => (value: string) => {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed < min || parsed > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}.`);
  return parsed;
};
const number = (name: string, min: number, max: number) => (value: string) => {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed < min || parsed > max) throw new InvalidArgumentError(`${name} must be a number from ${min} to ${max}.`);
  return parsed;
};

const statusLines = (server: ServerStatusBody): string[] => {
  const id = server.serverId;
  const text = (key: string) => (typeof server[key] === 'string' ? (server[key] as string) : undefined);
  switch (server.status) {
    case 'READY':
      return [`${id} READY ${text('url')}`, `  ssh:     ${text('sshCommand')} (key: hello-fleet key ${id})`, `  expires: ${text('expiresAt')}`];
    case 'PROVISIONING':
    case 'TEARING_DOWN':
      return [`${id} ${server.status} at ${text('step') ?? 'start'} (since ${text('startedAt')})`];
    case 'ROLLING_BACK':
      return [`${id} ROLLING_BACK at ${text('step')} after ${text('failedStep') ?? 'a failure'} failed`];
    case 'FAILED':
      return [`${id} FAILED at ${text('step') ?? 'an unknown step'}: ${text('error')}: ${text('cause')}`, `  details: hello-fleet logs ${id}`];
    case 'TERMINATED':
      return [`${id} TERMINATED at ${text('terminatedAt')} (${text('reason') ?? 'unknown reason'})`];
    case 'TEARDOWN_FAILED':
      return [`${id} TEARDOWN_FAILED: ${text('error')}: ${text('cause')} (the reaper removes what is left)`];
    default:
      return [`${id} ${server.status}`];
  }
};

/** Builds the program; `run` parses and maps every outcome to an exit code. */
export const buildProgram = (io: CliIo, setExit: (code: ExitCode) => void): Command => {
  const program = new Command('hello-fleet');
  program
    .description('Provision and watch FastAPI tutorial servers (hello-fleet), on the local cloud or a deployed stack.')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s), outputError: (s, write) => write(s) })
    .showSuggestionAfterError()
    .option('--local', 'use the local cloud started by `npm run localcloud` (the default when no API is configured)')
    .option('--api-url <url>', 'a deployed API (else HELLO_FLEET_API_URL)')
    .option('--api-key <key>', 'its API key (else HELLO_FLEET_API_KEY)')
    .option('--stack <name>', 'a `serverless deploy` stack: its ServiceEndpoint output and API key')
    .option('--region <region>', 'AWS region for --stack and `key` (else AWS_REGION)')
    .option('--json', 'JSON lines: one object per event, then the result')
    .option('--plain', 'plain lines, one per event (the default when stdout is not a terminal)')
    .addHelpText('after', `${EXIT_CODES_HELP}\n`);

  const backoff: Backoff = {
    ...DEFAULT_BACKOFF,
    ...(io.pollMs !== undefined && { pollMinMs: io.pollMs, pollMaxMs: io.pollMs * 15 }),
    ...io.backoff,
  };
  const pacing = { backoff, ...(io.sleep && { sleep: io.sleep }), ...(io.random && { random: io.random }) };

  const context = async (command: Command) => {
    const options = command.optsWithGlobals<GlobalOptions>();
    const mode: OutputMode = options.json ? 'json' : options.plain || !isTerminal(io.stdout) ? 'plain' : 'tty';
    const target = await resolveTarget(options, io.targetDeps ?? defaultTargetDeps(io.env));
    const api = new HelloFleetApi(target, fetch, { ...pacing, signal: io.interrupt });
    return { target, api, renderer: rendererFor(mode, io.stdout), options };
  };

  const interrupted = (renderer: Renderer, serverId: string, what: string) => {
    renderer.notice({
      type: 'interrupted',
      serverId,
      resume: `hello-fleet status ${serverId}`,
      message: `Stopped following; the ${what} goes on. Resume with: hello-fleet status ${serverId}`,
    });
    setExit(EXIT.interrupted);
  };

  /**
   * Follows the server until `done`, then reads its status: both wait out the API's limits, so a
   * follow ends only when the workflow does, or on Ctrl-C (undefined, exit 130).
   */
  const followUntil = async (
    api: HelloFleetApi,
    renderer: Renderer,
    serverId: string,
    done: (view: ExecutionView) => boolean,
    what: string,
  ): Promise<ServerStatusBody | undefined> => {
    const following: Pacing = { renderer, serverId, signal: io.interrupt, ...pacing };
    const outcome = await follow({ api, done, ...following });
    const server = outcome.interrupted ? undefined : await waitOutLimits(() => api.getServer(serverId), following);
    if (server === undefined) interrupted(renderer, serverId, what);
    return server;
  };

  const helped = (command: Command) => command.addHelpText('after', EXIT_CODES_HELP);

  helped(
    program
      .command('up')
      .description('provision a server and follow its steps until READY or FAILED')
      .option('--name <name>', 'the app and key name (POST field name)', 'my_app')
      .addOption(new Option('--instance-type <type>', 'EC2 instance type').choices(INSTANCE_TYPES))
      .addOption(new Option('--ubuntu-version <version>', 'Ubuntu LTS').choices(UBUNTU_VERSIONS))
      .addOption(new Option('--key-type <type>', 'key pair type').choices(KEY_TYPES))
      .option('--volume-size <GiB>', 'root volume size', integer('--volume-size', LIMITS.volumeSizeGiB.min, LIMITS.volumeSizeGiB.max))
      .option('--app-cidr <cidr>', 'who may reach the app on tcp 8000 (default 0.0.0.0/0)')
      .option('--ssh-cidr <cidr>', 'who may reach ssh on tcp 22 (default: closed)')
      .option('--ttl-hours <hours>', 'hours until the reaper tears it down', number('--ttl-hours', LIMITS.ttlHours.min, LIMITS.ttlHours.max))
      .option('--owner <id>', 'owner id (no email address)')
      .option('--course <id>', 'course id')
      .option('--idempotency-key <key>', 'the same key is the same server: safe to repeat (default: a new key, so a new server)')
      .option('--no-wait', 'return once the provisioning has started'),
  ).action(async (options: Json, command: Command) => {
    const { api, renderer } = await context(command);
    const body: ServerRequestBody = {};
    const fields = { name: 'name', instanceType: 'instanceType', ubuntuVersion: 'ubuntuVersion', keyType: 'keyType', volumeSize: 'volumeSizeGiB', appCidr: 'appCidr', sshCidr: 'sshCidr', ttlHours: 'ttlHours', owner: 'owner', course: 'course' } as const;
    for (const [option, field] of Object.entries(fields)) if (options[option] !== undefined) (body as Json)[field] = options[option];
    // Each `up` is a new server unless the user names a key: the API treats two identical bodies
    // without a key as one server, which would make `up; down; up` answer TERMINATED.
    const key = typeof options.idempotencyKey === 'string' ? options.idempotencyKey : `cli-${randomUUID()}`;
    const created = await api.createServer(body, key);
    const serverId = created.serverId;
    renderer.notice({
      type: 'accepted',
      serverId,
      status: created.status,
      idempotencyKey: key,
      message: `Provisioning ${serverId} (${created.status}); to repeat this request safely: --idempotency-key ${key}`,
    });
    if (options.wait === false) {
      renderer.result({ serverId, status: created.status }, [`Follow it with: hello-fleet status ${serverId}`]);
      return;
    }
    const server = await followUntil(api, renderer, serverId, (v) => v.machine === 'teardown' || TERMINAL_PROVISION.has(v.status), 'provisioning');
    if (server === undefined) return;
    renderer.result(server, statusLines(server));
    if (server.status !== 'READY') setExit(EXIT.failed);
  });

  helped(program.command('status').argument('<serverId>').description('where a server is: its status, step, URL')).action(
    async (serverId: string, _options: Json, command: Command) => {
      const { api, renderer } = await context(command);
      const server = await api.getServer(serverId);
      renderer.result(server, statusLines(server));
      if (FAILED_STATUSES.has(server.status)) setExit(EXIT.failed);
    },
  );

  helped(
    program
      .command('list')
      .description("this stage's servers with their status")
      .option('--owner <id>', 'only this owner')
      .option('--course <id>', 'only this course')
      .option('--limit <n>', 'servers per page (1-50)', integer('--limit', 1, 50))
      .option('--all', 'every page, not just the first'),
  ).action(async (options: { owner?: string; course?: string; limit?: number; all?: boolean }, command: Command) => {
    const { api, renderer } = await context(command);
    const servers: Json[] = [];
    let nextToken: string | undefined;
    for (let page = 0; page < 100; page++) {
      const reply = await api.listServers({ owner: options.owner, course: options.course, limit: options.limit, nextToken });
      servers.push(...reply.servers);
      nextToken = reply.nextToken ?? undefined;
      if (!options.all || nextToken === undefined) break;
    }
    const cell = (value: unknown) => (value === null || value === undefined ? '-' : String(value));
    const rows = [['SERVER', 'NAME', 'STATUS', 'URL', 'EXPIRES'], ...servers.map((s) => [s.serverId, s.name, s.status, s.url, s.expiresAt].map(cell))];
    const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
    const lines = servers.length === 0 ? ['No servers.'] : rows.map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
    if (nextToken !== undefined) lines.push('More servers: pass --all.');
    renderer.result({ servers, nextToken: nextToken ?? null }, lines);
  });

  helped(
    program
      .command('down')
      .argument('<serverId>')
      .description('tear a server down and follow until TERMINATED')
      .option('--no-wait', 'return once the teardown has started'),
  ).action(async (serverId: string, options: { wait: boolean }, command: Command) => {
    const { api, renderer } = await context(command);
    const deleted = await api.deleteServer(serverId);
    renderer.notice({ type: 'accepted', serverId, status: deleted.status, message: `Tearing down ${serverId} (${deleted.status}).` });
    if (!options.wait) {
      renderer.result({ serverId, status: deleted.status }, [`Follow it with: hello-fleet status ${serverId}`]);
      return;
    }
    const server = await followUntil(api, renderer, serverId, (v) => v.machine === 'teardown' && TERMINAL_TEARDOWN.has(v.status), 'teardown');
    if (server === undefined) return;
    renderer.result(server, statusLines(server));
    if (server.status !== 'TERMINATED') setExit(EXIT.failed);
  });

  const readyServer = async (api: HelloFleetApi, serverId: string, purpose: string) => {
    const server = await api.getServer(serverId);
    if (server.status !== 'READY') {
      throw new CliError(`${serverId} is ${server.status}: ${purpose} needs a READY server; see \`hello-fleet status ${serverId}\`.`, EXIT.failed);
    }
    return server as ServerStatusBody & { keyName: string; keyParameterName: string; publicIp: string };
  };

  helped(
    program
      .command('key')
      .argument('<serverId>')
      .description("write the server's private key to <keyName>.pem (mode 0400; never overwrites)")
      .option('--out <dir>', 'the directory to write to (default: the current one)'),
  ).action(async (serverId: string, options: { out?: string }, command: Command) => {
    const { api, renderer, target } = await context(command);
    const server = await readyServer(api, serverId, 'key');
    const path = keyFilePath(options.out ?? io.cwd, server.keyName);
    assertNoKeyFile(path);
    const privateKey = await readPrivateKey(ssmClientFor(target), server.keyParameterName);
    writeKeyFile(path, privateKey);
    renderer.result({ serverId, keyFile: path }, [`Wrote ${path} (mode 0400).`, `Connect: hello-fleet ssh ${serverId}`]);
  });

  helped(
    program
      .command('ssh')
      .argument('<serverId>')
      .description('print the ssh command for a READY server (--exec runs it)')
      .option('--exec', 'run ssh (not on the local cloud: its instances have no SSH server)'),
  ).action(async (serverId: string, options: { exec?: boolean }, command: Command) => {
    const { api, renderer, target } = await context(command);
    if (options.exec && target.kind === 'local') {
      throw new CliError("--exec is not available on the local cloud: its instances have no SSH server; use the app's URL instead.", EXIT.usage);
    }
    const server = await readyServer(api, serverId, 'ssh');
    const keyFile = `${server.keyName}.pem`;
    const sshCommand = `ssh -i ${keyFile} ubuntu@${server.publicIp}`;
    if (!options.exec) {
      renderer.result({ serverId, sshCommand }, [sshCommand]);
      return;
    }
    if (!existsSync(join(io.cwd, keyFile))) {
      throw new CliError(`${keyFile} is not in this directory: run \`hello-fleet key ${serverId}\` first.`, EXIT.failed);
    }
    const code = await new Promise<number>((resolve) => {
      const child = spawn('ssh', ['-i', keyFile, `ubuntu@${server.publicIp}`], { cwd: io.cwd, stdio: 'inherit' });
      child.on('error', () => resolve(-1));
      child.on('exit', (exitCode) => resolve(exitCode ?? 1));
    });
    if (code === -1) throw new CliError('Cannot run ssh: install an OpenSSH client, or run the printed command yourself.', EXIT.failed);
    if (code !== 0) setExit(EXIT.failed);
  });

  helped(program.command('logs').argument('<serverId>').description("the failed step, its error and cause (a failed command's output)")).action(
    async (serverId: string, _options: Json, command: Command) => {
      const { api, renderer } = await context(command);
      const view = await api.getExecution(serverId);
      const data = { serverId, machine: view.machine, status: view.status, failure: view.failure ?? null, steps: view.steps };
      if (view.failure === undefined) {
        const what = view.status === 'READY' || view.status === 'TERMINATED' ? 'nothing failed' : 'nothing has failed so far';
        renderer.result(data, [`${serverId} is ${view.status}: ${what}.`]);
        return;
      }
      const { step, state, error, cause } = view.failure;
      const where = step !== undefined && step !== state ? `${step} (state ${state})` : state;
      renderer.result(data, [`${serverId} ${view.status} (${view.machine})`, `Failed step: ${where}`, `Error:       ${error}`, 'Cause:', ...cause.split('\n').map((line) => `  ${line}`)]);
    },
  );

  helped(
    program
      .command('graph')
      .description('draw a state machine (Mermaid or SVG); --execution colours the states a server visited')
      .addOption(new Option('--machine <machine>', 'which workflow (default provision, or the execution’s)').choices(machineNames()))
      .addOption(new Option('--format <format>', 'output format').choices(['mermaid', 'svg']).default('mermaid'))
      .option('--execution <serverId>', "colour the states of this server's current execution")
      .option('--out <file>', 'write to a file instead of stdout'),
  ).action(async (options: { machine?: string; format: 'mermaid' | 'svg'; execution?: string; out?: string }, command: Command) => {
    let visits: ExecutionView['states'] | undefined;
    let machine: string = options.machine ?? 'provision';
    if (options.execution !== undefined) {
      const { api } = await context(command);
      const view = await api.getExecution(options.execution);
      if (options.machine !== undefined && options.machine !== view.machine) {
        throw new CliError(`${options.execution}'s current execution is its ${view.machine}: pass --machine ${view.machine} or leave it out.`, EXIT.usage);
      }
      machine = view.machine;
      visits = view.states;
    }
    const asl = loadMachine(machine);
    const drawing = options.format === 'svg' ? renderSvg(asl, visits) : renderMermaid(asl, visits);
    if (options.out === undefined) {
      io.stdout.write(drawing.endsWith('\n') ? drawing : `${drawing}\n`);
      return;
    }
    writeFileSync(join(io.cwd, options.out), drawing);
    io.stderr.write(`Wrote ${options.out}\n`);
  });

  return program;
};

/**
 * Runs the CLI on `argv` (without node and the script) and returns its exit code; never calls process.exit.
 */
export const run = async (argv: readonly string[], io: CliIo): Promise<ExitCode> => {
  let exitCode: ExitCode = EXIT.ok;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with commander's exit code 0.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof CliError) {
      io.stderr.write(`error: ${error.message}\n`);
      return error.exitCode;
    }
    io.stderr.write(`error: ${(error as Error).message ?? String(error)}: this is a bug; please report it with the command you ran.\n`);
    return EXIT.failed;
  }
};

/** The bin's entry: process streams, Ctrl-C as the interrupt signal, the exit code as the process's. */
export const main = async (): Promise<void> => {
  const controller = new AbortController();
  const onSigint = () => {
    // A second Ctrl-C while the first is handled: stop at once.
    if (controller.signal.aborted) process.exit(EXIT.interrupted);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const code = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), interrupt: controller.signal });
  process.off('SIGINT', onSigint);
  process.exitCode = code;
};
