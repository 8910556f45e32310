// hangar serve's model cache through the real server on loopback and its real SQLite state: learned
// footprints (kept across a restart), the dry-run fit, requests that wait for memory instead of a
// 507, a full queue's 429 with Retry-After, eviction reasons in stats and /metrics, and the
// /v1/models/events stream; settings changes that reload a model, memory_limit's 507, and priorities;
// bad requests refused before any load, single-flight loads, --memory-budget auto and the jobs in stats.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { makeModelsDir, startServer, subscribeEvents, waitFor } from './server.mjs';

const QWEN = 'qwen2-d256-q4_k_m';
const LLAMA = 'llama-spm-d256-q4_0';
const LLAMA_K = 'llama-spm-d256-q4_k_m';
const MODELS = [QWEN, LLAMA, LLAMA_K];
// A context long enough that keepBusy's streams outlast a test's checks on a fast machine: with a
// model queued behind it QWEN drains (takes no new streams), so only the two running ones keep it busy.
const common = ['--ctx', '2048', '--threads', '2', '--keep-alive', '-1'];

const dirs = makeModelsDir(MODELS.map((m) => m + '.gguf'));
const measured = {};  // id -> measured footprint from the first server

const longPrompt = (n) => Array.from({ length: n }, (_, i) => 100 + (i % 50));
// Holds `id` busy with 16 greedy streams of `maxTokens` each; stop() aborts them all.
function keepBusy(server, id, maxTokens) {
  const controller = new AbortController();
  const streams = Array.from({ length: 16 }, (_, i) => fetch(server.url + '/v1/completions', {
    method: 'POST', signal: controller.signal, headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: id, prompt: 'Once upon a time ' + i, max_tokens: maxTokens, ignore_eos: true,
      temperature: 0, stream: true }),
  }).then(async (r) => { for await (const _ of r.body) { /* drain */ } }).catch(() => {}));
  return { stop: async () => { controller.abort(); await Promise.all(streams); } };
}

describe('learned footprints', () => {
  let server;
  before(async () => {
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, '--memory-budget', '2G',
      '--parallel', '2', ...common]);
  });
  after(async () => {
    if (server) await server.stop();
  });

  test('the first load is admitted on the estimate and measured; the second is admitted on the measurement', async () => {
    for (const id of MODELS) {
      const before = await server.model(id);
      assert.equal(before.footprint.source, 'estimate');
      assert.equal(before.tier, 'disk');
      assert.equal(before.footprint.measured_bytes, null);
      assert.equal(before.footprint.admission_bytes, before.estimated_bytes);
      const loaded = await server.request('POST', `/v1/models/${id}/load`);
      assert.equal(loaded.status, 200, JSON.stringify(loaded.body));
      const after = await server.model(id);
      assert.equal(after.footprint.source, 'measured');
      assert.equal(after.tier, 'host');  // a CPU model: no GPU tier
      assert.equal(after.footprint.measured_bytes, after.memory_bytes);
      assert.equal(after.footprint.admission_bytes, after.memory_bytes);
      const error = (after.footprint.estimated_bytes - after.memory_bytes) / after.memory_bytes;
      assert.ok(Math.abs(after.footprint.estimate_error - error) < 1e-9, JSON.stringify(after.footprint));
      assert.match(after.footprint.settings, /ctx=2048 parallel=2/);
      measured[id] = after.memory_bytes;
    }
    // Unloaded and loaded again: the dry run and the load count the measured figure, which the
    // new measurement matches within 5%.
    assert.equal((await server.request('DELETE', '/v1/models/' + LLAMA)).status, 200);
    assert.equal((await server.model(LLAMA)).tier, 'disk');
    const fit = (await server.request('GET', `/v1/models/${LLAMA}/fit`)).body;
    assert.equal(fit.needed_bytes, measured[LLAMA]);
    assert.equal(fit.measured, true);
    assert.equal((await server.request('POST', `/v1/models/${LLAMA}/load`)).status, 200);
    const again = await server.model(LLAMA);
    assert.ok(Math.abs(again.memory_bytes - measured[LLAMA]) <= 0.05 * measured[LLAMA],
      `${again.memory_bytes} vs ${measured[LLAMA]}`);
    const s = await server.stats();
    assert.equal(s.unloads.manual, 1);
    assert.equal(s.recent_evictions.at(-1).id, LLAMA);
    assert.equal(s.recent_evictions.at(-1).reason, 'manual');
  });

  test('CPU models are in the host tier in the list, stats and /metrics, never on the GPU', async () => {
    const list = (await server.request('GET', '/v1/models')).body.data;
    assert.equal(list.length, MODELS.length);
    for (const m of list) {
      assert.equal(m.tier, 'host', JSON.stringify(m));  // all three loaded by the test above
      assert.equal(m.gpu_bytes, 0);
    }
    const s = await server.stats();
    assert.equal(s.models.find((m) => m.id === QWEN).tier, 'host');
    assert.equal(s.gpu.used_bytes, 0);
    assert.equal(s.gpu.promotions, 0);
    assert.equal(s.gpu.demotions, 0);
    // --gpu-memory-budget auto on a machine or build without a GPU: no GPU tier.
    if (s.gpu.budget_bytes === 0) assert.match(s.gpu.reason, /no GPU tier/);
    const metrics = (await server.request('GET', '/metrics')).body;
    assert.match(metrics, new RegExp(`^hangar_model_tier\\{model="${QWEN}",tier="host"\\} 1$`, 'm'));
    assert.match(metrics, new RegExp(`^hangar_model_tier\\{model="${QWEN}",tier="disk"\\} 0$`, 'm'));
    assert.doesNotMatch(metrics, /^hangar_model_tier\{[^}]*tier="gpu"\} 1$/m);
    assert.match(metrics, /^hangar_gpu_memory_used_bytes 0$/m);
  });

  test('a restart admits on the footprints stored in the state file', async () => {
    assert.equal((await server.stop()).code, 0);
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, '--memory-budget', '2G',
      '--parallel', '2', ...common]);
    for (const id of MODELS) {
      const m = await server.model(id);
      assert.equal(m.state, 'unloaded');
      assert.equal(m.footprint.source, 'measured');
      assert.equal(m.footprint.admission_bytes, measured[id]);
    }
    // Other settings (parallel) make another footprint: the estimate is used again.
    assert.equal((await server.stop()).code, 0);
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, '--memory-budget', '2G',
      '--parallel', '1', ...common]);
    assert.equal((await server.model(QWEN)).footprint.source, 'estimate');
  });
});

describe('a budget that holds one model', () => {
  let server, events;
  before(async () => {
    // Between the largest model and the two smallest together: any one fits, never two.
    const sizes = Object.values(measured).sort((a, b) => a - b);
    assert.equal(sizes.length, 3);
    assert.ok(sizes[2] < sizes[0] + sizes[1], JSON.stringify(measured));
    const budget = Math.floor((sizes[2] + sizes[0] + sizes[1]) / 2);
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, '--memory-budget',
      String(budget), '--parallel', '2', '--queue-size', '1', ...common]);
    events = await subscribeEvents(server);
  });
  after(async () => {
    if (events) await events.stop();
    if (server) await server.stop();
  });

  test('fit is a dry run naming what would be evicted', async () => {
    assert.equal((await server.request('POST', `/v1/models/${QWEN}/load`)).status, 200);
    const fit = (await server.request('GET', `/v1/models/${LLAMA}/fit`)).body;
    assert.equal(fit.fits, true);
    assert.deepEqual(fit.evict, [QWEN]);
    assert.ok(fit.needed_bytes > fit.free_bytes, JSON.stringify(fit));
    assert.equal((await server.model(QWEN)).state, 'loaded');  // nothing changed
    const self = (await server.request('GET', `/v1/models/${QWEN}/fit`)).body;
    assert.equal(self.fits, true);
    assert.deepEqual(self.evict, []);
    assert.equal((await server.request('GET', '/v1/models/no-such-model/fit')).status, 404);
  });

  test('a request waits for a busy model instead of a 507; a full queue answers 429 with Retry-After', async () => {
    // Keep QWEN busy: long streams, two at a time (--parallel 2), aborted once the checks are done.
    const busy = keepBusy(server, QWEN, 2000);
    // in_flight counts from acquire, so a request still waiting for QWEN's load counts too: wait
    // until the load is done, or LLAMA's request may queue behind the load instead of the streams;
    // and for all 16, since a stream that arrives once LLAMA waits finds QWEN draining and queues.
    await waitFor('QWEN to be loaded and busy', async () => {
      const m = await server.model(QWEN);
      return m.state === 'loaded' && m.in_flight === 16;
    }, { intervalMs: 5 });

    const waiting = server.request('POST', '/v1/completions', { model: LLAMA, prompt: 'Hi', max_tokens: 2 });
    await waitFor('the request for LLAMA to queue', async () => (await server.stats()).queue.waiting === 1,
      { intervalMs: 5 });
    const s = await server.stats();
    assert.equal((await server.model(QWEN)).state, 'loaded');  // in flight: never evicted
    assert.equal(s.models.find((m) => m.id === QWEN).draining, true);

    const refused = await server.request('POST', '/v1/completions', { model: LLAMA, prompt: 'Hi', max_tokens: 2 });
    assert.equal(refused.status, 429, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, 'queue_full');
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);

    await busy.stop();  // QWEN goes idle; the waiting request gets its memory
    const served = await waiting;
    assert.equal(served.status, 200, JSON.stringify(served.body));
    assert.equal(served.body.usage.completion_tokens, 2);
    const after = await server.stats();
    assert.equal(after.queue.full, 1);
    assert.ok(after.queue.queued >= 1);
    assert.equal(after.unloads.policy, 1);
    assert.deepEqual(after.recent_evictions.map((e) => [e.id, e.reason, e.detail]),
      [[QWEN, 'policy', `to make room for '${LLAMA}'`]]);
    const metrics = (await server.request('GET', '/metrics')).body;
    assert.match(metrics, /^hangar_model_unloads_total\{reason="policy"\} 1$/m);
    assert.match(metrics, /^hangar_requests_rejected_total\{reason="queue_full"\} 1$/m);
  });

  test('keep_alive 0 and DELETE record their own reasons', async () => {
    const r = await server.request('POST', '/v1/completions', { model: LLAMA_K, prompt: 'Hi', max_tokens: 1,
      keep_alive: 0 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((await server.model(LLAMA_K)).last_eviction, 'keep_alive');
    assert.equal((await server.request('POST', `/v1/models/${QWEN}/load`)).status, 200);
    assert.equal((await server.request('DELETE', '/v1/models/' + QWEN)).status, 200);
    const s = await server.stats();
    assert.equal(s.unloads.keep_alive, 1);
    assert.equal(s.unloads.manual, 1);
    const metrics = (await server.request('GET', '/metrics')).body;
    assert.match(metrics, /^hangar_model_unloads_total\{reason="keep_alive"\} 1$/m);
    assert.match(metrics, /^hangar_model_unloads_total\{reason="manual"\} 1$/m);
  });

  test('a model whose file no longer matches its digest fails with an event', async () => {
    await waitFor('background hashing', async () => {
      const s = await server.stats();
      return s.hashing.pending === 0 && s.hashing.current_id === '';
    });
    const file = path.join(dirs.models, QWEN + '.gguf');
    const fd = fs.openSync(file, 'r+');
    const size = fs.fstatSync(fd).size;
    fs.writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, size - 8192);
    fs.closeSync(fd);
    const r = await server.request('POST', `/v1/models/${QWEN}/load`);
    assert.equal(r.status, 409);
  });

  test('the event stream told it all, in order', async () => {
    await waitFor('the failure event', async () => events.events.some((e) => e.type === 'failed'));
    const seen = events.events.map((e) => [e.type, e.model, e.reason ?? null]);
    const expected = [
      ['loading', QWEN, null], ['loaded', QWEN, null],              // fit test
      ['queued', LLAMA, null],                                       // the waiting request
      ['evicted', QWEN, 'policy'], ['loading', LLAMA, null], ['loaded', LLAMA, null],
      ['evicted', LLAMA, 'policy'], ['loading', LLAMA_K, null], ['loaded', LLAMA_K, null],
      ['evicted', LLAMA_K, 'keep_alive'],
      ['loading', QWEN, null], ['loaded', QWEN, null], ['evicted', QWEN, 'manual'],
      ['loading', QWEN, null], ['failed', QWEN, null],
    ];
    // Loading events repeat with progress; compare with runs of them collapsed.
    const collapsed = seen.filter((e, i) => !(e[0] === 'loading' && i > 0 && seen[i - 1][0] === 'loading'))
      .map(([type, id, reason]) => [type, id, type === 'evicted' ? reason : null]);
    assert.deepEqual(collapsed, expected);
    const loading = events.events.filter((e) => e.type === 'loading' && e.model === LLAMA);
    assert.equal(loading[0].progress, 0);
    assert.equal(loading.at(-1).progress, 1);
    const loaded = events.events.find((e) => e.type === 'loaded');
    assert.ok(loaded.bytes > 0 && loaded.load_ms >= 0 && loaded.estimated_bytes > 0, JSON.stringify(loaded));
    const failed = events.events.find((e) => e.type === 'failed');
    assert.match(failed.error, /sha256 mismatch/);
    for (let i = 1; i < events.events.length; i++) assert.ok(events.events[i].seq > events.events[i - 1].seq);
  });
});

describe('settings changes and the cache', () => {
  const own = makeModelsDir([QWEN + '.gguf']);
  let server, events;
  const complete = () => server.request('POST', '/v1/completions', { model: QWEN, prompt: 'Hi', max_tokens: 2 });
  before(async () => {
    fs.writeFileSync(path.join(own.models, 'hangar.toml'), `[models.${QWEN}]\nctx = 256\n`);
    server = await startServer(['--models-dir', own.models, '--state-dir', own.state, '--parallel', '1', ...common]);
    events = await subscribeEvents(server);
  });
  after(async () => {
    if (events) await events.stop();
    if (server) await server.stop();
  });

  test('a new ctx unloads the idle model at once and the next request loads it with the new size', async () => {
    assert.equal((await complete()).status, 200);
    assert.match((await server.model(QWEN)).footprint.settings, /ctx=256 /);
    const p = await server.request('PATCH', `/v1/models/${QWEN}/settings`, { ctx: 384 });
    assert.equal(p.status, 200, JSON.stringify(p.body));
    const m = await server.model(QWEN);
    assert.equal(m.state, 'unloaded');
    assert.equal(m.last_eviction, 'settings_change');
    const s = await server.stats();
    assert.equal(s.unloads.settings_change, 1);
    assert.deepEqual([s.recent_evictions.at(-1).id, s.recent_evictions.at(-1).reason], [QWEN, 'settings_change']);
    assert.match((await server.request('GET', '/metrics')).body,
      /^hangar_model_unloads_total\{reason="settings_change"\} 1$/m);
    // Loaded again with 384 tokens of context: a 300-token prompt fits.
    const long = await server.request('POST', '/v1/completions', { model: QWEN, prompt: longPrompt(300), max_tokens: 1 });
    assert.equal(long.status, 200, JSON.stringify(long.body));
    assert.match((await server.model(QWEN)).footprint.settings, /ctx=384 /);
    // A sampling key needs no reload.
    assert.equal((await server.request('PATCH', `/v1/models/${QWEN}/settings`, { temperature: 0.5 })).status, 200);
    assert.equal((await server.model(QWEN)).state, 'loaded');
  });

  test('a model over its memory_limit answers 507 naming the limit', async () => {
    // Loaded and over the new limit: unloaded like a new ctx.
    assert.equal((await server.request('PATCH', `/v1/models/${QWEN}/settings`, { memory_limit: 1024 })).status, 200);
    assert.equal((await server.model(QWEN)).last_eviction, 'settings_change');
    const r = await complete();
    assert.equal(r.status, 507, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'insufficient_memory');
    assert.match(r.body.error.message, /more than its memory_limit setting of 1\.00 KiB \(1024 bytes\)/);
    assert.equal((await server.model(QWEN)).state, 'unloaded');
    // Back to the file's settings: it loads again.
    assert.equal((await server.request('DELETE', `/v1/models/${QWEN}/settings`)).status, 200);
    assert.equal((await complete()).status, 200);
  });

  test('a busy model reloads once its requests end; a request meanwhile waits for the new size', async () => {
    assert.equal((await server.model(QWEN)).state, 'loaded');  // ctx 256 again (the file's)
    const busy = keepBusy(server, QWEN, 230);
    // Every stream holds the model (the engine runs one at a time, the others wait inside it).
    await waitFor('QWEN to be busy', async () => (await server.model(QWEN)).in_flight === 16, { intervalMs: 5 });
    assert.equal((await server.request('PATCH', `/v1/models/${QWEN}/settings`, { ctx: 384 })).status, 200);
    const m = await server.model(QWEN);
    assert.equal(m.state, 'loaded');  // requests in flight: never evicted
    assert.equal(m.reload_pending, true);
    // Under the old size this prompt would be refused (context of 256): it waits for the reload.
    const waiting = server.request('POST', '/v1/completions', { model: QWEN, prompt: longPrompt(300), max_tokens: 1 });
    await waitFor('the request to wait for the reload', async () => (await server.model(QWEN)).waiting === 1,
      { intervalMs: 5 });
    await busy.stop();
    const served = await waiting;
    assert.equal(served.status, 200, JSON.stringify(served.body));
    const after = await server.model(QWEN);
    assert.equal(after.last_eviction, 'settings_change');
    assert.equal(after.reload_pending, false);
  });

  test('the event stream shows each settings change and the reload it caused', async () => {
    await waitFor('the last load', async () => events.events.filter((e) => e.type === 'loaded').length >= 4);
    const seen = events.events.filter((e) => e.type === 'settings' || e.type === 'evicted')
      .map((e) => [e.type, e.model, e.type === 'settings' ? e.cause + ' reload=' + e.reload : e.reason]);
    assert.deepEqual(seen, [
      ['settings', QWEN, 'api reload=true'], ['evicted', QWEN, 'settings_change'],
      ['settings', QWEN, 'api reload=false'],                    // temperature
      ['settings', QWEN, 'api reload=true'], ['evicted', QWEN, 'settings_change'],  // memory_limit under it
      ['settings', QWEN, 'api reload=true'],  // back to ctx 256 while unloaded: nothing to evict
      ['settings', QWEN, 'api reload=true'], ['evicted', QWEN, 'settings_change'],  // busy, then idle
    ]);
    const queued = events.events.filter((e) => e.type === 'queued');
    assert.deepEqual(queued.map((e) => [e.model, e.reason]), [[QWEN, 'reload']]);
  });
});

describe('priorities from the settings file', () => {
  const own = makeModelsDir(MODELS.map((m) => m + '.gguf'));
  let server, events;
  before(async () => {
    fs.writeFileSync(path.join(own.models, 'hangar.toml'), `[models.${LLAMA_K}]\npriority = 5\n`);
    server = await startServer(['--models-dir', own.models, '--state-dir', own.state, '--max-loaded', '1',
      '--parallel', '2', ...common]);
    events = await subscribeEvents(server);
  });
  after(async () => {
    if (events) await events.stop();
    if (server) await server.stop();
  });

  test('a later request for a higher-priority model gets the memory first', async () => {
    assert.equal((await server.request('POST', `/v1/models/${QWEN}/load`)).status, 200);
    const busy = keepBusy(server, QWEN, 2000);
    await waitFor('QWEN to be busy', async () => (await server.model(QWEN)).in_flight === 16, { intervalMs: 5 });
    const low = server.request('POST', '/v1/completions', { model: LLAMA, prompt: 'Hi', max_tokens: 2 });
    await waitFor('the first to wait', async () => (await server.stats()).queue.waiting === 1, { intervalMs: 5 });
    const high = server.request('POST', '/v1/completions', { model: LLAMA_K, prompt: 'Hi', max_tokens: 2 });
    await waitFor('the second to wait', async () => (await server.stats()).queue.waiting === 2, { intervalMs: 5 });
    await busy.stop();
    assert.equal((await high).status, 200);
    assert.equal((await low).status, 200);
    // The answer can arrive before the event stream delivers the last 'loaded' event.
    const loadedModels = () => events.events.filter((e) => e.type === 'loaded').map((e) => e.model);
    await waitFor('three loaded events', async () => loadedModels().length >= 3, { intervalMs: 5 });
    assert.deepEqual(loadedModels(), [QWEN, LLAMA_K, LLAMA]);
    const s = await server.stats();
    assert.equal(s.models.find((m) => m.id === LLAMA_K).priority, 5);
    assert.equal(s.models.find((m) => m.id === LLAMA).priority, 0);
  });
});

describe('before any load, and what the stats show', () => {
  const own = makeModelsDir([QWEN + '.gguf', LLAMA + '.gguf']);
  let server, events;
  before(async () => {
    server = await startServer(['--models-dir', own.models, '--state-dir', own.state, '--memory-budget', 'auto',
      '--gpu-memory-budget', 'auto', '--max-loaded', '1', '--parallel', '1', ...common]);
    events = await subscribeEvents(server);
  });
  after(async () => {
    if (events) await events.stop();
    if (server) await server.stop();
  });

  test('a bad request is refused before anything is loaded or evicted', async () => {
    assert.equal((await server.request('POST', `/v1/models/${QWEN}/load`)).status, 200);
    const vocab = 10_000_000;  // beyond any test model's vocabulary
    // Token ids the header can judge (outside the vocabulary; longer than the context), and a
    // logit_bias outside the vocabulary: a 400, and LLAMA is neither loaded nor QWEN evicted
    // (--max-loaded 1: any load of LLAMA would evict QWEN).
    const bad = [
      [{ model: LLAMA, prompt: [1, vocab], max_tokens: 1 }, /token id 10000000 is outside the model's vocabulary/],
      [{ model: LLAMA, prompt: longPrompt(2100), max_tokens: 1 }, /the prompt has 2100 tokens, which does not fit the context of \d+ tokens/],
      [{ model: LLAMA, prompt: 'Hi', max_tokens: 1, logit_bias: { [vocab]: 1 } }, /'logit_bias' token id 10000000 is outside/],
    ];
    for (const [body, message] of bad) {
      const r = await server.request('POST', '/v1/completions', body);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(r.body.error.message, message);
    }
    assert.equal((await server.model(LLAMA)).state, 'unloaded');
    assert.equal((await server.model(QWEN)).state, 'loaded');
    const s = await server.stats();
    assert.equal(s.loads, 1);
    assert.equal(s.recent_evictions.length, 0);
    assert.ok(!events.events.some((e) => e.model === LLAMA), JSON.stringify(events.events));
  });

  test('concurrent requests for an unloaded model load it once', async () => {
    const rs = await Promise.all(Array.from({ length: 4 }, (_, i) =>
      server.request('POST', '/v1/completions', { model: LLAMA, prompt: 'Hi ' + i, max_tokens: 1 })));
    for (const r of rs) assert.equal(r.status, 200, JSON.stringify(r.body));
    await waitFor('the loaded event', async () => events.events.some((e) => e.type === 'loaded' && e.model === LLAMA));
    assert.equal(events.events.filter((e) => e.type === 'loaded' && e.model === LLAMA).length, 1);
    const s = await server.stats();
    assert.equal(s.loads, 2);  // QWEN's, then LLAMA's once
    assert.equal(s.models.find((m) => m.id === QWEN).tier, 'disk');  // evicted (max-loaded 1), not demoted
  });

  test('--memory-budget auto: stats show the effective budget and why, and every background job', async () => {
    const s = await server.stats();
    assert.equal(s.budget.configured, 'auto');
    assert.ok(s.budget.effective_bytes > 0, JSON.stringify(s.budget));
    assert.equal(s.budget.effective_bytes, s.bytes_budget);
    assert.match(s.budget.reason, /^auto: 80% of the |what the machine can give|memory pressure/);
    assert.equal(s.memory.budget_reason, s.budget.reason);
    // auto: the free GPU memory less a margin, or without a GPU no GPU tier; CPU models are never demoted.
    assert.match(s.gpu.reason, s.gpu.budget_bytes ? /^auto: .* of GPU memory free less a margin/ : /^auto: no GPU \(.*\), no GPU tier$/);
    assert.equal(s.gpu.demotions, 0);
    for (const job of ['keep_alive', 'settings', 'kv_trim', 'rescan', 'headers', 'prune', 'history', 'sqlite']) {
      const j = s.background.jobs[job];
      assert.ok(j, `job ${job} in ${JSON.stringify(Object.keys(s.background.jobs))}`);
      assert.ok(j.runs >= 1 && j.last_run_ms !== null && j.last_error === null, `${job}: ${JSON.stringify(j)}`);
      assert.equal(typeof j.last_result, 'string');
    }
    // The keep-alive job frees a model whose keep-alive ran out, and says what it freed.
    const r = await server.request('POST', '/v1/completions', { model: LLAMA, prompt: 'Hi', max_tokens: 1,
      keep_alive: '1s' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const bytes = (await server.model(LLAMA)).memory_bytes;
    const job = await waitFor('the keep-alive job to unload LLAMA', async () => {
      const j = (await server.stats()).background.jobs.keep_alive;
      return j.freed_items_total >= 1 ? j : null;
    });
    assert.equal(job.freed_items_total, 1);
    assert.equal(job.freed_bytes_total, bytes);
    assert.equal((await server.model(LLAMA)).last_eviction, 'keep_alive');
  });
});
