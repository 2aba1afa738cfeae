/**
 * The local dashboard in a real browser: Debian's Chromium driven by playwright-core (never a browser
 * download). A person opens the page, presses New server, and watches the execution graph and the step
 * timings while the server provisions; the screenshot is kept as test-artifacts/dashboard.png.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCloud } from '../../localcloud/index';
import { chromiumPath } from '../../scripts/ensure-deps.mjs';
import { MAIN_STEPS } from '../../shared/server-status';
import { api, startCloud } from './support';

const CHROMIUM = chromiumPath();
const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts');

let cloud: LocalCloud;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium, or set CHROMIUM_PATH (npm test's pretest installs it as root)`);
  cloud = await startCloud();
  // Playwright gives the browser a fresh temporary profile of its own.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 180_000);
afterAll(async () => {
  await browser?.close();
  await cloud?.stop();
});

/** The data-visit of a state's node in the graph on the page ('' when it is not drawn). */
const visitOnPage = (page: Page, state: string): Promise<string> =>
  page.$eval(`#graph g[data-state="${state}"]`, (node) => node.getAttribute('data-visit') ?? '').catch(() => '');

describe('the local dashboard', () => {
  it('provisions a server from the page and shows its graph reaching HealthCheck, with step timings', async () => {
    // Prepare
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(cloud.dashboardUrl);
    await expect(page.textContent('h1')).resolves.toBe('hello-fleet');

    // Act
    await page.click('#new-server');
    await page.waitForSelector('#graph svg g[data-state="CreateKeyPair"]', { timeout: 30_000 });
    const serverId = await page.textContent('#detail-title');
    const healthCheck = '#graph g[data-state="HealthCheck"]';
    await page.waitForSelector(`${healthCheck}[data-visit="running"], ${healthCheck}[data-visit="succeeded"]`, { timeout: 200_000 });
    await page.waitForSelector('#detail-status.status-READY', { timeout: 60_000 });
    await page.waitForSelector(`#servers tbody tr[data-server-id="${serverId}"] .status-READY`);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });

    // Assess
    expect(serverId).toMatch(/^hf-[a-z2-7]{12}$/);
    const server = await api(cloud, 'GET', `/servers/${serverId}`);
    expect(server.body.status).toBe('READY');
    for (const state of ['CreateKeyPair', 'RunInstance', 'InstallFastAPI', 'HealthCheck', 'ServerReady']) {
      expect(await visitOnPage(page, state), state).toBe('succeeded');
    }
    expect(await visitOnPage(page, 'RollBack')).toBe('notVisited');
    expect(await page.$$eval('#graph g.legend [data-legend]', (items) => items.length)).toBe(5);
    const rows = await page.$$eval('#timings tbody tr', (trs) => trs.map((tr) => ({ step: tr.getAttribute('data-step'), state: tr.getAttribute('data-state'), duration: tr.lastElementChild?.textContent ?? '' })));
    expect(rows.map((row) => row.step)).toEqual([...MAIN_STEPS]);
    for (const row of rows) {
      expect(row.state, String(row.step)).toBe('succeeded');
      expect(row.duration, String(row.step)).toMatch(/^\d+(\.\d)? (ms|s)$/);
    }
    expect(await page.textContent(`#servers tbody tr[data-server-id="${serverId}"]`)).toContain('READY');
    expect(errors).toEqual([]);
  }, 300_000);

  it('serves the graph of a server that does not exist as a 404, and a malformed id as a 400', async () => {
    // Act
    const missing = await fetch(`${cloud.dashboardUrl}/graph/hf-aaaaaaaaaaaa.svg`);
    const malformed = await fetch(`${cloud.dashboardUrl}/graph/nope.svg`);

    // Assess
    expect(missing.status).toBe(404);
    expect(malformed.status).toBe(400);
  });
});
