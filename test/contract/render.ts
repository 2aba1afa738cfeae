/**
 * `npm run package` once for everything that reads its output: the CloudFormation template and the
 * functions' bundles under .serverless/. Several test files need it (test/contract/template.test.ts,
 * test/iam/*) and vitest runs files in parallel, so two of them packaging at once would write the same
 * directories under each other. Here the first one packages while holding a lock; the others wait for
 * it and reuse what it rendered.
 *
 * Reused only while it is the render of what is checked out: the inputs (serverless.yml, the ASL, the
 * functions and shared code, package-lock.json) are hashed, and the hash is written beside the output
 * once the package succeeded. Any change to them, or a package that died half-way, renders again.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './support';

export const PACKAGE_DIR = join(ROOT, '.serverless');
export const TEMPLATE = join(PACKAGE_DIR, 'cloudformation-template-update-stack.json');

/** What `osls package` reads: a change to any of these can change the template or a bundle. */
const INPUTS = ['serverless.yml', 'package-lock.json', 'tsconfig.json', 'statemachine', 'functions', 'shared'];
const STAMP = join(PACKAGE_DIR, '.rendered-from');
/** One lock per checkout: another worktree packages its own .serverless/. */
const LOCK = join(tmpdir(), `hello-fleet-package-${createHash('sha256').update(ROOT).digest('hex').slice(0, 16)}.lock`);
const WAIT_MS = 6 * 60_000;

const filesUnder = (path: string): string[] => {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .sort()
    .flatMap((name) => filesUnder(join(path, name)));
};

/** A hash of every input's path and content. */
export const inputsHash = (): string => {
  const hash = createHash('sha256');
  for (const file of INPUTS.flatMap((input) => filesUnder(join(ROOT, input)))) {
    hash.update(relative(ROOT, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex');
};

/** The stamp: the inputs' hash and the template's, so a template packaged by hand since (another stage) is not taken for ours. */
const stampOf = (hash: string): string => `${hash} ${createHash('sha256').update(readFileSync(TEMPLATE)).digest('hex')}`;

const isCurrent = (hash: string): boolean => existsSync(STAMP) && existsSync(TEMPLATE) && readFileSync(STAMP, 'utf8') === stampOf(hash);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Takes the lock (a directory: mkdir is atomic), breaking one left by a process that is gone. */
const lock = async (): Promise<void> => {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, 'pid'), String(process.pid));
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number(existsSync(join(LOCK, 'pid')) ? readFileSync(join(LOCK, 'pid'), 'utf8') : Number.NaN);
    if (Number.isInteger(owner) && !alive(owner)) rmSync(LOCK, { recursive: true, force: true });
    if (Date.now() > deadline) throw new Error(`waited ${WAIT_MS / 1000} s for another \`npm run package\` (lock ${LOCK})`);
    await sleep(500);
  }
};

/**
 * Makes .serverless/ the package of the inputs as they are now: packages (offline, no AWS credentials)
 * unless the last package already was of exactly these inputs.
 *
 * @throws Error with the package's output when `npm run package` fails.
 */
export const renderPackage = async (): Promise<void> => {
  const hash = inputsHash();
  if (isCurrent(hash)) return;
  await lock();
  try {
    // Another file may have packaged these very inputs while this one waited.
    if (isCurrent(hash)) return;
    rmSync(STAMP, { force: true });
    await promisify(execFile)('npm', ['run', 'package'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 }).catch(
      (error: { stdout?: string; stderr?: string }) => {
        throw new Error(`npm run package failed:\n${error.stdout ?? ''}\n${error.stderr ?? ''}`);
      },
    );
    writeFileSync(STAMP, stampOf(hash));
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
};

/** The packaged CloudFormation template (call renderPackage first). */
export const readTemplate = <T = { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> }>(): T =>
  JSON.parse(readFileSync(TEMPLATE, 'utf8')) as T;
