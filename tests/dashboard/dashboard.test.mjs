// Browser tests of the `millrace serve` dashboard, against the real server.
// Run with `npm test` (node --test). The tests share one server, one deployed
// pipeline and one signed-in page, and run in order: each builds on the last.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
import {
  call, dashboardDir, millraceBinary, ok, pushExample, pushVariant, scoreEvents, screenshotDir, startServer, waitFor,
} from './harness.mjs';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const WAIT = 15_000;
const SCRIPT_LETTER = '<script>window.pwned=1</script>';
const IMG_LETTER = '<img src=x onerror=window.pwned=2>';

const binary = millraceBinary();
const adminToken = randomBytes(24).toString('hex');
let server;
let browser;
let acme; // tenant tokens
let globex;
let versionA; // two versions of `total`, the same code under two sha256s
let versionB;
let averageVersion; // another CombineFn, with another accumulator
let page; // acme's page, signed in, shared by the tests in order
const requestUrls = [];
const pageUrls = [];
const browserProblems = []; // CSP violations and uncaught errors
const shots = screenshotDir();

const short = (version) => version.slice(0, 12);
const tokens = () => [adminToken, acme, globex];

const scoresSpec = (total) => `name: scores
source: { ingest: { timestamp: ts, watermark: { max_out_of_orderness: 5s } } }
steps:
  - pardo: { plugin: parse, config: { key: user, value: score } }
  - window: { fixed: { size: 1m } }
  - combine: { plugin: ${total} }
sink: { file: out.jsonl }
checkpoint: { interval: 1s }
trace_versions: true
`;

async function send(lines, token = acme) {
  return ok(server.base, token, 'POST', '/v1/pipelines/scores/records', { text: lines });
}

async function status() {
  return ok(server.base, acme, 'GET', '/v1/pipelines/scores');
}

/** A browser context that records every request URL and page URL, and every CSP
 * violation or uncaught error, for the checks at the end. */
async function newPage(viewport = DESKTOP) {
  const context = await browser.newContext({ viewport });
  context.on('request', (request) => requestUrls.push(request.url()));
  const fresh = await context.newPage();
  fresh.on('framenavigated', (frame) => pageUrls.push(frame.url()));
  fresh.on('pageerror', (err) => browserProblems.push(`page error: ${err.message}`));
  fresh.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy|Refused to/i.test(message.text())) {
      browserProblems.push(`console: ${message.text()}`);
    }
  });
  return fresh;
}

async function signIn(target, token) {
  await target.goto(`${server.base}/`);
  await target.getByLabel('Access token').fill(token);
  await target.getByRole('button', { name: 'Sign in' }).click();
  await target.locator('header.topbar').waitFor({ timeout: WAIT });
  pageUrls.push(target.url());
}

/** The number in a graph node's metric line, e.g. "in 1,234 · 5.0/s" → 1234. */
async function nodeCount(target, name, line) {
  const text = await target.locator(`g.node[data-name="${name}"] .metric-${line}`).textContent({ timeout: WAIT });
  const match = /([\d,]+)/.exec(text ?? '');
  return match ? Number(match[1].replaceAll(',', '')) : NaN;
}

async function confirmInDialog(target, button) {
  const dialog = target.getByRole('dialog');
  await dialog.waitFor({ timeout: WAIT });
  await dialog.getByRole('button', { name: button }).click();
  await dialog.waitFor({ state: 'detached', timeout: WAIT });
}

async function noHorizontalScroll(target) {
  return target.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
}

before(async () => {
  await mkdir(shots, { recursive: true });
  server = await startServer(binary, adminToken);
  acme = (await ok(server.base, adminToken, 'POST', '/v1/tenants', { json: { name: 'acme' } })).token;
  globex = (await ok(server.base, adminToken, 'POST', '/v1/tenants', { json: { name: 'globex' } })).token;
  await pushExample(binary, server.base, acme, 'parse', 'parse-json', 'dofn');
  const total = await pushExample(binary, server.base, acme, 'total', 'sum', 'combine');
  versionA = total.pushed.version.version;
  assert.ok(total.file, 'the built sum component is needed for a second version of total');
  versionB = (await pushVariant(binary, server.base, acme, 'total', total.file, 'combine', 'b')).version.version;
  assert.notEqual(versionA, versionB);
  averageVersion = (await pushExample(binary, server.base, acme, 'average', 'mean', 'combine')).pushed.version.version;
  // A sum that panics on 13: enough of those in a row quarantine it.
  await pushExample(binary, server.base, acme, 'shaky', 'faulty-sum', 'combine');
  await ok(server.base, acme, 'POST', '/v1/pipelines', { json: { name: 'shaky', spec: scoresSpec('shaky').replace('name: scores', 'name: shaky') } });
  await ok(server.base, acme, 'POST', '/v1/pipelines', { json: { name: 'scores', spec: scoresSpec(`total@${versionA}`) } });
  await send(scoreEvents(40));
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
}, { timeout: 20 * 60_000 });

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the server serves this checkout\'s dashboard files with their security headers', async () => {
  const files = { '/': 'index.html', '/ui/app.js': 'app.js', '/ui/app.css': 'app.css' };
  for (const [route, type] of [['/', 'text/html'], ['/ui/app.js', 'javascript'], ['/ui/app.css', 'text/css']]) {
    const response = await fetch(server.base + route, { signal: AbortSignal.timeout(WAIT) });
    assert.equal(response.status, 200, route);
    // The files are built into the binary: a stale binary would test old pages.
    assert.equal(await response.text(), await readFile(path.join(dashboardDir, files[route]), 'utf8'),
      `${route} is not ${files[route]} of this checkout: rebuild the binary`);
    assert.match(response.headers.get('content-type') ?? '', new RegExp(type), route);
    const policy = response.headers.get('content-security-policy') ?? '';
    for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) {
      assert.ok(policy.includes(directive), `${route}: ${directive} in ${policy}`);
    }
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff', route);
    assert.equal(response.headers.get('referrer-policy'), 'no-referrer', route);
  }
});

test('sign in: a wrong token is refused, a tenant token opens its pipeline list', async () => {
  page = await newPage();
  await page.goto(`${server.base}/`);
  await page.getByRole('heading', { name: 'millrace' }).waitFor({ timeout: WAIT });
  await page.screenshot({ path: path.join(shots, 'signin-1280x800.png') });
  await page.getByLabel('Access token').fill('not-a-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'does not accept' }).waitFor({ timeout: WAIT });
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);

  await signIn(page, acme);
  await page.getByRole('heading', { name: 'Pipelines' }).waitFor({ timeout: WAIT });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('millrace.token')), acme);
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing is kept beyond the tab');
});

test('the pipeline list shows the running pipeline, its throughput, lag and checkpoint age', async () => {
  const row = page.locator('table.pipelines tbody tr', { has: page.getByRole('link', { name: 'scores' }) });
  await row.waitFor({ timeout: WAIT });
  assert.equal(await row.locator('.badge').textContent(), 'running');
  await send(scoreEvents(30, { start: 100 }));
  // Throughput needs two polls; the checkpoint age needs a checkpoint.
  await waitFor(async () => /^[\d,.]+\/s$/.test(await row.locator('td[data-label="Throughput"]').textContent()),
    { what: 'a throughput figure' });
  await waitFor(async () => /ago$/.test(await row.locator('td[data-label="Last checkpoint"]').textContent()),
    { what: 'a checkpoint age' });
  assert.match(await row.locator('td[data-label="Watermark lag"]').textContent(), /\d+(\.\d)? (ms|s|min)/);
  assert.equal(await row.locator('td[data-label="Faults"]').textContent(), 'none');
  await page.screenshot({ path: path.join(shots, 'list-1280x800.png'), fullPage: true });
});

test('the pipeline page draws the graph: the source, every step and the sink', async () => {
  await page.getByRole('link', { name: 'scores' }).click();
  assert.match(page.url(), /#\/pipelines\/scores$/);
  await page.locator('svg.graph g.node').first().waitFor({ timeout: WAIT });
  const stepNames = (await status()).live.steps.map((step) => step.name);
  assert.deepEqual(stepNames, ['steps[0].pardo', 'steps[1].window', 'steps[2].combine']);
  assert.equal(await page.locator('g.node[data-kind="source"]').count(), 1);
  assert.equal(await page.locator('g.node[data-kind="sink"]').count(), 1);
  const drawn = await page.locator('g.node[data-kind="step"]').evaluateAll((nodes) => nodes.map((n) => n.dataset.name));
  assert.deepEqual(drawn.sort(), [...stepNames].sort());
  assert.ok(await page.locator('svg.graph g.edge path').count() >= 4, 'edges join the nodes');
  // Left to right by depth: source, then each step, then the sink.
  const xs = await page.locator('svg.graph g.node').evaluateAll((nodes) => Object.fromEntries(nodes.map((n) =>
    [n.dataset.name, n.transform.baseVal.consolidate().matrix.e])));
  const order = [await page.locator('g.node[data-kind="source"]').getAttribute('data-name'), ...stepNames,
    await page.locator('g.node[data-kind="sink"]').getAttribute('data-name')];
  for (let i = 1; i < order.length; i++) assert.ok(xs[order[i - 1]] < xs[order[i]], `${order[i - 1]} left of ${order[i]}`);
});

test('live counters rise as records are sent, without reloading the page', async () => {
  await page.evaluate(() => { window.sameDocument = true; });
  await waitFor(async () => (await nodeCount(page, 'steps[0].pardo', 'first')) >= 70, { what: 'the first 70 records' });
  const sourceName = await page.locator('g.node[data-kind="source"]').getAttribute('data-name');
  const before = await nodeCount(page, 'steps[0].pardo', 'first');
  const readBefore = await nodeCount(page, sourceName, 'first');
  await send(scoreEvents(25, { start: 200 }));
  await waitFor(async () => (await nodeCount(page, 'steps[0].pardo', 'first')) >= before + 25,
    { what: 'the pardo step to count 25 more records in' });
  await waitFor(async () => (await nodeCount(page, 'steps[0].pardo', 'second')) >= before + 25,
    { what: 'and out' });
  assert.ok((await nodeCount(page, sourceName, 'first')) >= readBefore + 25, 'the source counts records read');
  assert.ok(await page.evaluate(() => window.sameDocument === true), 'the page was not reloaded');
  // The charts come from /history: a throughput line and lag points appear.
  await page.locator('.chart svg polyline.line.read').first().waitFor({ timeout: WAIT });
  await page.locator('.chart svg .lag').first().waitFor({ timeout: WAIT });
  // Checkpoint history (from /history) lists sizes and durations.
  await page.locator('table.checkpoints tbody tr').first().waitFor({ timeout: WAIT });
  assert.match(await page.locator('table.checkpoints td[data-label="Size"]').first().textContent(), /\d+(\.\d)? (B|KiB|MiB)/);
});

test('a swap made on the page shows in the timeline and changes the version; roll back returns', async () => {
  const row = page.locator('tr[data-step="steps[2].combine"]');
  await row.waitFor({ timeout: WAIT });
  assert.equal(await row.locator('td[data-label="Version"] code').textContent(), short(versionA));
  const select = row.getByRole('combobox');
  await waitFor(async () => (await select.locator('option').evaluateAll((o) => o.map((x) => x.value))).includes(`total@${versionB}`),
    { what: 'version B among the choices' });
  await select.selectOption(`total@${versionB}`);

  // Cancel changes nothing.
  await row.getByRole('button', { name: 'Swap' }).click();
  await confirmInDialog(page, 'Cancel');
  assert.equal((await status()).swaps.length, 0);

  await row.getByRole('button', { name: 'Swap' }).click();
  await confirmInDialog(page, 'Swap');
  const swapItem = page.locator('ol.timeline li.swap').filter({ hasText: `${short(versionA)} → ${short(versionB)}` });
  await swapItem.waitFor({ timeout: WAIT });
  assert.match(await swapItem.textContent(), /by acme/);
  await waitFor(async () => (await row.locator('td[data-label="Version"] code').textContent()) === short(versionB),
    { what: 'the step to show version B' });
  assert.equal((await status()).pins['steps[2].combine'].version, versionB);
  await send(scoreEvents(5, { start: 300 })); // records after the switch go through B

  await row.getByRole('button', { name: 'Roll back' }).click();
  await confirmInDialog(page, 'Roll back');
  const rollbackItem = page.locator('ol.timeline li.rollback').filter({ hasText: `${short(versionB)} → ${short(versionA)}` });
  await rollbackItem.waitFor({ timeout: WAIT });
  assert.match(await rollbackItem.textContent(), /rollback/);
  await waitFor(async () => (await row.locator('td[data-label="Version"] code').textContent()) === short(versionA),
    { what: 'the step to show version A again' });
  const swaps = (await status()).swaps;
  assert.deepEqual(swaps.map((s) => s.rollback), [false, true]);
});

test('a refused swap shows the server\'s reason and changes nothing', async () => {
  // `average` is a CombineFn too, so it is offered, but its accumulator differs from total's.
  const row = page.locator('tr[data-step="steps[2].combine"]');
  await row.getByRole('combobox').selectOption(`average@${averageVersion}`);
  await row.getByRole('button', { name: 'Swap' }).click();
  await confirmInDialog(page, 'Swap');
  const refused = await call(server.base, acme, 'POST', '/v1/pipelines/scores/swap',
    { json: { step: 'steps[2].combine', plugin: `average@${averageVersion}` } });
  assert.equal(refused.status, 400);
  await page.locator('.notice.bad').filter({ hasText: refused.body.error }).waitFor({ timeout: WAIT });
  assert.equal((await status()).pins['steps[2].combine'].version, versionA);
  assert.equal(await row.locator('td[data-label="Version"] code').textContent(), short(versionA));
});

test('dead letters are shown as text: markup in them never runs', async () => {
  const now = Date.now();
  await send(`${JSON.stringify({ ts: now, user: 'mallory', score: SCRIPT_LETTER })}\n`
    + `${JSON.stringify({ ts: now, user: 'mallory', score: IMG_LETTER })}\n`);
  const letters = page.locator('ol.dead-letters');
  await letters.filter({ hasText: SCRIPT_LETTER }).waitFor({ timeout: WAIT });
  await letters.filter({ hasText: IMG_LETTER }).waitFor({ timeout: WAIT });
  assert.equal(await letters.locator('script, img').count(), 0, 'no element was made from a dead letter');
  assert.ok((await letters.locator('li').count()) >= 2);
  assert.ok((await letters.locator('.dl-reason').first().textContent()).length > 0, 'each shows its reason');
  await page.waitForTimeout(500);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  // Faults at a glance: the dead-letter tile counts them.
  await waitFor(async () => Number((await page.locator('.tile', { hasText: 'Dead letters' }).locator('.tile-value').textContent()).replaceAll(',', '')) >= 2,
    { what: 'the dead-letter count' });
  await page.screenshot({ path: path.join(shots, 'pipeline-1280x800.png'), fullPage: true });
});

test('faults at a glance: a quarantined plugin shows in the list and on its page', async () => {
  const unlucky = () => `${JSON.stringify({ ts: Date.now(), user: 'u', score: 13 })}\n`;
  await waitFor(async () => {
    await call(server.base, acme, 'POST', '/v1/pipelines/shaky/records', { text: unlucky() });
    return (await ok(server.base, acme, 'GET', '/v1/pipelines/shaky')).outcome.state === 'failed';
  }, { timeout: 30_000, interval: 500, what: 'the faulty plugin to be quarantined' });

  await page.locator('header nav').getByRole('link', { name: 'Pipelines' }).click();
  const row = page.locator('table.pipelines tbody tr', { has: page.getByRole('link', { name: 'shaky' }) });
  await row.locator('.badge', { hasText: 'failed' }).waitFor({ timeout: WAIT });
  await row.locator('td[data-label="Faults"] .fault.bad', { hasText: 'Quarantined' }).waitFor({ timeout: WAIT });
  const healthy = page.locator('table.pipelines tbody tr', { has: page.getByRole('link', { name: 'scores' }) });
  assert.doesNotMatch(await healthy.locator('td[data-label="Faults"]').textContent(), /Quarantined|Failed/);

  await row.getByRole('link', { name: 'shaky' }).click();
  await page.locator('.fault-banner', { hasText: 'quarantined' }).waitFor({ timeout: WAIT });
  await page.locator('g.node.faulty[data-name="steps[2].combine"]').waitFor({ timeout: WAIT });
  assert.equal(await page.locator('g.node.faulty').count(), 1, 'only the faulty step is marked');
  await page.locator('tr[data-step="steps[2].combine"] td[data-label="Faults"]', { hasText: 'quarantined' }).waitFor({ timeout: WAIT });
  assert.ok(await page.getByRole('button', { name: 'Start' }).isEnabled(), 'a failed pipeline can be started again');
  await page.goto(`${server.base}/#/pipelines/scores`); // back to the healthy one for the next tests
  await page.locator('svg.graph').waitFor({ timeout: WAIT });
});

test('another tenant cannot reach the pipeline by its URL', async () => {
  const other = await newPage();
  await signIn(other, globex);
  await other.getByText('No pipelines yet').waitFor({ timeout: WAIT });
  await other.goto(`${server.base}/#/pipelines/scores`);
  await other.getByRole('heading', { name: 'Pipeline not found' }).waitFor({ timeout: WAIT });
  assert.equal(await other.locator('svg.graph, .tile, ol.dead-letters, table.versions').count(), 0, 'no data is shown');
  const text = await other.locator('body').textContent();
  for (const secret of ['steps[0].pardo', short(versionA), 'mallory']) assert.ok(!text.includes(secret), secret);
  await other.context().close();
});

test('the admin token shows the tenants', async () => {
  const admin = await newPage();
  await signIn(admin, adminToken);
  await admin.getByRole('heading', { name: 'Tenants' }).waitFor({ timeout: WAIT });
  for (const name of ['acme', 'globex']) {
    await admin.locator('table.tenants tbody th', { hasText: name }).waitFor({ timeout: WAIT });
  }
  assert.match(await admin.locator('table.tenants tr', { hasText: 'acme' }).locator('td[data-label="Pipelines"]').textContent(), /^2 of/);
  await admin.context().close();
});

test('screenshots at phone size, without sideways scrolling', async () => {
  const phone = await newPage(PHONE);
  await phone.goto(`${server.base}/`);
  await phone.getByLabel('Access token').waitFor({ timeout: WAIT });
  await phone.screenshot({ path: path.join(shots, 'signin-390x844.png') });
  assert.ok(await noHorizontalScroll(phone), 'sign-in page');
  await signIn(phone, acme);
  await phone.locator('table.pipelines tbody tr').first().waitFor({ timeout: WAIT });
  await phone.waitForTimeout(2500); // two polls: rates appear
  assert.ok(await noHorizontalScroll(phone), 'pipeline list');
  await phone.screenshot({ path: path.join(shots, 'list-390x844.png'), fullPage: true });
  await phone.getByRole('link', { name: 'scores' }).click();
  await phone.locator('svg.graph').waitFor({ timeout: WAIT });
  await phone.locator('ol.dead-letters').waitFor({ timeout: WAIT });
  await phone.waitForTimeout(2500);
  assert.ok(await noHorizontalScroll(phone), 'pipeline page');
  // Only the graph scrolls sideways, inside its own box.
  assert.ok(await phone.locator('.graph-scroll').evaluate((box) => box.scrollWidth > box.clientWidth));
  await phone.screenshot({ path: path.join(shots, 'pipeline-390x844.png'), fullPage: true });
  await phone.context().close();
});

test('stop with drain and start again, each confirmed in the page', async () => {
  const badge = page.locator('.page-head .badge');
  await page.getByRole('button', { name: 'Stop (drain)' }).click();
  await confirmInDialog(page, 'Stop');
  await waitFor(async () => ['finished', 'stopped'].includes(await badge.textContent()), { what: 'the pipeline to stop' });
  assert.notEqual((await status()).outcome.state, 'running');
  await waitFor(async () => page.getByRole('button', { name: 'Start' }).isEnabled(), { what: 'Start to be enabled' });
  await page.getByRole('button', { name: 'Start' }).click();
  await confirmInDialog(page, 'Start');
  await waitFor(async () => (await badge.textContent()) === 'running', { what: 'the pipeline to run again' });
  assert.equal((await status()).outcome.state, 'running');
});

test('the token never appears in a URL, and signing out forgets it', async () => {
  pageUrls.push(page.url());
  assert.ok(requestUrls.length > 20, 'requests were recorded');
  for (const url of [...requestUrls, ...pageUrls]) {
    for (const token of tokens()) assert.ok(!url.includes(token), `a token in ${url}`);
  }
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Access token').waitFor({ timeout: WAIT });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('millrace.token')), null);
  await page.goto(`${server.base}/#/pipelines/scores`);
  await page.getByLabel('Access token').waitFor({ timeout: WAIT });
  assert.equal(await page.locator('svg.graph').count(), 0, 'signed out, no data');
  await page.context().close();
});

test('no page broke the content security policy or threw an uncaught error', () => {
  assert.deepEqual(browserProblems, []);
});
