/**
 * `localcloud/main.ts start`: runs the local cloud until told to stop.
 *
 * Prints exactly one JSON line on stdout once everything answers:
 *   {"ready":true,"apiUrl":…,"apiKey":…,"lmsWebhookSecret":…,"gatewayUrl":…,"internetProxyUrl":…,"motoUrl":…,"stateMachineArn":…,
 *    "teardownStateMachineArn":…,"controlUrl":…,"dashboardUrl":…,"root":…,"pid":…}
 * and writes the same object to `.local-cloud/endpoints.json` (LOCAL_CLOUD_ENDPOINTS overrides the path)
 * while it runs, for `npm run reap` and other tools; a file that a still-running local cloud wrote is
 * left alone (the first one keeps it), and the file is removed at the stop.
 * `--param <name>=<value>` (repeatable) sets a serverless.yml stage parameter as `osls --param` does: the
 * local API Gateway enforces the usage plan with it (`--param apiQuotaPerDay=50`; docs/api-limits.md).
 * Progress and diagnostics go to stderr. Stops (instances, uvicorns, moto, temp dir) on SIGINT, SIGTERM,
 * or when stdin closes (the parent went away), then exits 0.
 *
 * Run it with the project's Node 22: `npm run localcloud` or
 * `node --import tsx --import ./localcloud/text-loader.mjs localcloud/main.ts start`.
 */
import { writeEndpoints } from './endpoints';
import { startLocalCloud } from './index';
import { paramsFromArgs } from './usage-plan';

const usage = 'usage: localcloud/main.ts start [--keep-stdin-open] [--param <name>=<value>]...';

const main = async (args: string[]): Promise<void> => {
  if (args[0] !== 'start') {
    process.stderr.write(`${usage}\n`);
    process.exit(2);
  }
  const params = paramsFromArgs(args.slice(1));
  if (params === undefined) {
    process.stderr.write(`${usage}\n--param takes <name>=<value>, as osls's does\n`);
    process.exit(2);
  }
  const cloud = await startLocalCloud({ params, log: (line) => process.stderr.write(`[localcloud] ${line}\n`) });
  let stopping = false;
  let removeEndpoints = () => {};
  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`[localcloud] stopping (${why})\n`);
    removeEndpoints();
    await cloud.stop();
    process.stderr.write('[localcloud] stopped\n');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  if (!args.includes('--keep-stdin-open')) {
    process.stdin.on('end', () => void shutdown('stdin closed'));
    process.stdin.resume();
  }
  const { apiUrl, apiKey, lmsWebhookSecret, gatewayUrl, internetProxyUrl, motoUrl, stateMachineArn, teardownStateMachineArn, controlUrl, dashboardUrl, root } = cloud;
  const endpoints = { apiUrl, apiKey, lmsWebhookSecret, gatewayUrl, internetProxyUrl, motoUrl, stateMachineArn, teardownStateMachineArn, controlUrl, dashboardUrl, root, pid: process.pid };
  const written = writeEndpoints(endpoints);
  if (written.written) removeEndpoints = written.remove;
  else process.stderr.write(`[localcloud] ${written.path} belongs to the local cloud with pid ${written.ownerPid}: left alone\n`);
  process.stdout.write(`${JSON.stringify({ ready: true, ...endpoints })}\n`);
};

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`[localcloud] failed to start: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
