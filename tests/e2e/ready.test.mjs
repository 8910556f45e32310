// GET /health/ready through the real server: 200 or 503 with the reason, per model, without
// counting as a use of any model (no load, no access record, no hit, no keep-alive reset), and
// the gateway gauges of /metrics for a resident model.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { makeModelsDir, metricValue, startServer } from './server.mjs';

const QWEN = 'qwen2-d256-q4_k_m';
const LLAMA = 'llama-spm-d256-q4_0';
const dirs = makeModelsDir([QWEN, LLAMA].map((m) => m + '.gguf'));

const gauge = (text, name, id) => metricValue(text, name, `model="${id}"`);

describe('readiness', () => {
  let server;
  before(async () => {
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, '--ctx', '256',
      '--threads', '2', '--keep-alive', '10m', '--parallel', '2', '--api-key', 'sekrit']);
  });
  after(async () => {
    if (server) await server.stop();
  });

  test('the replica and a known model are ready, with no key; an unknown one is 503 with why', async () => {
    const r = await server.request('GET', '/health/ready');
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'ready');
    const q = await server.request('GET', '/health/ready?model=' + QWEN);
    assert.equal(q.status, 200, JSON.stringify(q.body));
    assert.equal(q.body.model, QWEN);
    assert.equal(q.body.state, 'unloaded');
    const p = await server.request('GET', '/health/ready/' + LLAMA);
    assert.equal(p.status, 200);
    const u = await server.request('GET', '/health/ready/nope');
    assert.equal(u.status, 503);
    assert.equal(u.body.code, 'unknown_model');
    assert.match(u.body.reason, /unknown model 'nope'/);
  });

  test('asking is no use of the model: no load, no access, no hit, keep-alive not reset', async () => {
    const auth = { authorization: 'Bearer sekrit' };
    const before = await server.request('GET', '/v1/models/' + LLAMA, undefined, auth);
    assert.equal(typeof before.body.registry.access_count, 'number');
    assert.equal(typeof before.body.registry.last_access_ms, 'number');
    for (let i = 0; i < 5; i++) assert.equal((await server.request('GET', '/health/ready/' + LLAMA)).status, 200);
    const afterAsk = await server.request('GET', '/v1/models/' + LLAMA, undefined, auth);
    assert.equal(afterAsk.body.state, 'unloaded');
    assert.equal(afterAsk.body.registry.access_count, before.body.registry.access_count);
    assert.equal(afterAsk.body.registry.last_access_ms, before.body.registry.last_access_ms);

    // Load QWEN with one request (keep_alive 1h); its expiry must not move when asked.
    const c = await server.request('POST', '/v1/completions', { model: QWEN, prompt: 'Hi', max_tokens: 2, keep_alive: '1h' }, auth);
    assert.equal(c.status, 200, JSON.stringify(c.body));
    const s0 = (await server.request('GET', '/v1/models/stats', undefined, auth)).body;
    const m0 = (await server.request('GET', '/v1/models/' + QWEN, undefined, auth)).body;
    assert.equal(m0.state, 'loaded');
    assert.ok(m0.registry.access_count >= 1, 'the completion counted as a use');
    // Numbers, so that the equalities below cannot hold between two missing fields.
    assert.ok(m0.registry.last_access_ms > 0 && s0.hits >= 0 && s0.misses >= 1, JSON.stringify([m0.registry, s0.hits]));
    for (let i = 0; i < 5; i++) {
      const q = await server.request('GET', '/health/ready?model=' + QWEN);
      assert.equal(q.status, 200);
      assert.equal(q.body.state, 'loaded');
    }
    const m1 = (await server.request('GET', '/v1/models/' + QWEN, undefined, auth)).body;
    const s1 = (await server.request('GET', '/v1/models/stats', undefined, auth)).body;
    assert.equal(m1.registry.access_count, m0.registry.access_count);
    assert.equal(m1.registry.last_access_ms, m0.registry.last_access_ms);
    assert.equal(s1.hits, s0.hits);
    assert.equal(s1.misses, s0.misses);
    // The keep-alive counts down from the last use: that use's time is unchanged, and the
    // countdown did not go back up.
    const used = (st) => st.models.find((m) => m.id === QWEN).last_used_ms;
    assert.ok(used(s0) > 0 && m0.expires_in_ms > 0, JSON.stringify(s0.models));
    assert.equal(used(s1), used(s0));
    assert.ok(m1.expires_in_ms <= m0.expires_in_ms, `${m1.expires_in_ms} > ${m0.expires_in_ms}`);
  });

  test('/metrics has the gauges a gateway reads for the resident model', async () => {
    const auth = { authorization: 'Bearer sekrit' };
    const res = await fetch(server.url + '/metrics', { headers: auth });
    const text = await res.text();
    assert.equal(gauge(text, 'hangar_model_requests_running', QWEN), 0);
    assert.equal(gauge(text, 'hangar_model_requests_queued', QWEN), 0);
    assert.ok(gauge(text, 'hangar_kv_cache_capacity_bytes', QWEN) > 0, text);
    // The finished request's prompt is kept for prefix reuse: its blocks are in use.
    assert.ok(gauge(text, 'hangar_kv_cache_used_bytes', QWEN) > 0);
    assert.ok(gauge(text, 'hangar_kv_cache_usage_ratio', QWEN) > 0);
    assert.ok(gauge(text, 'hangar_model_memory_bytes', QWEN) > 0);
    assert.equal(gauge(text, 'hangar_requests_waiting', QWEN), 0);
    assert.match(text, /^hangar_memory_budget_bytes \d+$/m);
  });

  test('a model over its memory_limit is not ready, naming the limit', async () => {
    const auth = { authorization: 'Bearer sekrit' };
    const p = await server.request('PATCH', `/v1/models/${LLAMA}/settings`, { memory_limit: 1024 }, auth);
    assert.equal(p.status, 200, JSON.stringify(p.body));
    const q = await server.request('GET', '/health/ready/' + LLAMA);
    assert.equal(q.status, 503);
    assert.equal(q.body.code, 'insufficient_memory');
    assert.match(q.body.reason, /memory_limit/);
    assert.equal((await server.request('GET', '/health/ready')).status, 200);  // the replica still is
  });
});
