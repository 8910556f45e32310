// hangar serve and its files (issue 12): model files replaced while the server scans, loads and
// serves them never kill it (a changed file is refused with 409 until the user accepts it), with
// weights mapped or copied; pins survive a restart, and the state dir is private. Real server,
// real SQLite file, real files.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { makeModelsDir, metricValue, sharedDir, startServer, waitFor } from './server.mjs';

const QWEN = 'qwen2-d256-q4_k_m';     // the largest header (151k-token vocabulary with merges)
const LLAMA = 'llama-spm-d256-q4_0';
const LLAMA_K = 'llama-spm-d256-q4_k_m';
const common = ['--ctx', '256', '--parallel', '1', '--threads', '2', '--keep-alive', '-1', '--memory-budget', '2G'];
const shared = (id) => path.join(sharedDir, 'models', id + '.gguf');

async function complete(server, model) {
  return server.request('POST', '/v1/completions', { model, prompt: 'Hello', max_tokens: 4, temperature: 0 });
}

// Waits until the background hasher has recorded a digest for every model.
async function hashed(server) {
  return waitFor('background hashing', async () => {
    const s = (await server.request('GET', '/v1/models/stats')).body;
    return s.hashing.pending === 0 && s.hashing.current_id === '' ? s : null;
  }, { timeoutMs: 60000 });
}

describe('the state dir', () => {
  test('is 0700 and its database files 0600', async () => {
    const dirs = makeModelsDir([LLAMA + '.gguf']);
    fs.mkdirSync(dirs.state, { mode: 0o755 });  // as an older hangar left it
    const server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, ...common]);
    try {
      assert.equal((await server.request('GET', '/v1/models')).status, 200);
      assert.equal(fs.statSync(dirs.state).mode & 0o777, 0o700);
      for (const f of ['hangar.db', 'hangar.db-wal', 'hangar.lock']) {
        assert.equal(fs.statSync(path.join(dirs.state, f)).mode & 0o777, 0o600, f);
      }
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  });
});

describe('pins', () => {
  const dirs = makeModelsDir([LLAMA + '.gguf', LLAMA_K + '.gguf']);
  const args = ['--models-dir', dirs.models, '--state-dir', dirs.state, ...common];
  const model = async (server, id) =>
    (await server.request('GET', '/v1/models/stats')).body.models.find((m) => m.id === id);

  test('survive a restart, and the pinned model is loaded again', async () => {
    let server = await startServer(args);
    try {
      assert.equal((await server.request('POST', `/v1/models/${LLAMA}/load`)).status, 200);
      assert.equal((await server.request('POST', `/v1/models/${LLAMA}/pin`)).status, 200);
      assert.equal((await model(server, LLAMA)).pinned, true);
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
    server = await startServer(args);
    try {
      const m = await waitFor('the pinned model loaded again', async () => {
        const s = await model(server, LLAMA);
        return s && s.state === 'loaded' ? s : null;
      });
      assert.equal(m.pinned, true);
      assert.equal((await model(server, LLAMA_K))?.pinned ?? false, false);
      // Pinned: not unloaded on request until unpinned, and the unpin persists too.
      assert.equal((await server.request('DELETE', `/v1/models/${LLAMA}`)).status, 409);
      assert.equal((await server.request('DELETE', `/v1/models/${LLAMA}/pin`)).status, 200);
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
    server = await startServer(args);
    try {
      assert.equal((await model(server, LLAMA))?.pinned ?? false, false);
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  });
});

// --weights copy: the loaded model is a private copy and keeps answering as before; map (the
// default): its weights are the file's pages, so it is refused (409) from the moment the file
// changed. Either way the next load is refused until the user accepts the new file.
for (const weights of ['copy', 'map']) {
  describe(`a model file replaced on purpose (--weights ${weights})`, () => {
    let server, dirs;
    before(async () => {
      dirs = makeModelsDir([LLAMA + '.gguf', LLAMA_K + '.gguf']);
      server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, '--weights', weights, ...common]);
      await hashed(server);
    });
    after(async () => {
      if (server) assert.equal((await server.stop()).code, 0);
    });

    test('is refused with 409 until accepted, and never crashes the server', async () => {
      const file = path.join(dirs.models, LLAMA + '.gguf');
      assert.equal((await server.request('POST', `/v1/models/${LLAMA}/load`)).status, 200);
      const before = await complete(server, LLAMA);
      assert.equal(before.status, 200);
      fs.copyFileSync(shared(LLAMA_K), file);  // in place, as `cp` does: the same inode, truncated
      const during = await complete(server, LLAMA);
      if (weights === 'copy') {
        assert.equal(during.status, 200);
        assert.equal(during.body.choices[0].text, before.body.choices[0].text);
        assert.equal((await server.request('DELETE', `/v1/models/${LLAMA}`)).status, 200);
      } else {
        assert.equal(during.status, 409, JSON.stringify(during.body));
        assert.equal(during.body.error.code, 'integrity_mismatch');
      }
      for (let i = 0; i < 2; ++i) {
        const refused = await server.request('POST', `/v1/models/${LLAMA}/load`);
        assert.equal(refused.status, 409, JSON.stringify(refused.body));
        assert.equal(refused.body.error.code, 'integrity_mismatch');
      }
      assert.equal((await server.request('POST', `/v1/models/${LLAMA}/verify`)).status, 409);
      const bad = await server.request('POST', `/v1/models/${LLAMA}/verify`, { accept: 'yes' });
      assert.equal(bad.status, 400);
      const accepted = await server.request('POST', `/v1/models/${LLAMA}/verify`, { accept: true });
      assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
      assert.equal(accepted.body.accepted, true);
      assert.equal((await server.request('POST', `/v1/models/${LLAMA}/load`)).status, 200);
      const after = await complete(server, LLAMA);
      assert.equal(after.status, 200);
      // The file is now LLAMA_K's: the same answer as that model gives.
      assert.equal(after.body.choices[0].text, (await complete(server, LLAMA_K)).body.choices[0].text);
      assert.equal((await server.request('POST', `/v1/models/${LLAMA}/verify`)).status, 200);
      assert.equal((await server.request('GET', '/health')).status, 200);
    });
  });
}

// The file of a mapped model replaced while a request is generating from it: the weights' pages
// leave the mapping under the running forward pass. That request still gets its whole answer
// (its text is not the model's any more, but the server neither dies of SIGBUS nor hangs it),
// other requests get 409 meanwhile and after it, and accepting the new file serves it.
describe('a busy model whose file is replaced under it (weights mapped)', () => {
  let server, dirs;
  before(async () => {
    dirs = makeModelsDir([LLAMA + '.gguf', LLAMA_K + '.gguf']);
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state,
      '--ctx', '4096', '--parallel', '1', '--threads', '2', '--keep-alive', '-1', '--memory-budget', '2G']);
    await hashed(server);
  });
  after(async () => {
    if (server) assert.equal((await server.stop()).code, 0);
  });

  test('answers the request in flight, refuses the others with 409, and serves the file once accepted', async () => {
    const file = path.join(dirs.models, LLAMA + '.gguf');
    assert.equal((await server.request('POST', `/v1/models/${LLAMA}/load`)).status, 200);
    const res = await fetch(server.url + '/v1/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: LLAMA, prompt: 'Once upon a time', max_tokens: 4000, ignore_eos: true,
        temperature: 0, stream: true }),
    });
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value);  // generating: the first tokens are here
    fs.copyFileSync(shared(LLAMA_K), file);  // in place, as `cp` does: the mapped pages go
    // Still the same request in flight after the copy: the file changed under a busy model.
    assert.equal((await server.model(LLAMA)).in_flight, 1, 'the stream ended before the copy was done');
    const during = await complete(server, LLAMA);
    assert.equal(during.status, 409, JSON.stringify(during.body));
    assert.equal(during.body.error.code, 'integrity_mismatch');
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    assert.match(text, /data: \[DONE\]\n\n$/);
    const events = text.split('\n\n').filter((e) => e.startsWith('data: {'));
    assert.ok(events.every((e) => !JSON.parse(e.slice(6)).error), 'an error event in the stream');
    const last = JSON.parse(events.at(-1).slice(6));
    assert.equal(last.choices[0].finish_reason, 'length');
    // Idle now: still refused, and unloaded, until the user accepts the new file.
    const afterwards = await complete(server, LLAMA);
    assert.equal(afterwards.status, 409, JSON.stringify(afterwards.body));
    await waitFor('the changed model unloaded', async () => (await server.model(LLAMA)).state !== 'loaded');
    const metrics = (await server.request('GET', '/metrics')).body;
    assert.equal(metricValue(metrics, 'hangar_model_unloads_total', 'reason="file_changed"'), 1);
    assert.equal((await server.request('POST', `/v1/models/${LLAMA}/load`)).status, 409);
    const accepted = await server.request('POST', `/v1/models/${LLAMA}/verify`, { accept: true });
    assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
    const now = await complete(server, LLAMA);
    assert.equal(now.status, 200, JSON.stringify(now.body));
    assert.equal(now.body.choices[0].text, (await complete(server, LLAMA_K)).body.choices[0].text);
    assert.equal((await server.request('GET', '/health')).status, 200);
  });
});

describe('model files rewritten while the server scans, loads and serves them (weights mapped)', () => {
  let server, dirs;
  before(async () => {
    dirs = makeModelsDir([QWEN + '.gguf', LLAMA + '.gguf']);
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, ...common]);
  });
  after(async () => {
    if (server) await server.stop();
  });

  test('never kill the server: every request gets an HTTP answer', async () => {
    const file = path.join(dirs.models, QWEN + '.gguf');
    let stop = false;
    let copies = 0;
    // `cp` over the file again and again (truncate in place, then write), alternating contents.
    const writer = (async () => {
      while (!stop) {
        await fs.promises.copyFile(shared(copies % 2 ? QWEN : LLAMA_K), file);
        ++copies;
      }
    })();
    const statuses = {};
    const hammer = async (method, route, body) => {
      while (!stop) {
        const r = await server.request(method, route, body);  // a dead server rejects: the test fails
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        if (route.endsWith('/load') && r.status === 200) await server.request('DELETE', `/v1/models/${QWEN}`);
      }
    };
    const loops = [
      hammer('POST', '/v1/models/refresh'),
      hammer('POST', '/v1/models/refresh'),
      hammer('POST', `/v1/models/${QWEN}/load`),
      hammer('GET', `/v1/models/${QWEN}`),
      hammer('POST', '/v1/completions', { model: QWEN, prompt: 'Hello', max_tokens: 2, temperature: 0 }),
    ];
    await new Promise((r) => setTimeout(r, 8000));
    stop = true;
    await Promise.all([writer, ...loops]);
    assert.ok(copies > 10, `only ${copies} copies`);
    // 409: changed while loaded, while used in place, or against its digest; 500: caught while
    // empty (not a model).
    for (const s of Object.keys(statuses)) assert.ok(['200', '409', '500'].includes(s), JSON.stringify(statuses));
    assert.equal((await server.request('GET', '/health')).status, 200);
    // Once the file holds still it is a model again.
    await fs.promises.copyFile(shared(QWEN), file);
    assert.equal((await server.request('POST', '/v1/models/refresh')).status, 200);
    const ok = await server.request('POST', `/v1/models/${QWEN}/verify`, { accept: true });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal((await server.request('POST', `/v1/models/${QWEN}/load`)).status, 200);
    assert.equal((await complete(server, QWEN)).status, 200);
  });
});
