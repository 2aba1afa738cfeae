/**
 * `npm run reap [-- --dry-run] [-- --at <ISO-8601 | +<n>m | +<n>h | +<n>d>] [-- --json]`: one reaper
 * sweep on the running local cloud (`npm run localcloud`, or `npm run demo -- --keep`), found through
 * `.local-cloud/endpoints.json`. Prints one line per server (its decision and why) and the counts.
 *
 *   --dry-run   decide and report only; start no teardown
 *   --at        the sweep's clock: `+5h` pretends it is five hours later (try expiry without waiting)
 *   --json      print the SweepSummary as JSON instead
 *
 * Exit code: 0 after a sweep with no failure, 1 when a server failed, 2 when no sweep ran.
 */
import { pathToFileURL } from 'node:url';
import { endpointsFile, type LocalEndpoints, readEndpoints } from '../localcloud/endpoints';
import type { ServerOutcome, SweepSummary } from '../shared/reaper';

const usage = 'usage: npm run reap [-- --dry-run] [-- --at <ISO-8601 | +30m | +5h | +2d>] [-- --json]';

export interface ReapArgs {
  dryRun: boolean;
  json: boolean;
  /** ISO-8601; undefined: the real clock. */
  now?: string;
}

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The command line; `base` is "now" for a relative `--at`. Throws with a readable message. */
export const parseArgs = (args: readonly string[], base = new Date()): ReapArgs => {
  const parsed: ReapArgs = { dryRun: false, json: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--dry-run') parsed.dryRun = true;
    else if (arg === '--json') parsed.json = true;
    else if (arg === '--at') {
      const value = args[++i] ?? '';
      const relative = /^\+(\d+(?:\.\d+)?)([mhd])$/.exec(value);
      const time = relative ? base.getTime() + Number(relative[1]) * (UNITS[relative[2] ?? 'm'] ?? 0) : /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : Number.NaN;
      if (!Number.isFinite(time)) throw new Error(`--at wants an ISO-8601 time or +<n>m/h/d, got "${value}"`);
      parsed.now = new Date(time).toISOString();
    } else throw new Error(`unknown argument "${arg}"`);
  }
  return parsed;
};

const RESULT: Record<string, string> = {
  started: 'teardown started',
  'already-started': 'teardown already started',
  'dry-run': 'would start teardown',
  failed: 'FAILED to start teardown',
};

const outcomeLine = (o: ServerOutcome): string => {
  const what = o.action === 'teardown' ? RESULT[o.result ?? ''] ?? o.result : o.action === 'keep' ? 'kept' : o.action === 'skip' ? 'skipped' : 'FAILED';
  const resources = o.resources.length > 0 ? `  [${o.resources.join(', ')}]` : '';
  return `  ${(o.serverId || '(no server id)').padEnd(16)} ${o.reason.padEnd(16)} ${String(what).padEnd(26)} ${o.why}${resources}`;
};

/** The human-readable report of one sweep. */
export const formatSummary = (summary: SweepSummary): string =>
  [
    `hello-fleet reaper, stage ${summary.stage}${summary.dryRun ? ', DRY RUN (nothing started)' : ''}: clock ${summary.now}, grace ${summary.graceMinutes} min`,
    ...(summary.outcomes.length === 0 ? ['  nothing managed by this stage'] : summary.outcomes.map(outcomeLine)),
    `servers ${summary.servers}: expired ${summary.expired}, orphans ${summary.orphans}, skipped ${summary.skipped}, failed ${summary.failed}, live ${summary.live}  (${summary.durationMs} ms)`,
  ].join('\n');

export const reapOnce = async (endpoints: LocalEndpoints, args: ReapArgs): Promise<SweepSummary> => {
  const url = new URL('/reap', endpoints.controlUrl);
  if (args.dryRun) url.searchParams.set('dryRun', '1');
  if (args.now !== undefined) url.searchParams.set('now', args.now);
  const response = await fetch(url, { method: 'POST' });
  const body = (await response.json()) as SweepSummary | { message: string };
  if (!response.ok) throw new Error(`the local cloud answered ${response.status}: ${'message' in body ? body.message : JSON.stringify(body)}`);
  return body as SweepSummary;
};

const main = async (): Promise<number> => {
  let args: ReapArgs;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${usage}\n`);
    return 2;
  }
  const endpoints = readEndpoints();
  if (endpoints === undefined || typeof endpoints.controlUrl !== 'string') {
    process.stderr.write(`no local cloud is running (${endpointsFile()}): start one with \`npm run localcloud\` or \`npm run demo -- --keep\`\n`);
    return 2;
  }
  try {
    const summary = await reapOnce(endpoints, args);
    process.stdout.write(`${args.json ? JSON.stringify(summary, null, 2) : formatSummary(summary)}\n`);
    return summary.failed > 0 ? 1 : 0;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
};

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main();
}
