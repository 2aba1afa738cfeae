import { createHash } from 'node:crypto';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { LAUNCH_STORAGE_SCRIPT, LOGIN_STORAGE_SCRIPT, launchStoragePage, loginStoragePage } from '../../../shared/lti';

const ORIGIN = 'https://sso.canvaslms.com';

/**
 * The pages' scripts run in a small fake browser: a parent window with the platform's storage frame,
 * message events delivered by hand, timers run on demand, fetch answered by the test.
 */
const browser = (config: Record<string, unknown>, fetchAnswer?: (url: string, init: { body: string }) => { status: number; body: unknown }) => {
  const posted: { data: Record<string, unknown>; origin: string }[] = [];
  const listeners: ((event: { origin: string; data: unknown }) => void)[] = [];
  const timers: (() => void)[] = [];
  const navigations: string[] = [];
  const fetches: { url: string; body: unknown; credentials?: string }[] = [];
  const frame = { postMessage: (data: Record<string, unknown>, origin: string) => posted.push({ data, origin }) };
  const parent = { frames: { post_message_forwarding: frame } as Record<string, unknown>, postMessage: frame.postMessage };
  const window: Record<string, unknown> = {
    parent,
    opener: null,
    location: { replace: (url: string) => navigations.push(url) },
    addEventListener: (type: string, listener: (event: { origin: string; data: unknown }) => void) => {
      if (type === 'message') listeners.push(listener);
    },
  };
  const context = vm.createContext({
    window,
    document: { getElementById: (id: string) => (id === 'hf-lti' ? { textContent: JSON.stringify(config) } : null) },
    setTimeout: (fn: () => void) => timers.push(fn),
    fetch: async (url: string, init: { body: string; credentials?: string }) => {
      fetches.push({ url, body: JSON.parse(init.body), credentials: init.credentials });
      const answer = fetchAnswer?.(url, init) ?? { status: 500, body: {} };
      return { ok: answer.status < 300, status: answer.status, json: async () => answer.body };
    },
  });
  return {
    run: (script: string) => vm.runInContext(script, context),
    window,
    posted,
    navigations,
    fetches,
    deliver: (origin: string, data: unknown) => {
      for (const listener of listeners) listener({ origin, data });
    },
    fireTimers: () => {
      for (const timer of timers.splice(0)) timer();
    },
  };
};

const loginConfig = { target: 'post_message_forwarding', origin: ORIGIN, key: 'hf-state-abc', value: 'abc', next: 'https://sso.canvaslms.com/api/lti/authorize_redirect?state=s', timeoutMs: 3000 };

describe('the login page with platform storage', () => {
  it('puts the state into the platform’s storage frame at the platform’s origin, then goes to the authentication request', () => {
    // Prepare
    const b = browser(loginConfig);

    // Act
    b.run(LOGIN_STORAGE_SCRIPT);
    const [message] = b.posted;
    b.deliver(ORIGIN, { subject: 'lti.put_data.response', message_id: message?.data.message_id, key: 'hf-state-abc', value: 'abc' });

    // Assess
    expect(message?.origin).toBe(ORIGIN);
    expect(message?.data).toMatchObject({ subject: 'lti.put_data', key: 'hf-state-abc', value: 'abc' });
    expect(b.navigations).toEqual([loginConfig.next]);
  });

  it('ignores answers from another origin or for another message, and goes on anyway after the timeout', () => {
    // Prepare
    const b = browser(loginConfig);
    b.run(LOGIN_STORAGE_SCRIPT);
    const id = b.posted[0]?.data.message_id;

    // Act
    b.deliver('https://evil.example', { subject: 'lti.put_data.response', message_id: id });
    b.deliver(ORIGIN, { subject: 'lti.put_data.response', message_id: 'another' });
    const before = [...b.navigations];
    b.fireTimers();

    // Assess
    expect(before).toEqual([]);
    expect(b.navigations).toEqual([loginConfig.next]);
  });

  it('serves the script with a CSP that allows exactly its hash, and its inputs as inert, escaped JSON', () => {
    // Act
    const page = loginStoragePage({ target: 'post_message_forwarding', origin: ORIGIN, key: 'k', value: '</script><script>alert(1)</script>' }, loginConfig.next);

    // Assess
    const hash = createHash('sha256').update(LOGIN_STORAGE_SCRIPT).digest('base64');
    expect(page.headers['Content-Security-Policy']).toContain(`script-src 'sha256-${hash}'`);
    expect(page.headers['Content-Security-Policy']).toContain("default-src 'none'");
    expect(page.html).toContain(`<script>${LOGIN_STORAGE_SCRIPT}</script>`);
    expect(page.html).not.toContain('</script><script>alert(1)');
    const block = /<script type="application\/json" id="hf-lti">([^<]*)<\/script>/.exec(page.html)?.[1] as string;
    expect(JSON.parse(block)).toMatchObject({ value: '</script><script>alert(1)</script>', next: loginConfig.next });
  });
});

describe('the launch page with platform storage', () => {
  const launchConfig = { target: 'post_message_forwarding', origin: ORIGIN, key: 'hf-state-abc', ticket: 'TICKET', sessionUrl: 'https://tool.example/dev/lti/session', timeoutMs: 3000 };

  it('reads the state back and trades it with the ticket for a session, without cookies', async () => {
    // Prepare
    const b = browser(launchConfig, () => ({ status: 200, body: { token: 'SESSION', expiresAt: 1 } }));
    b.run(LAUNCH_STORAGE_SCRIPT);
    const [message] = b.posted;

    // Act
    b.deliver(ORIGIN, { subject: 'lti.get_data.response', message_id: message?.data.message_id, key: 'hf-state-abc', value: 'abc' });
    const session = await (b.window.helloFleetSession as Promise<unknown>);

    // Assess
    expect(message).toMatchObject({ origin: ORIGIN, data: { subject: 'lti.get_data', key: 'hf-state-abc' } });
    expect(b.fetches).toEqual([{ url: launchConfig.sessionUrl, body: { ticket: 'TICKET', state: 'abc' }, credentials: 'omit' }]);
    expect(session).toEqual({ token: 'SESSION', expiresAt: 1 });
  });

  it('fails with LtiStateError when the platform has no such state (another browser’s launch)', async () => {
    // Prepare
    const b = browser(launchConfig);
    b.run(LAUNCH_STORAGE_SCRIPT);
    const id = b.posted[0]?.data.message_id;

    // Act
    b.deliver(ORIGIN, { subject: 'lti.get_data.response', message_id: id, key: 'hf-state-abc', error: { code: 'not_found', message: 'no such key' } });
    const error = await (b.window.helloFleetSession as Promise<unknown>).catch((e: unknown) => e as Error);

    // Assess
    expect((error as Error).name).toBe('LtiStateError');
    expect(b.fetches).toEqual([]);
  });

  it('fails with LtiStateError when the platform never answers, and ignores other origins', async () => {
    // Prepare
    const b = browser(launchConfig);
    b.run(LAUNCH_STORAGE_SCRIPT);
    const id = b.posted[0]?.data.message_id;

    // Act
    b.deliver('https://evil.example', { subject: 'lti.get_data.response', message_id: id, key: 'hf-state-abc', value: 'abc' });
    b.fireTimers();
    const error = await (b.window.helloFleetSession as Promise<unknown>).catch((e: unknown) => e as Error);

    // Assess
    expect((error as Error).name).toBe('LtiStateError');
    expect(b.fetches).toEqual([]);
  });

  it('passes on the tool’s refusal by its error name', async () => {
    // Prepare
    const b = browser(launchConfig, () => ({ status: 401, body: { error: 'LtiStateError', message: 'this launch ticket was already used' } }));
    b.run(LAUNCH_STORAGE_SCRIPT);

    // Act
    b.deliver(ORIGIN, { subject: 'lti.get_data.response', message_id: b.posted[0]?.data.message_id, key: 'hf-state-abc', value: 'abc' });
    const error = await (b.window.helloFleetSession as Promise<unknown>).catch((e: unknown) => e as Error);

    // Assess
    expect(error).toMatchObject({ name: 'LtiStateError', message: 'this launch ticket was already used' });
  });

  it('lets the page connect only to the tool’s own origin', () => {
    // Act
    const page = launchStoragePage({ target: 'post_message_forwarding', origin: ORIGIN, key: 'k', ticket: 't', sessionUrl: launchConfig.sessionUrl });

    // Assess
    expect(page.headers['Content-Security-Policy']).toContain('connect-src https://tool.example;');
  });
});
