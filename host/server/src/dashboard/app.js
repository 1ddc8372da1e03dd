/* millrace dashboard: a small single-page app over the `millrace serve` HTTP API.
 *
 * Plain ES2022, no framework, no build step. The page runs under a strict CSP (no
 * inline script or style), so all markup is built with the DOM API. Every string
 * that comes from the server (names, plugin versions, dead letters, error
 * messages) is user input and goes in as text (textContent, text nodes or
 * attributes), never as HTML. The token lives in sessionStorage and only ever
 * travels in the Authorization header; navigation uses hash routes. */
'use strict';

const TOKEN_KEY = 'millrace.token';
const ROLE_KEY = 'millrace.role';
const POLL_MS = 1000;
const DEAD_LETTERS_SHOWN = 20;
const CHECKPOINTS_SHOWN = 10;
const PLUGINS_REFRESH_TICKS = 5;
const SVG_NS = 'http://www.w3.org/2000/svg';
const TOKEN_REFUSED = 'The server no longer accepts this token; sign in again.';
// Watermarks are i64 ms: i64::MIN means "none yet", i64::MAX "end of input"
// (JSON numbers that large lose precision in JavaScript, hence the thresholds).
const NO_WATERMARK = -9e18;
const END_WATERMARK = 9e18;

/* ---------- DOM helpers ---------- */

/** Creates an element. Strings among `children` become text nodes, never HTML. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  setProps(node, props);
  node.append(...children.flat().filter((child) => child != null && child !== false));
  return node;
}

/** Creates an SVG element (createElementNS; attributes only, no style). */
function svgEl(tag, props = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setProps(node, props);
  node.append(...children.flat().filter((child) => child != null && child !== false));
  return node;
}

function setProps(node, props) {
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
}

/** A table cell that carries its column's name, shown as a label on phones. */
function cell(label, ...children) {
  return el('td', { 'data-label': label }, ...children);
}

/** Keeps one child of `container` per item, by key, so that rows holding focus or a
 * chosen option survive the once-a-second refresh. `create(item)` returns a node
 * with a `refresh(item)` method. */
function syncChildren(container, items, keyOf, create) {
  const existing = new Map([...container.children].map((child) => [child.dataset.key, child]));
  const wanted = items.map((item) => {
    const key = keyOf(item);
    let node = existing.get(key);
    if (!node) {
      node = create(item);
      node.dataset.key = key;
    }
    node.refresh(item);
    return node;
  });
  const same = wanted.length === container.children.length
    && wanted.every((node, i) => container.children[i] === node);
  if (!same) container.replaceChildren(...wanted);
}

/* ---------- Formatting ---------- */

const countFormat = new Intl.NumberFormat('en-US');

const formatCount = (n) => (n == null ? '—' : countFormat.format(n));

function formatRate(perSecond) {
  if (perSecond == null || !Number.isFinite(perSecond)) return '—';
  return perSecond < 10 ? `${perSecond.toFixed(1)}/s` : `${countFormat.format(Math.round(perSecond))}/s`;
}

function formatMs(ms) {
  if (ms == null || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  const rest = Math.floor(seconds % 60);
  if (minutes < 60) return rest ? `${minutes} min ${rest} s` : `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function formatBytes(bytes) {
  if (bytes == null) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let unit = 0;
  for (; bytes >= 1024 && unit < units.length - 1; unit++) bytes /= 1024;
  return unit === 0 ? `${bytes} B` : `${bytes.toFixed(bytes < 10 ? 1 : 0)} ${units[unit]}`;
}

const formatAgo = (at) => (at == null ? '—' : `${formatMs(Math.max(0, Date.now() - at))} ago`);
const formatAge = (seconds) => (seconds == null ? 'none yet' : `${formatMs(seconds * 1000)} ago`);
const formatTime = (at) => new Date(at).toLocaleString(undefined, { hourCycle: 'h23' });
const formatShortTime = (at) => new Date(at).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short', hourCycle: 'h23' });

/** An ISO timestamp for a <time datetime>, or nothing for a value that is not a time. */
function isoTime(at) {
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

function formatWatermark(ms) {
  if (ms == null || ms <= NO_WATERMARK) return 'none yet';
  if (ms >= END_WATERMARK) return 'end of input';
  return new Date(ms).toLocaleTimeString(undefined, { hourCycle: 'h23' });
}

/** The first 12 hex digits of a sha256 version, as the server's messages show it. */
const shortVersion = (version) => (typeof version === 'string' ? version.slice(0, 12) : '—');

/** `name@<sha256>` shortened to `name@<12 hex digits>`. */
function shortRef(ref) {
  const at = String(ref).lastIndexOf('@');
  return at < 0 ? String(ref) : `${ref.slice(0, at)}@${shortVersion(ref.slice(at + 1))}`;
}

const asText = (value) => (typeof value === 'string' ? value : JSON.stringify(value));
const truncate = (text, length) => (text.length > length ? `${text.slice(0, length - 1)}…` : text);

/* ---------- Session and API client ---------- */

// sessionStorage only: the token dies with the tab and never enters a URL.
const session = {
  token: () => sessionStorage.getItem(TOKEN_KEY),
  role: () => sessionStorage.getItem(ROLE_KEY),
  save(token, role) { sessionStorage.setItem(TOKEN_KEY, token); sessionStorage.setItem(ROLE_KEY, role); },
  clear() { sessionStorage.removeItem(TOKEN_KEY); sessionStorage.removeItem(ROLE_KEY); },
};

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

async function request(method, path, { body, signal, token = session.token(), text = false } = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    const json = body === undefined ? undefined : JSON.stringify(body);
    response = await fetch(path, { method, headers, signal, body: json, cache: 'no-store', credentials: 'omit', redirect: 'error' });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'Cannot reach the server; retrying.');
  }
  const payload = await response.text();
  if (!response.ok) throw new ApiError(response.status, serverMessage(response.status, payload));
  if (text) return payload;
  return payload ? JSON.parse(payload) : null;
}

/** The `error` of a JSON error answer, or a plain description of the status. */
function serverMessage(status, payload) {
  try {
    const parsed = JSON.parse(payload);
    if (typeof parsed?.error === 'string') return parsed.error;
  } catch {
    // Not JSON: describe the status instead.
  }
  return `The server answered ${status}.`;
}

const pipelinePath = (name, tail = '') => `/v1/pipelines/${encodeURIComponent(name)}${tail}`;

const api = {
  pipelines: (signal) => request('GET', '/v1/pipelines', { signal }),
  tenants: (signal) => request('GET', '/v1/tenants', { signal }),
  plugins: (signal) => request('GET', '/v1/plugins', { signal }),
  status: (name, signal) => request('GET', pipelinePath(name), { signal }),
  history: (name, signal) => request('GET', pipelinePath(name, '/history'), { signal }),
  graph: (name, signal) => request('GET', pipelinePath(name, '/graph'), { signal }),
  deadLetters: (name, signal) => request('GET', pipelinePath(name, '/dead-letters'), { signal, text: true }),
  swap: (name, step, plugin) => request('POST', pipelinePath(name, '/swap'), { body: { step, plugin } }),
  rollback: (name, step) => request('POST', pipelinePath(name, '/rollback'), { body: { step } }),
  stop: (name) => request('POST', pipelinePath(name, '/stop'), { body: { drain: true } }),
  start: (name) => request('POST', pipelinePath(name, '/start')),
};

/** Tells a tenant's token from the admin's: the admin gets 403 on tenant routes. */
async function detectRole(token) {
  try {
    await request('GET', '/v1/pipelines', { token });
    return 'tenant';
  } catch (err) {
    if (err.status === 401) throw new Error('The server does not accept this token.');
    if (err.status !== 403) throw err;
  }
  await request('GET', '/v1/tenants', { token });
  return 'admin';
}

/* ---------- Polling and rates ---------- */

/** Calls `tick(signal)` now, then POLL_MS after each call settles (slow answers never
 * pile up), until stopped or until `tick` returns false. */
function poll(tick) {
  const controller = new AbortController();
  let timer = 0;
  const loop = async () => {
    let again = true;
    try {
      again = (await tick(controller.signal)) !== false;
    } catch (err) {
      if (err.name !== 'AbortError') console.error(err);
    }
    if (again && !controller.signal.aborted) timer = setTimeout(loop, POLL_MS);
  };
  loop();
  return { stop() { controller.abort(); clearTimeout(timer); } };
}

/** Per-second rates of cumulative counters, over the last few seconds of polls. */
class RateMeter {
  #points = new Map();

  rate(key, value, now = performance.now()) {
    const points = this.#points.get(key) ?? [];
    // A counter that went down belongs to a new run: start over.
    if (points.length && value < points.at(-1).value) points.length = 0;
    points.push({ now, value });
    while (points.length > 2 && now - points[0].now > 5000) points.shift();
    this.#points.set(key, points);
    if (points.length < 2) return null;
    const elapsed = (now - points[0].now) / 1000;
    return elapsed > 0 ? (value - points[0].value) / elapsed : null;
  }
}

/* ---------- Router and shell ---------- */

let currentView = null;

function parseRoute(hash) {
  const match = /^#\/pipelines\/(.+)$/.exec(hash);
  if (!match) return { page: 'home' };
  try {
    return { page: 'pipeline', name: decodeURIComponent(match[1]) };
  } catch {
    return { page: 'home' };
  }
}

function render(message) {
  currentView?.stop();
  currentView = null;
  const app = document.getElementById('app');
  if (!session.token()) {
    document.title = 'Sign in · millrace';
    app.replaceChildren(signInPage(message));
    document.getElementById('token').focus();
    return;
  }
  const route = parseRoute(location.hash);
  const main = el('main', { class: 'page', id: 'main' });
  app.replaceChildren(topBar(), main);
  if (route.page === 'pipeline') currentView = pipelinePage(main, route.name);
  else if (session.role() === 'admin') currentView = tenantsPage(main);
  else currentView = pipelinesPage(main);
}

function signOut(message) {
  session.clear();
  render(message);
}

function topBar() {
  const admin = session.role() === 'admin';
  const signOutClicked = () => {
    session.clear();
    history.replaceState(null, '', '#/');
    render('Signed out.');
  };
  return el('header', { class: 'topbar' },
    el('a', { class: 'brand', href: '#/' }, 'millrace'),
    el('nav', { 'aria-label': 'Main' }, el('a', { href: '#/' }, admin ? 'Tenants' : 'Pipelines')),
    el('span', { class: 'who' }, admin ? 'admin' : 'tenant'),
    el('button', { type: 'button', class: 'quiet', onclick: signOutClicked }, 'Sign out'));
}

function signInPage(message) {
  const input = el('input', {
    id: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'token-help',
  });
  const error = el('p', { class: 'form-error', role: 'alert' });
  const button = el('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const submit = async (event) => {
    event.preventDefault(); // never submit: the token must not reach a URL
    const token = input.value.trim();
    if (!token) {
      error.textContent = 'Enter a token.';
      return;
    }
    button.disabled = true;
    error.textContent = '';
    try {
      const role = await detectRole(token);
      input.value = '';
      session.save(token, role);
      render();
    } catch (err) {
      error.textContent = err.message;
      button.disabled = false;
    }
  };
  return el('main', { class: 'signin-page' },
    el('form', { class: 'card signin', onsubmit: submit },
      el('h1', {}, 'millrace'),
      el('p', { class: 'muted' }, 'Dashboard of millrace serve'),
      message && el('p', { class: 'notice', role: 'status' }, message),
      el('label', { for: 'token' }, 'Access token'),
      input,
      el('p', { id: 'token-help', class: 'hint' },
        "A tenant's token shows its pipelines; the admin token shows the tenants. It is kept in this tab only."),
      error,
      button));
}

/* ---------- Dialogs, notices, shared pieces ---------- */

/** An in-page confirmation; resolves true only when the confirm button is pressed. */
function confirmDialog({ title, message, confirmLabel }) {
  return new Promise((resolve) => {
    const dialog = el('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-message' });
    const finish = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      finish(false);
    });
    dialog.append(
      el('h2', { id: 'confirm-title' }, title),
      el('p', { id: 'confirm-message' }, message),
      el('div', { class: 'dialog-actions' },
        el('button', { type: 'button', onclick: () => finish(false) }, 'Cancel'),
        el('button', { type: 'button', class: 'primary', onclick: () => finish(true) }, confirmLabel)));
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Says how something went in `box`; outcomes of actions (ok, bad) can be dismissed. */
function showNotice(box, text, kind) {
  const dismiss = el('button', { type: 'button', class: 'quiet dismiss', 'aria-label': 'Dismiss', onclick: () => showNotice(box, '', 'info') }, '×');
  box.replaceChildren(el('span', {}, text), kind !== 'info' && dismiss);
  box.className = `notice ${kind}`;
  box.hidden = !text;
}

/** Shows a failed call in `box`; a rejected token signs out. Returns whether to keep polling. */
function reportError(err, box) {
  if (err.name === 'AbortError') return false;
  if (err.status === 401) {
    signOut(TOKEN_REFUSED);
    return false;
  }
  showNotice(box, err.message, 'bad');
  return true;
}

function stateBadge(outcome) {
  const state = String(outcome?.state ?? 'unknown');
  return el('span', { class: `badge state-${state.replace(/[^a-z_]/g, '')}` }, state);
}

/** Whether the failure of the run names this step (a quarantine fails the run). */
function failureNames(step, status) {
  const message = status.outcome?.message;
  return status.outcome?.state === 'failed' && typeof message === 'string' && message.includes(step.name);
}

function isQuarantined(step, status) {
  const plugin = step.plugin;
  if (!plugin) return false;
  if (plugin.quarantined || plugin.state === 'quarantined' || plugin.status === 'quarantined') return true;
  return failureNames(step, status) && status.outcome.message.includes('quarantined');
}

/** Faults at a glance: a failed run, quarantined or faulting plugins, dead letters. */
function faultsOf(status) {
  const faults = [];
  const outcome = status.outcome ?? {};
  if (outcome.state === 'failed') {
    const quarantined = asText(outcome.message ?? '').includes('quarantined');
    faults.push({ level: 'bad', text: `${quarantined ? 'Quarantined' : 'Failed'}: ${asText(outcome.message ?? 'no reason given')}` });
  }
  for (const step of status.live?.steps ?? []) {
    if (failureNames(step, status)) continue; // already told by the failure above
    if (isQuarantined(step, status)) faults.push({ level: 'bad', text: `${step.name}: quarantined` });
    else if (step.plugin?.faults > 0) faults.push({ level: 'warn', text: `${step.name}: ${formatCount(step.plugin.faults)} plugin faults` });
  }
  const dead = status.live?.dead_lettered ?? 0;
  if (dead > 0) faults.push({ level: 'warn', text: `${formatCount(dead)} dead letter${dead === 1 ? '' : 's'}`, dead: true });
  return faults;
}

function faultList(faults, maxLength = 160) {
  if (!faults.length) return el('span', { class: 'ok-text' }, 'none');
  return el('ul', { class: 'faults' }, faults.map((fault) =>
    el('li', { class: `fault ${fault.level}`, title: fault.text }, truncate(fault.text, maxLength))));
}

/** A figure: label, big value, small line under it. */
function tile(label) {
  const value = el('span', { class: 'tile-value' }, '—');
  const sub = el('span', { class: 'tile-sub' });
  const node = el('div', { class: 'tile' }, el('span', { class: 'tile-label' }, label), value, sub);
  return { node, set(main, detail = '') { value.textContent = main; sub.textContent = detail; } };
}

function table(className, headings, tbody) {
  return el('table', { class: `data ${className}` },
    el('thead', {}, el('tr', {}, headings.map((heading) => el('th', { scope: 'col' }, heading)))),
    tbody);
}

function section(title, ...children) {
  return el('section', { class: 'card' }, el('h2', {}, title), ...children);
}

/* ---------- Views: pipelines (tenant) and tenants (admin) ---------- */

/** A polled table of `load()`'s items, one row per item kept across polls. */
function listPage(main, { title, intro, className, headings, load, keyOf, rowFor, empty }) {
  document.title = `${title} · millrace`;
  const notice = el('p', { class: 'notice', role: 'status' }, 'Loading…');
  const tbody = el('tbody');
  const list = table(className, headings, tbody);
  list.hidden = true;
  main.append(el('h1', {}, title), ...(intro ? [el('p', { class: 'muted' }, intro)] : []), el('section', { class: 'card' }, notice, list));
  return poll(async (signal) => {
    let items;
    try {
      items = await load(signal);
    } catch (err) {
      return reportError(err, notice);
    }
    syncChildren(tbody, items, keyOf, rowFor);
    list.hidden = items.length === 0;
    showNotice(notice, items.length ? '' : empty, 'info');
  });
}

function pipelinesPage(main) {
  const meter = new RateMeter();
  return listPage(main, {
    title: 'Pipelines', className: 'pipelines', load: api.pipelines, keyOf: (p) => p.name,
    headings: ['Pipeline', 'State', 'Throughput', 'Watermark lag', 'Last checkpoint', 'Faults'],
    rowFor: (p) => pipelineRow(p, meter), empty: 'No pipelines yet: deploy one with millrace pipeline deploy.',
  });
}

function pipelineRow(pipeline, meter) {
  const state = cell('State');
  const rate = cell('Throughput');
  const lag = cell('Watermark lag');
  const checkpoint = cell('Last checkpoint');
  const faults = cell('Faults');
  const link = el('a', { href: `#/pipelines/${encodeURIComponent(pipeline.name)}` }, pipeline.name);
  const row = el('tr', {}, el('th', { scope: 'row', class: 'row-title' }, link), state, rate, lag, checkpoint, faults);
  row.refresh = (p) => {
    state.replaceChildren(stateBadge(p.outcome));
    rate.textContent = formatRate(meter.rate(p.name, p.live?.records_read ?? 0));
    lag.textContent = formatMs(p.watermark_lag_ms);
    checkpoint.textContent = formatAge(p.checkpoint_age_s);
    faults.replaceChildren(faultList(faultsOf(p)));
  };
  return row;
}

function tenantsPage(main) {
  return listPage(main, {
    title: 'Tenants', className: 'tenants', load: api.tenants, keyOf: (t) => t.name, rowFor: tenantRow,
    intro: "The admin token manages tenants. Sign in with a tenant's token to see its pipelines.",
    headings: ['Tenant', 'Pipelines', 'Plugin storage', 'Quotas'], empty: 'No tenants yet: create one with millrace tenant create.',
  });
}

function tenantRow() {
  const name = el('th', { scope: 'row', class: 'row-title' });
  const pipelines = cell('Pipelines');
  const storage = cell('Plugin storage');
  const quotas = cell('Quotas');
  const row = el('tr', {}, name, pipelines, storage, quotas);
  row.refresh = (tenant) => {
    const q = tenant.quotas ?? {};
    name.textContent = tenant.name;
    pipelines.textContent = `${formatCount(tenant.pipelines)} of ${formatCount(q.pipelines)}`;
    storage.textContent = `${formatBytes(tenant.plugin_bytes)} of ${formatBytes(q.plugin_bytes)}`;
    quotas.textContent = [
      `${formatCount(q.plugin_instances)} plugin instances`,
      `${formatBytes(q.memory_per_instance)} memory each`,
      `${formatCount(q.cpu_per_call_ms)} ms CPU per call`,
      `${formatBytes(q.output_per_call)} output per call`,
    ].join(' · ');
  };
  return row;
}

/* ---------- View: one pipeline ---------- */

function pipelinePage(main, name) {
  document.title = `${name} · millrace`;
  const view = new PipelineView(main, name);
  return poll((signal) => view.tick(signal));
}

class PipelineView {
  constructor(main, name) {
    this.main = main;
    this.name = name;
    this.meter = new RateMeter();
    this.ticks = 0;
    this.built = false;
    this.busy = false;
    this.plugins = [];
    this.keys = {};
    this.notice = el('p', { class: 'notice', role: 'status' }, 'Loading…');
    main.append(el('p', { class: 'crumbs' }, el('a', { href: '#/' }, '← Pipelines')), this.notice);
  }

  async tick(signal) {
    this.ticks += 1;
    let status;
    try {
      status = await api.status(this.name, signal);
    } catch (err) {
      if (err.status === 404 || err.status === 403) return this.showMissing(err);
      this.notice.dataset.transient = 'yes'; // cleared by the next answer
      return reportError(err, this.notice);
    }
    if (this.notice.dataset.transient) this.clearNotice();
    if (!this.built) await this.build(status, signal);
    const [history] = await Promise.all([
      this.loadHistory(signal),
      this.loadPlugins(signal),
      this.loadDeadLetters(status, signal),
    ]);
    if (signal.aborted) return false;
    this.update(status, history);
    return true;
  }

  /** A missing pipeline (or another tenant's, which answers the same) shows no data at all. */
  showMissing(err) {
    document.title = 'Not found · millrace';
    this.main.replaceChildren(
      el('p', { class: 'crumbs' }, el('a', { href: '#/' }, '← Pipelines')),
      el('section', { class: 'card missing', role: 'alert' },
        el('h1', {}, err.status === 404 ? 'Pipeline not found' : 'Not allowed'),
        el('p', {}, err.message)));
    return false;
  }

  clearNotice() {
    showNotice(this.notice, '', 'info');
    delete this.notice.dataset.transient;
  }

  async build(status, signal) {
    this.built = true;
    this.clearNotice();
    this.badge = el('span');
    this.stopButton = el('button', { type: 'button', onclick: () => this.stop() }, 'Stop (drain)');
    this.startButton = el('button', { type: 'button', onclick: () => this.start() }, 'Start');
    this.faultBox = el('div', { class: 'fault-banner', role: 'alert' });
    this.tiles = {
      read: tile('Records read'), emitted: tile('Emitted'), dead: tile('Dead letters'),
      lag: tile('Watermark lag'), watermark: tile('Watermark'), checkpoint: tile('Last checkpoint'),
    };
    // Its own scroll box: on a phone the graph scrolls sideways, the page does not.
    this.graphBox = el('div', { class: 'graph-scroll', tabindex: '0', role: 'region', 'aria-label': 'Pipeline graph' });
    this.charts = { throughput: el('div', { class: 'chart' }), lag: el('div', { class: 'chart' }) };
    this.versionRows = el('tbody');
    this.swapList = el('ol', { class: 'timeline' });
    this.checkpointBox = el('div');
    this.deadLetterBox = el('div');
    this.main.append(
      el('div', { class: 'page-head' },
        el('h1', {}, this.name), this.badge,
        el('div', { class: 'actions' }, this.stopButton, this.startButton)),
      this.notice,
      this.faultBox,
      el('div', { class: 'tiles' }, Object.values(this.tiles).map((t) => t.node)),
      section('Graph', this.graphBox),
      el('div', { class: 'two-columns' },
        section('Throughput', this.charts.throughput, legend([['read', 'records read/s'], ['emitted', 'emitted/s']])),
        section('Watermark lag', this.charts.lag, legend([['lag', 'wall clock − watermark']]))),
      section('Plugin versions',
        table('versions', ['Step', 'Plugin', 'Version', 'Faults', 'Swap to', 'Roll back'], this.versionRows)),
      el('div', { class: 'two-columns' },
        section('Swap timeline', this.swapList),
        section('Checkpoints', this.checkpointBox)),
      section('Recent dead letters', this.deadLetterBox));
    await this.loadGraph(status, signal);
  }

  async loadGraph(status, signal) {
    try {
      const graph = await api.graph(this.name, signal);
      this.graphView = drawGraph(graph);
      if (this.lastRates) this.graphView.refresh(status, this.lastRates);
      this.graphBox.replaceChildren(this.graphView.svg);
    } catch (err) {
      if (err.name !== 'AbortError') this.graphBox.replaceChildren(el('p', { class: 'error' }, err.message));
    }
  }

  async loadHistory(signal) {
    try {
      this.lastHistory = await api.history(this.name, signal);
    } catch {
      // Keep drawing the last history; the next poll tries again.
    }
    return this.lastHistory ?? null;
  }

  async loadPlugins(signal) {
    if (this.ticks % PLUGINS_REFRESH_TICKS !== 1 && this.plugins.length) return;
    try {
      this.plugins = await api.plugins(signal);
    } catch {
      // Keep the last list; the swap choices simply stay as they were.
    }
  }

  /** Dead letters are published at checkpoints: fetch again when either count moves. */
  async loadDeadLetters(status, signal) {
    const key = `${status.live?.dead_lettered}/${status.live?.checkpoints}/${status.outcome?.state}`;
    if (key === this.keys.deadLetters) return;
    try {
      const text = await api.deadLetters(this.name, signal);
      this.keys.deadLetters = key;
      this.renderDeadLetters(text, status.live?.dead_lettered ?? 0);
    } catch (err) {
      if (err.name !== 'AbortError') this.deadLetterBox.replaceChildren(el('p', { class: 'error' }, err.message));
    }
  }

  update(status, history) {
    this.badge.replaceChildren(stateBadge(status.outcome));
    this.running = status.outcome?.state === 'running';
    this.applyBusy();
    const rates = this.measure(status);
    this.lastRates = rates;
    this.renderFaults(status);
    this.renderTiles(status, rates);
    // Labels name plugin versions, so draw again after a swap (or a new run).
    const graphKey = `${status.swaps?.length}/${status.outcome?.state}/${status.live?.steps?.length}`;
    if (this.keys.graph !== undefined && graphKey !== this.keys.graph) this.loadGraph(status);
    this.keys.graph = graphKey;
    this.graphView?.refresh(status, rates);
    this.renderCharts(history);
    this.renderVersions(status);
    this.renderSwaps(status);
    this.renderCheckpoints(status, history);
  }

  /** Rates of this poll, measured once per tick (the meter keeps history). */
  measure(status) {
    const live = status.live ?? {};
    const steps = new Map((live.steps ?? []).map((step) => [step.name, {
      in: this.meter.rate(`in ${step.name}`, step.stats?.records_in ?? 0),
      out: this.meter.rate(`out ${step.name}`, step.stats?.records_out ?? 0),
    }]));
    return {
      read: this.meter.rate('read', live.records_read ?? 0),
      emitted: this.meter.rate('emitted', live.emitted ?? 0),
      steps,
    };
  }

  applyBusy() {
    this.stopButton.disabled = this.busy || !this.running;
    this.startButton.disabled = this.busy || this.running;
    for (const button of this.versionRows.querySelectorAll('button')) {
      button.disabled = this.busy || button.dataset.unavailable === 'true';
    }
  }

  renderFaults(status) {
    const faults = faultsOf(status).filter((fault) => !fault.dead); // the tile counts those
    const key = JSON.stringify(faults);
    if (key === this.keys.faults) return; // unchanged: do not re-announce the alert
    this.keys.faults = key;
    this.faultBox.hidden = faults.length === 0;
    this.faultBox.replaceChildren(...faults.map((fault) => el('p', { class: `fault ${fault.level}` }, fault.text)));
  }

  renderTiles(status, rates) {
    const live = status.live ?? {};
    this.tiles.read.set(formatCount(live.records_read), formatRate(rates.read));
    this.tiles.emitted.set(formatCount(live.emitted), formatRate(rates.emitted));
    this.tiles.dead.set(formatCount(live.dead_lettered), 'sent to the dead-letter output');
    this.tiles.lag.set(formatMs(status.watermark_lag_ms), 'behind the wall clock');
    this.tiles.watermark.set(formatWatermark(live.watermark), 'output watermark');
    this.tiles.checkpoint.set(formatAge(status.checkpoint_age_s), `${formatCount(live.checkpoints)} this run`);
  }

  renderCharts(history) {
    const samples = history?.samples ?? [];
    const read = [];
    const emitted = [];
    for (let i = 1; i < samples.length; i++) {
      const seconds = (samples[i].at - samples[i - 1].at) / 1000;
      if (seconds <= 0) continue;
      const readRate = (samples[i].records_read - samples[i - 1].records_read) / seconds;
      const emittedRate = (samples[i].emitted - samples[i - 1].emitted) / seconds;
      // A negative difference is a restart (counters are per run): leave a gap.
      read.push([samples[i].at, readRate >= 0 ? readRate : null]);
      emitted.push([samples[i].at, emittedRate >= 0 ? emittedRate : null]);
    }
    const lag = samples.map((sample) => [sample.at, sample.watermark_lag_ms ?? null]);
    drawLineChart(this.charts.throughput, [{ points: read, kind: 'read' }, { points: emitted, kind: 'emitted' }], formatRate);
    drawLineChart(this.charts.lag, [{ points: lag, kind: 'lag' }], formatMs);
  }

  renderVersions(status) {
    const byName = new Map((status.live?.steps ?? []).map((step) => [step.name, step]));
    const pins = Object.entries(status.pins ?? {}).map(([step, pin]) => ({ step, pin, live: byName.get(step), status }));
    syncChildren(this.versionRows, pins, (row) => row.step, (row) => this.versionRow(row.step));
    if (!pins.length) this.versionRows.replaceChildren(el('tr', {}, el('td', { colspan: '6', class: 'muted' }, 'No plugin steps.')));
    this.applyBusy();
  }

  versionRow(step) {
    const plugin = cell('Plugin');
    const version = el('code');
    const previous = el('span', { class: 'muted small' });
    const faults = cell('Faults');
    const select = el('select', { 'aria-label': `Version to swap ${step} to` });
    const swapButton = el('button', { type: 'button', onclick: () => this.swap(step, select.value) }, 'Swap');
    const rollbackButton = el('button', { type: 'button', onclick: () => this.rollback(step) }, 'Roll back');
    const row = el('tr', { 'data-step': step },
      el('th', { scope: 'row', class: 'row-title' }, step),
      plugin,
      cell('Version', version, previous),
      faults,
      cell('Swap to', el('div', { class: 'inline-form' }, select, swapButton)),
      cell('Roll back', rollbackButton));
    let optionsKey = '';
    row.refresh = ({ pin, live, status }) => {
      plugin.textContent = pin.plugin;
      version.textContent = shortVersion(pin.version);
      version.title = pin.version;
      const last = pin.previous?.at(-1);
      previous.textContent = last ? ` previously ${shortRef(last)}` : '';
      faults.replaceChildren(live && isQuarantined(live, status)
        ? el('span', { class: 'fault bad' }, 'quarantined')
        : el('span', { class: live?.plugin?.faults ? 'fault warn' : 'ok-text' }, formatCount(live?.plugin?.faults ?? 0)));
      const choices = swapChoices(step, pin, this.plugins);
      const key = JSON.stringify(choices);
      if (key !== optionsKey) { // rebuild only on change, keeping the user's pick
        optionsKey = key;
        const chosen = select.value;
        select.replaceChildren(...(choices.length
          ? choices.map((choice) => el('option', { value: choice.value }, choice.text))
          : [el('option', { value: '' }, 'no other version pushed')]));
        select.disabled = choices.length === 0;
        if (choices.some((choice) => choice.value === chosen)) select.value = chosen;
      }
      swapButton.dataset.unavailable = String(choices.length === 0);
      rollbackButton.dataset.unavailable = String(!pin.previous?.length);
    };
    return row;
  }

  renderSwaps(status) {
    const swaps = status.swaps ?? [];
    const pauses = pausesOf(swaps, status.live?.swap_pauses_us ?? []);
    const key = JSON.stringify([swaps.length, pauses]);
    if (key === this.keys.swaps) return;
    this.keys.swaps = key;
    if (!swaps.length) {
      this.swapList.replaceChildren(el('li', { class: 'muted' }, 'No swaps yet.'));
      return;
    }
    const items = swaps.map((swap, i) => swapItem(swap, pauses[i]));
    this.swapList.replaceChildren(...items.reverse()); // newest first
  }

  renderCheckpoints(status, history) {
    const live = status.live ?? {};
    const summary = el('p', {}, `${formatCount(live.checkpoints)} checkpoints this run; the last: ${formatAge(status.checkpoint_age_s)}.`);
    const recent = (history?.checkpoints ?? []).slice(-CHECKPOINTS_SHOWN).reverse();
    const rows = recent.map((checkpoint) => el('tr', {},
      el('th', { scope: 'row', class: 'row-title' }, el('time', { datetime: isoTime(checkpoint.at), title: formatTime(checkpoint.at) }, formatAgo(checkpoint.at))),
      cell('Duration', formatMs(checkpoint.duration_ms)),
      cell('Size', formatBytes(checkpoint.bytes))));
    this.checkpointBox.replaceChildren(summary, recent.length
      ? table('checkpoints compact', ['When', 'Duration', 'Size'], el('tbody', {}, rows))
      : el('p', { class: 'muted' }, 'None in the last minutes.'));
  }

  renderDeadLetters(text, total) {
    const lines = text.split('\n').filter((line) => line.trim() !== '');
    const recent = lines.slice(-DEAD_LETTERS_SHOWN).reverse().map(parseLine);
    if (!recent.length) {
      this.deadLetterBox.replaceChildren(el('p', { class: 'muted' }, total ? 'Not committed yet (they are published at the next checkpoint).' : 'No dead letters.'));
      return;
    }
    this.deadLetterBox.replaceChildren(
      el('p', { class: 'muted' }, `The latest ${recent.length} of ${formatCount(lines.length)} committed, newest first.`),
      el('ol', { class: 'dead-letters' }, recent.map(deadLetterItem)));
  }

  /** Asks first (an in-page dialog), then calls the API and says how it went. */
  async confirmThen(dialog, call, describe) {
    if (!(await confirmDialog(dialog))) return;
    this.busy = true;
    this.applyBusy();
    try {
      showNotice(this.notice, describe(await call()), 'ok');
    } catch (err) {
      if (err.status === 401) signOut(TOKEN_REFUSED);
      else showNotice(this.notice, err.message, 'bad');
    } finally {
      this.busy = false;
      this.applyBusy();
    }
  }

  swap(step, plugin) {
    if (!plugin) return;
    this.confirmThen({
      title: 'Swap plugin version', confirmLabel: 'Swap',
      message: `Swap ${step} of ${this.name} to ${shortRef(plugin)}? The step keeps its state; records after the switch go through the new version.`,
    }, () => api.swap(this.name, step, plugin), (swap) => `Swapped ${step}: ${shortVersion(swap?.from)} → ${shortVersion(swap?.to)}.`);
  }

  rollback(step) {
    this.confirmThen({
      title: 'Roll back', confirmLabel: 'Roll back',
      message: `Roll ${step} of ${this.name} back to the version it ran before?`,
    }, () => api.rollback(this.name, step), (swap) => `Rolled ${step} back to ${shortVersion(swap?.to)}.`);
  }

  stop() {
    this.confirmThen({
      title: 'Stop with drain', confirmLabel: 'Stop',
      message: `Stop ${this.name}? It reads its input to the end and fires every window's final pane first. Start resumes it from its last checkpoint.`,
    }, () => api.stop(this.name), () => `Stopped ${this.name}.`);
  }

  start() {
    this.confirmThen({
      title: 'Start', confirmLabel: 'Start', message: `Start ${this.name}? It resumes from its last checkpoint.`,
    }, () => api.start(this.name), () => `Started ${this.name}.`);
  }
}

/** Versions a step can swap to: its plugin's other versions, then other plugins of the step's kind. */
function swapChoices(step, pin, plugins) {
  const kind = step.endsWith('.combine') ? 'combine' : step.endsWith('.pardo') ? 'dofn' : null;
  const previous = new Set(pin.previous ?? []);
  const candidates = plugins
    .filter((plugin) => plugin.name === pin.plugin || (kind && plugin.kind === kind))
    .sort((a, b) => (a.name === pin.plugin ? -1 : b.name === pin.plugin ? 1 : a.name.localeCompare(b.name)));
  const choices = [];
  for (const plugin of candidates) {
    const versions = [...(plugin.versions ?? [])].sort((a, b) => (b.pushed ?? 0) - (a.pushed ?? 0));
    for (const version of versions) {
      if (plugin.name === pin.plugin && version.version === pin.version) continue;
      const value = `${plugin.name}@${version.version}`;
      const pushed = version.pushed ? ` · ${formatShortTime(version.pushed)}` : '';
      choices.push({ value, text: `${shortRef(value)}${pushed}${previous.has(value) ? ' · previous' : ''}` });
    }
  }
  return choices;
}

/** The pause of each swap. live.swap_pauses_us holds those of this run, oldest first,
 * so they belong to the newest swaps; a `pause_us` on the swap itself wins. */
function pausesOf(swaps, pauses) {
  const offset = swaps.length - pauses.length;
  return swaps.map((swap, i) => swap.pause_us ?? (i >= offset ? pauses[i - offset] : null));
}

function swapItem(swap, pauseUs) {
  const details = [`by ${asText(swap.by ?? 'unknown')}`];
  if (swap.position != null) details.push(`at record ${formatCount(swap.position)}`);
  if (swap.watermark != null) details.push(`watermark ${formatWatermark(swap.watermark)}`);
  details.push(pauseUs == null ? 'pause not measured yet' : `pause ${formatMs(pauseUs / 1000)}`);
  return el('li', { class: swap.rollback ? 'swap rollback' : 'swap' },
    el('div', { class: 'swap-head' },
      el('time', { datetime: isoTime(swap.at) }, formatTime(swap.at)),
      el('span', { class: swap.rollback ? 'badge rollback' : 'badge swap' }, swap.rollback ? 'rollback' : 'swap')),
    el('p', { class: 'swap-change' },
      el('span', { class: 'swap-step' }, asText(swap.step)), ' ', asText(swap.plugin ?? ''), ' ',
      el('code', { title: asText(swap.from) }, shortVersion(swap.from)), ' → ',
      el('code', { title: asText(swap.to) }, shortVersion(swap.to))),
    el('p', { class: 'muted small' }, details.join(' · ')));
}

function parseLine(line) {
  try {
    return JSON.parse(line);
  } catch {
    return { raw: line };
  }
}

function deadLetterItem(letter) {
  if (letter === null || typeof letter !== 'object' || 'raw' in letter) {
    return el('li', { class: 'dead-letter' }, el('pre', {}, asText(letter?.raw ?? letter)));
  }
  const { reason, record, step, ...rest } = letter;
  const extra = Object.entries(rest).map(([key, value]) => `${key}: ${asText(value)}`).join(' · ');
  return el('li', { class: 'dead-letter' },
    el('p', { class: 'dl-reason' }, asText(reason ?? 'no reason given')),
    step != null && el('p', { class: 'muted small' }, `from ${asText(step)}`),
    extra && el('p', { class: 'muted small' }, extra),
    el('pre', { class: 'dl-record' }, asText(record)));
}

function legend(entries) {
  return el('p', { class: 'legend' }, entries.map(([kind, text]) =>
    el('span', { class: 'legend-item' }, el('span', { class: `swatch ${kind}` }), text)));
}

/* ---------- SVG: the pipeline graph ---------- */

const NODE = { width: 184, height: 132, gapX: 44, gapY: 28, pad: 12 };

/** Column of each node: its longest distance from a source (edges point left to right). */
function depthsOf(graph) {
  const depth = new Map(graph.nodes.map((node) => [node.id, 0]));
  for (let pass = 0; pass < graph.nodes.length; pass++) {
    let changed = false;
    for (const edge of graph.edges) {
      if (!depth.has(edge.from) || !depth.has(edge.to)) continue;
      const next = depth.get(edge.from) + 1;
      if (next > depth.get(edge.to)) {
        depth.set(edge.to, next);
        changed = true;
      }
    }
    if (!changed) break; // settled (and a cycle cannot loop forever: passes are bounded)
  }
  return depth;
}

function layoutGraph(graph) {
  const depth = depthsOf(graph);
  const columns = [];
  for (const node of graph.nodes) (columns[depth.get(node.id)] ??= []).push(node);
  const tallest = Math.max(1, ...columns.map((column) => column?.length ?? 0));
  const positions = new Map();
  columns.forEach((column = [], x) => {
    const offset = ((tallest - column.length) * (NODE.height + NODE.gapY)) / 2;
    column.forEach((node, y) => positions.set(node.id, {
      x: NODE.pad + x * (NODE.width + NODE.gapX),
      y: NODE.pad + offset + y * (NODE.height + NODE.gapY),
    }));
  });
  return {
    positions,
    width: NODE.pad * 2 + columns.length * NODE.width + (columns.length - 1) * NODE.gapX,
    height: NODE.pad * 2 + tallest * NODE.height + (tallest - 1) * NODE.gapY,
  };
}

/** Draws the graph once; `refresh` then only rewrites the counters' text. */
function drawGraph(graph) {
  const { positions, width, height } = layoutGraph(graph);
  const svg = svgEl('svg', {
    class: 'graph', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'Pipeline graph',
  });
  svg.append(svgEl('defs', {}, svgEl('marker', {
    id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 8, markerHeight: 8, orient: 'auto-start-reverse',
  }, svgEl('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow-head' }))));
  for (const edge of graph.edges) {
    const from = positions.get(edge.from);
    const to = positions.get(edge.to);
    if (from && to) svg.append(drawEdge(from, to, edge.label));
  }
  const metrics = new Map();
  for (const node of graph.nodes) {
    const { group, lines } = drawNode(node, positions.get(node.id));
    metrics.set(node.id, { node, group, lines });
    svg.append(group);
  }
  return { svg, refresh: (status, rates) => refreshGraph(metrics, status, rates) };
}

function drawEdge(from, to, label) {
  const x1 = from.x + NODE.width;
  const y1 = from.y + NODE.height / 2;
  const x2 = to.x - 2;
  const y2 = to.y + NODE.height / 2;
  const middle = (x1 + x2) / 2;
  const group = svgEl('g', { class: label ? 'edge side-output' : 'edge' },
    svgEl('path', { d: `M${x1},${y1} C${middle},${y1} ${middle},${y2} ${x2},${y2}`, 'marker-end': 'url(#arrow)' }));
  if (label) {
    group.append(svgEl('text', { x: middle, y: (y1 + y2) / 2 - 6, 'text-anchor': 'middle', class: 'edge-label' }, truncate(asText(label), 14)));
  }
  return group;
}

/** Up to `lines` lines of at most `width` characters, broken at spaces; the last ends in … if cut. */
function wrapText(text, width, lines) {
  const out = [];
  let rest = text.trim();
  while (rest && out.length < lines) {
    let cut = rest.length <= width ? rest.length : rest.lastIndexOf(' ', width);
    if (cut <= 0) cut = width;
    out.push(rest.slice(0, cut));
    rest = rest.slice(cut).trim();
  }
  if (rest && out.length) out[out.length - 1] = truncate(`${out.at(-1)} ${rest}`, width);
  return out;
}

function drawNode(node, position) {
  const name = asText(node.name ?? node.id);
  // Labels may repeat the step's name ("steps[0].pardo: pardo parse@…"): keep the rest.
  const label = asText(node.label ?? '').replace(`${name}: `, '');
  const kind = ['source', 'step', 'sink'].includes(node.kind) ? node.kind : 'step';
  const group = svgEl('g', {
    class: `node ${kind}`, transform: `translate(${position.x},${position.y})`,
    'data-id': node.id, 'data-kind': kind, 'data-name': name,
  },
  svgEl('title', {}, label ? `${name}: ${label}` : name),
  svgEl('rect', { width: NODE.width, height: NODE.height, rx: 8, ry: 8 }),
  svgEl('text', { x: 10, y: 20, class: 'node-name' }, truncate(asText(node.title ?? name), 21)),
  wrapText(label || kind, 27, 2).map((line, i) => svgEl('text', { x: 10, y: 36 + i * 14, class: 'node-label' }, line)));
  const lines = ['first', 'second', 'third', 'fourth'].map((which, i) => {
    const text = svgEl('text', { x: 10, y: 72 + i * 16, class: `metric metric-${which}` });
    group.append(text);
    return text;
  });
  return { group, lines };
}

function refreshGraph(metrics, status, rates) {
  const live = status.live ?? {};
  const steps = new Map((live.steps ?? []).map((step) => [step.name, step]));
  for (const { node, group, lines } of metrics.values()) {
    let texts;
    let faulty = false;
    if (node.kind === 'source') {
      texts = [`read ${formatCount(live.records_read)}`, formatRate(rates.read), '', ''];
    } else if (node.kind === 'sink') {
      texts = [`emitted ${formatCount(live.emitted)}`, formatRate(rates.emitted),
        `dead letters ${formatCount(live.dead_lettered)}`, `wm ${formatWatermark(live.watermark)}`];
    } else {
      const step = steps.get(node.name);
      const stats = step?.stats ?? {};
      const rate = rates.steps.get(node.name) ?? {};
      const faults = step?.plugin?.faults ?? 0;
      faulty = faults > 0 || (step != null && isQuarantined(step, status));
      texts = [
        `in ${formatCount(stats.records_in)} · ${formatRate(rate.in)}`,
        `out ${formatCount(stats.records_out)} · ${formatRate(rate.out)}`,
        `dead ${formatCount(stats.dead_lettered)} · late ${formatCount(stats.dropped_late)}${faults ? ` · faults ${formatCount(faults)}` : ''}`,
        `wm ${formatWatermark(step?.watermark)}`,
      ];
    }
    texts.forEach((text, i) => {
      if (lines[i].textContent !== text) lines[i].textContent = text;
    });
    group.classList.toggle('faulty', faulty);
  }
}

/* ---------- SVG: line charts ---------- */

/** 1, 2 or 5 times a power of ten, at least `value`: a round top for an axis. */
function niceCeiling(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((step) => step * power).find((top) => top >= value);
}

/** Redraws a chart of `series` ({points: [[ms, value|null]], kind}) into `box`, sized to it. */
function drawLineChart(box, series, formatValue) {
  const width = Math.max(240, Math.round(box.clientWidth || 560));
  const height = 170;
  const pad = { left: 62, right: 10, top: 12, bottom: 24 };
  const values = series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => v != null && Number.isFinite(v));
  const times = series.flatMap((s) => s.points.map((p) => p[0]));
  const end = times.length ? Math.max(...times) : Date.now();
  const start = Math.min(end - 60_000, ...times); // at least a minute across
  const top = niceCeiling(Math.max(0, ...values));
  const x = (t) => pad.left + ((t - start) / (end - start)) * (width - pad.left - pad.right);
  const y = (v) => pad.top + (1 - v / top) * (height - pad.top - pad.bottom);
  const svg = svgEl('svg', { class: 'chart-svg', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img' });
  for (const fraction of [0, 0.5, 1]) {
    const value = top * fraction;
    svg.append(
      svgEl('line', { x1: pad.left, x2: width - pad.right, y1: y(value), y2: y(value), class: 'grid' }),
      svgEl('text', { x: pad.left - 6, y: y(value) + 4, 'text-anchor': 'end', class: 'axis' }, formatValue(value)));
  }
  svg.append(
    svgEl('text', { x: pad.left, y: height - 6, class: 'axis' }, `−${formatMs(end - start)}`),
    svgEl('text', { x: width - pad.right, y: height - 6, 'text-anchor': 'end', class: 'axis' }, 'latest'));
  for (const { points, kind } of series) {
    for (const run of splitAtGaps(points)) {
      if (run.length === 1) svg.append(svgEl('circle', { cx: x(run[0][0]), cy: y(run[0][1]), r: 2, class: `dot ${kind}` }));
      else svg.append(svgEl('polyline', { points: run.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' '), class: `line ${kind}` }));
    }
  }
  if (!values.length) {
    svg.append(svgEl('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle', class: 'empty' }, 'No samples yet'));
  }
  svg.setAttribute('aria-label', values.length ? `latest ${formatValue(values.at(-1))}` : 'no samples yet');
  box.replaceChildren(svg);
}

/** Runs of consecutive points with a value (a null is a gap in the line). */
function splitAtGaps(points) {
  const runs = [];
  let run = [];
  for (const point of points) {
    if (point[1] == null || !Number.isFinite(point[1])) {
      if (run.length) runs.push(run);
      run = [];
    } else {
      run.push(point);
    }
  }
  if (run.length) runs.push(run);
  return runs;
}

/* ---------- Start ---------- */

window.addEventListener('hashchange', () => render());
render();
