/**
 * `npm run bench`: the numbers in BENCHMARKS.md.
 *
 *   1. N concurrent provisions on the local cloud (default N = 1 ×5 runs, 20 ×3, 100 ×1): wall time from
 *      the first POST /servers to the last execution SUCCEEDED, peak RSS (the local cloud's Node process;
 *      the summed VmRSS of moto and everything the local instances run, sampled once a second), state
 *      transitions, Lambda invocations and AWS API calls per provision. Every server is then checked:
 *      GET /servers/{id} says READY and its URL answers {"Hello":"World"} through the internet proxy. A
 *      run with any failure is reported as failed and left out of the medians.
 *   2. Per Lambda function (every one in serverless.yml): bundle size and cold-init time (a fresh `node`
 *      importing the bundle with the environment the stack gives that function, timed inside the child),
 *      built with esbuild's JS API from serverless.yml's custom.esbuild, against one unminified bundle
 *      holding all the handlers.
 *   3. From statemachine/provision.asl.json: what the orchestration adds on AWS beyond the instance's own
 *      boot and install time (orchestrationBounds below: pure, unit-tested).
 *   4. The API requests one `hello-fleet up` spends, before and after the follower's pacing and cursor:
 *      modelled on AWS and measured on the local cloud (scripts/bench-requests.ts).
 *
 * Each N runs in its own worker process (this script with --worker) holding one local cloud, so peak
 * RSS is per N and Ctrl-C, a crash or a deadline stops everything it started. Loopback only.
 *
 * Options (after `npm run bench --`):
 *   --n 1,20,100          the N values                      --runs 5,3,1   runs per N (one value: all N)
 *   --time-scale 0.1      LOCAL_TIME_SCALE for every N (default: per N, see defaultTimeScale)
 *   --spawns 7            node spawns per bundle (after one discarded warm-up)
 *   --only provision,bundles,asl,requests                    --json <file>  also write the raw results
 *   --only class --roster 300 --throttle 0.2 --fault 0   a whole class (scripts/bench-class.ts), with a share of
 *                         EC2/SSM calls throttled and a share answered 5xx; not in the default --only
 *   --run-deadline-minutes <m>   per run (default 2 min + 15 s per server)
 *   --nice-instances      an experiment: the instances' processes (shells, pip, uvicorn) at nice 19, and
 *                         their sessions' autogroups too, so they can't starve moto and the local cloud of
 *                         CPU (as separate machines wouldn't)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { availableParallelism, loadavg, setPriority, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { LocalCloud } from '../localcloud/index';
import { deployedFunctionEnvironment, type ServerlessYml } from '../localcloud/serverless-config';

const ROOT = join(import.meta.dirname, '..');

// ================================================================ the ASL's orchestration bounds (pure)

interface AslRetrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  BackoffRate?: number;
  MaxAttempts?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: 'FULL' | 'NONE';
}
interface AslState {
  Type: string;
  Next?: string;
  Default?: string;
  Choices?: { Next: string; [field: string]: unknown }[];
  Seconds?: number;
  TimeoutSeconds?: number;
  Retry?: AslRetrier[];
  Parameters?: Record<string, unknown>;
  [field: string]: unknown;
}
export interface AslDefinition {
  StartAt: string;
  States: Record<string, AslState>;
  TimeoutSeconds?: number;
}

/** AWS's defaults for a retrier's omitted fields, and for a Task without TimeoutSeconds. */
const RETRY_DEFAULTS = { IntervalSeconds: 1, BackoffRate: 2, MaxAttempts: 3 };
const TASK_DEFAULT_TIMEOUT_SECONDS = 99_999_999;

/** Errors that mean "the platform hiccuped" (throttling, AWS 5xx, timeouts, Lambda service faults), not "the instance is not ready yet". */
const isInfrastructureError = (name: string): boolean =>
  name === 'AwsServiceFaultError' ||
  name === 'States.ALL' ||
  name === 'States.Timeout' ||
  name === 'States.TaskFailed' ||
  name === 'TimeoutError' ||
  name.startsWith('Lambda.') ||
  /Throttl|RequestLimitExceeded|TooManyRequests/.test(name);

export interface RetrierBound {
  errors: string[];
  /** infrastructure: throttling/timeouts/Lambda faults; readiness: waiting for the instance (agent, port). */
  kind: 'infrastructure' | 'readiness';
  maxAttempts: number;
  jitter: 'FULL' | 'NONE';
  /** The wait before retry 1..MaxAttempts: min(IntervalSeconds × BackoffRate^(k-1), MaxDelaySeconds). With FULL jitter each is the upper bound. */
  delaysSeconds: number[];
  /** Σ delays. */
  delaySeconds: number;
  /** MaxAttempts failed attempts, each running until the state's TimeoutSeconds. */
  failedAttemptsSeconds: number;
  /** delaySeconds + failedAttemptsSeconds: what this retrier can add to one entry of the state. */
  worstSeconds: number;
}

export interface TaskBound {
  state: string;
  timeoutSeconds: number;
  retriers: RetrierBound[];
  /** Σ worstSeconds of the infrastructure retriers (each retrier keeps its own count on AWS). */
  infrastructureWorstSeconds: number;
  /** Σ worstSeconds of the readiness retriers. */
  readinessWorstSeconds: number;
  /** The first readiness retry's delay: how late the step can notice readiness that came just after its first try. */
  readinessGranularitySeconds: number;
}

export interface PollingLoopBound {
  /** The Task that looks, the Choice that decides, the Wait in between. */
  task: string;
  choice: string;
  wait: string;
  waitSeconds: number;
  /** The Task's `maxAttempts` parameter: the look numbered maxAttempts that is not done fails. */
  maxAttempts: number;
  /** Waits before the loop gives up: maxAttempts when the loop is entered at the Wait, maxAttempts − 1 when at the Task. */
  waits: number;
  /** waits × waitSeconds: how long the orchestration waits for the instance before giving up. */
  budgetSeconds: number;
}

export interface PathBounds {
  tasks: TaskBound[];
  loops: PollingLoopBound[];
  /** Polling granularity, no fault: Σ waitSeconds of the loops (a step done just after a look waits one full interval). */
  pollingSeconds: number;
  /** Σ first readiness delays: paid only when a readiness check fails once (agent not registered yet, port not open yet). */
  readinessGranularitySeconds: number;
  /** pollingSeconds + readinessGranularitySeconds. */
  typicalWorstSeconds: number;
  /** Σ infrastructureWorstSeconds over the path's Task states (each entered once). */
  infrastructureWorstSeconds: number;
  /** Σ readinessWorstSeconds over the path's Task states. */
  readinessWorstSeconds: number;
  /** Everything retried to the limit once per Task state, plus one full polling interval per loop. */
  worstSeconds: number;
  /** min(worstSeconds, the execution's TimeoutSeconds). */
  cappedWorstSeconds: number;
}

export interface OrchestrationBounds {
  executionTimeoutSeconds?: number;
  /** The states reachable from StartAt without a Catch: the provisioning path (its loops included). */
  main: PathBounds;
  /** The states reachable only through a Catch: the rollback. */
  rollback: PathBounds;
}

/** The wait before each retry, un-jittered (with FULL jitter, AWS waits a random time up to it). */
export const retryDelays = (retrier: AslRetrier): number[] => {
  const interval = retrier.IntervalSeconds ?? RETRY_DEFAULTS.IntervalSeconds;
  const rate = retrier.BackoffRate ?? RETRY_DEFAULTS.BackoffRate;
  const attempts = retrier.MaxAttempts ?? RETRY_DEFAULTS.MaxAttempts;
  const cap = retrier.MaxDelaySeconds ?? Number.POSITIVE_INFINITY;
  return Array.from({ length: attempts }, (_, k) => Math.min(interval * rate ** k, cap));
};

const sum = (values: number[]): number => values.reduce((total, value) => total + value, 0);

const retrierBound = (retrier: AslRetrier, timeoutSeconds: number): RetrierBound => {
  const delaysSeconds = retryDelays(retrier);
  const maxAttempts = delaysSeconds.length;
  const delaySeconds = sum(delaysSeconds);
  const failedAttemptsSeconds = maxAttempts * timeoutSeconds;
  return {
    errors: retrier.ErrorEquals,
    kind: retrier.ErrorEquals.some(isInfrastructureError) ? 'infrastructure' : 'readiness',
    maxAttempts,
    jitter: retrier.JitterStrategy ?? 'NONE',
    delaysSeconds,
    delaySeconds,
    failedAttemptsSeconds,
    worstSeconds: delaySeconds + failedAttemptsSeconds,
  };
};

const taskBound = (name: string, state: AslState): TaskBound => {
  const timeoutSeconds = state.TimeoutSeconds ?? TASK_DEFAULT_TIMEOUT_SECONDS;
  const retriers = (state.Retry ?? []).map((retrier) => retrierBound(retrier, timeoutSeconds));
  const of = (kind: RetrierBound['kind']) => retriers.filter((r) => r.kind === kind);
  return {
    state: name,
    timeoutSeconds,
    retriers,
    infrastructureWorstSeconds: sum(of('infrastructure').map((r) => r.worstSeconds)),
    readinessWorstSeconds: sum(of('readiness').map((r) => r.worstSeconds)),
    readinessGranularitySeconds: sum(of('readiness').map((r) => r.delaysSeconds[0] ?? 0)),
  };
};

/** Next, Choices[].Next and Default: the transitions that are not a Catch. */
const plainSuccessors = (state: AslState): string[] => [
  ...(state.Next === undefined ? [] : [state.Next]),
  ...(state.Choices ?? []).map((choice) => choice.Next),
  ...(state.Default === undefined ? [] : [state.Default]),
];

const catchSuccessors = (state: AslState): string[] =>
  ((state.Catch as { Next: string }[] | undefined) ?? []).map((c) => c.Next);

/** States reachable from `starts` through plain transitions, in visiting order. */
const reachable = (asl: AslDefinition, starts: string[]): string[] => {
  const seen = new Set<string>();
  const queue = [...starts];
  while (queue.length > 0) {
    const name = queue.shift()!;
    if (seen.has(name) || asl.States[name] === undefined) continue;
    seen.add(name);
    queue.push(...plainSuccessors(asl.States[name]));
  }
  return [...seen];
};

/** Wait → Task → … → Choice → Wait cycles among `names`, with the Task's maxAttempts parameter. */
const pollingLoops = (asl: AslDefinition, names: string[]): PollingLoopBound[] => {
  const inPath = new Set(names);
  const loops: PollingLoopBound[] = [];
  for (const wait of names) {
    const waitState = asl.States[wait]!;
    if (waitState.Type !== 'Wait' || waitState.Next === undefined) continue;
    const task = waitState.Next;
    const taskState = asl.States[task];
    if (taskState?.Type !== 'Task') continue;
    // Walk plain transitions from the Task until a Choice that can go back to this Wait.
    const loopStates = new Set([wait, task]);
    let current: string | undefined = taskState.Next;
    let choice: string | undefined;
    for (let hops = 0; current !== undefined && hops < names.length; hops++) {
      const state: AslState | undefined = asl.States[current];
      if (state === undefined) break;
      loopStates.add(current);
      if (state.Type === 'Choice' && plainSuccessors(state).includes(wait)) {
        choice = current;
        break;
      }
      current = state.Next;
    }
    if (choice === undefined) continue;
    const maxAttempts = taskState.Parameters?.maxAttempts;
    if (typeof maxAttempts !== 'number') continue;
    // Entered at the Wait (the first look comes after a wait) or at the Task (the first look is immediate)?
    const enteredAtWait = names.some((name) => !loopStates.has(name) && inPath.has(name) && plainSuccessors(asl.States[name]!).includes(wait));
    const waits = enteredAtWait ? maxAttempts : maxAttempts - 1;
    const waitSeconds = waitState.Seconds ?? 0;
    loops.push({ task, choice, wait, waitSeconds, maxAttempts, waits, budgetSeconds: waits * waitSeconds });
  }
  return loops;
};

const pathBounds = (asl: AslDefinition, names: string[]): PathBounds => {
  const tasks = names.filter((name) => asl.States[name]!.Type === 'Task').map((name) => taskBound(name, asl.States[name]!));
  const loops = pollingLoops(asl, names);
  const pollingSeconds = sum(loops.map((loop) => loop.waitSeconds));
  const readinessGranularitySeconds = sum(tasks.map((t) => t.readinessGranularitySeconds));
  const infrastructureWorstSeconds = sum(tasks.map((t) => t.infrastructureWorstSeconds));
  const readinessWorstSeconds = sum(tasks.map((t) => t.readinessWorstSeconds));
  const worstSeconds = infrastructureWorstSeconds + readinessWorstSeconds + pollingSeconds;
  return {
    tasks,
    loops,
    pollingSeconds,
    readinessGranularitySeconds,
    typicalWorstSeconds: pollingSeconds + readinessGranularitySeconds,
    infrastructureWorstSeconds,
    readinessWorstSeconds,
    worstSeconds,
    cappedWorstSeconds: Math.min(worstSeconds, asl.TimeoutSeconds ?? Number.POSITIVE_INFINITY),
  };
};

/**
 * What the workflow's own mechanics can add on AWS beyond the work (the instance booting, pip
 * installing): the Wait/Choice polling loops and the Retry blocks, as the ASL sets them.
 *
 * - Polling granularity: a step that finishes just after a look is noticed one full Wait later.
 * - A retrier adds at most Σ_k min(IntervalSeconds × BackoffRate^(k-1), MaxDelaySeconds) of delays
 *   (FULL jitter only shortens them) plus MaxAttempts failed attempts of up to TimeoutSeconds each;
 *   a state's retriers count separately, so they add up.
 * - The execution's TimeoutSeconds caps everything.
 */
export const orchestrationBounds = (asl: AslDefinition): OrchestrationBounds => {
  const main = reachable(asl, [asl.StartAt]);
  const onMain = new Set(main);
  const catchTargets = main.flatMap((name) => catchSuccessors(asl.States[name]!));
  const rollback = reachable(asl, catchTargets).filter((name) => !onMain.has(name));
  return {
    ...(asl.TimeoutSeconds === undefined ? {} : { executionTimeoutSeconds: asl.TimeoutSeconds }),
    main: pathBounds(asl, main),
    rollback: pathBounds(asl, rollback),
  };
};

// ================================================================ small helpers (pure)

export const median = (values: number[]): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

export interface Spread {
  median: number;
  min: number;
  max: number;
}
export const spread = (values: number[]): Spread => ({ median: median(values), min: Math.min(...values), max: Math.max(...values) });

/**
 * LOCAL_TIME_SCALE for N concurrent provisions: 0.1 (as the demo), raised with N so that N executions
 * polling their installs don't take the CPUs the installs need. N pip installs sharing the CPUs take
 * about N × 10 s / cpus; the scale is about twice that over the install loop's 900 s (90 polls × 10 s),
 * rounded up to a tenth, at most 1 (AWS's own waits). With 2 CPUs: N=1 → 0.1, N=20 → 0.3, N=100 → 1,
 * i.e. a poll every 1 s, 3 s, 10 s. (The facade divides the loops' maxAttempts by the scale, so the
 * loops' real-time budgets are the same at any scale.)
 */
export const defaultTimeScale = (n: number, cpus: number, installBudgetSeconds = 900): number => {
  const installWallSeconds = (n * 10) / Math.max(1, cpus);
  const scale = Math.ceil(((2 * installWallSeconds) / installBudgetSeconds) * 10) / 10;
  return Math.min(1, Math.max(0.1, scale));
};

export interface BenchOptions {
  sizes: number[];
  runs: number[];
  timeScale?: number;
  spawns: number;
  only: Set<'provision' | 'bundles' | 'asl' | 'class' | 'requests'>;
  /** --only class: the roster size, the throttled share and the 5xx share of EC2/SSM calls. */
  roster: number;
  throttle: number;
  fault: number;
  json?: string;
  runDeadlineMinutes?: number;
  worker: boolean;
  /** An experiment: the instances' processes at nice 19, as if they ran on other machines than moto and the local cloud. */
  niceInstances: boolean;
}

const DEFAULT_RUNS: Record<number, number> = { 1: 5, 20: 3, 100: 1 };

/** The command line (after `npm run bench --`). Throws on anything it does not understand. */
export const parseArgs = (argv: string[]): BenchOptions => {
  const values = new Map<string, string>();
  let worker = false;
  let niceInstances = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--worker') {
      worker = true;
      continue;
    }
    if (arg === '--nice-instances') {
      niceInstances = true;
      continue;
    }
    const [flag, inline] = arg.split('=', 2) as [string, string | undefined];
    if (!['--n', '--runs', '--time-scale', '--spawns', '--only', '--json', '--run-deadline-minutes', '--roster', '--throttle', '--fault'].includes(flag)) {
      throw new Error(`unknown option ${arg}`);
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    values.set(flag, value);
  }
  const numbers = (flag: string, text: string, integer: boolean): number[] =>
    text.split(',').map((part) => {
      const value = Number(part);
      if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) throw new Error(`${flag}: not a positive ${integer ? 'whole ' : ''}number: ${part}`);
      return value;
    });
  const sizes = numbers('--n', values.get('--n') ?? '1,20,100', true);
  const runsGiven = values.has('--runs') ? numbers('--runs', values.get('--runs')!, true) : undefined;
  if (runsGiven !== undefined && runsGiven.length !== 1 && runsGiven.length !== sizes.length) {
    throw new Error('--runs: give one value, or one per --n value');
  }
  const runs = sizes.map((n, i) => runsGiven?.[runsGiven.length === 1 ? 0 : i] ?? DEFAULT_RUNS[n] ?? 1);
  const only = new Set((values.get('--only') ?? 'provision,bundles,asl,requests').split(',')) as BenchOptions['only'];
  for (const part of only) if (!['provision', 'bundles', 'asl', 'class', 'requests'].includes(part)) throw new Error(`--only: unknown part ${part}`);
  const throttle = Number(values.get('--throttle') ?? 0.2);
  if (!(throttle >= 0 && throttle < 1)) throw new Error('--throttle: a share from 0 to below 1');
  const fault = Number(values.get('--fault') ?? 0);
  if (!(fault >= 0 && fault < 1)) throw new Error('--fault: a share from 0 to below 1');
  const scale = values.get('--time-scale');
  const deadline = values.get('--run-deadline-minutes');
  const json = values.get('--json');
  return {
    sizes,
    runs,
    ...(scale === undefined ? {} : { timeScale: numbers('--time-scale', scale, false)[0]! }),
    spawns: numbers('--spawns', values.get('--spawns') ?? '7', true)[0]!,
    only,
    roster: numbers('--roster', values.get('--roster') ?? '300', true)[0]!,
    throttle,
    fault,
    ...(json === undefined ? {} : { json }),
    ...(deadline === undefined ? {} : { runDeadlineMinutes: numbers('--run-deadline-minutes', deadline, false)[0]! }),
    worker,
    niceInstances,
  };
};

// ================================================================ processes and memory (/proc)

const readKiB = (pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined => {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return undefined;
  }
};

/** Every live descendant of `root` (by parent pid, from /proc). */
const descendants = (root: number): number[] => {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // Gone between readdir and read.
    }
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
};

/** utime + stime + cutime + cstime of a process (its own CPU and its reaped children's), in clock ticks. */
const cpuTicks = (pid: number): number => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return [11, 12, 13, 14].reduce((total, i) => total + Number(fields[i] ?? 0), 0);
  } catch {
    return 0;
  }
};

/** The machine's busy clock ticks, all CPUs (/proc/stat: everything but idle and iowait). */
const machineBusyTicks = (): number => {
  const [, user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  return user + nice + system + irq + softirq + steal;
};

/** Linux's USER_HZ: /proc counts CPU time in hundredths of a second. */
const TICKS_PER_SECOND = 100;

export interface CpuUse {
  /** CPU seconds used by the local cloud: its Node process, moto, and every instance process. */
  oursSeconds: number;
  /** CPU seconds the whole machine was busy. */
  machineSeconds: number;
}

interface MemorySample {
  /** VmRSS of this process: the local cloud's Node process. */
  nodeKiB: number;
  /** Σ VmRSS of its processes: moto, and the instances' shells, pip and uvicorns. */
  childrenKiB: number;
  children: number;
  /** moto's own VmRSS (part of childrenKiB). */
  motoKiB: number;
}

const NO_SAMPLE: MemorySample = { nodeKiB: 0, childrenKiB: 0, children: 0, motoKiB: 0 };

/** Samples this process's VmRSS and the summed VmRSS of its processes about once a second. */
export class MemorySampler {
  peak: MemorySample = NO_SAMPLE;
  last: MemorySample = NO_SAMPLE;
  private timer: NodeJS.Timeout | undefined;

  private cpuStart = { ours: 0, machine: 0 };

  private readonly niced = new Set<number>();

  constructor(
    private readonly extraPids: () => number[],
    private readonly motoPid: number,
    private readonly niceInstances = false,
  ) {}

  /** Our processes' CPU so far: this process (with its reaped children: shells, pip) + the live ones (moto, uvicorns, running shells). */
  private ourTicks(): number {
    const pids = new Set([...descendants(process.pid), ...this.extraPids()]);
    pids.delete(process.pid);
    return cpuTicks(process.pid) + [...pids].reduce((total, pid) => total + cpuTicks(pid), 0);
  }

  /** CPU used since start(), ours against the whole machine's: other work on the machine shows as the difference. */
  cpu(): CpuUse {
    return {
      oursSeconds: (this.ourTicks() - this.cpuStart.ours) / TICKS_PER_SECOND,
      machineSeconds: (machineBusyTicks() - this.cpuStart.machine) / TICKS_PER_SECOND,
    };
  }

  sample(): MemorySample {
    const pids = new Set([...descendants(process.pid), ...this.extraPids()]);
    pids.delete(process.pid);
    if (this.niceInstances) {
      const control = new Set([this.motoPid, ...descendants(this.motoPid)]);
      for (const pid of pids) {
        if (control.has(pid) || this.niced.has(pid)) continue;
        try {
          setPriority(pid, 19);
          // Each instance command leads its own session (spawned detached), and with the kernel's
          // autogroup scheduling a session's CPU share ignores its processes' nice: set the session's.
          writeFileSync(`/proc/${pid}/autogroup`, '19');
        } catch {
          // Gone already, or no autogroup: the nice stands.
        }
        this.niced.add(pid);
      }
    }
    let childrenKiB = 0;
    let children = 0;
    for (const pid of pids) {
      const kib = readKiB(pid, 'VmRSS');
      if (kib === undefined) continue;
      childrenKiB += kib;
      children += 1;
    }
    this.last = { nodeKiB: readKiB(process.pid, 'VmRSS') ?? 0, childrenKiB, children, motoKiB: readKiB(this.motoPid, 'VmRSS') ?? 0 };
    this.peak = {
      nodeKiB: Math.max(this.peak.nodeKiB, this.last.nodeKiB),
      childrenKiB: Math.max(this.peak.childrenKiB, this.last.childrenKiB),
      children: Math.max(this.peak.children, this.last.children),
      motoKiB: Math.max(this.peak.motoKiB, this.last.motoKiB),
    };
    return this.last;
  }

  start(): void {
    this.peak = NO_SAMPLE;
    this.cpuStart = { ours: this.ourTicks(), machine: machineBusyTicks() };
    this.sample();
    this.timer = setInterval(() => this.sample(), 1000);
  }

  stop(): MemorySample {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}

// ================================================================ 1. N concurrent provisions (the worker)

interface ProvisionOutcome {
  serverId: string;
  executionArn?: string;
  status: string;
  /** From the first POST of the run to this execution's end. */
  doneMs?: number;
  stateTransitions?: number;
  taskInvocations?: number;
  failure?: string;
}

export interface RunResult {
  run: number;
  n: number;
  ok: boolean;
  failures: string[];
  /** First POST → last execution SUCCEEDED. */
  wallMs: number;
  /** Each execution's own duration (StartExecution → SUCCEEDED). */
  executionMs: Spread;
  postMs: Spread;
  /** Per provision (every execution of the run that ended). */
  stateTransitions: number[];
  taskInvocations: number[];
  /** The gateway's counts, per service:action, for the whole run (N provisions). */
  apiCalls: Record<string, number>;
  /** Task states entered more than once (polling loops), median entries per provision. */
  polls: Record<string, number>;
  /** os.loadavg()[0] when the run started and when it ended: other work on the machine shows here. */
  load: [number, number];
  /** From the first POST to the last execution's end. */
  cpu: CpuUse;
  /** Every 10 s: where the time went (printed as it happens). */
  trace: TracePoint[];
  peak: MemorySample;
  /** After the run, before its servers are torn down: moto + N idle uvicorns. */
  settled: MemorySample;
}

export interface SizeResult {
  n: number;
  /** Processes under the local cloud's root still alive after its worker exited (the bench then kills them). */
  leftoverProcesses?: number;
  timeScale: number;
  niceInstances?: boolean;
  startupMs: number;
  /** process.resourceUsage().maxRSS of the worker (the local cloud's Node process) over all its runs. */
  maxRssKiB: number;
  runs: RunResult[];
  aborted?: string;
}

const HELLO = JSON.stringify({ Hello: 'World' });

/** GET through the local "internet", as demo.ts does. */
const fetchThroughInternet = (proxyUrl: string, url: string): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const proxy = new URL(proxyUrl);
    const req = request({ host: proxy.hostname, port: proxy.port, path: url, headers: { host: new URL(url).host }, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk) => (body += chunk)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });

/**
 * One request to the local API on a fresh connection (agent: false). The client and the API share this
 * process: a pooled keep-alive socket that the server closes while the event loop was busy (the
 * teardown removes venvs synchronously) would be reused and reset (ECONNRESET).
 */
const callApi = (cloud: LocalCloud, method: string, path: string, headers: Record<string, string> = {}, body?: unknown) =>
  new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
    const url = new URL(`${cloud.apiUrl}${path}`);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method,
        agent: false,
        timeout: 60_000,
        headers: { 'x-api-key': cloud.apiKey, 'content-type': 'application/json', ...(payload === undefined ? {} : { 'content-length': Buffer.byteLength(payload) }), ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk) => (text += chunk)).on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
          } catch {
            reject(new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 200)}`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });

const progress = (line: string) => process.stderr.write(`[bench] ${line}\n`);

/** Own CPU ticks of a process (utime + stime, without its children). */
const ownTicks = (pid: number): number => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  } catch {
    return 0;
  }
};

export interface TracePoint {
  atSeconds: number;
  running: number;
  /** AWS API calls per second through the gateway over the last interval, and the three busiest actions. */
  callsPerSecond: number;
  top: string[];
  /** CPU over the last interval, in % of one CPU: the local cloud's Node process, moto, the whole machine. */
  nodePercent: number;
  motoPercent: number;
  machinePercent: number;
}

/** Every 10 s during a run: executions running, API call rate, who has the CPU. One progress line each. */
class Tracer {
  readonly points: TracePoint[] = [];
  private timer: NodeJS.Timeout | undefined;
  private last = { at: 0, calls: {} as Record<string, number>, node: 0, moto: 0, machine: 0 };

  constructor(
    private readonly cloud: LocalCloud,
    private readonly started: number,
  ) {}

  private snapshot() {
    const moto = [this.cloud.moto.pid, ...descendants(this.cloud.moto.pid)];
    return {
      at: performance.now(),
      calls: this.cloud.gateway.stats(),
      node: ownTicks(process.pid),
      moto: moto.reduce((total, pid) => total + ownTicks(pid), 0),
      machine: machineBusyTicks(),
    };
  }

  start(): void {
    this.last = this.snapshot();
    this.timer = setInterval(() => this.tick(), 10_000);
  }

  private tick(): void {
    const now = this.snapshot();
    const seconds = (now.at - this.last.at) / 1000;
    const percent = (ticks: number) => Math.round((100 * ticks) / TICKS_PER_SECOND / seconds);
    const deltas = Object.entries(now.calls)
      .map(([key, count]) => [key, count - (this.last.calls[key] ?? 0)] as const)
      .filter(([key, delta]) => key !== 'faults' && delta > 0)
      .sort((a, b) => b[1] - a[1]);
    const point: TracePoint = {
      atSeconds: Math.round((now.at - this.started) / 1000),
      running: this.cloud.stepFunctions.running(),
      callsPerSecond: Math.round((deltas.reduce((total, [, delta]) => total + delta, 0) / seconds) * 10) / 10,
      top: deltas.slice(0, 3).map(([key, delta]) => `${key} ${delta}`),
      nodePercent: percent(now.node - this.last.node),
      motoPercent: percent(now.moto - this.last.moto),
      machinePercent: percent(now.machine - this.last.machine),
    };
    this.points.push(point);
    this.last = now;
    progress(
      `  t=${point.atSeconds}s running ${point.running} · ${point.callsPerSecond} calls/s (${point.top.join(', ')}) · ` +
        `CPU node ${point.nodePercent}% moto ${point.motoPercent}% machine ${point.machinePercent}% of one CPU`,
    );
  }

  stop(): TracePoint[] {
    clearInterval(this.timer);
    return this.points;
  }
}

const runOnce = async (cloud: LocalCloud, sampler: MemorySampler, n: number, run: number, deadlineMs: number): Promise<RunResult> => {
  const tag = randomBytes(4).toString('hex');
  const loadBefore = loadavg()[0]!;
  cloud.gateway.resetStats();
  sampler.start();
  const started = performance.now();
  const deadline = new Promise<'deadline'>((resolve) => setTimeout(() => resolve('deadline'), deadlineMs).unref());
  const postMs: number[] = [];
  const tracer = new Tracer(cloud, started);
  tracer.start();

  const one = async (i: number): Promise<ProvisionOutcome> => {
    const postStart = performance.now();
    const created = await callApi(cloud, 'POST', '/servers', { 'Idempotency-Key': `bench-${tag}-${run}-${i}` }, {});
    postMs.push(performance.now() - postStart);
    const serverId = String(created.body.serverId ?? `#${i}`);
    if (created.status !== 202) return { serverId, status: `POST ${created.status}`, failure: JSON.stringify(created.body).slice(0, 300) };
    const executionArn = String(created.body.executionArn);
    const status = await Promise.race([cloud.stepFunctions.settled(executionArn), deadline]);
    const stats = cloud.stepFunctions.stats(executionArn);
    return {
      serverId,
      executionArn,
      status,
      ...(status === 'deadline' ? {} : { doneMs: performance.now() - started }),
      ...(stats ? { stateTransitions: stats.stateTransitions, taskInvocations: stats.taskInvocations } : {}),
    };
  };

  const outcomes = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      one(i).catch((error: unknown) => {
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        const why = `${String(error)}${cause ? ` (${cause.code ?? cause.message ?? String(cause)})` : ''}`;
        return { serverId: `#${i}`, status: 'error', failure: why } as ProvisionOutcome;
      }),
    ),
  );
  const allDoneMs = Math.max(...outcomes.map((o) => o.doneMs ?? Number.NaN));
  const trace = tracer.stop();
  const peak = sampler.stop();
  const cpu = sampler.cpu();
  const apiCalls = cloud.gateway.stats();
  delete apiCalls.faults;
  const settled = sampler.sample();
  const loadAfter = loadavg()[0]!;
  const polls = await pollCounts(cloud, outcomes.flatMap((o) => (o.status === 'SUCCEEDED' && o.executionArn !== undefined ? [o.executionArn] : [])));

  // Check every server the way a user would: GET /servers/{id}, then its URL through the internet.
  const failures: string[] = [];
  await Promise.all(
    outcomes.map(async (outcome) => {
      if (outcome.status !== 'SUCCEEDED') {
        let detail = outcome.failure ?? '';
        if (outcome.executionArn !== undefined && outcome.status !== 'deadline') {
          const got = await callApi(cloud, 'GET', `/servers/${outcome.serverId}`).catch(() => undefined);
          detail = [got?.body.status, got?.body.step, got?.body.error, String(got?.body.cause ?? '').slice(0, 300)].filter((part) => part !== undefined && part !== '').join(': ');
        }
        failures.push(`${outcome.serverId} ${outcome.status} ${detail}`.trim());
        return;
      }
      try {
        const got = await callApi(cloud, 'GET', `/servers/${outcome.serverId}`);
        if (got.body.status !== 'READY') throw new Error(`GET /servers says ${String(got.body.status)}`);
        const answer = await fetchThroughInternet(cloud.internetProxyUrl, String(got.body.url));
        if (answer.status !== 200 || JSON.stringify(JSON.parse(answer.body)) !== HELLO) throw new Error(`its URL answered ${answer.status} ${answer.body.slice(0, 100)}`);
      } catch (error) {
        failures.push(`${outcome.serverId} ${(error as Error).message}`);
      }
    }),
  );
  const succeeded = outcomes.filter((o) => o.status === 'SUCCEEDED');
  const pick = (key: 'stateTransitions' | 'taskInvocations') => outcomes.flatMap((o) => (o[key] === undefined ? [] : [o[key]]));
  const executionMs = succeeded.flatMap((o) => {
    const stats = o.executionArn === undefined ? undefined : cloud.stepFunctions.stats(o.executionArn);
    return stats ? [stats.durationMs] : [];
  });
  return {
    run,
    n,
    ok: failures.length === 0,
    failures,
    wallMs: allDoneMs,
    executionMs: spread(executionMs),
    postMs: spread(postMs),
    stateTransitions: pick('stateTransitions'),
    taskInvocations: pick('taskInvocations'),
    apiCalls,
    polls,
    load: [loadBefore, loadAfter],
    cpu,
    trace,
    peak,
    settled,
  };
};

/** From each execution's history (read after the gateway's counts were taken): Task states entered more than once. */
const pollCounts = async (cloud: LocalCloud, executionArns: string[]): Promise<Record<string, number>> => {
  const { GetExecutionHistoryCommand, SFNClient } = await import('@aws-sdk/client-sfn');
  const sfn = new SFNClient({ endpoint: cloud.gatewayUrl, region: 'ap-northeast-2', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  const perExecution: Record<string, number>[] = [];
  for (const executionArn of executionArns) {
    const entered: Record<string, number> = {};
    let nextToken: string | undefined;
    for (let page = 0; page < 100; page++) {
      const reply = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, nextToken }));
      for (const event of reply.events ?? []) {
        if (event.type === 'TaskStateEntered' && event.stateEnteredEventDetails?.name) {
          entered[event.stateEnteredEventDetails.name] = (entered[event.stateEnteredEventDetails.name] ?? 0) + 1;
        }
      }
      nextToken = reply.nextToken;
      if (!nextToken) break;
    }
    perExecution.push(entered);
  }
  sfn.destroy();
  const states = [...new Set(perExecution.flatMap((entered) => Object.keys(entered)))];
  return Object.fromEntries(
    states.map((state) => [state, median(perExecution.map((entered) => entered[state] ?? 0))] as const).filter(([, count]) => count > 1),
  );
};

/** Between runs: the run's instances go (moto terminates them, the data plane stops their uvicorns). */
const tearDownServers = async (cloud: LocalCloud): Promise<void> => {
  const { EC2Client, TerminateInstancesCommand } = await import('@aws-sdk/client-ec2');
  const ids = cloud.instances.instanceIds();
  if (ids.length === 0) return;
  const ec2 = new EC2Client({ endpoint: cloud.motoUrl, region: 'ap-northeast-2', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
  await Promise.all(ids.map((id) => cloud.instances.terminate(id)));
  ec2.destroy();
};

/** `--worker --n N --runs R --time-scale S`: one local cloud, R runs of N provisions; prints `BENCH_RESULT <json>`. */
const worker = async (options: BenchOptions): Promise<number> => {
  const n = options.sizes[0]!;
  const runs = options.runs[0]!;
  const timeScale = options.timeScale ?? 0.1;
  const deadlineMs = (options.runDeadlineMinutes ?? 2 + (n * 15) / 60) * 60_000;
  const { startLocalCloud } = await import('../localcloud/index');
  let cloud: LocalCloud | undefined;
  let stopping: Promise<never> | undefined;
  /** Stops the local cloud once (every caller waits for that same stop), then exits. */
  const shutdown = (code: number): Promise<never> =>
    (stopping ??= (async () => {
      await cloud?.stop();
      process.exit(code);
    })());
  process.on('SIGINT', () => void shutdown(130));
  process.on('SIGTERM', () => void shutdown(143));
  process.stdin.on('end', () => void shutdown(1));
  process.stdin.resume();

  const startupStart = performance.now();
  // N POSTs at once and a poll of every server each few hundred ms measure the orchestration, not the
  // API's usage plan (the `requests` section measures what a user spends against it): no plan here.
  cloud = await startLocalCloud({ timeScale, usagePlan: false, log: (line) => progress(`local cloud: ${line}`) });
  process.stdout.write(`BENCH_ROOT ${cloud.root}\n`);
  const startupMs = performance.now() - startupStart;
  const sampler = new MemorySampler(() => [...cloud!.instances.processes(), cloud!.moto.pid], cloud.moto.pid, options.niceInstances);
  const result: SizeResult = { n, timeScale, ...(options.niceInstances ? { niceInstances: true } : {}), startupMs, maxRssKiB: 0, runs: [] };
  try {
    for (let run = 1; run <= runs && stopping === undefined; run++) {
      progress(`N=${n} run ${run}/${runs}: ${n} POST /servers at once (time scale ${timeScale})`);
      const outcome = await runOnce(cloud, sampler, n, run, deadlineMs);
      result.runs.push(outcome);
      progress(
        `N=${n} run ${run}: ${outcome.ok ? 'all READY' : `${outcome.failures.length} FAILED`} in ${(outcome.wallMs / 1000).toFixed(1)} s` +
          `; peak RSS node ${(outcome.peak.nodeKiB / 1024).toFixed(0)} MiB, children ${(outcome.peak.childrenKiB / 1024).toFixed(0)} MiB`,
      );
      for (const failure of outcome.failures.slice(0, 5)) progress(`  ${failure}`);
      await tearDownServers(cloud);
      if (!outcome.ok && outcome.failures.some((f) => f.includes(' deadline'))) {
        result.aborted = `run ${run} hit its deadline (${deadlineMs / 60_000} min): no further runs`;
        break;
      }
    }
  } finally {
    result.maxRssKiB = process.resourceUsage().maxRSS;
    process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`);
    await shutdown(0);
  }
  return 0;
};

/**
 * After a worker has gone: kills whatever still runs from its local cloud's root (instance shells, pip,
 * uvicorn), SIGTERM then SIGKILL, and removes the root. Returns how many processes it found.
 */
const sweep = async (root: string): Promise<number> => {
  const under = () =>
    readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .map(Number)
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(root);
        } catch {
          return false;
        }
      });
  const found = under();
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    for (const pid of under()) {
      try {
        process.kill(pid, signal);
      } catch {
        // Gone.
      }
    }
    for (let i = 0; i < 50 && under().length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  rmSync(root, { recursive: true, force: true });
  return found.length;
};

/** Runs one worker per N, sequentially; SIGTERM then SIGKILL past its deadline or on Ctrl-C. */
const provisionSizes = async (options: BenchOptions, control: { onStop: (stop: () => Promise<void>) => void; stopped: () => boolean }): Promise<SizeResult[]> => {
  const results: SizeResult[] = [];
  for (const [i, n] of options.sizes.entries()) {
    if (control.stopped()) break;
    const runs = options.runs[i]!;
    const timeScale = options.timeScale ?? defaultTimeScale(n, availableParallelism());
    const perRunMinutes = options.runDeadlineMinutes ?? 2 + (n * 15) / 60;
    const deadlineMs = (10 + runs * (perRunMinutes + 1)) * 60_000; // + venv/moto start, teardown
    const args = ['--import', 'tsx', '--import', './localcloud/text-loader.mjs', 'scripts/bench.ts', '--worker', '--n', String(n), '--runs', String(runs), '--time-scale', String(timeScale)];
    if (options.runDeadlineMinutes !== undefined) args.push('--run-deadline-minutes', String(options.runDeadlineMinutes));
    if (options.niceInstances) args.push('--nice-instances');
    const child: ChildProcess = spawn(process.execPath, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    let root: string | undefined;
    let leftovers = 0;
    const sweepOnce = async () => {
      if (root !== undefined) leftovers += await sweep(root);
      root = undefined;
    };
    // Stopping 100 instances on a saturated machine takes a while: SIGKILL only after a generous grace.
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 60_000 + n * 1000);
        await exited;
        clearTimeout(killer);
      }
      await sweepOnce();
    };
    control.onStop(stop);
    const tail: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (line.startsWith('[bench]')) process.stderr.write(`${line}\n`);
      tail.push(line);
      if (tail.length > 100) tail.shift();
    });
    let result: SizeResult | undefined;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('BENCH_RESULT ')) result = JSON.parse(line.slice('BENCH_RESULT '.length)) as SizeResult;
      if (line.startsWith('BENCH_ROOT ')) root = line.slice('BENCH_ROOT '.length);
    });
    const timer = setTimeout(() => {
      process.stderr.write(`[bench] N=${n}: past its deadline (${deadlineMs / 60_000} min), stopping it\n`);
      void stop();
    }, deadlineMs);
    const code = await exited;
    clearTimeout(timer);
    await sweepOnce();
    if (leftovers > 0) {
      process.stderr.write(`[bench] N=${n}: ${leftovers} processes outlived the local cloud's stop(); killed them\n`);
      if (result !== undefined) result.leftoverProcesses = leftovers;
    }
    if (result === undefined) {
      process.stderr.write(`[bench] N=${n}: the worker exited (${code}) without a result; its last lines:\n${tail.slice(-30).join('\n')}\n`);
      results.push({ n, timeScale, startupMs: Number.NaN, maxRssKiB: Number.NaN, runs: [], aborted: `worker exited ${code} without a result` });
    } else {
      results.push(result);
    }
  }
  return results;
};

// ================================================================ 2. bundles: size and cold init

interface BundleMeasure {
  key: string;
  file: string;
  bytes: number;
  gzipBytes: number;
  mapBytes: number;
  /** Cold init without and with --enable-source-maps (serverless.yml sets NODE_OPTIONS=--enable-source-maps). */
  initMs: Spread;
  initWithSourceMapsMs: Spread;
}

export interface BundleResults {
  spawns: number;
  split: BundleMeasure[];
  unsplit: BundleMeasure;
  /** The same single bundle, minified: tells splitting's share from minifying's. */
  unsplitMinified: BundleMeasure;
}

type EsbuildConfig = {
  bundle?: boolean;
  minify?: boolean;
  sourcemap?: boolean | 'linked' | 'external' | 'inline' | 'both';
  sourcesContent?: boolean;
  target?: string;
  platform?: 'node';
  format?: 'esm' | 'cjs';
  outputFileExtension?: string;
  mainFields?: string[];
  banner?: { js?: string };
  exclude?: string[];
  loader?: Record<string, 'text'>;
};

/** A fresh `node` imports the module and reports how long `await import()` took (performance.now() in the child). */
const INIT_PROBE = `const started = performance.now();
const mod = await import(process.argv[2]);
const ms = performance.now() - started;
process.stdout.write(JSON.stringify({ ms, exported: typeof mod[process.argv[3]] }));
`;

/**
 * What Lambda itself puts in every function's environment (credentials as dummies: nothing is called at
 * import), plus LOG_LEVEL so that no log line lands on the probe's stdout. Everything else a function
 * reads comes from serverless.yml (functionEnvironment), so a bundle that imports here also starts
 * with the environment the stack deploys.
 */
const LAMBDA_ENV = {
  AWS_REGION: 'ap-northeast-2',
  AWS_DEFAULT_REGION: 'ap-northeast-2',
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  LOG_LEVEL: 'ERROR',
};
const BENCH_STAGE = 'bench';
const BENCH_ACCOUNT = '123456789012';

/**
 * One function's environment as the deployed stack gives it (localcloud/serverless-config.ts), for the
 * bench's stage. NODE_OPTIONS is left out: the bench measures with and without --enable-source-maps.
 */
export const functionEnvironment = (config: ServerlessYml, key: string, stage = BENCH_STAGE): Record<string, string> => {
  const { NODE_OPTIONS: _, ...env } = deployedFunctionEnvironment(config, key, { stage, region: LAMBDA_ENV.AWS_REGION, accountId: BENCH_ACCOUNT });
  return env;
};

/**
 * What the bundle part measures: every function serverless.yml deploys (a new one is measured without
 * touching the bench), each with the environment the stack gives it.
 */
export const bundleTargets = <F extends { key: string; module: string; exportName: string }>(serverless: ServerlessYml, functions: F[]) => {
  const unmeasured = Object.keys(serverless.functions).filter((key) => !functions.some((fn) => fn.key === key));
  if (unmeasured.length > 0) throw new Error(`bundles: no handler for ${unmeasured.join(', ')}`);
  return functions.map((fn) => ({ ...fn, env: functionEnvironment(serverless, fn.key) }));
};

/** From a child's stderr, the line that says why it failed (`ConfigurationError: X environment variable is not set`), not a minified source line. */
export const childFailure = (stderr: string): string => {
  const lines = stderr.split('\n').map((line) => line.trim()).filter((line) => line !== '' && line.length <= 400 && !line.startsWith('at '));
  const error = lines.find((line) => /^[A-Za-z_$][\w$]*(Error|Exception)\b.*:/.test(line));
  return error ?? lines.slice(-3).join(' ');
};

const probeOnce = (dir: string, file: string, exportName: string, env: Record<string, string>, sourceMaps: boolean): Promise<number> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(dir, 'init-probe.mjs'), pathToFileURL(file).href, exportName], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', ...LAMBDA_ENV, ...env, ...(sourceMaps ? { NODE_OPTIONS: '--enable-source-maps' } : {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{')) {
        reject(new Error(`importing ${file} failed (exit ${code}): ${childFailure(err) || 'no output'}`));
        return;
      }
      const parsed = JSON.parse(last) as { ms: number; exported: string };
      if (parsed.exported !== 'function') reject(new Error(`importing ${file}: export ${exportName} is ${parsed.exported}`));
      else resolve(parsed.ms);
    });
  });

const probe = async (dir: string, file: string, exportName: string, env: Record<string, string>, spawns: number, sourceMaps: boolean): Promise<Spread> => {
  await probeOnce(dir, file, exportName, env, sourceMaps); // warm-up: page cache, not counted
  const times: number[] = [];
  for (let i = 0; i < spawns; i++) times.push(await probeOnce(dir, file, exportName, env, sourceMaps));
  return spread(times);
};

const measureBundle = async (dir: string, key: string, file: string, exportName: string, env: Record<string, string>, spawns: number): Promise<BundleMeasure> => {
  const code = readFileSync(file);
  let mapBytes = 0;
  try {
    mapBytes = statSync(`${file}.map`).size;
  } catch {
    // No source map.
  }
  return {
    key,
    file: file.slice(dir.length + 1),
    bytes: code.length,
    gzipBytes: gzipSync(code, { level: 9 }).length,
    mapBytes,
    initMs: await probe(dir, file, exportName, env, spawns, false),
    initWithSourceMapsMs: await probe(dir, file, exportName, env, spawns, true),
  };
};

/** Builds every function as serverless.yml's custom.esbuild does, and one unminified bundle of them all; measures both. */
const measureBundles = async (spawns: number, dir: string): Promise<BundleResults> => {
  const esbuild = await import('esbuild');
  const { parse } = await import('yaml');
  const { serverlessFunctions } = await import('../localcloud/handlers');
  const serverless = parse(readFileSync(join(ROOT, 'serverless.yml'), 'utf8'), { logLevel: 'silent' }) as ServerlessYml & { custom: { esbuild: EsbuildConfig } };
  const config = serverless.custom.esbuild;
  const extension = config.outputFileExtension ?? '.js';
  const common = {
    bundle: config.bundle ?? true,
    sourcemap: config.sourcemap ?? false,
    sourcesContent: config.sourcesContent ?? true,
    target: config.target ?? 'node22',
    platform: config.platform ?? 'node',
    format: config.format ?? 'esm',
    outExtension: { '.js': extension },
    mainFields: config.mainFields ?? ['module', 'main'],
    banner: config.banner ?? {},
    external: config.exclude ?? [],
    loader: config.loader ?? {},
    logLevel: 'silent' as const,
  };
  const functions = bundleTargets(serverless, Object.values(serverlessFunctions()));
  const allEnvironments = Object.assign({}, ...functions.map((fn) => fn.env)) as Record<string, string>;
  writeFileSync(join(dir, 'init-probe.mjs'), INIT_PROBE);

  progress(`bundles: building ${functions.length} functions (minify: ${String(config.minify)}) and one unminified bundle of all`);
  await esbuild.build({ ...common, minify: config.minify ?? false, entryPoints: functions.map((fn) => join(ROOT, `${fn.module}.ts`)), outbase: ROOT, outdir: join(dir, 'split') });
  const allInOne = functions.map((fn) => `export { ${fn.exportName} as ${fn.key} } from './${fn.module}';`).join('\n');
  for (const minify of [false, true]) {
    await esbuild.build({
      ...common,
      minify,
      stdin: { contents: allInOne, resolveDir: ROOT, sourcefile: 'all-handlers.ts', loader: 'ts' },
      outfile: join(dir, minify ? 'unsplit-minified' : 'unsplit', `all-handlers${extension}`),
    });
  }

  const split: BundleMeasure[] = [];
  for (const fn of functions) {
    progress(`bundles: ${fn.key}: ${spawns} cold imports (+1 warm-up) without and with --enable-source-maps`);
    split.push(await measureBundle(dir, fn.key, join(dir, 'split', `${fn.module}${extension}`), fn.exportName, fn.env, spawns));
  }
  progress('bundles: the unsplit bundles');
  const unsplit = await measureBundle(dir, `all ${functions.length} handlers, unminified`, join(dir, 'unsplit', `all-handlers${extension}`), functions[0]!.key, allEnvironments, spawns);
  const unsplitMinified = await measureBundle(dir, `all ${functions.length} handlers, minified`, join(dir, 'unsplit-minified', `all-handlers${extension}`), functions[0]!.key, allEnvironments, spawns);
  return { spawns, split, unsplit, unsplitMinified };
};

// ================================================================ the report (Markdown)

const mib = (kib: number) => (kib / 1024).toFixed(0);
const sec = (ms: number) => (ms / 1000).toFixed(1);
const kb = (bytes: number) => (bytes / 1024).toFixed(1);
const ms1 = (ms: number) => ms.toFixed(1);
const fmtSpread = (s: Spread, f: (v: number) => string) => (s.min === s.max ? f(s.median) : `${f(s.median)} (${f(s.min)}–${f(s.max)})`);
const secs = (s: number) => (Number.isInteger(s) ? `${s}` : s.toFixed(2).replace(/0+$/, ''));

export const provisionTables = (results: SizeResult[]): string => {
  const lines: string[] = [];
  const okRuns = (r: SizeResult) => r.runs.filter((run) => run.ok);
  const when = <T>(r: SizeResult, f: (ok: RunResult[]) => T, none = '—') => (okRuns(r).length > 0 ? f(okRuns(r)) : none);

  lines.push('| N | time scale | runs ok / total | wall time per run (s) | wall time, first POST → all READY: median (min–max) | one execution: median (min–max) | POST /servers latency: median (max) | CPU per provision (ours) | other work on the machine: share of busy CPU not ours, per run |');
  lines.push('|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const perRun = r.runs.map((run) => (run.ok ? sec(run.wallMs) : `failed (${run.failures.length}/${run.n})`)).join(', ');
    lines.push(
      `| ${r.n}${r.niceInstances ? ' (instances at nice 19)' : ''} | ${r.timeScale} | ${okRuns(r).length} / ${r.runs.length}${r.aborted ? ` (${r.aborted})` : ''} | ${perRun || '—'} | ` +
        `${when(r, (ok) => `${fmtSpread(spread(ok.map((run) => run.wallMs)), sec)} s`)} | ` +
        `${when(r, (ok) => `${fmtSpread(spread(ok.map((run) => run.executionMs.median)), sec)} s`)} | ` +
        `${when(r, (ok) => `${ms1(median(ok.map((run) => run.postMs.median)))} ms (${ms1(Math.max(...ok.map((run) => run.postMs.max)))} ms)`)} | ` +
        `${when(r, (ok) => `${(median(ok.map((run) => run.cpu.oursSeconds / run.n))).toFixed(1)} s`)} | ` +
        `${r.runs.map((run) => `${Math.max(0, 100 * (1 - run.cpu.oursSeconds / Math.max(run.cpu.machineSeconds, 1e-9))).toFixed(0)} %`).join(', ') || '—'} |`,
    );
  }
  lines.push('');
  lines.push('| N | local cloud Node: maxRSS (whole worker) | local cloud Node: peak VmRSS sampled | child processes: peak Σ VmRSS (processes) | of which moto (peak) | after the run: Σ children (moto + N idle uvicorns) |');
  lines.push('|---|---|---|---|---|---|');
  for (const r of results) {
    if (r.runs.length === 0) {
      lines.push(`| ${r.n} | — | — | — | — | — |`);
      continue;
    }
    const peakOf = (pick: (m: MemorySample) => number) => Math.max(...r.runs.map((run) => pick(run.peak)));
    const busiest = r.runs.reduce((best, run) => (run.peak.childrenKiB > best.peak.childrenKiB ? run : best));
    lines.push(
      `| ${r.n} | ${mib(r.maxRssKiB)} MiB | ${mib(peakOf((m) => m.nodeKiB))} MiB | ${mib(busiest.peak.childrenKiB)} MiB (${busiest.peak.children}) | ` +
        `${mib(peakOf((m) => m.motoKiB))} MiB | ${mib(median(r.runs.map((run) => run.settled.childrenKiB)))} MiB |`,
    );
  }
  lines.push('');
  lines.push('| N | state transitions per provision: median (min–max) | Lambda invocations per provision | polls per provision (median) | AWS API calls per provision: total (ec2 / ssm / states) | top calls per provision (service:action) |');
  lines.push('|---|---|---|---|---|---|');
  for (const r of results) {
    const ok = okRuns(r);
    if (ok.length === 0) {
      lines.push(`| ${r.n} | — | — | — | — | — |`);
      continue;
    }
    const pollStates = [...new Set(ok.flatMap((run) => Object.keys(run.polls)))];
    const polls = pollStates.map((state) => `${state} ${median(ok.map((run) => run.polls[state] ?? 1))}`).join(', ') || 'one look each';
    const perProvision = (run: RunResult, prefix = '') =>
      Object.entries(run.apiCalls).filter(([key]) => key.startsWith(prefix)).reduce((total, [, count]) => total + count, 0) / run.n;
    const byService = ['ec2:', 'ssm:', 'states:'].map((prefix) => median(ok.map((run) => perProvision(run, prefix))).toFixed(1)).join(' / ');
    const keys = [...new Set(ok.flatMap((run) => Object.keys(run.apiCalls)))];
    const top = keys
      .map((key) => ({ key, perProvision: median(ok.map((run) => (run.apiCalls[key] ?? 0) / run.n)) }))
      .sort((a, b) => b.perProvision - a.perProvision || a.key.localeCompare(b.key))
      .slice(0, 10)
      .map((entry) => `${entry.key} ${Number.isInteger(entry.perProvision) ? entry.perProvision : entry.perProvision.toFixed(1)}`)
      .join(', ');
    lines.push(
      `| ${r.n} | ${fmtSpread(spread(ok.flatMap((run) => run.stateTransitions)), String)} | ${fmtSpread(spread(ok.flatMap((run) => run.taskInvocations)), String)} | ${polls} | ` +
        `${fmtSpread(spread(ok.map((run) => perProvision(run))), (v) => v.toFixed(1))} (${byService}) | ${top} |`,
    );
  }
  const failed = results.flatMap((r) => r.runs.filter((run) => !run.ok).map((run) => ({ n: r.n, run })));
  const aborted = results.filter((r) => r.aborted !== undefined);
  if (failed.length > 0 || aborted.length > 0) {
    lines.push('');
    lines.push('Failed runs (left out of every median above):');
    for (const { n, run } of failed) lines.push(`- N=${n} run ${run.run}: ${run.failures.length} of ${n} failed; first: ${run.failures[0] ?? ''}`);
    for (const r of aborted) lines.push(`- N=${r.n}: ${r.aborted}`);
  }
  return lines.join('\n');
};

export const bundleTables = (results: BundleResults): string => {
  const lines: string[] = [];
  lines.push(`| function | bundle .mjs KiB | gzip KiB | .map KiB | cold init ms, median (min–max) of ${results.spawns} | with --enable-source-maps |`);
  lines.push('|---|---|---|---|---|---|');
  const row = (m: BundleMeasure) =>
    `| ${m.key} | ${kb(m.bytes)} | ${kb(m.gzipBytes)} | ${kb(m.mapBytes)} | ${fmtSpread(m.initMs, ms1)} | ${fmtSpread(m.initWithSourceMapsMs, ms1)} |`;
  for (const m of results.split) lines.push(row(m));
  const total = (pick: (m: BundleMeasure) => number) => results.split.reduce((a, m) => a + pick(m), 0);
  lines.push(
    `| **median of the ${results.split.length} split** | ${kb(median(results.split.map((m) => m.bytes)))} | ${kb(median(results.split.map((m) => m.gzipBytes)))} | ${kb(median(results.split.map((m) => m.mapBytes)))} | ${ms1(median(results.split.map((m) => m.initMs.median)))} | ${ms1(median(results.split.map((m) => m.initWithSourceMapsMs.median)))} |`,
  );
  lines.push(`| sum of the ${results.split.length} split (deployed bytes) | ${kb(total((m) => m.bytes))} | ${kb(total((m) => m.gzipBytes))} | ${kb(total((m) => m.mapBytes))} | | |`);
  lines.push(row({ ...results.unsplit, key: `**${results.unsplit.key}** (each function would load all of it)` }));
  lines.push(row({ ...results.unsplitMinified, key: `${results.unsplitMinified.key} (for comparison: splitting vs minifying)` }));
  return lines.join('\n');
};

export const aslTables = (bounds: OrchestrationBounds): string => {
  const lines: string[] = [];
  const { main } = bounds;
  lines.push('Polling loops (Wait/Choice around a Task):');
  lines.push('');
  lines.push('| loop | Wait | maxAttempts | waits before giving up | budget | added latency, no fault (≤ one Wait) |');
  lines.push('|---|---|---|---|---|---|');
  for (const loop of [...main.loops, ...bounds.rollback.loops]) {
    lines.push(`| ${loop.task} ⟲ ${loop.wait} | ${secs(loop.waitSeconds)} s | ${loop.maxAttempts} | ${loop.waits} | ${secs(loop.budgetSeconds)} s | ≤ ${secs(loop.waitSeconds)} s (mean ${secs(loop.waitSeconds / 2)} s) |`);
  }
  lines.push('');
  lines.push('Retry blocks per Task state on the provisioning path (delays un-jittered: FULL jitter waits a random time up to each):');
  lines.push('');
  lines.push('| state | TimeoutSeconds | retrier | kind | MaxAttempts | delays (s) | Σ delays | + failed attempts × TimeoutSeconds | worst added |');
  lines.push('|---|---|---|---|---|---|---|---|---|');
  for (const task of main.tasks) {
    for (const r of task.retriers) {
      const errors = r.errors.length > 2 ? `${r.errors[0]} … (${r.errors.length} errors)` : r.errors.join(', ');
      lines.push(
        `| ${task.state} | ${task.timeoutSeconds} | ${errors}${r.jitter === 'FULL' ? ' (FULL jitter)' : ''} | ${r.kind} | ${r.maxAttempts} | ${r.delaysSeconds.map(secs).join(', ')} | ${secs(r.delaySeconds)} s | ${secs(r.failedAttemptsSeconds)} s | ${secs(r.worstSeconds)} s |`,
      );
    }
  }
  lines.push('');
  lines.push('| on the provisioning path | seconds |');
  lines.push('|---|---|');
  lines.push(`| typical, no fault: polling granularity (Σ one Wait per loop) | ≤ ${secs(main.pollingSeconds)} |`);
  lines.push(`| … plus one readiness retry per readiness retrier (agent not registered / port not open on the first try) | ≤ ${secs(main.readinessGranularitySeconds)} (total ≤ ${secs(main.typicalWorstSeconds)}) |`);
  lines.push(`| worst case, infrastructure retriers to the limit (${main.tasks.length} Task states, once each) | ${secs(main.infrastructureWorstSeconds)} |`);
  lines.push(`| worst case, readiness retriers to the limit | ${secs(main.readinessWorstSeconds)} |`);
  lines.push(`| worst case, everything to the limit + one Wait per loop | ${secs(main.worstSeconds)} |`);
  lines.push(`| hard cap: the execution's TimeoutSeconds | ${bounds.executionTimeoutSeconds ?? '—'} → worst case ${secs(main.cappedWorstSeconds)} |`);
  lines.push(`| rollback path: infrastructure retriers to the limit + readiness + one Wait per loop | ${secs(bounds.rollback.worstSeconds)} |`);
  return lines.join('\n');
};

const machine = (): string => {
  let cpu = '';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
  } catch {
    // Not Linux.
  }
  return `nproc ${availableParallelism()}${cpu ? ` (${cpu})` : ''}, memory ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, ${new Date().toISOString()}`;
};

// ================================================================ main

const main = async (argv: string[]): Promise<number> => {
  const options = parseArgs(argv);
  if (options.worker) return worker(options);

  const stops: (() => Promise<void>)[] = [];
  const tmp = mkdtempSync(join(tmpdir(), 'hello-fleet-bench-'));
  let interrupted = false;
  const cleanUp = async () => {
    await Promise.allSettled(stops.splice(0).map((stop) => stop()));
    rmSync(tmp, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\n[bench] ${signal}: stopping what was started…\n`);
    void cleanUp().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const out: string[] = [`Machine: ${machine()}`, ''];
  const raw: Record<string, unknown> = { machine: machine() };
  try {
    if (options.only.has('asl')) {
      const asl = JSON.parse(readFileSync(join(ROOT, 'statemachine', 'provision.asl.json'), 'utf8')) as AslDefinition;
      const bounds = orchestrationBounds(asl);
      raw.asl = bounds;
      out.push('## Orchestration bounds (statemachine/provision.asl.json)', '', aslTables(bounds), '');
    }
    if (options.only.has('bundles')) {
      const bundles = await measureBundles(options.spawns, tmp);
      raw.bundles = bundles;
      out.push('## Bundles', '', bundleTables(bundles), '');
    }
    if (options.only.has('requests')) {
      const { requestsTables, runRequestsBench } = await import('./bench-requests');
      const result = await runRequestsBench({ local: true, onStop: (stop) => stops.push(stop), progress });
      raw.requests = result;
      out.push('## API requests one `hello-fleet up` spends', '', requestsTables(result), '');
    }
    if (options.only.has('class')) {
      const { classTable, runClassBench } = await import('./bench-class');
      const result = await runClassBench({
        roster: options.roster,
        throttle: options.throttle,
        fault: options.fault,
        timeScale: options.timeScale ?? defaultTimeScale(Math.min(options.roster, 20), availableParallelism()),
        deadlineMinutes: options.runDeadlineMinutes ?? 30 + options.roster / 10,
        onStop: (stop) => stops.push(stop),
        sampler: (cloud) => new MemorySampler(() => [...cloud.instances.processes(), cloud.moto.pid], cloud.moto.pid),
        progress,
      });
      raw.class = result;
      const faults = `${options.fault > 0 ? `${options.fault * 100}% of EC2/SSM calls 5xx, ` : ''}${options.throttle * 100}% ${options.fault > 0 ? 'of the rest ' : 'of EC2/SSM calls '}throttled`;
      out.push(`## A class of ${options.roster} (POST /courses/{courseId}/servers, ${faults})`, '', classTable(result), '');
    }
    if (options.only.has('provision')) {
      const sizes = await provisionSizes(options, { onStop: (stop) => stops.push(stop), stopped: () => interrupted });
      raw.provision = sizes;
      out.push('## N concurrent provisions', '', provisionTables(sizes), '');
    }
  } finally {
    await cleanUp();
  }
  if (interrupted) return 130;
  if (options.json !== undefined) writeFileSync(options.json, `${JSON.stringify(raw, null, 2)}\n`);
  process.stdout.write(`${out.join('\n')}\n`);
  const failedRuns = ((raw.provision as SizeResult[] | undefined) ?? []).some((r) => r.aborted !== undefined || r.runs.some((run) => !run.ok));
  const classFailed = (raw.class as { ok?: boolean } | undefined)?.ok === false;
  const local = (raw.requests as { local?: { before: { ok: boolean }; after: { ok: boolean } } } | undefined)?.local;
  const requestsFailed = local !== undefined && !(local.before.ok && local.after.ok);
  return failedRuns || classFailed || requestsFailed ? 1 : 0;
};

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
