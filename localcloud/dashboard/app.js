// The local dashboard's script: plain JavaScript, no build step. Data comes from /dashboard/api (the local
// API's /servers routes; the control server adds the API key); the graph is drawn by
// /dashboard/graph/machine/<machine>.svg from the states the last execution answer named (no API request).
//
// Within the API's usage plan, as the CLI (cli/backoff.ts, docs/api-limits.md): the selected server is
// polled a second after each change and up to 15 s apart while nothing changes, passing back the cursor
// of its last answer (the API then reads only the new history); the list every 2 s, up to 30 s while it
// does not change. A 429 or 503 is waited out (Retry-After when given, else longer and longer waits with
// jitter), said on the page, and never stops the page.
const DETAIL_MS = { min: 1000, max: 15_000 };
const LIST_MS = { min: 2000, max: 30_000 };
const THROTTLE_MS = { base: 1000, max: 60_000 };
const FINAL = new Set(['READY', 'FAILED', 'TERMINATED', 'TEARDOWN_FAILED']);

const $ = (selector) => document.querySelector(selector);
/** Servers this page started: listed before their instance exists (GET /servers lists instances). */
const started = new Map();
/** What the selected server's execution said last: fresher than the list, which refreshes less often. */
const fromDetail = new Map();
let selected = null;
let listed = [];
let detailTimer = null;
let listTimer = null;
/** What each part of the page is waiting out: 'list' and 'detail' → the message shown. */
const throttled = new Map();

/** A refused request the page waits out: 429 (usage plan) or 503. */
class Throttled extends Error {
  constructor(status, message, retryAfterMs) {
    super(message);
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

const retryAfterMs = (value) => {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
};

const api = async (method, path, init = {}) => {
  const response = await fetch(`/dashboard/api${path}`, { method, ...init });
  const body = await response.json().catch(() => ({}));
  if (response.status === 429 || response.status === 503) {
    throw new Throttled(response.status, body.message ?? String(response.status), retryAfterMs(response.headers.get('retry-after')));
  }
  if (!response.ok) throw new Error(body.message ?? `${method} ${path}: ${response.status}`);
  return body;
};

/** Doubles while nothing changes, back to the shortest after a change; ±20% so tabs do not poll in step. */
const nextInterval = (bounds, previous, changed) => (changed || previous === undefined ? bounds.min : Math.min(bounds.max, previous * 2));
const jittered = (ms) => Math.round(ms * (0.8 + 0.4 * Math.random()));
/** Retry-After when the API gives one (API Gateway's own 429s carry none), else exponential with equal jitter. */
const throttleWait = (error, attempt) => {
  if (error.retryAfterMs !== undefined) return Math.round(error.retryAfterMs * (1 + 0.1 * Math.random()));
  const cap = Math.min(THROTTLE_MS.max, THROTTLE_MS.base * 2 ** attempt);
  return Math.round(cap / 2 + (cap / 2) * Math.random());
};
const throttleWhy = (error) =>
  error.status === 503
    ? 'The API is briefly unavailable (503)'
    : error.message === 'Limit Exceeded'
      ? "The API key's request quota is used up (429 Limit Exceeded)"
      : 'The API is throttling this page (429 Too Many Requests)';
const throttleText = (error, waitMs) => `${throttleWhy(error)}: trying again in ${Math.max(1, Math.round(waitMs / 1000))} s.`;
const showThrottled = () => {
  $('#throttled').textContent = [...new Set(throttled.values())].join(' ');
  $('#throttled').hidden = throttled.size === 0;
};

const duration = (ms) => (ms === undefined ? '' : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);

const cell = (text, className) => {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
};

const statusBadge = (element, status) => {
  element.textContent = status ?? '…';
  element.className = `status status-${status ?? 'unknown'}`;
};

const renderList = () => {
  const rows = new Map(started);
  for (const server of listed) rows.set(server.serverId, { ...rows.get(server.serverId), ...server });
  for (const [serverId, latest] of fromDetail) if (rows.has(serverId)) rows.set(serverId, { ...rows.get(serverId), ...latest });
  const tbody = $('#servers tbody');
  tbody.replaceChildren(
    ...[...rows.values()].map((server) => {
      const tr = document.createElement('tr');
      tr.dataset.serverId = server.serverId;
      if (server.serverId === selected) tr.className = 'selected';
      const status = document.createElement('span');
      statusBadge(status, server.status);
      const statusCell = document.createElement('td');
      statusCell.append(status);
      tr.append(cell(server.serverId), statusCell, cell(server.step ?? ''));
      tr.addEventListener('click', () => select(server.serverId));
      return tr;
    }),
  );
  $('#servers-empty').hidden = rows.size > 0;
};

/** One refresh of the list; true when it changed. */
const refreshList = async () => {
  const before = JSON.stringify(listed);
  listed = (await api('GET', '/servers')).servers ?? [];
  $('#message').textContent = '';
  renderList();
  return JSON.stringify(listed) !== before;
};

const renderTimings = (view) => {
  $('#timings tbody').replaceChildren(
    ...view.steps.map((step) => {
      const tr = document.createElement('tr');
      tr.dataset.step = step.step;
      tr.dataset.state = step.state;
      tr.append(cell(step.step), cell(step.state, `state-${step.state}`), cell(duration(step.durationMs), 'num'));
      return tr;
    }),
  );
  const end = view.stoppedAt ? Date.parse(view.stoppedAt) : Date.now();
  $('#total').textContent = `${view.machine} started ${new Date(view.startedAt).toLocaleTimeString()}, ${FINAL.has(view.status) ? 'took' : 'running for'} ${duration(end - Date.parse(view.startedAt))}`;
  const failure = $('#failure');
  failure.hidden = !view.failure;
  failure.textContent = view.failure ? `${view.failure.state}: ${view.failure.error}\n${view.failure.cause}` : '';
};

/** The selected server's follower: its last answer's cursor, and what was drawn. */
const detail = { cursor: undefined, shown: undefined, graphOf: undefined };

/**
 * One refresh of the selected server: execution (read from the last cursor on), graph when its states
 * changed, and the list row. `{ moving, changed }`: still going, and whether anything shown changed.
 */
const refreshDetail = async (serverId) => {
  const query = detail.cursor === undefined ? '' : `?cursor=${encodeURIComponent(detail.cursor)}`;
  const view = await api('GET', `/servers/${serverId}/execution${query}`);
  if (serverId !== selected) return { moving: false, changed: false };
  detail.cursor = view.cursor;
  statusBadge($('#detail-status'), view.status);
  $('#detail-machine').textContent = `${view.machine} · ${Object.keys(view.states).length} states visited`;
  const graphOf = JSON.stringify([view.machine, view.status, view.states]);
  if (graphOf !== detail.graphOf) {
    const visits = encodeURIComponent(JSON.stringify(view.states));
    const title = encodeURIComponent(`${serverId}: ${view.machine} execution, ${view.status}`);
    const response = await fetch(`/dashboard/graph/machine/${view.machine}.svg?visits=${visits}&title=${title}`);
    if (response.ok && serverId === selected) {
      $('#graph').innerHTML = await response.text();
      detail.graphOf = graphOf;
    }
  }
  renderTimings(view);
  fromDetail.set(serverId, { status: view.status, step: view.steps.at(-1)?.step ?? '' });
  if (view.status === 'READY') {
    const server = await api('GET', `/servers/${serverId}`).catch(() => undefined);
    $('#app-url').textContent = server?.url ? `App: ${server.url} (through the local internet proxy)` : '';
  } else $('#app-url').textContent = '';
  const shown = JSON.stringify([view.machine, view.status, view.steps.map((s) => [s.step, s.state]), view.failure?.state]);
  const changed = shown !== detail.shown;
  detail.shown = shown;
  return { moving: !FINAL.has(view.status), changed };
};

/**
 * Runs `refresh` (which says whether what it shows changed) again and again, paced within the API's
 * limits: sooner after a change, later while nothing changes, and waiting out 429s and 503s. `stop()`
 * and `refresh` answering `{ moving: false }` end it.
 */
const paced = (part, bounds, refresh, setTimer, isCurrent) => {
  let interval;
  let attempt = 0;
  const tick = async () => {
    if (!isCurrent()) return;
    let wait;
    try {
      const { moving, changed } = await refresh();
      if (throttled.delete(part)) showThrottled();
      attempt = 0;
      if (!moving || !isCurrent()) return;
      interval = nextInterval(bounds, interval, changed);
      wait = jittered(interval);
    } catch (error) {
      if (!(error instanceof Throttled)) {
        if (part === 'list') $('#message').textContent = `GET /servers: ${error.message}`;
        else $('#detail-machine').textContent = error.message;
        wait = jittered(bounds.max);
      } else {
        wait = throttleWait(error, attempt++);
        throttled.set(part, throttleText(error, wait));
        showThrottled();
      }
    }
    renderList();
    if (isCurrent()) setTimer(setTimeout(tick, wait));
  };
  void tick();
};

const select = (serverId) => {
  selected = serverId;
  clearTimeout(detailTimer);
  Object.assign(detail, { cursor: undefined, shown: undefined, graphOf: undefined });
  throttled.delete('detail');
  showThrottled();
  $('#detail').hidden = false;
  $('#graph-section').hidden = false;
  $('#detail-title').textContent = serverId;
  $('#graph').replaceChildren();
  $('#timings tbody').replaceChildren();
  renderList();
  paced('detail', DETAIL_MS, () => refreshDetail(serverId), (timer) => (detailTimer = timer), () => selected === serverId);
};

/** (Re)starts the list's refreshes: at once, then paced. */
let listRound = 0;
const watchList = () => {
  clearTimeout(listTimer);
  const round = ++listRound;
  paced('list', LIST_MS, async () => ({ moving: true, changed: await refreshList() }), (timer) => (listTimer = timer), () => round === listRound);
};

$('#new-server').addEventListener('click', async () => {
  const button = $('#new-server');
  button.disabled = true;
  try {
    const created = await api('POST', '/servers', {
      headers: { 'content-type': 'application/json', 'Idempotency-Key': crypto.randomUUID() },
      body: JSON.stringify({}),
    });
    started.set(created.serverId, { serverId: created.serverId, status: created.status, step: '' });
    select(created.serverId);
    watchList();
    $('#message').textContent = '';
  } catch (error) {
    $('#message').textContent = `POST /servers: ${error instanceof Throttled ? `${throttleWhy(error)}: try again in a moment.` : error.message}`;
  } finally {
    button.disabled = false;
  }
});

watchList();
