// Browsers and small conveniences through the real server: CORS preflights answered without
// the API key, Access-Control-* headers on answers (errors and streams too) for allowed
// origins only; a request without `model` served by the only model or --default-model, and a
// 400 naming `model` when neither applies.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';

import { makeModelsDir, startServer } from './server.mjs';

const QWEN = 'qwen2-d256-q4_k_m';
const LLAMA = 'llama-spm-d256-q4_0';
const KEY = 'sekrit-key';
const common = ['--ctx', '512', '--parallel', '2', '--threads', '2', '--keep-alive', '-1'];

// A request as a browser sends it (node's fetch would not send Origin on its own).
function send(server, method, route, headers = {}, body = undefined) {
  return new Promise((resolve, reject) => {
    const req = http.request(server.url + route, { method, headers }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(typeof body === 'string' ? body : JSON.stringify(body));
    req.end();
  });
}

const preflight = (server, origin, route = '/v1/chat/completions') => send(server, 'OPTIONS', route, {
  Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type',
});

describe('CORS', () => {
  let server;
  before(async () => {
    const dirs = makeModelsDir([QWEN + '.gguf', LLAMA + '.gguf']);
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, ...common,
      '--cors-origin', 'http://localhost:3000,https://app.example', '--api-key', KEY, '--max-body-size', '64Ki']);
  });
  after(async () => {
    if (server) await server.stop();
  });

  test('a preflight from an allowed origin is answered without the key', async () => {
    for (const route of ['/v1/chat/completions', '/v1/models', '/api/chat', '/v1/embeddings']) {
      const r = await preflight(server, 'http://localhost:3000', route);
      assert.equal(r.status, 204, route);
      assert.equal(r.headers['access-control-allow-origin'], 'http://localhost:3000');
      assert.match(r.headers['access-control-allow-methods'], /POST/);
      assert.equal(r.headers['access-control-allow-headers'], 'authorization, content-type');
      assert.ok(Number(r.headers['access-control-max-age']) > 0);
      assert.match(r.headers.vary, /Origin/);
    }
  });

  test('other origins get no Access-Control headers', async () => {
    const r = await preflight(server, 'https://evil.example');
    assert.equal(r.status, 204);
    assert.equal(r.headers['access-control-allow-origin'], undefined);
    const g = await send(server, 'GET', '/v1/models', { Origin: 'https://evil.example', Authorization: `Bearer ${KEY}` });
    assert.equal(g.status, 200);
    assert.equal(g.headers['access-control-allow-origin'], undefined);
  });

  test('answers, errors and streams carry the headers; the key is still required', async () => {
    const origin = 'https://app.example';
    const ok = await send(server, 'GET', '/v1/models', { Origin: origin, Authorization: `Bearer ${KEY}` });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['access-control-allow-origin'], origin);
    const noKey = await send(server, 'GET', '/v1/models', { Origin: origin });
    assert.equal(noKey.status, 401);  // a browser can read why
    assert.equal(noKey.headers['access-control-allow-origin'], origin);
    // Refused by the listener before httplib sees it, from the head alone.
    const tooBig = await send(server, 'POST', '/v1/chat/completions', { Origin: origin, Authorization: `Bearer ${KEY}`,
      'Content-Type': 'application/json', 'Content-Length': String(1 << 20) });
    assert.equal(tooBig.status, 413);
    assert.equal(tooBig.headers['access-control-allow-origin'], origin);
    const unknown = await send(server, 'GET', '/v1/nowhere', { Origin: origin, Authorization: `Bearer ${KEY}` });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.headers['access-control-allow-origin'], origin);
    const bad = await send(server, 'POST', '/v1/chat/completions', { Origin: origin, Authorization: `Bearer ${KEY}`,
      'Content-Type': 'application/json' }, { model: QWEN, messages: [] });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers['access-control-allow-origin'], origin);
    const stream = await send(server, 'POST', '/v1/chat/completions', { Origin: origin, Authorization: `Bearer ${KEY}`,
      'Content-Type': 'application/json' }, { model: QWEN, messages: [{ role: 'user', content: 'hi' }], max_tokens: 3, stream: true });
    assert.equal(stream.status, 200);
    assert.equal(stream.headers['access-control-allow-origin'], origin);
    assert.match(stream.body, /\[DONE\]/);
  });

  test('a request without model needs one model or --default-model', async () => {
    const r = await send(server, 'POST', '/v1/chat/completions', { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
      { messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    assert.equal(r.status, 400);
    const err = JSON.parse(r.body).error;
    assert.equal(err.param, 'model');
    assert.match(err.message, /--default-model/);
  });
});

describe('default model', () => {
  test('the only model serves requests without model', async () => {
    const dirs = makeModelsDir([QWEN + '.gguf']);
    const server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, ...common]);
    try {
      const r = await server.request('POST', '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.model, QWEN);
      const e = await server.request('POST', '/v1/embeddings', { input: 'hi' });
      assert.equal(e.status, 200, JSON.stringify(e.body));
      assert.equal(e.body.model, QWEN);
    } finally {
      await server.stop();
    }
  });

  test('--default-model picks one of several, for OpenAI and Ollama clients', async () => {
    const dirs = makeModelsDir([QWEN + '.gguf', LLAMA + '.gguf']);
    const server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, ...common, '--default-model', LLAMA]);
    try {
      const openai = new OpenAI({ baseURL: server.url + '/v1', apiKey: 'unused', maxRetries: 0 });
      const r = await openai.completions.create({ prompt: 'Hello', max_tokens: 2 });
      assert.equal(r.model, LLAMA);
      const g = await server.request('POST', '/api/generate', { prompt: 'Hello', stream: false, options: { num_predict: 2 } });
      assert.equal(g.status, 200, JSON.stringify(g.body));
      assert.equal(g.body.done, true);
      // An explicit model still wins.
      const q = await server.request('POST', '/v1/chat/completions', { model: QWEN, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
      assert.equal(q.body.model, QWEN);
    } finally {
      await server.stop();
    }
  });

  test('an unknown --default-model is refused at start', async () => {
    const dirs = makeModelsDir([QWEN + '.gguf']);
    await assert.rejects(startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, ...common, '--default-model', 'nope']),
      /default-model/);
  });
});
