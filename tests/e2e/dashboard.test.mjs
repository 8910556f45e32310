// The dashboard (GET /) in a real headless Chromium driven by puppeteer-core against a real
// `hangar serve` on loopback: no console errors, the models listed, a load and an unload made
// outside the page reflected in it, the page's own buttons, and a chat streamed into the page;
// then forty models at once (issue 16): every row, the filter, scrolling and a load.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { makeModelsDir, startServer } from './server.mjs';

const QWEN = 'qwen2-d256-q4_k_m';
const LLAMA = 'llama-spm-d256-q4_0';

// CHROMIUM names the browser; otherwise Debian's chromium on PATH.
function findChromium() {
  if (process.env.CHROMIUM) return fs.existsSync(process.env.CHROMIUM) ? process.env.CHROMIUM : null;
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || null;
    } catch { /* not on PATH */ }
  }
  return null;
}

const chromium = findChromium();
const skip = chromium ? false : 'chromium not found (install Debian\'s chromium, or set CHROMIUM=/path/to/chrome)';
if (skip) console.log('# SKIP dashboard browser test: ' + skip);

// A headless Chromium on the server's page; every console error, page error and failed request
// (other than the event stream the page itself ends) goes into `problems`, fatal at the end.
async function openDashboard(server, viewport, problems) {
  const puppeteer = (await import('puppeteer-core')).default;
  const browser = await puppeteer.launch({ executablePath: chromium, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'] });
  const page = await browser.newPage();
  await page.setViewport(viewport);
  page.on('console', (m) => { if (m.type() === 'error') problems.push('console: ' + m.text()); });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('requestfailed', (r) => {
    // Streams the page itself ends (leaving, or closing the browser) are not failures.
    if (!r.url().endsWith('/v1/models/events')) problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  await page.goto(server.url + '/', { waitUntil: 'domcontentloaded' });
  return { browser, page };
}

describe('dashboard in a real browser', { skip }, () => {
  let server, browser, page;
  const problems = [];  // console errors, page errors and failed requests, all fatal at the end
  let dirs;
  const artefactDir = process.env.HANGAR_ARTIFACT_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'hangar-dash-'));

  before(async () => {
    dirs = makeModelsDir([QWEN + '.gguf', LLAMA + '.gguf']);
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, '--ctx', '256',
      '--threads', '1', '--parallel', '1', '--keep-alive', '10m']);
    ({ browser, page } = await openDashboard(server, { width: 1280, height: 1000 }, problems));
  });

  after(async () => {
    if (page) {
      const shot = path.join(artefactDir, 'dashboard.png');
      fs.mkdirSync(artefactDir, { recursive: true });
      await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
      console.log('# dashboard screenshot: ' + shot);
    }
    if (browser) await browser.close();
    if (server) await server.stop();
    if (dirs) fs.rmSync(dirs.root, { recursive: true, force: true });
  });

  const stateOf = (id) => page.$eval(`#models tr[data-id="${id}"] .col-state`, (td) => td.textContent).catch(() => null);
  const waitState = (id, want) => page.waitForFunction(
    (id, want) => document.querySelector(`#models tr[data-id="${id}"] .col-state`)?.textContent === want,
    { timeout: 10000 }, id, want);

  test('the page and its files come from the binary, and are public', async () => {
    for (const route of ['/', '/ui', '/ui/app.js', '/ui/style.css']) {
      const r = await fetch(server.url + route);
      assert.equal(r.status, 200, route);
      assert.match(r.headers.get('content-security-policy'), /default-src 'self'/);
    }
    assert.equal((await fetch(server.url + '/ui/nothing.js')).status, 404);
  });

  test('lists every model of the server', async () => {
    await page.waitForSelector(`#models tr[data-id="${QWEN}"]`, { timeout: 10000 });
    await page.waitForSelector(`#models tr[data-id="${LLAMA}"]`, { timeout: 10000 });
    assert.equal(await stateOf(QWEN), 'unloaded');
    const options = await page.$$eval('#chat-model option', (os) => os.map((o) => o.value));
    assert.deepEqual(options.sort(), [LLAMA, QWEN].sort());
  });

  test('a load and an unload through the API show in the table and the event list', async () => {
    assert.equal((await server.request('POST', `/v1/models/${QWEN}/load`)).status, 200);
    await waitState(QWEN, 'loaded');
    const mem = await page.$eval(`#models tr[data-id="${QWEN}"] .col-memory`, (td) => td.textContent);
    assert.match(mem, /MiB/);
    await page.waitForFunction(() => document.querySelectorAll('#budget-bar span').length === 1, { timeout: 10000 });
    await page.waitForSelector(`#events li[data-type="loaded"][data-model="${QWEN}"]`, { timeout: 10000 });
    assert.equal((await server.request('DELETE', `/v1/models/${QWEN}`)).status, 200);
    await waitState(QWEN, 'unloaded');
    const evicted = await page.waitForSelector(`#events li[data-type="evicted"][data-model="${QWEN}"]`, { timeout: 10000 });
    assert.match(await evicted.evaluate((li) => li.textContent), /reason: manual/);
  });

  test('the buttons load, pin and unload a model', async () => {
    const button = (id, action) => page.click(`#models tr[data-id="${id}"] button[data-action="${action}"]`);
    await button(LLAMA, 'load');
    await waitState(LLAMA, 'loaded');
    assert.equal((await server.request('GET', `/v1/models/${LLAMA}`)).body.state, 'loaded');
    await button(LLAMA, 'pin');
    await page.waitForFunction((id) => document.querySelector(`#models tr[data-id="${id}"] .col-pin`)?.textContent === 'pinned',
      { timeout: 10000 }, LLAMA);
    assert.equal((await server.request('GET', `/v1/models/${LLAMA}`)).body.pinned, true);
    await button(LLAMA, 'pin');  // the same button, now labelled unpin
    await page.waitForFunction((id) => document.querySelector(`#models tr[data-id="${id}"] .col-pin`)?.textContent === '',
      { timeout: 10000 }, LLAMA);
    await button(LLAMA, 'unload');
    await waitState(LLAMA, 'unloaded');
    assert.equal((await server.request('GET', `/v1/models/${LLAMA}`)).body.state, 'unloaded');
    assert.equal(await page.$eval('#action-error', (e) => e.textContent), '');
  });

  test('a chat streams into the page', async () => {
    await page.select('#chat-model', QWEN);
    await page.type('#chat-input', 'Hello there');
    await page.click('#chat-send');
    await page.waitForFunction(() => document.querySelector('#chat-output').dataset.done === 'true', { timeout: 30000 });
    const { text, chunks } = await page.$eval('#chat-output', (e) => ({ text: e.textContent, chunks: Number(e.dataset.chunks) }));
    assert.doesNotMatch(text, /\[error/);
    assert.ok(chunks > 1, `the reply came in ${chunks} chunk(s), not as a stream`);
    assert.ok(text.length > 0);
    await waitState(QWEN, 'loaded');  // the chat loaded it, and the table says so
    // Two misses (the API's load, then the chat after the unload), no hit; per model, from stats.
    const cell = (col) => page.$eval(`#models tr[data-id="${QWEN}"] .col-${col}`, (td) => td.textContent);
    await page.waitForFunction((id) => document.querySelector(`#models tr[data-id="${id}"] .col-misses`)?.textContent === '2',
      { timeout: 10000 }, QWEN);
    assert.equal(await cell('hits'), '0');
  });

  test('the charts draw from /metrics and nothing went wrong in the page', async () => {
    // The model the chat loaded is resident: the memory chart's latest point says so.
    await page.waitForFunction(() => Number(document.querySelector('#chart-mem').dataset.last) > 0, { timeout: 10000 });
    assert.ok(Number(await page.$eval('#chart-tps', (c) => c.dataset.points)) >= 1);
    assert.equal(await page.$eval('#conn', (e) => e.textContent), 'live');
    assert.deepEqual(problems, []);
  });
});

describe('dashboard behind an API key', { skip }, () => {
  const KEY = 'dash-secret-key';
  let server, browser, dirs;
  before(async () => {
    dirs = makeModelsDir([QWEN + '.gguf']);
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, '--ctx', '256',
      '--threads', '1', '--api-key', KEY]);
    const puppeteer = (await import('puppeteer-core')).default;
    browser = await puppeteer.launch({ executablePath: chromium, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'] });
  });
  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
    if (dirs) fs.rmSync(dirs.root, { recursive: true, force: true });
  });

  // Generous waits: this block's browser starts while make test runs everything else beside it.
  test('the page loads without the key, and lists the models once the key is typed in', async () => {
    assert.equal((await fetch(server.url + '/v1/models')).status, 401);  // the data stays behind the key
    const page = await browser.newPage();
    await page.goto(server.url + '/ui', { waitUntil: 'domcontentloaded' });
    await page.waitForFunction(() => /invalid|missing/i.test(document.querySelector('#conn').textContent),
      { timeout: 30000 });
    assert.equal(await page.$(`#models tr[data-id="${QWEN}"]`), null);
    await page.type('#api-key', KEY);
    await page.$eval('#api-key', (e) => e.dispatchEvent(new Event('change')));
    await page.waitForSelector(`#models tr[data-id="${QWEN}"]`, { timeout: 30000 });
    await page.click(`#models tr[data-id="${QWEN}"] button[data-action="load"]`);
    await page.waitForFunction((id) => document.querySelector(`#models tr[data-id="${id}"] .col-state`)?.textContent === 'loaded',
      { timeout: 30000 }, QWEN);
    // A CPU model's tier (host) is in the cell's title; only "(gpu)" would be shown in its text.
    assert.equal(await page.$eval(`#models tr[data-id="${QWEN}"] .col-state`, (td) => td.title), 'tier: host');
    await page.waitForFunction(() => document.querySelector('#conn').textContent === 'live', { timeout: 30000 });
  });
});

// Issue 16: the page must stay usable with dozens of models. Forty hard links of one small model
// under distinct names: every row listed by id, the filter narrowing them, the last row reachable
// by scrolling, nothing wider than the window, and a load of one of them shown as loaded.
describe('dashboard with forty models', { skip }, () => {
  const N = 40;
  const name = (i) => 'fleet-' + String(i).padStart(2, '0');
  const ids = Array.from({ length: N }, (_, i) => name(i));
  let server, browser, page, dirs;
  const problems = [];

  before(async () => {
    dirs = makeModelsDir([]);
    const base = path.join(dirs.root, 'base.gguf');
    fs.copyFileSync(path.join(process.env.HANGAR_SHARED_DIR, 'models', QWEN + '.gguf'), base);
    for (const id of ids) fs.linkSync(base, path.join(dirs.models, id + '.gguf'));
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, '--ctx', '256',
      '--threads', '1', '--parallel', '1', '--keep-alive', '10m']);
    ({ browser, page } = await openDashboard(server, { width: 1280, height: 800 }, problems));
  });
  after(async () => {
    if (page) {
      const dir = process.env.HANGAR_ARTIFACT_DIR;
      if (dir) {
        fs.mkdirSync(dir, { recursive: true });
        await page.screenshot({ path: path.join(dir, 'dashboard-40.png'), fullPage: true }).catch(() => {});
      }
    }
    if (browser) await browser.close();
    if (server) await server.stop();
    if (dirs) fs.rmSync(dirs.root, { recursive: true, force: true });
  });

  const visibleIds = () => page.$$eval('#models tbody tr', (trs) => trs.filter((tr) => !tr.hidden).map((tr) => tr.dataset.id));

  test('every model has its row, in the table and the chat list, and nothing is wider than the window', async () => {
    await page.waitForFunction((n) => document.querySelectorAll('#models tbody tr').length === n, { timeout: 10000 }, N);
    assert.deepEqual(await visibleIds(), ids);
    assert.equal(await page.$eval('#model-count', (e) => e.textContent), `(${N})`);
    assert.deepEqual(await page.$$eval('#chat-model option', (os) => os.map((o) => o.value)), ids);
    const { scrollWidth, innerWidth } = await page.evaluate(() =>
      ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
    assert.ok(scrollWidth <= innerWidth, `the page is ${scrollWidth}px wide in a ${innerWidth}px window`);
  });

  test('the last row is reached by scrolling, and the filter narrows the table', async () => {
    const last = name(N - 1);
    const inView = (id) => page.$eval(`#models tr[data-id="${id}"]`, (tr) => {
      const r = tr.getBoundingClientRect();
      return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight;
    });
    await page.$eval(`#models tr[data-id="${last}"]`, (tr) => tr.scrollIntoView({ block: 'center' }));
    assert.equal(await inView(last), true);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.type('#filter', 'fleet-3');
    await page.waitForFunction(() => /10 shown/.test(document.querySelector('#model-count').textContent), { timeout: 10000 });
    assert.deepEqual(await visibleIds(), ids.slice(30));
    assert.equal(await page.$eval('#model-count', (e) => e.textContent), `(${N}, 10 shown)`);
  });

  test('a load from a filtered row shows as loaded, with one segment in the budget bar', async () => {
    const id = name(37);
    await page.click(`#models tr[data-id="${id}"] button[data-action="load"]`);
    await page.waitForFunction((id) => document.querySelector(`#models tr[data-id="${id}"] .col-state`)?.textContent === 'loaded',
      { timeout: 20000 }, id);
    assert.equal((await server.request('GET', `/v1/models/${id}`)).body.state, 'loaded');
    await page.waitForFunction(() => document.querySelectorAll('#budget-bar span').length === 1, { timeout: 10000 });
    // Clearing the filter brings every row back, and only the loaded one says so.
    await page.$eval('#filter', (e) => { e.value = ''; e.dispatchEvent(new Event('input')); });
    assert.deepEqual(await visibleIds(), ids);
    const states = await page.$$eval('#models tbody tr .col-state', (tds) => tds.map((td) => td.textContent));
    assert.deepEqual(states.map((s, i) => (s === 'loaded' ? ids[i] : null)).filter(Boolean), [id]);
    assert.equal(await page.$eval('#action-error', (e) => e.textContent), '');
    assert.deepEqual(problems, []);
  });
});
