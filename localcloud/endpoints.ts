/**
 * Where a running local cloud can be found: `localcloud/main.ts start` writes its endpoints to
 * `.local-cloud/endpoints.json` (gitignored; LOCAL_CLOUD_ENDPOINTS overrides the path) and removes the
 * file when it stops; `npm run reap` reads it. The file names its owner's pid: a file whose owner is
 * gone (a crash, a kill -9) counts as absent, and one whose owner still runs is never overwritten.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface LocalEndpoints {
  apiUrl: string;
  apiKey: string;
  /** The LMS webhook's shared secret (`npm run lms:send` signs with it). Optional: older files lack it. */
  lmsWebhookSecret?: string;
  gatewayUrl: string;
  internetProxyUrl: string;
  motoUrl: string;
  stateMachineArn: string;
  teardownStateMachineArn: string;
  /** `POST <controlUrl>/reap` runs one reaper sweep (localcloud/control.ts). */
  controlUrl: string;
  /** The dashboard page (localcloud/dashboard.ts): local only. Optional: a file from before the dashboard lacks it. */
  dashboardUrl?: string;
  root: string;
  pid: number;
}

export const endpointsFile = (): string =>
  process.env.LOCAL_CLOUD_ENDPOINTS ?? join(import.meta.dirname, '..', '.local-cloud', 'endpoints.json');

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it just isn't ours to signal.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** The endpoints of the local cloud that is running, or undefined when none is (no file, or its owner is gone). */
export const readEndpoints = (path = endpointsFile()): LocalEndpoints | undefined => {
  let parsed: Partial<LocalEndpoints>;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<LocalEndpoints>;
  } catch {
    return undefined;
  }
  return typeof parsed.pid === 'number' && isAlive(parsed.pid) ? (parsed as LocalEndpoints) : undefined;
};

export type EndpointsWrite =
  | { written: true; path: string; remove: () => void }
  | { written: false; path: string; ownerPid: number };

/** Writes the file (0600: it holds the local API key and webhook secret) unless a running local cloud owns it. */
export const writeEndpoints = (endpoints: LocalEndpoints, path = endpointsFile()): EndpointsWrite => {
  const current = readEndpoints(path);
  if (current !== undefined && current.pid !== endpoints.pid) return { written: false, path, ownerPid: current.pid };
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${endpoints.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(endpoints, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, path);
  return {
    written: true,
    path,
    // Only our own file: another cloud may have taken the path over after ours died and came back.
    remove: () => {
      if (readEndpoints(path)?.pid === endpoints.pid) rmSync(path, { force: true });
    },
  };
};
