/**
 * The launch in a real browser (Debian's Chromium through playwright-core), as a student meets it:
 * the LMS's course page on one site (http://localhost:<port>), hello-fleet in its iframe on another
 * (http://127.0.0.1:<port>), so that every cookie the tool sets is a third-party cookie.
 *
 * Chromium runs with --test-third-party-cookie-phaseout: third-party cookies are blocked unless
 * Partitioned (CHIPS), as in browsers that block them. Then:
 * - the partitioned state cookie binds the launch;
 * - the same cookie without Partitioned is dropped, and the launch is refused (the control: the test
 *   can fail, and Partitioned is what makes the difference);
 * - with no cookie at all, Canvas-style Platform Storage (lti.put_data / lti.get_data to the
 *   post_message_forwarding frame on the LMS's origin) binds it instead.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium, type Frame, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningLtiPlatform, startLtiPlatform } from '../../localcloud/lti-platform';
import { newKeySet, ToolKeyring } from '../../shared/lti';
import { startToolServer, type ToolServer, type ToolServerOptions } from './lti-tool-server';

const CHROMIUM = '/usr/bin/chromium';

let browser: Browser;
let keyring: ToolKeyring;
let cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  keyring = await ToolKeyring.fromKeySet(await newKeySet());
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--test-third-party-cookie-phaseout',
    ],
  });
}, 60_000);
afterEach(async () => {
  for (const close of cleanup.splice(0)) await close();
});
afterAll(async () => {
  await browser?.close();
});

const setUp = async (cookie: ToolServerOptions['cookie'], platformStorage: boolean) => {
  const tool: ToolServer = await startToolServer({ keyring, cookie });
  const lms: RunningLtiPlatform = await startLtiPlatform({
    host: 'localhost',
    platformStorage,
    tool: { loginUrl: tool.tool.login, redirectUris: [tool.tool.launch], targetLinkUri: tool.tool.launch, jwksUrl: tool.tool.jwks },
  });
  const context = await browser.newContext();
  cleanup.push(
    () => context.close(),
    () => lms.close(),
    () => tool.close(),
  );
  await tool.platforms.put(lms.platform.registration());
  const course = lms.platform.addCourse({ title: 'FastAPI 101' });
  const student = lms.platform.addUser({ givenName: 'Jisoo', familyName: 'Park' });
  lms.platform.enroll(course.id, student.sub, 'Learner');
  const page: Page = await context.newPage();
  await page.goto(lms.platform.courseUrl(student.sub, course.id));
  return { tool, lms, student, page };
};

/** The tool's iframe once it shows a result or an error. */
const toolFrame = async (page: Page): Promise<Frame> => {
  const frame = page.frame({ name: 'tool' });
  if (frame === null) throw new Error('no tool frame');
  await frame.waitForSelector('#result, #error, script#hf-lti', { state: 'attached', timeout: 20_000 });
  return frame;
};

describe('the launch inside the LMS iframe, in Chromium with third-party cookies phased out', () => {
  it('binds the state with the partitioned cookie and opens a session', async () => {
    // Act
    const { tool, page, student } = await setUp('partitioned', false);
    const frame = await toolFrame(page);

    // Assess
    await expect(frame.getAttribute('#result', 'data-role')).resolves.toBe('Learner');
    await expect(frame.getAttribute('#result', 'data-sub')).resolves.toBe(student.sub);
    expect(tool.launches.map((launch) => launch.binding)).toEqual(['cookie']);
  }, 60_000);

  it('refuses the launch when the same cookie is not partitioned (the browser drops it): LtiStateError', async () => {
    // Act
    const { tool, page } = await setUp('unpartitioned', false);
    const frame = await toolFrame(page);

    // Assess
    await expect(frame.getAttribute('#error', 'data-error')).resolves.toBe('LtiStateError');
    expect(tool.launches).toEqual([]);
    expect(tool.refusals).toEqual(['LtiStateError']);
  }, 60_000);

  it('binds the state through the LMS’s platform storage when no cookie is kept at all', async () => {
    // Act
    const { tool, page, student } = await setUp('none', true);
    const frame = await toolFrame(page);
    const session = await frame.evaluate(() => (globalThis as unknown as { helloFleetSession: Promise<{ role: string; sub: string; token: string }> }).helloFleetSession);

    // Assess
    expect(session).toMatchObject({ role: 'Learner', sub: student.sub, token: expect.any(String) });
    expect(tool.launches.map((launch) => launch.binding)).toEqual(['platform-storage']);
  }, 60_000);
});
