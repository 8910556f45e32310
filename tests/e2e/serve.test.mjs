// hangar serve driven by the official openai client: models, chat and completions (streamed and
// not, checked against llama.cpp's greedy output), errors, cancellation; then eviction under a
// budget that fits two of three models, state kept across a restart, and a corrupted model file.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';

import { exchange, write } from './raw_http.mjs';
import { hangarBin, makeModelsDir, sharedDir, startServer, waitFor } from './server.mjs';

const QWEN = 'qwen2-d256-q4_k_m';   // has a chat template
const LLAMA = 'llama-spm-d256-q4_0'; // has none: ChatML
const LLAMA_K = 'llama-spm-d256-q4_k_m';
const MODELS = [QWEN, LLAMA, LLAMA_K];
const API_KEY = 'e2e-secret';
const common = ['--ctx', '512', '--parallel', '2', '--threads', '2', '--keep-alive', '-1'];

const dirs = makeModelsDir(MODELS.map((m) => m + '.gguf'));
const golden = (model) =>
  JSON.parse(fs.readFileSync(path.join(sharedDir, 'golden/completions', model + '.gguf.json'), 'utf8'));
// The cases whose every step leads the runner-up by 0.1: a correct engine cannot swap a token.
const decisive = (model) =>
  golden(model).cases.filter((c) => c.steps.every((s) => s.top[0][1] - s.top[1][1] >= 0.1));

const client = (server, apiKey = 'unused') =>
  new OpenAI({ baseURL: server.url + '/v1', apiKey, maxRetries: 0, timeout: 60000 });
const chatMsgs = [{ role: 'user', content: 'Say hello' }];

// Figures from the first server that the later phases check against.
const phase1 = { accessCounts: {}, bytes: {} };

describe('hangar serve with a generous budget', () => {
  let server, openai;
  before(async () => {
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, '--memory-budget', '2G', ...common]);
    openai = client(server);
  });
  after(async () => {
    if (server) await server.stop();
  });

  test('lists the models of the models dir', async () => {
    const ids = [];
    for await (const m of openai.models.list()) ids.push(m.id);
    assert.deepEqual(ids.sort(), [...MODELS].sort());
    const one = await openai.models.retrieve(QWEN);
    assert.equal(one.id, QWEN);
    assert.equal(one.object, 'model');
  });

  test('completions reproduce llama.cpp greedy text (prompt as a string)', async () => {
    const cases = decisive(LLAMA);
    assert.ok(cases.length > 0);
    for (const c of cases) {
      const r = await openai.completions.create({
        model: LLAMA, prompt: c.prompt, max_tokens: c.completion_tokens.length, temperature: 0,
      });
      assert.equal(r.object, 'text_completion');
      assert.equal(r.choices[0].text, c.content);
      assert.equal(r.usage.prompt_tokens, c.prompt_tokens.length);
      assert.equal(r.usage.completion_tokens, c.completion_tokens.length);
      assert.ok(r.timings.prompt_ms > 0 && r.timings.predicted_per_second > 0, JSON.stringify(r.timings));
    }
  });

  test('streamed completions reproduce llama.cpp greedy text (prompt as token ids)', async () => {
    const cases = decisive(QWEN);
    assert.ok(cases.length > 0);
    for (const c of cases) {
      const stream = await openai.completions.create({
        model: QWEN, prompt: c.prompt_tokens, max_tokens: c.completion_tokens.length, temperature: 0,
        stream: true, stream_options: { include_usage: true },
      });
      let text = '', usage = null, finish = null, chunks = 0;
      for await (const chunk of stream) {
        chunks++;
        if (chunk.usage) usage = chunk.usage;
        for (const ch of chunk.choices) {
          text += ch.text;
          if (ch.finish_reason) finish = ch.finish_reason;
        }
      }
      assert.equal(text, c.content);
      assert.equal(finish, 'length');
      assert.ok(chunks > 2);
      assert.equal(usage.prompt_tokens, c.prompt_tokens.length);
      assert.equal(usage.completion_tokens, c.completion_tokens.length);
    }
  });

  test('completions with echo and logprobs score the prompt as llama.cpp does, streamed and not', async () => {
    // The prompt holds llama.cpp's prompt and completion, so its later positions are golden steps.
    const c = decisive(QWEN)[0];
    const prompt = [...c.prompt_tokens, ...c.completion_tokens];
    const req = { model: QWEN, prompt, max_tokens: 2, temperature: 0, echo: true, logprobs: 3 };
    const full = await openai.completions.create(req);
    const lp = full.choices[0].logprobs;
    assert.equal(lp.tokens.length, prompt.length + 2);
    assert.equal(lp.token_logprobs[0], null);
    assert.equal(lp.top_logprobs[0], null);
    // The engine issue's tolerance for 4-bit models: mean |difference| of the best logprob <= 0.05.
    let diff = 0;
    for (let i = 0; i < c.steps.length; i++) {
      const j = c.prompt_tokens.length + i;  // the entry of completion token i
      const best = Math.max(...Object.values(lp.top_logprobs[j]));
      diff += Math.abs(best - c.steps[i].top[0][1]);
      assert.ok(lp.token_logprobs[j] <= best + 1e-6);
    }
    assert.ok(diff / c.steps.length <= 0.05, `mean |dlogprob| ${diff / c.steps.length}`);
    for (let j = 1; j < lp.text_offset.length; j++) assert.ok(lp.text_offset[j] >= lp.text_offset[j - 1]);

    const stream = await openai.completions.create({ ...req, stream: true });
    let streamed = null;
    for await (const chunk of stream)
      for (const ch of chunk.choices)
        if (ch.logprobs) streamed = streamed ? {
          tokens: [...streamed.tokens, ...ch.logprobs.tokens],
          token_logprobs: [...streamed.token_logprobs, ...ch.logprobs.token_logprobs],
        } : { tokens: ch.logprobs.tokens, token_logprobs: ch.logprobs.token_logprobs };
    assert.deepEqual(streamed.tokens, lp.tokens);
    assert.deepEqual(streamed.token_logprobs, lp.token_logprobs);
  });

  test('chat, streamed and not, gives the same greedy answer with usage and timings', async () => {
    const req = { model: QWEN, messages: chatMsgs, max_tokens: 12, temperature: 0 };
    const full = await openai.chat.completions.create(req);
    assert.equal(full.object, 'chat.completion');
    assert.equal(full.choices[0].message.role, 'assistant');
    assert.equal(typeof full.choices[0].message.content, 'string');
    assert.ok(full.usage.prompt_tokens > 0);
    assert.equal(full.usage.total_tokens, full.usage.prompt_tokens + full.usage.completion_tokens);
    assert.ok('cache_n' in full.timings && full.timings.prompt_per_second > 0);

    const stream = await openai.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
    let text = '', role = null, usage = null, finish = null;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      if (chunk.usage) usage = chunk.usage;
      for (const ch of chunk.choices) {
        if (ch.delta.role) role = ch.delta.role;
        if (ch.delta.content) text += ch.delta.content;
        if (ch.finish_reason) finish = ch.finish_reason;
      }
    }
    assert.equal(role, 'assistant');
    assert.equal(text, full.choices[0].message.content);
    assert.equal(finish, full.choices[0].finish_reason);
    assert.deepEqual(usage.completion_tokens, full.usage.completion_tokens);
    // The same prompt again reuses its prefix from the KV cache.
    assert.ok(usage.prompt_tokens_details.cached_tokens > 0, JSON.stringify(usage));
  });

  test('chat on a model without a template uses ChatML; apply-template shows the render', async () => {
    const r = await server.request('POST', '/apply-template', { model: LLAMA, messages: chatMsgs });
    assert.equal(r.status, 200);
    assert.equal(r.body.prompt, '<|im_start|>user\nSay hello<|im_end|>\n<|im_start|>assistant\n');
    const c = await openai.chat.completions.create({ model: LLAMA, messages: chatMsgs, max_tokens: 3, temperature: 0 });
    assert.equal(c.usage.completion_tokens, 3);
  });

  test('chat logprobs: one entry per generated token with the top alternatives', async () => {
    const r = await openai.chat.completions.create({
      model: QWEN, messages: chatMsgs, max_tokens: 4, temperature: 0, logprobs: true, top_logprobs: 2,
    });
    const lps = r.choices[0].logprobs.content;
    assert.equal(lps.length, 4);
    for (const lp of lps) {
      assert.equal(lp.top_logprobs.length, 2);
      // Greedy: the chosen token is the most likely one.
      assert.equal(lp.token, lp.top_logprobs[0].token);
      assert.ok(lp.logprob <= 0 && lp.top_logprobs[0].logprob >= lp.top_logprobs[1].logprob);
    }
    assert.equal(lps.map((l) => l.token).join(''), r.choices[0].message.content);
  });

  test('errors are OpenAI errors with the right status and field', async () => {
    await assert.rejects(openai.chat.completions.create({ model: 'no-such-model', messages: chatMsgs }), (e) => {
      assert.equal(e.status, 404);
      assert.match(e.message, /no-such-model/);
      return true;
    });
    await assert.rejects(
      openai.chat.completions.create({ model: QWEN, messages: chatMsgs, temperature: 5 }), (e) => {
        assert.equal(e.status, 400);
        assert.equal(e.param, 'temperature');
        return true;
      });
    const bad = await server.request('POST', '/v1/chat/completions', '{"model": ');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.type, 'invalid_request_error');
    // Over a raw socket, read as soon as it comes: the 413 is sent before the body is read, and
    // fetch fails outright when the server stops draining an upload that is still going (a
    // loaded machine sends 9 MiB slower than the server lingers).
    const big = JSON.stringify({ model: QWEN, prompt: 'x'.repeat(9 << 20) });
    const tooBig = await exchange(server.port, async (sock, answered) => {
      await write(sock, 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        `Content-Length: ${Buffer.byteLength(big)}\r\n\r\n`);
      if (!answered()) await write(sock, big);
    });
    assert.equal(tooBig.status, 413, JSON.stringify(tooBig).slice(0, 300));
    assert.equal(tooBig.body.error.type, 'invalid_request_error');
    assert.match(tooBig.body.error.message, /exceeds the limit of \d+ bytes/);
  });

  test('tokenize and detokenize round-trip', async () => {
    const t = await server.request('POST', '/tokenize', { model: QWEN, content: 'Hello world' });
    assert.equal(t.status, 200);
    assert.ok(t.body.tokens.length >= 2);
    const d = await server.request('POST', '/detokenize', { model: QWEN, tokens: t.body.tokens });
    assert.equal(d.body.content, 'Hello world');
  });

  test('requests for different models run at the same time', async () => {
    // Each stream records when its first and last tokens arrived.
    const run = async (model) => {
      const stream = await openai.completions.create({
        model, prompt: 'Once upon a time', max_tokens: 200, temperature: 0, ignore_eos: true, stream: true,
      });
      let first = -1, last = -1;
      for await (const chunk of stream) {
        if (!chunk.choices.length || !chunk.choices[0].text) continue;
        if (first < 0) first = performance.now();
        last = performance.now();
      }
      return { first, last };
    };
    const [a, b] = await Promise.all([run(LLAMA), run(QWEN)]);
    // Interleaved: each started before the other finished.
    assert.ok(a.first < b.last && b.first < a.last, JSON.stringify({ a, b }));
  });

  test('a client that disconnects mid-stream cancels its generation', async () => {
    const stream = await openai.completions.create({
      model: LLAMA, prompt: 'Once upon a time', max_tokens: 480, temperature: 0, ignore_eos: true, stream: true,
    });
    let n = 0;
    for await (const chunk of stream) {
      if (++n === 3) break;  // leaving the loop aborts the request
    }
    await waitFor('the cancelled request to free its model', async () => {
      const m = await server.request('GET', '/v1/models/' + LLAMA);
      return m.body.in_flight === 0;
    });
    const metrics = await server.request('GET', '/metrics');
    assert.match(metrics.body, new RegExp(`hangar_requests_total\\{model="${LLAMA}",endpoint="completions",outcome="cancelled"\\} 1`));
    assert.match(metrics.body, /hangar_time_to_first_token_seconds_bucket/);
  });

  test('keep_alive 0 in a request unloads the model right after it', async () => {
    await openai.chat.completions.create({ model: LLAMA_K, messages: chatMsgs, max_tokens: 2, keep_alive: 0 });
    const m = await server.request('GET', '/v1/models/' + LLAMA_K);
    assert.equal(m.body.state, 'unloaded');
  });

  test('load, pin, preload and stats; every model hashed', async () => {
    for (const id of MODELS) {
      const r = await server.request('POST', `/v1/models/${id}/load`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.state, 'loaded');
      assert.ok(r.body.memory_bytes > 0 && r.body.estimated_bytes > 0);
      phase1.bytes[id] = { measured: r.body.memory_bytes, estimate: r.body.estimated_bytes };
    }
    assert.equal((await server.request('POST', `/v1/models/${QWEN}/pin`)).body.pinned, true);
    const refused = await server.request('DELETE', '/v1/models/' + QWEN);
    assert.equal(refused.status, 409);
    assert.equal((await server.request('DELETE', `/v1/models/${QWEN}/pin`)).body.pinned, false);
    assert.equal((await server.request('POST', `/v1/models/${QWEN}/preload`)).status, 200);
    const stats = await waitFor('background hashing', async () => {
      const s = (await server.request('GET', '/v1/models/stats')).body;
      return s.hashing.pending === 0 && s.hashing.current_id === '' ? s : null;
    });
    assert.deepEqual(stats.preload.list, [QWEN]);
    assert.equal(stats.loaded, 3);
    assert.ok(stats.hits > 0 && stats.misses > 0 && stats.loads >= 3);
    for (const id of MODELS) {
      const m = (await server.request('GET', '/v1/models/' + id)).body;
      assert.match(m.registry.sha256, /^[0-9a-f]{64}$/);
      assert.ok(m.registry.access_count > 0);
      phase1.accessCounts[id] = m.registry.access_count;
    }
  });

  test('stops cleanly on SIGTERM', async () => {
    const r = await server.stop();
    server = null;
    assert.equal(r.code, 0);
  });
});

describe('hangar serve restarted with a budget for two of three models', () => {
  let server, openai;
  before(async () => {
    // Any two fit (each counted at the larger of its estimate and measurement); three do not
    // (each counted at the smaller).
    const hi = MODELS.map((id) => Math.max(phase1.bytes[id].measured, phase1.bytes[id].estimate));
    const lo = MODELS.map((id) => Math.min(phase1.bytes[id].measured, phase1.bytes[id].estimate));
    const pair = Math.max(hi[0] + hi[1], hi[0] + hi[2], hi[1] + hi[2]);
    assert.ok(pair < lo[0] + lo[1] + lo[2], `no budget fits two but not three: ${JSON.stringify(phase1.bytes)}`);
    const budget = Math.floor((pair + lo[0] + lo[1] + lo[2]) / 2);
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, '--memory-budget', String(budget),
      '--api-key', API_KEY, ...common]);
    openai = client(server, API_KEY);
  });
  after(async () => {
    if (server) await server.stop();
  });
  const auth = { authorization: 'Bearer ' + API_KEY };

  test('access counts, digests and the preload list survived the restart', async () => {
    for (const id of MODELS) {
      const m = await openai.models.retrieve(id);
      assert.equal(m.registry.access_count, phase1.accessCounts[id], id);
    }
    const stats = (await server.request('GET', '/v1/models/stats', undefined, auth)).body;
    assert.deepEqual(stats.preload.list, [QWEN]);
    // The saved list runs again at start.
    await waitFor('the preload', async () =>
      (await server.request('GET', '/v1/models/' + QWEN, undefined, auth)).body.state === 'loaded');
  });

  test('the API key is required', async () => {
    const r = await server.request('GET', '/v1/models');
    assert.equal(r.status, 401);
    assert.equal(r.body.error.type, 'authentication_error');
    await assert.rejects(client(server, 'wrong').models.list(), (e) => e.status === 401);
    assert.equal((await server.request('GET', '/health')).status, 200);
  });

  test('a third model evicts the least recently used one', async () => {
    for (const id of [QWEN, LLAMA, LLAMA_K]) {
      const r = await openai.completions.create({ model: id, prompt: 'Hi', max_tokens: 2 });
      assert.equal(r.choices.length, 1);
    }
    const stats = (await server.request('GET', '/v1/models/stats', undefined, auth)).body;
    assert.ok(stats.evictions >= 1, JSON.stringify(stats));
    assert.equal(stats.loaded, 2);
    assert.ok(stats.bytes_used <= stats.bytes_budget);
    const state = Object.fromEntries(stats.models.map((m) => [m.id, m.state]));
    assert.equal(state[QWEN], 'unloaded');  // least recently used
    assert.equal(state[LLAMA_K], 'loaded');
  });

  test('a corrupted model file is refused with both digests; the others still answer', async () => {
    const before = (await server.request('GET', '/v1/models/' + QWEN, undefined, auth)).body;
    assert.equal(before.state, 'unloaded');
    const file = path.join(dirs.models, QWEN + '.gguf');
    const fd = fs.openSync(file, 'r+');
    const size = fs.fstatSync(fd).size;
    fs.writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, size - 8192);  // tensor data, header intact
    fs.closeSync(fd);
    await assert.rejects(openai.chat.completions.create({ model: QWEN, messages: chatMsgs, max_tokens: 2 }), (e) => {
      assert.equal(e.status, 409);
      assert.match(e.message, new RegExp('expected ' + before.registry.sha256));
      assert.match(e.message, /actual [0-9a-f]{64}/);
      return true;
    });
    for (const id of [LLAMA, LLAMA_K]) {
      const r = await openai.chat.completions.create({ model: id, messages: chatMsgs, max_tokens: 2 });
      assert.equal(r.usage.completion_tokens, 2);
    }
    const verify = await server.request('POST', `/v1/models/${QWEN}/verify`, undefined, auth);
    assert.equal(verify.status, 409);
  });
});

describe('hangar serve start-up', () => {
  test('an empty models dir starts, says how to add a model, and refresh finds it', async () => {
    const d = makeModelsDir([]);
    const server = await startServer(['--models-dir', d.models, '--state-dir', d.state, ...common]);
    try {
      assert.match(server.log(), /copy or link \.gguf files/);
      const openai = client(server);
      const ids = [];
      for await (const m of openai.models.list()) ids.push(m.id);
      assert.deepEqual(ids, []);
      fs.copyFileSync(path.join(sharedDir, 'models', LLAMA + '.gguf'), path.join(d.models, LLAMA + '.gguf'));
      const r = await server.request('POST', '/v1/models/refresh', {});
      assert.deepEqual(r.body.added, [LLAMA]);
      const c = await openai.completions.create({ model: LLAMA, prompt: 'Hi', max_tokens: 2 });
      assert.equal(c.usage.completion_tokens, 2);
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  });

  test('--profile prints a per-op breakdown (forward pass, sampling, template, tokenization, HTTP) at exit', async () => {
    const d = makeModelsDir([QWEN + '.gguf']);
    const server = await startServer(['--models-dir', d.models, '--state-dir', d.state, '--profile', ...common]);
    const openai = client(server);
    await openai.chat.completions.create({ model: QWEN, messages: chatMsgs, max_tokens: 3 });
    const stream = await openai.chat.completions.create({ model: QWEN, messages: chatMsgs, max_tokens: 3, stream: true });
    for await (const _ of stream) { /* drain */ }
    assert.equal((await server.stop()).code, 0);
    for (const op of ['matmul q4_K', 'attention', 'norm', 'sampling', 'chat template', 'tokenization',
                      'http: parse request', 'http: write stream', 'http: build response'])
      assert.match(server.log(), new RegExp('^' + op + ' +[0-9.]+ +[0-9.]+%', 'm'), op);
  });

  test('bad flags and a foreign state file are errors at start, not crashes', () => {
    const d = makeModelsDir([]);
    let r = spawnSync(hangarBin, ['serve', '--models-dir', d.models, '--state-dir', d.state, '--eviction', 'newest'],
      { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--eviction/);
    r = spawnSync(hangarBin, ['serve', '--models-dir', d.models, '--state-dir', d.state, '--memory-budget', 'lots'],
      { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--memory-budget/);
    r = spawnSync(hangarBin, ['serve', '--models-dir', d.models, '--state-dir', d.state, '--gpu-memory-budget', 'lots'],
      { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--gpu-memory-budget: 'lots' is not a byte size/);
    fs.mkdirSync(d.state, { recursive: true });
    fs.writeFileSync(path.join(d.state, 'hangar.db'), 'this is not a database '.repeat(100));
    r = spawnSync(hangarBin, ['serve', '--models-dir', d.models, '--state-dir', d.state, '--port', '0'],
      { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /hangar\.db/);
  });
});
