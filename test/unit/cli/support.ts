import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { type CliIo, run } from '../../../cli/main';
import type { TargetDeps } from '../../../cli/target';

export type Handler = (req: IncomingMessage, body: string) => { status: number; body: unknown; headers?: Record<string, string> } | undefined;

/** A tiny HTTP API on 127.0.0.1: each request goes to `handle`; every request is recorded. */
export const fakeApi = async (handle: Handler) => {
  const requests: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk)).on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const answer = handle(req, body) ?? { status: 404, body: { message: `No route for ${req.method} ${req.url}` } };
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers }).end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/local`;
  return { url, requests, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
};

/** What ora needs of a tty.WriteStream; the cursor moves are not recorded. */
const fakeTty = { isTTY: true, columns: 80, cursorTo: () => true, moveCursor: () => true, clearLine: () => true };

const collect = () => {
  let text = '';
  // Collected as written (a PassThrough would hand the last chunks over after run() returned).
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  return { stream, text: () => text };
};

/** Runs the CLI in this process with captured output and no local cloud unless `endpoints` says so. */
export const runCli = async (
  argv: string[],
  options: { env?: NodeJS.ProcessEnv; targetDeps?: Partial<TargetDeps>; interrupt?: AbortSignal; cwd?: string; tty?: boolean; io?: Pick<CliIo, 'sleep' | 'random' | 'backoff'> } = {},
) => {
  const stdout = collect();
  const stderr = collect();
  const env = options.env ?? {};
  const io: CliIo = {
    stdout: Object.assign(stdout.stream, options.tty ? fakeTty : { isTTY: false }),
    stderr: stderr.stream,
    env,
    cwd: options.cwd ?? process.cwd(),
    interrupt: options.interrupt ?? new AbortController().signal,
    pollMs: 5,
    targetDeps: {
      env,
      readEndpoints: () => undefined,
      stackTarget: () => Promise.reject(new Error('no stack in this test')),
      ...options.targetDeps,
    },
    ...options.io,
  };
  const code = await run(argv, io);
  return { code, stdout: stdout.text(), stderr: stderr.text() };
};
