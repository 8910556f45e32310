// Graceful shutdown of the real binary: on SIGTERM a stream in flight completes (or ends cleanly
// at --shutdown-grace), new connections are refused, a new request on an open connection gets
// 503 with Retry-After, the event stream ends, and the process exits 0.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, test } from 'node:test';

import { parseResponse } from './raw_http.mjs';
import { makeModelsDir, startServer, subscribeEvents, waitFor } from './server.mjs';

const MODEL = 'qwen2-d256-q4_k_m';
const OTHER = 'llama3-d256-q4_k_m';
const dirs = makeModelsDir([MODEL + '.gguf', OTHER + '.gguf']);
const started = [];

after(async () => {
  for (const s of started) await s.stop().catch(() => {});
});

async function serve(grace, extra = []) {
  const s = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, '--ctx', '2048',
    '--threads', '1', '--parallel', '2', '--keep-alive', '-1', '--shutdown-grace', grace, ...extra]);
  started.push(s);
  return s;
}

// A streamed completion of max_tokens tokens; resolves once its first bytes have come, with
// `rest` (resolving to the whole SSE text once the stream ends).
async function startStream(server, maxTokens, model = MODEL) {
  const res = await fetch(server.url + '/v1/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, prompt: 'Once upon a time', max_tokens: maxTokens, stream: true,
      ignore_eos: true, temperature: 0, stream_options: { include_usage: true } }),
  });
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const first = await reader.read();
  assert.ok(!first.done);
  let text = decoder.decode(first.value, { stream: true });
  const rest = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return text;
      text += decoder.decode(value, { stream: true });
    }
  })();
  return { rest };
}

// The usage object and the finish reasons of an SSE completion stream.
function summarize(sse) {
  const events = sse.split('\n\n').filter((e) => e.startsWith('data: ') && e !== 'data: [DONE]')
    .map((e) => JSON.parse(e.slice(6)));
  return {
    done: sse.includes('data: [DONE]'),
    usage: events.find((e) => e.usage)?.usage,
    reasons: events.flatMap((e) => e.choices ?? []).map((c) => c.finish_reason).filter(Boolean),
  };
}

// A connection to the server; `send` writes raw bytes, `response()` waits for a whole answer.
async function openConnection(port) {
  const sock = net.createConnection({ host: '127.0.0.1', port });
  await new Promise((r, j) => sock.once('connect', r).once('error', j));
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => (buf = Buffer.concat([buf, d])));
  sock.on('error', () => {});
  const closed = new Promise((r) => sock.once('close', r));
  const response = () => waitFor('a response', () => parseResponse(buf), { timeoutMs: 10000, intervalMs: 10 });
  return { send: (text) => sock.write(text), response, closed };
}

function connectError(port) {
  return new Promise((resolve) => {
    const s = net.createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e) => resolve(e.code));
  });
}

test('SIGTERM: the stream in flight completes, new connections and requests are refused, exit 0', async () => {
  const server = await serve('60s');
  // An idle keep-alive connection, and one whose request is half sent at the signal.
  const idle = await openConnection(server.port);
  idle.send('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal((await idle.response()).status, 200);
  const half = await openConnection(server.port);
  half.send('GET /v1/models HTTP/1.1\r\nHost: x\r\n');
  const events = await subscribeEvents(server);
  const stream = await startStream(server, 1500);

  process.kill(server.pid, 'SIGTERM');
  await waitFor('the shutdown to begin', () => /SIGTERM, shutting down/.test(server.log()));
  // In flight: the completion and the event stream.
  const m = server.log().match(/(\d+) requests in flight may finish within 60s/);
  assert.ok(m && Number(m[1]) === 2, 'the stream was in flight at the signal:\n' + server.log());

  // No new connection; the idle one is closed; the request finished after the signal: 503
  // with Retry-After, then the close.
  assert.equal(await connectError(server.port), 'ECONNREFUSED');
  await idle.closed;
  half.send('\r\n');
  const refused = await half.response();
  assert.equal(refused.status, 503);
  assert.ok(Number(refused.headers['retry-after']) > 0);
  assert.equal(refused.body.error.code, 'shutting_down');
  await half.closed;
  await events.stop();  // ended by the server: stop() only waits for the end
  // The load before the stream, in the events (progress by stage, never back) and the log.
  const loading = events.events.filter((e) => e.type === 'loading' && e.model === MODEL);
  assert.equal(loading[0].progress, 0);
  assert.equal(loading.at(-1).progress, 1);
  for (let i = 1; i < loading.length; i++) assert.ok(loading[i].progress >= loading[i - 1].progress);
  assert.ok(loading.some((e) => e.stage === 'prefaulting weights'), JSON.stringify(loading));
  assert.match(server.log(), new RegExp(`loading model '${MODEL}': \\d.* from '.*' \\(weights mapped\\)`));
  assert.match(server.log(), new RegExp(`loaded model '${MODEL}' in \\d+ ms`));

  const s = summarize(await stream.rest);
  assert.ok(s.done, 'the stream ended with [DONE]');
  assert.deepEqual(s.reasons, ['length']);
  assert.equal(s.usage.completion_tokens, 1500);
  const exit = await server.exited;
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.doesNotMatch(server.log(), /cancelling/);
  assert.match(server.log(), /hangar serve: stopped/);
});

test('SIGTERM: a stream still running at --shutdown-grace is cancelled cleanly, exit 0', async () => {
  const server = await serve('200ms');
  const stream = await startStream(server, 1900);
  process.kill(server.pid, 'SIGTERM');
  const s = summarize(await stream.rest);
  assert.ok(s.done, 'the cut stream still ends with [DONE]');
  assert.deepEqual(s.reasons, ['stop']);
  assert.ok(s.usage.completion_tokens < 1900, `cut short: ${s.usage.completion_tokens} tokens`);
  assert.deepEqual(await server.exited, { code: 0, signal: null });
  assert.match(server.log(), /--shutdown-grace 200ms passed; cancelling 1 requests still in flight/);
});

test('SIGTERM: requests cut at --shutdown-grace end with their last event, on every route', async () => {
  // One model at a time: a stream for OTHER waits for MODEL to go idle, so it is answered
  // only once the cut has begun.
  const server = await serve('300ms', ['--max-loaded', '1']);
  const stream = await startStream(server, 1900);
  const ollama = fetch(server.url + '/api/generate', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, prompt: 'Once upon a time', stream: false,
      options: { num_predict: 1900, temperature: 0 } }),
  });
  // Embeddings behind the two on MODEL's sequences: they wait in its scheduler.
  const embed = fetch(server.url + '/v1/embeddings', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, input: Array(16).fill('Once upon a time '.repeat(100)) }),
  });
  await waitFor('the three to hold MODEL', async () => (await server.model(MODEL)).in_flight === 3,
    { intervalMs: 5 });
  const waiting = startStream(server, 50, OTHER);
  await waitFor('the stream for the other model to wait', async () => (await server.stats()).queue.waiting === 1,
    { intervalMs: 5 });
  process.kill(server.pid, 'SIGTERM');

  const first = summarize(await stream.rest);
  assert.ok(first.done && first.reasons[0] === 'stop', JSON.stringify(first));
  // Answered whole with what it had, as a cut OpenAI request is: the client is still there.
  const res = await ollama;
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.done, true);
  assert.equal(body.done_reason, 'stop');
  assert.ok(body.eval_count < 1900, `cut short: ${body.eval_count} tokens`);
  // No vectors to answer with: refused as a request arriving at a stopping server is.
  const embedded = await embed;
  const refusal = await embedded.json();
  assert.equal(embedded.status, 503, JSON.stringify(refusal));
  assert.equal(refusal.error.code, 'shutting_down');
  assert.ok(Number(embedded.headers.get('retry-after')) > 0);
  // Its handler returned after the stop: the stream still ends with its last event and [DONE].
  const second = summarize(await (await waiting).rest);
  assert.ok(second.done, 'the stream answered after the stop ends with [DONE]');
  assert.equal(second.reasons.length, 1);
  assert.deepEqual(await server.exited, { code: 0, signal: null });
});

test('SIGTERM with nothing in flight: requests still arriving get 503, not a silent close', async () => {
  const server = await serve('60s');
  // A head still arriving, and a body still arriving after its head was taken.
  const head = await openConnection(server.port);
  head.send('GET /v1/models HTTP/1.1\r\nHost: x\r\n');
  const body = await openConnection(server.port);
  body.send('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"pro');
  await waitFor('both to be read', async () => (await server.stats()).models !== undefined);
  process.kill(server.pid, 'SIGTERM');
  for (const c of [head, body]) {
    const r = await c.response();
    assert.equal(r.status, 503);
    assert.ok(Number(r.headers['retry-after']) > 0);
    await c.closed;
  }
  assert.deepEqual(await server.exited, { code: 0, signal: null });
});
