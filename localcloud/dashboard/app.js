// The local dashboard's script: plain JavaScript, no build step. Data comes from /dashboard/api (the local
// API's /servers routes; the control server adds the API key) and the graph from /dashboard/graph/<id>.svg.
const REFRESH_MS = 1000;
const FINAL = new Set(['READY', 'FAILED', 'TERMINATED', 'TEARDOWN_FAILED']);

const $ = (selector) => document.querySelector(selector);
/** Servers this page started: listed before their instance exists (GET /servers lists instances). */
const started = new Map();
/** What the selected server's execution said last: fresher than the list, which refreshes less often. */
const fromDetail = new Map();
let selected = null;
let listed = [];
let detailTimer = null;

const api = async (method, path, init = {}) => {
  const response = await fetch(`/dashboard/api${path}`, { method, ...init });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.message ?? `${method} ${path}: ${response.status}`);
  return body;
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

const refreshList = async () => {
  try {
    listed = (await api('GET', '/servers')).servers ?? [];
    $('#message').textContent = '';
  } catch (error) {
    $('#message').textContent = `GET /servers: ${error.message}`;
  }
  renderList();
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

/** One refresh of the selected server: execution, graph, and the list row; true while it is still moving. */
const refreshDetail = async (serverId) => {
  let view;
  try {
    view = await api('GET', `/servers/${serverId}/execution`);
  } catch (error) {
    $('#detail-machine').textContent = error.message;
    return true;
  }
  if (serverId !== selected) return false;
  statusBadge($('#detail-status'), view.status);
  $('#detail-machine').textContent = `${view.machine} · ${Object.keys(view.states).length} states visited`;
  const response = await fetch(`/dashboard/graph/${serverId}.svg`);
  if (response.ok && serverId === selected) $('#graph').innerHTML = await response.text();
  renderTimings(view);
  fromDetail.set(serverId, { status: view.status, step: view.steps.at(-1)?.step ?? '' });
  if (view.status === 'READY') {
    const server = await api('GET', `/servers/${serverId}`).catch(() => undefined);
    $('#app-url').textContent = server?.url ? `App: ${server.url} (through the local internet proxy)` : '';
  } else $('#app-url').textContent = '';
  return !FINAL.has(view.status);
};

const select = (serverId) => {
  selected = serverId;
  clearTimeout(detailTimer);
  $('#detail').hidden = false;
  $('#graph-section').hidden = false;
  $('#detail-title').textContent = serverId;
  $('#graph').replaceChildren();
  $('#timings tbody').replaceChildren();
  renderList();
  const tick = async () => {
    const moving = await refreshDetail(serverId).catch(() => true);
    renderList();
    if (moving && selected === serverId) detailTimer = setTimeout(tick, REFRESH_MS);
  };
  void tick();
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
    $('#message').textContent = '';
  } catch (error) {
    $('#message').textContent = `POST /servers: ${error.message}`;
  } finally {
    button.disabled = false;
  }
});

const loop = async () => {
  await refreshList();
  setTimeout(loop, REFRESH_MS * 2);
};
void loop();
