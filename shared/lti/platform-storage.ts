import { createHash } from 'node:crypto';
import { escapeHtml } from './http';
import type { PlatformStorageRequest } from './login';

/**
 * The cookie-less fallback of the launch: LTI Client Side postMessages (lti-cs-pm v0.1) and Platform
 * Storage (lti-pm-s v0.1), as the "LTI OIDC Login with LTI Client Side postMessages" guide (lti-cs-oidc
 * v0.1) combines them. When a browser keeps no cookie in the LMS's iframe, the tool asks the *platform*
 * to keep the state for it, in a frame on the platform's own origin:
 *
 *   login:  the tool's page posts {subject: 'lti.put_data', key, value} to the frame named by the
 *           login's `lti_storage_target` (Canvas: `post_message_forwarding`), targetOrigin = the origin
 *           of the platform's OIDC authentication URL, waits for 'lti.put_data.response', then goes on
 *           to the authentication request;
 *   launch: the tool's page posts {subject: 'lti.get_data', key} the same way; only a browser in which
 *           this login began gets the value back, and the page trades it with its one-time ticket for
 *           a session (session.ts: redeemLaunchTicket).
 *
 * Who supports it: Canvas does (its doc "Launching without Cookies": lti_storage_target in the login and
 * the launch, the sso.canvaslms.com domain required). Moodle's mod/lti (auth.php, 4.x) sends no
 * lti_storage_target: there the state cookie (SameSite=None; Secure; Partitioned) is the binding, and
 * a browser that blocks it gets LtiStateError, whose page says to open the tool in a new window.
 *
 * The pages are self-contained: one inline script allowed by its SHA-256 hash in the
 * Content-Security-Policy, its inputs in a JSON data block (not executed, HTML-escaped).
 */

/** How long a page waits for the platform's answer before going on without it (login) or giving up (launch). */
export const POST_MESSAGE_TIMEOUT_MS = 3000;

export interface StoragePage {
  html: string;
  /** Response headers: the CSP that allows exactly the page's script, and no caching. */
  headers: Record<string, string>;
}

/** The subjects of lti-cs-pm / lti-pm-s. */
export const SUBJECT = {
  putData: 'lti.put_data',
  getData: 'lti.get_data',
} as const;

/** JSON safe inside a <script type="application/json"> block: no `</script>` or comment can end it. */
const jsonBlock = (value: unknown): string =>
  JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

const scriptHash = (script: string): string => `'sha256-${createHash('sha256').update(script, 'utf8').digest('base64')}'`;

const page = (title: string, config: unknown, script: string, connectSrc: string): StoragePage => ({
  html: `<!doctype html>
<html>
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body>
<noscript>hello-fleet needs JavaScript in this page.</noscript>
<script type="application/json" id="hf-lti">${jsonBlock(config)}</script>
<script>${script}</script>
</body>
</html>
`,
  headers: {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Security-Policy': `default-src 'none'; script-src ${scriptHash(script)}; connect-src ${connectSrc}; base-uri 'none'; form-action 'none'`,
    'Referrer-Policy': 'no-referrer',
  },
});

/**
 * The login page's script: put the state into platform storage, then navigate to the authentication
 * request. It goes on after the timeout too: the state cookie may still bind the launch.
 */
export const LOGIN_STORAGE_SCRIPT = `(function () {
  var cfg = JSON.parse(document.getElementById('hf-lti').textContent);
  var host = window.parent !== window ? window.parent : window.opener;
  var frame = !host ? null : cfg.target === '_parent' ? host : host.frames[cfg.target];
  var id = 'hf-' + Math.random().toString(36).slice(2) + Date.now().toString(36);
  var done = false;
  function go() { if (done) return; done = true; window.location.replace(cfg.next); }
  window.addEventListener('message', function (event) {
    var data = event.data;
    if (event.origin !== cfg.origin || !data || data.message_id !== id || data.subject !== 'lti.put_data.response') return;
    go();
  });
  try { frame.postMessage({ subject: 'lti.put_data', message_id: id, key: cfg.key, value: cfg.value }, cfg.origin); } catch (e) { go(); }
  setTimeout(go, cfg.timeoutMs);
})();`;

/** The page a login answers with when the platform offered Platform Storage. */
export const loginStoragePage = (storage: PlatformStorageRequest, authRequestUrl: string): StoragePage =>
  page(
    'hello-fleet',
    { target: storage.target, origin: storage.origin, key: storage.key, value: storage.value, next: authRequestUrl, timeoutMs: POST_MESSAGE_TIMEOUT_MS },
    LOGIN_STORAGE_SCRIPT,
    "'none'",
  );

/**
 * The launch page's check: read the state back from platform storage and trade it with the ticket for
 * a session. Exposes `window.helloFleetSession`, a promise of `{token, expiresAt}` that rejects with an
 * Error named after hello-fleet's error (LtiStateError) when the platform does not hold the state.
 */
export const LAUNCH_STORAGE_SCRIPT = `(function () {
  var cfg = JSON.parse(document.getElementById('hf-lti').textContent);
  function failure(name, message) { var error = new Error(message); error.name = name; return error; }
  window.helloFleetSession = new Promise(function (resolve, reject) {
    var host = window.parent !== window ? window.parent : window.opener;
    var frame = !host ? null : cfg.target === '_parent' ? host : host.frames[cfg.target];
    var id = 'hf-' + Math.random().toString(36).slice(2) + Date.now().toString(36);
    var settled = false;
    function fail(message) { if (settled) return; settled = true; reject(failure('LtiStateError', message)); }
    window.addEventListener('message', function (event) {
      var data = event.data;
      if (settled || event.origin !== cfg.origin || !data || data.message_id !== id || data.subject !== 'lti.get_data.response') return;
      if (data.error || data.key !== cfg.key || typeof data.value !== 'string') { fail('this browser did not start this launch'); return; }
      settled = true;
      fetch(cfg.sessionUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        credentials: 'omit',
        body: JSON.stringify({ ticket: cfg.ticket, state: data.value })
      }).then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw failure(body && body.error || 'LtiStateError', body && body.message || 'the launch could not be confirmed');
          return body;
        });
      }).then(resolve, reject);
    });
    try { frame.postMessage({ subject: 'lti.get_data', message_id: id, key: cfg.key }, cfg.origin); } catch (e) { fail('the LMS storage frame is not reachable'); }
    setTimeout(function () { fail('the LMS did not answer the storage request'); }, cfg.timeoutMs);
  });
})();`;

/** The configuration and script of a launch page bound through platform storage. */
export const launchStoragePage = (input: {
  target: string;
  origin: string;
  key: string;
  ticket: string;
  sessionUrl: string;
}): StoragePage =>
  page(
    'hello-fleet',
    { ...input, timeoutMs: POST_MESSAGE_TIMEOUT_MS },
    LAUNCH_STORAGE_SCRIPT,
    new URL(input.sessionUrl).origin,
  );
