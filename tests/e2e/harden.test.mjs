// hangar serve against hostile and careless clients (issue 12), through the real server on
// loopback: oversized and malformed HTTP with the server's peak memory measured, the API key,
// idle and slow connections, a busy port, huge prompts, disconnects, and generation limits.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import zlib from 'node:zlib';

import { exchange, flood, memKiB, MiB, openConn, resetPeak, write } from './raw_http.mjs';
import { hangarBin, makeModelsDir, startServer, waitFor } from './server.mjs';

const LLAMA = 'llama-spm-d256-q4_0';
const QWEN = 'qwen2-d256-q4_k_m';
const KEY = 'harden-secret';

const authHeader = { authorization: 'Bearer ' + KEY };

describe('hostile HTTP clients', () => {
  let server, dirs;
  before(async () => {
    dirs = makeModelsDir([LLAMA + '.gguf']);
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, '--api-key', KEY,
      '--max-body-size', '1Mi', '--http-threads', '4', '--max-connections', '48', '--read-timeout', '2s',
      '--ctx', '256', '--parallel', '1', '--threads', '2']);
  });
  after(async () => {
    if (server) assert.equal((await server.stop()).code, 0);
  });

  test('a chunked body past --max-body-size gets 413 and is never held', async () => {
    const before = resetPeak(server.pid);
    const chunk = Buffer.concat([Buffer.from((MiB).toString(16) + '\r\n'), Buffer.alloc(MiB, 'a'), Buffer.from('\r\n')]);
    const r = await flood(server.port,
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ' + KEY +
      '\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n', 64 * MiB, () => chunk, '0\r\n\r\n');
    const grew = memKiB(server.pid).peak - before;
    assert.equal(r.status, 413, JSON.stringify(r));
    assert.match(r.body.error.message, /limit of 1048576 bytes/);
    assert.ok(grew < 16 * 1024, `peak memory grew by ${grew} KiB for a 64 MiB chunked body`);
  });

  test('a Content-Length past the limit gets 413 before any of the body is sent', async () => {
    const r = await exchange(server.port, (sock) =>
      write(sock, `POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Length: ${1 << 30}\r\n\r\n`));
    assert.equal(r.status, 413);
    const c = await exchange(server.port, (sock) => write(sock,
      `POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nExpect: 100-continue\r\nContent-Length: ${2 * MiB}\r\n\r\n`));
    assert.equal(c.status, 413);
  });

  test('a header line of any length gets 431 before the API key is checked, and is never held', async () => {
    const before = resetPeak(server.pid);
    const r = await flood(server.port, 'GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Pad: ', 64 * MiB,
      () => Buffer.alloc(MiB, 'a'), '\r\n\r\n');
    const grew = memKiB(server.pid).peak - before;
    assert.equal(r.status, 431, JSON.stringify(r).slice(0, 300));
    assert.ok(grew < 16 * 1024, `peak memory grew by ${grew} KiB for a 64 MiB header line`);
  });

  test('a request line of any length gets 414, and too many header fields 431', async () => {
    const before = resetPeak(server.pid);
    const r = await flood(server.port, 'GET /', 64 * MiB, () => Buffer.alloc(MiB, 'a'), ' HTTP/1.1\r\n\r\n');
    assert.equal(r.status, 414);
    assert.ok(memKiB(server.pid).peak - before < 16 * 1024);
    const many = await exchange(server.port, (sock) =>
      write(sock, 'GET /health HTTP/1.1\r\n' + 'X-A: 1\r\n'.repeat(10000) + '\r\n'));
    assert.equal(many.status, 431);
  });

  test('a compressed body is refused (415), so no gzip bomb is inflated', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(128 * MiB, ' '));
    assert.ok(bomb.length < MiB);
    const before = resetPeak(server.pid);
    const r = await exchange(server.port, async (sock) => {
      await write(sock, `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\n` +
        `Content-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: ${bomb.length}\r\n\r\n`);
      await write(sock, bomb);
    });
    assert.equal(r.status, 415);
    assert.ok(memKiB(server.pid).peak - before < 16 * 1024);
  });

  test('ambiguous framing and malformed requests are 400s, not served', async () => {
    for (const head of ['Transfer-Encoding: chunked\r\nContent-Length: 4\r\n', 'Content-Length: 4\r\nContent-Length: 5\r\n',
                        'Content-Length: +4\r\n']) {
      const r = await exchange(server.port, (sock) =>
        write(sock, `POST /v1/models/refresh HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\n${head}\r\n{}{}`));
      assert.equal(r.status, 400, head);
    }
  });

  test('the API key is compared exactly: no trailing space, no second header', async () => {
    const get = (auth) => exchange(server.port, (sock) =>
      write(sock, 'GET /v1/models HTTP/1.1\r\nHost: x\r\n' + auth + '\r\n'));
    assert.equal((await get(`Authorization: Bearer ${KEY}\r\n`)).status, 200);
    assert.equal((await get(`Authorization: Bearer ${KEY} \r\n`)).status, 401);
    assert.equal((await get(`Authorization: Bearer ${KEY}\t\r\n`)).status, 401);
    assert.equal((await get(`Authorization: Bearer ${KEY.slice(0, -1)}%74\r\n`)).status, 401);
    assert.equal((await get(`Authorization: Bearer ${KEY}\r\nAuthorization: Bearer x\r\n`)).status, 401);
    assert.equal((await get('')).status, 401);
    assert.equal((await exchange(server.port, (sock) => write(sock, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n'))).status, 200);
  });

  test('deeply nested JSON and non-canonical logit_bias keys are 400s naming the problem', async () => {
    const deep = '['.repeat(200000) + ']'.repeat(200000);
    // Inside a message it reaches the copy and the template (the old server died of a stack overflow).
    let r = await server.request('POST', '/v1/chat/completions',
      `{"model":"${LLAMA}","messages":[{"role":"user","content":${deep}}]}`, authHeader);
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /deeper than/);
    r = await server.request('POST', '/v1/chat/completions',
      { model: LLAMA, messages: [{ role: 'user', content: 'x' }], logit_bias: { ' 1': 1 } }, authHeader);
    assert.equal(r.status, 400);
    assert.equal(r.body.error.param, 'logit_bias');
    assert.match(r.body.error.message, /" 1"/);
    assert.equal((await server.request('GET', '/health')).status, 200);
  });

  test('n and prompts are bounded; max_tokens is bounded by the context', async () => {
    let r = await server.request('POST', '/v1/completions', { model: LLAMA, prompt: 'x', n: 1000 }, authHeader);
    assert.equal(r.status, 400);
    assert.equal(r.body.error.param, 'n');
    r = await server.request('POST', '/v1/completions', { model: LLAMA, prompt: Array(16).fill('x'), n: 16, max_tokens: 1 },
      authHeader);
    assert.equal(r.status, 400);
    assert.equal(r.body.error.param, 'n');
    r = await server.request('POST', '/v1/completions',
      { model: LLAMA, prompt: 'Once upon a time', max_tokens: 1 << 30, ignore_eos: true }, authHeader);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.choices[0].finish_reason, 'length');
    // The context holds the prompt and every generated token but the last (sampled, never evaluated).
    assert.ok(r.body.usage.prompt_tokens + r.body.usage.completion_tokens <= 257, JSON.stringify(r.body.usage));
  });

  test('idle connections beyond --http-threads do not delay a request', async () => {
    const idle = await Promise.all(Array.from({ length: 16 }, () => openConn(server.port)));
    const r = await server.request('GET', '/v1/models', undefined, authHeader);
    assert.equal(r.status, 200);
    assert.ok(idle.every((c) => !c.closed), 'answered only after idle connections were dropped');
    for (const c of idle) c.sock.destroy();
  });

  test('clients that trickle their headers do not delay a request, and are cut off at --read-timeout', async () => {
    const slow = await Promise.all(Array.from({ length: 16 }, () => openConn(server.port, 'GET /health HTTP/1.1\r\nX-Slow: ')));
    const timer = setInterval(() => slow.forEach((c) => !c.closed && c.sock.write('a')), 200);
    try {
      const r = await server.request('GET', '/v1/models', undefined, authHeader);
      assert.equal(r.status, 200);
      assert.ok(slow.every((c) => !c.closed), 'answered only after slow connections were dropped');
      await waitFor('the read timeout', () => slow.every((c) => c.closed), { timeoutMs: 20000 });
      assert.ok(slow.every((c) => c.data.startsWith('HTTP/1.1 408')), slow[0].data);
    } finally {
      clearInterval(timer);
    }
  });

  test('past --max-connections the longest-idle connection is closed and new clients are served', async () => {
    const idle = [];
    for (let i = 0; i < 60; ++i) idle.push(await openConn(server.port));
    // A new client on a connection of its own: fetch would reuse its pooled keep-alive socket
    // from earlier tests, the longest idle of all, which the server may close just as fetch
    // writes to it ("fetch failed" under load).
    const r = await exchange(server.port, (sock) =>
      write(sock, `GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\n\r\n`));
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.ok(Array.isArray(r.body.data), JSON.stringify(r.body));
    // Answered while the newest were still open (not after idle ones timed out).
    const open = idle.filter((c) => !c.closed).length;
    assert.ok(open >= 40 && !idle[idle.length - 1].closed, `${open} of 60 still open`);
    await waitFor('the oldest connections to be closed', () => idle.slice(0, 12).every((c) => c.closed));
    for (const c of idle) c.sock.destroy();
  });

  test('a second server on a busy port exits with "address in use"', () => {
    const r = spawnSync(hangarBin, ['serve', '--models-dir', dirs.models, '--state-dir', path.join(dirs.root, 'state2'),
      '--host', '127.0.0.1', '--port', String(server.port)], { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /address in use/);
  });
});

describe('the API key from the environment or a file', () => {
  test('HANGAR_API_KEY and --api-key-file keep the key out of the process list', async () => {
    const d = makeModelsDir([]);
    for (const how of ['env', 'file']) {
      const file = path.join(d.root, 'key');
      fs.writeFileSync(file, KEY + '\n', { mode: 0o600 });
      const server = await startServer(['--models-dir', d.models, '--state-dir', d.state,
        ...(how === 'file' ? ['--api-key-file', file] : [])], { env: how === 'env' ? { HANGAR_API_KEY: KEY } : {} });
      try {
        assert.ok(!fs.readFileSync(`/proc/${server.pid}/cmdline`, 'utf8').includes(KEY));
        assert.equal((await server.request('GET', '/v1/models')).status, 401, how);
        assert.equal((await server.request('GET', '/v1/models', undefined, authHeader)).status, 200, how);
      } finally {
        assert.equal((await server.stop()).code, 0);
      }
    }
    const r = spawnSync(hangarBin, ['serve', '--models-dir', d.models, '--state-dir', d.state, '--port', '0',
      '--api-key-file', path.join(d.root, 'missing')], { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--api-key-file/);
  });
});

// Streams a completion on a fresh connection and resolves with the status and events as soon
// as "data: [DONE]" has arrived, as OpenAI's clients do (not waiting for the end of the body).
function streamOnce(port, model) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ model, prompt: 'Once upon a time', max_tokens: 4, stream: true });
    const req = http.request({ host: '127.0.0.1', port, path: '/v1/completions', method: 'POST', agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (d) => {
        text += d;
        if (text.includes('data: [DONE]')) resolve({ status: res.statusCode, text });
      });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('generation under abuse', () => {
  let server, dirs;
  before(async () => {
    dirs = makeModelsDir([LLAMA + '.gguf', QWEN + '.gguf']);
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, '--max-loaded', '1',
      '--http-threads', '4', '--ctx', '4096', '--parallel', '1', '--threads', '2', '--keep-alive', '-1']);
  });
  after(async () => {
    if (server) assert.equal((await server.stop()).code, 0);
  });

  test('a multi-megabyte prompt is refused by the context check before it is tokenized', async () => {
    const big = 'lorem ipsum dolor sit amet '.repeat(300000);  // 8 MB
    let r = await server.request('POST', '/v1/completions', { model: LLAMA, prompt: big, max_tokens: 1 });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'context_length_exceeded');
    assert.match(r.body.error.message, /8100000 bytes\) needs at least \d+ tokens/);
    r = await server.request('POST', '/v1/completions', { model: LLAMA, prompt: ' '.repeat(8000000), max_tokens: 1 });
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /8000000 bytes\) needs at least \d+ tokens/);
    r = await server.request('POST', '/v1/chat/completions', { model: LLAMA, messages: [{ role: 'user', content: big }] });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.param, 'messages');
    assert.match(r.body.error.message, /needs at least \d+ tokens/);
  });

  test('a non-streaming request whose client goes away is cancelled', async () => {
    const body = JSON.stringify({ model: LLAMA, prompt: 'Once upon a time', max_tokens: 4000, ignore_eos: true });
    const conn = await openConn(server.port,
      `POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    await waitFor('the generation to start', async () =>
      (await server.request('GET', '/v1/models/' + LLAMA)).body.in_flight === 1);
    conn.sock.destroy();
    await waitFor('the generation to stop', async () =>
      (await server.request('GET', '/v1/models/' + LLAMA)).body.in_flight === 0);
    const metrics = (await server.request('GET', '/metrics')).body;
    assert.match(metrics, new RegExp(`hangar_requests_total\\{model="${LLAMA}",endpoint="completions",outcome="cancelled"\\} 1`));
  });

  test('a stream lets go of its model before [DONE]: alternating models never get 507', async () => {
    for (let i = 0; i < 24; ++i) {
      const r = await streamOnce(server.port, i % 2 ? QWEN : LLAMA);
      assert.equal(r.status, 200, `request ${i}: ${r.text}`);
      assert.match(r.text, /data: \[DONE\]/);
    }
  });
});

describe('every HTTP thread busy', () => {
  let server;
  before(async () => {
    const dirs = makeModelsDir([LLAMA + '.gguf']);
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, '--http-threads', '4',
      '--read-timeout', '1s', '--ctx', '4096', '--parallel', '1', '--threads', '2']);
  });
  after(async () => {
    if (server) assert.equal((await server.stop()).code, 0);
  });

  test('more streams than --http-threads: the extra requests get 503 after --read-timeout, not a hang', async () => {
    // 16 choices of up to 2,000 tokens each, one at a time (--parallel 1): each request holds
    // its thread far longer than --read-timeout.
    const long = JSON.stringify({ model: LLAMA, prompt: 'Once upon a time', n: 16, max_tokens: 2000, ignore_eos: true,
      stream: true });
    const streams = [];
    for (let i = 0; i < 4; ++i) {
      const c = await openConn(server.port,
        `POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${long.length}\r\n\r\n${long}`);
      await waitFor('the stream to start', () => c.data.startsWith('HTTP/1.1 200'));
      streams.push(c);
    }
    const r = await server.request('GET', '/v1/models');
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '1');
    assert.match(r.body.error.message, /--http-threads/);
    for (const c of streams) c.sock.destroy();
    await waitFor('the threads to be free', async () => (await server.request('GET', '/health')).status === 200);
  });
});
