/**
 * A tool and a local LMS wired together in-process: the LMS (localcloud/lti-platform.ts) answers
 * through its `fetch` method, the tool's JWKS through a function, so the whole LTI flow runs without
 * a socket. A "browser" here is a few lines that follow auto-submitting forms and keep cookies.
 */
import type { FetchImplementation } from 'jose';
import { LtiPlatform, type PlatformFlavor } from '../../../localcloud/lti-platform';
import {
  InMemoryNonceStore,
  InMemoryPlatformStore,
  initiateLogin,
  type LaunchDependencies,
  newKeySet,
  PlatformKeys,
  parseCookies,
  parseForm,
  parseLoginRequest,
  ToolKeyring,
  type ToolKeySet,
  toolEndpoints,
} from '../../../shared/lti';

export const TOOL_BASE = 'https://tool.hello-fleet.test/dev';
export const PLATFORM_BASE = 'http://127.0.0.1:9';

let sharedKeys: Promise<ToolKeySet> | undefined;
/** One key set per test file (RSA generation takes a moment). */
export const toolKeySet = (): Promise<ToolKeySet> => {
  sharedKeys ??= newKeySet(new Date('2026-01-01T00:00:00Z'));
  return sharedKeys;
};

/** The action and hidden fields of an auto-submitting form page. */
export const formOf = (html: string): { action: string; fields: Record<string, string> } => {
  const decode = (text: string) =>
    text.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  const action = /<form[^>]*action="([^"]*)"/.exec(html)?.[1];
  if (action === undefined) throw new Error(`no form in: ${html.slice(0, 300)}`);
  const fields: Record<string, string> = {};
  for (const match of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) fields[decode(match[1] as string)] = decode(match[2] as string);
  return { action: decode(action), fields };
};

export interface Harness {
  platform: LtiPlatform;
  tool: ReturnType<typeof toolEndpoints>;
  keyring: ToolKeyring;
  platforms: InMemoryPlatformStore;
  nonces: InMemoryNonceStore;
  platformKeys: PlatformKeys;
  /** JWKS fetches of the platform's keys made by the tool. */
  jwksFetches: () => number;
  deps: (now?: number) => LaunchDependencies;
  /** The tool's JWKS, as its route serves it, reachable by the platform's token endpoint. */
  toolFetch: typeof globalThis.fetch;
}

export const createHarness = async (
  options: { flavor?: PlatformFlavor; platformStorage?: boolean; now?: () => number; platformFetchFails?: boolean } = {},
): Promise<Harness> => {
  const tool = toolEndpoints(TOOL_BASE);
  const keyring = await ToolKeyring.fromKeySet(await toolKeySet());
  const toolFetch = (async (input: string | URL | Request) => {
    const url = input instanceof Request ? input.url : String(input);
    if (url === tool.jwks) return new Response(JSON.stringify(keyring.jwks()), { headers: { 'Content-Type': 'application/json' } });
    return new Response('not found', { status: 404 });
  }) as typeof globalThis.fetch;
  const platform = await LtiPlatform.create({
    baseUrl: PLATFORM_BASE,
    flavor: options.flavor ?? 'canvas',
    ...(options.platformStorage !== undefined && { platformStorage: options.platformStorage }),
    ...(options.now !== undefined && { now: options.now }),
    tool: { loginUrl: tool.login, redirectUris: [tool.launch], targetLinkUri: tool.launch, jwksUrl: tool.jwks },
    fetch: toolFetch,
  });
  const platforms = new InMemoryPlatformStore([platform.registration()]);
  const nonces = new InMemoryNonceStore();
  let fetches = 0;
  const fetchForKeys: FetchImplementation = async (url, init) => {
    fetches += 1;
    if (options.platformFetchFails) throw new TypeError('fetch failed');
    return platform.fetch(url, init);
  };
  const platformKeys = new PlatformKeys({ fetch: fetchForKeys, cooldownMs: 0 });
  return {
    platform,
    tool,
    keyring,
    platforms,
    nonces,
    platformKeys,
    jwksFetches: () => fetches,
    deps: (now?: number) => ({ platforms, nonces, keyring, tool, platformKeys, ...(now !== undefined && { now }) }),
    toolFetch,
  };
};

export interface Login {
  /** The form fields the platform posts to the launch URL (id_token, state, maybe lti_storage_target, or error). */
  launchFields: Record<string, string>;
  /** The cookies the browser holds for the tool after the login. */
  cookies: Record<string, string>;
  state: string;
  nonce: string;
  stateId: string;
  /** The platform-storage request, when the platform offered it. */
  storage?: { key: string; value: string };
}

/**
 * A browser's launch up to the launch POST: the platform's launch page, the login initiation at the
 * tool, the authentication request at the platform, and the form it answers with.
 */
export const browserLogin = async (
  h: Harness,
  sub: string,
  courseId: string,
  options: { deploymentId?: string; messageType?: string; method?: 'get' | 'post'; now?: number } = {},
): Promise<Login> => {
  const start = await h.platform.fetch(h.platform.launchUrl(sub, courseId, options));
  let loginParams: Record<string, string | undefined>;
  if (start.status === 302) {
    const location = new URL(start.headers.get('location') as string);
    loginParams = Object.fromEntries(location.searchParams);
  } else {
    const form = formOf(await start.text());
    if (form.action !== h.tool.login) throw new Error(`the platform posted the login to ${form.action}`);
    loginParams = parseForm(new URLSearchParams(form.fields).toString(), 'application/x-www-form-urlencoded');
  }
  const login = await initiateLogin(parseLoginRequest(loginParams), {
    platforms: h.platforms,
    nonces: h.nonces,
    keyring: h.keyring,
    tool: h.tool,
    ...(options.now !== undefined && { now: options.now }),
  });
  const cookies = parseCookies(login.setCookie.split(';')[0]);
  const auth = await h.platform.fetch(login.authRequestUrl);
  const form = formOf(await auth.text());
  if (form.action !== h.tool.launch) throw new Error(`the platform posted the launch to ${form.action}`);
  return {
    launchFields: form.fields,
    cookies,
    state: login.state,
    nonce: login.nonce,
    stateId: login.stateId,
    ...(login.storage !== undefined && { storage: { key: login.storage.key, value: login.storage.value } }),
  };
};

/** A course with a teacher and two students, one of them in two sections. */
export const seedCourse = (platform: LtiPlatform) => {
  const course = platform.addCourse({ title: 'FastAPI 101', label: 'FAPI101' });
  const teacher = platform.addUser({ givenName: 'Minji', familyName: 'Kim', locale: 'ko-KR' });
  const student = platform.addUser({ givenName: 'Jisoo', familyName: 'Park', locale: 'en-US' });
  const twoSections = platform.addUser({ givenName: 'Hyun', familyName: 'Lee', locale: 'ko' });
  const observer = platform.addUser({ givenName: 'Parent', familyName: 'Park' });
  platform.enroll(course.id, teacher.sub, 'Instructor');
  platform.enroll(course.id, student.sub, 'Learner', 'A');
  platform.enroll(course.id, twoSections.sub, 'Learner', 'A');
  platform.enroll(course.id, twoSections.sub, 'Learner', 'B');
  platform.enroll(course.id, observer.sub, 'Mentor');
  return { course, teacher, student, twoSections, observer };
};
