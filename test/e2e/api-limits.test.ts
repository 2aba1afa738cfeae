/**
 * The API's own limits, as a deployed user meets them, on the local cloud: serverless.yml's usage plan
 * (5 requests/s, burst 10) with a quota small enough to run out in the middle of `hello-fleet up`, over
 * a period of seconds instead of API Gateway's day (quotaPeriodMs: local only). The CLI runs as a child
 * process, found through an endpoints file as `npm run localcloud` writes it; the dashboard in Debian's
 * Chromium (playwright-core), as test/e2e/dashboard.test.ts drives it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../localcloud/index';
import { usagePlanFromServerless } from '../../localcloud/usage-plan';
import { api } from './support';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'hello-fleet.mjs');
/**
 * Requests per key per period, and the period: while a server provisions here (steps a second or two
 * apart at this time scale), `up` polls more often than that, so it runs out of quota more than once.
 */
const QUOTA = 2;
const PERIOD_MS = 5000;
const CHROMIUM = '/usr/bin/chromium';

let cloud: LocalCloud;
let env: NodeJS.ProcessEnv;
let browser: Browser | undefined;

beforeAll(async () => {
  cloud = await startLocalCloud({ timeScale: 0.05, usagePlan: { quotaLimit: QUOTA, quotaPeriodMs: PERIOD_MS } });
  const dir = mkdtempSync(join(tmpdir(), 'hf-api-limits-e2e-'));
  const endpoints = join(dir, 'endpoints.json');
  writeFileSync(endpoints, JSON.stringify({ apiUrl: cloud.apiUrl, apiKey: cloud.apiKey, gatewayUrl: cloud.gatewayUrl, pid: process.pid }));
  env = { PATH: process.env.PATH, HOME: dir, LOCAL_CLOUD_ENDPOINTS: endpoints };
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await cloud?.stop();
});

const finished = (child: ChildProcess) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });

/** Spends what is left of this period's quota, at the plan's rate, until API Gateway says Limit Exceeded. */
const spendQuota = async (): Promise<number> => {
  for (let spent = 0; ; spent++) {
    const reply = await api(cloud, 'GET', '/servers?limit=1');
    if (reply.status === 429 && reply.body.message === 'Limit Exceeded') return spent;
    if (reply.status === 429) await new Promise((resolve) => setTimeout(resolve, 250));
    else expect(reply.status).toBe(200);
  }
};

/** The call's answer once the usage plan lets it through. */
const allowed = async <T extends { status: number }>(call: () => Promise<T>): Promise<T> => {
  for (;;) {
    const reply = await call();
    if (reply.status !== 429) return reply;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
};

describe('the API usage plan on the local cloud', () => {
  it("enforces serverless.yml's throttle with the test's quota", () => {
    // Assess
    expect(cloud.usagePlan?.plan).toEqual({ throttle: usagePlanFromServerless().throttle, quota: { limit: QUOTA, period: 'DAY' } });
  });

  it('lets `hello-fleet up` run out of quota mid-follow: it says it waits, waits, and resumes to READY with exit 0', async () => {
    // Prepare: start `up`, and once it follows, spend whatever is left of the quota as another client of
    // the same key would (a second terminal).
    const child = spawn(process.execPath, [BIN, 'up', '--local', '--plain', '--idempotency-key', 'e2e-api-limits'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const result = finished(child);
    let seen = '';
    await new Promise<void>((resolve) => child.stdout?.on('data', (chunk: Buffer) => ((seen += chunk.toString()), /CreateKeyPair started/.test(seen) && resolve())));
    await spendQuota();
    // Act
    const { code, stdout, stderr } = await result;
    // Assess
    const serverId = /(hf-[a-z2-7]{12})/.exec(stdout)?.[1] ?? '';
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/The API key's request quota is used up \(429 Limit Exceeded\).*waiting \d+ s and asking again.*Still following hf-/);
    expect(stdout).toContain(`The API answers again: following ${serverId} on.`);
    expect(stdout).toMatch(new RegExp(`${serverId} READY http://`));
    expect(stdout).toMatch(/HealthCheck done in/);
    const stats = cloud.api.stats();
    expect(stats['GET /servers/{serverId}/execution']?.quotaExceeded).toBeGreaterThan(0);
    expect(await allowed(() => api(cloud, 'GET', `/servers/${serverId}`))).toMatchObject({ status: 200, body: { status: 'READY' } });
  }, 300_000);

  it('keeps the dashboard following a server through the same limits: it says it waits, and shows READY', async () => {
    // Prepare
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(cloud.dashboardUrl);
    // Act: New server, pressed again if the POST itself met the spent quota (the page says so).
    for (let tries = 0; (await page.textContent('#detail-title')) === '' && tries < 20; tries++) {
      await page.click('#new-server');
      await page.waitForFunction("document.querySelector('#detail-title').textContent !== '' || document.querySelector('#message').textContent !== ''");
      if ((await page.textContent('#detail-title')) === '') await page.waitForTimeout(1000);
    }
    const serverId = await page.textContent('#detail-title');
    await page.waitForSelector('#throttled:not([hidden])', { timeout: 60_000 });
    const waiting = await page.textContent('#throttled');
    await page.waitForSelector('#detail-status.status-READY', { timeout: 240_000 });
    // Assess
    expect(serverId).toMatch(/^hf-[a-z2-7]{12}$/);
    expect(waiting).toMatch(/429 Limit Exceeded\): trying again in \d+ s\./);
    expect(await page.$eval('#graph g[data-state="HealthCheck"]', (node) => node.getAttribute('data-visit'))).toBe('succeeded');
    expect(await allowed(() => api(cloud, 'GET', `/servers/${serverId}`))).toMatchObject({ body: { status: 'READY' } });
    expect(errors).toEqual([]);
  }, 300_000);
});
