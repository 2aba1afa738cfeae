/**
 * `npm run demo`: provisions one server on the local cloud through the real path and prints the real
 * {"Hello":"World"} that uvicorn serves from the tutorial's main.py.
 *
 *   POST /servers (local API Gateway) → the real create-server handler → StartExecution → the real ASL
 *   → the real step handlers → moto + local instances → HealthCheck through the "internet" proxy.
 *
 * Prints each tutorial step as it completes (name, time taken), then the URL and the body it read.
 * Exit code 0 only when the server is READY and its answer is {"Hello":"World"}.
 *
 * Options: --keep   keep the local cloud (and the server) running until Ctrl-C, to try it with curl.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { createInterface } from 'node:readline';
import { GetExecutionHistoryCommand, type HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import { stepTimings, type StepTiming } from '../shared/step-timings';

interface Ready {
  apiUrl: string;
  apiKey: string;
  gatewayUrl: string;
  internetProxyUrl: string;
  stateMachineArn: string;
  root: string;
}

const keep = process.argv.includes('--keep');
const HELLO = { Hello: 'World' };
const POLL_MS = 250;
const DEADLINE_MS = 15 * 60_000;

const print = (line = '') => process.stdout.write(`${line}\n`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts the local cloud as a child (so Ctrl-C and crashes clean it up) and waits for its ready line. */
const startCloud = (): Promise<{ child: ChildProcess; ready: Ready }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', './localcloud/text-loader.mjs', 'localcloud/main.ts', 'start'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stderr: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (line) => {
      stderr.push(line);
      if (line.startsWith('[localcloud]') && !line.includes('stopp')) print(`  ${line.replace('[localcloud] ', '· ')}`);
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{"ready":true')) return;
      resolve({ child, ready: JSON.parse(line) as Ready });
    });
    child.on('exit', (code) => reject(new Error(`the local cloud exited (${code}) before it was ready:\n${stderr.slice(-20).join('\n')}`)));
  });

const stopCloud = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
};

/** GET through the local "internet": the way a browser out there would reach the instance. */
const fetchThroughInternet = (proxyUrl: string, url: string): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const proxy = new URL(proxyUrl);
    const target = new URL(url);
    const req = request({ host: proxy.hostname, port: proxy.port, path: url, headers: { host: target.host }, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk) => (body += chunk)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });

const api = async (ready: Ready, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const response = await fetch(`${ready.apiUrl}${path}`, {
    method,
    headers: { 'x-api-key': ready.apiKey, 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

/** Prints steps as they complete; returns when the execution has ended. */
const follow = async (ready: Ready, executionArn: string): Promise<void> => {
  const sfn = new SFNClient({ endpoint: ready.gatewayUrl, region: 'ap-northeast-2', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const shown = new Set<string>();
  const show = (t: StepTiming) => {
    const key = `${t.step}@${t.startedAt.getTime()}`;
    if (t.state === 'running' || shown.has(key)) return;
    shown.add(key);
    const mark = t.state === 'succeeded' ? '✓' : '✗';
    print(`  ${mark} ${t.step.padEnd(20)} ${seconds((t.endedAt?.getTime() ?? Date.now()) - t.startedAt.getTime()).padStart(8)}`);
  };
  const started = Date.now();
  for (;;) {
    const events: HistoryEvent[] = [];
    let nextToken: string | undefined;
    do {
      const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, nextToken, maxResults: 1000 }));
      events.push(...(page.events ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    stepTimings(events).forEach(show);
    if (events.some((e) => e.type?.startsWith('Execution') && e.type !== 'ExecutionStarted')) return;
    if (Date.now() - started > DEADLINE_MS) throw new Error('gave up waiting for the execution');
    await sleep(POLL_MS);
  }
};

const main = async (): Promise<number> => {
  print('hello-fleet demo: the FastAPI tutorial on a local cloud (moto + local instances), no AWS account');
  print('starting the local cloud…');
  const { child, ready } = await startCloud();
  const interrupted = new Promise<number>((resolve) =>
    process.once('SIGINT', () => {
      print('\ninterrupted: stopping the local cloud…');
      void stopCloud(child).then(() => resolve(130));
    }),
  );
  const run = async (): Promise<number> => {
    print(`local API ${ready.apiUrl}  ·  AWS endpoint ${ready.gatewayUrl}`);
    const started = Date.now();
    const created = await api(ready, 'POST', '/servers', {}, { 'Idempotency-Key': `demo-${started}` });
    if (created.status !== 202) throw new Error(`POST /servers answered ${created.status}: ${JSON.stringify(created.body)}`);
    const serverId = String(created.body.serverId);
    print(`POST /servers → 202, server ${serverId}; following ${String(created.body.executionArn)}`);
    await follow(ready, String(created.body.executionArn));
    const status = await api(ready, 'GET', `/servers/${serverId}`);
    print(`GET /servers/${serverId} → ${String(status.body.status)} after ${seconds(Date.now() - started)}`);
    if (status.body.status !== 'READY') {
      print(`  step: ${String(status.body.step)}  error: ${String(status.body.error)}`);
      print(`  cause: ${String(status.body.cause)}`);
      return 1;
    }
    const url = String(status.body.url);
    const answer = await fetchThroughInternet(ready.internetProxyUrl, url);
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.body);
    } catch {
      parsed = undefined;
    }
    const ok = answer.status === 200 && JSON.stringify(parsed) === JSON.stringify(HELLO);
    print();
    print(`  URL:   ${url}   (a made-up public IP: reach it through the local internet proxy)`);
    print(`  body:  ${answer.body}`);
    print(`  ssh:   ${String(status.body.sshCommand)}   (on AWS; the local instances have no sshd)`);
    print();
    print('Tear it down:');
    print('  here:   the local cloud terminates the instance and stops its uvicorn when the demo exits' + (keep ? ' (Ctrl-C)' : ''));
    print('  on AWS: see "Removing a server" in docs/lifecycle.md');
    if (keep && ok) {
      print();
      print(`Try it: curl -x ${ready.internetProxyUrl} ${url}`);
      print('Running until Ctrl-C…');
      await new Promise(() => undefined);
    }
    return ok ? 0 : 1;
  };
  try {
    return await Promise.race([run(), interrupted]);
  } finally {
    await stopCloud(child);
  }
};

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo failed: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
