import { ensurePythonEnv } from '../../localcloud/python';
import { type Moto, startMoto } from '../../localcloud/moto';

/** The region the handlers run in (vitest.config.ts sets AWS_REGION to it too). */
export const REGION = 'ap-northeast-2';

/** What every test's SDK client needs: the endpoint, fake credentials, and no SDK retries unless a test wants them. */
export const clientConfig = (endpoint: string, maxAttempts = 1) => ({
  endpoint,
  region: REGION,
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  maxAttempts,
});

/** The repo's .venv (built on first use: the lock makes parallel test files wait for one build) and a moto on a free port. */
export const startTestMoto = async (): Promise<Moto> => {
  const { python } = await ensurePythonEnv();
  return startMoto({ python });
};

/** True while a process with that pid exists. */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Minutes of pip on a machine without the packages: beforeAll may take a while the first time. */
export const SETUP_TIMEOUT_MS = 180_000;
