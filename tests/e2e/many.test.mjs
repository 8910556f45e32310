// Many models through the real server on loopback with its real SQLite registry: files are
// registered from stat alone and their headers read in the background; whatever needs a header
// (a model's details, an estimate, a load) reads it on demand; GET /v1/models, rendered from
// kept per-model JSON, stays true to every change (headers read, loads, settings, files
// added, replaced and removed, a restart).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { makeModelsDir, sharedDir, startServer, waitFor } from './server.mjs';

const N = 40;
const TINY = 'llama-2-tiny-random.gguf';  // a 32k-token vocabulary, 1.7 MB
const name = (i) => 'm' + String(i).padStart(3, '0');
const flags = ['--ctx', '128', '--parallel', '1', '--threads', '2', '--keep-alive', '-1'];

// The fields of a list item that come from the record and the settings (not the live state).
const recordPart = (m) => ({ id: m.id, created: m.created, estimated_bytes: m.estimated_bytes, meta: m.meta,
  registry: { ...m.registry, access_count: undefined, last_access_ms: undefined, loads: undefined,
    last_load_ms: undefined }, settings: m.settings });

describe('many models', () => {
  const dirs = makeModelsDir([]);
  const base = path.join(dirs.root, 'base.gguf');
  let server;
  const list = async () => {
    const r = await server.request('GET', '/v1/models');
    assert.equal(r.status, 200);
    return new Map(r.body.data.map((m) => [m.id, m]));
  };
  const details = async (id) => {
    const r = await server.request('GET', '/v1/models/' + id);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };

  before(async () => {
    fs.copyFileSync(path.join(sharedDir, 'models', TINY), base);
    for (let i = 0; i < N; i++) fs.linkSync(base, path.join(dirs.models, name(i) + '.gguf'));
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, ...flags]);
  });
  after(async () => {
    if (server) await server.stop();
    fs.rmSync(dirs.root, { recursive: true, force: true });
  });

  test('every file is listed at once; a header not read yet is marked pending, without facts', async () => {
    const models = await list();
    assert.equal(models.size, N);
    for (const m of models.values()) {
      assert.equal(m.state, 'unloaded');
      assert.equal(m.meta.file_bytes, fs.statSync(base).size);
      if (m.meta.header_pending) {
        assert.equal(m.estimated_bytes, null);
        assert.equal(m.meta.architecture, '');
      } else {
        assert.equal(m.meta.architecture, 'llama');
        assert.ok(m.estimated_bytes > 0);
      }
    }
  });

  test('a model\'s details and a completion read a pending header on demand', async () => {
    const m = await details(name(N - 1));
    assert.equal(m.meta.header_pending, false);
    assert.equal(m.meta.architecture, 'llama');
    assert.ok(m.estimated_bytes > 0 && m.meta.tensor_bytes > 0);
    const r = await server.request('POST', '/v1/completions', { model: name(N - 2), prompt: 'Hello', max_tokens: 2 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.model, name(N - 2));
  });

  test('the background reads every header; the list then has every model\'s facts', async () => {
    // And hashed: the hasher sets a record's sha256 between a list and a details call otherwise.
    await waitFor('headers read and files hashed', async () => {
      const s = (await server.request('GET', '/v1/models/stats')).body;
      return s.background.headers_pending === 0 && s.hashing.pending === 0 && s.hashing.current_id === '';
    });
    const models = await list();
    assert.equal(models.size, N);
    for (const m of models.values()) {
      assert.equal(m.meta.header_pending, false);
      assert.equal(m.meta.architecture, 'llama');
      assert.ok(m.estimated_bytes > 0);
      assert.deepEqual(recordPart(m), recordPart(await details(m.id)));
    }
  });

  test('the list follows loads, unloads, pins and settings', async () => {
    const id = name(3);
    assert.equal((await server.request('POST', `/v1/models/${id}/load`)).status, 200);
    let m = (await list()).get(id);
    assert.equal(m.state, 'loaded');
    assert.ok(m.memory_bytes > 0);
    assert.equal((await list()).get(name(4)).state, 'unloaded');
    assert.equal((await server.request('POST', `/v1/models/${id}/pin`)).body.pinned, true);
    assert.equal((await list()).get(id).pinned, true);
    assert.equal((await server.request('DELETE', `/v1/models/${id}/pin`)).body.pinned, false);
    assert.equal((await server.request('DELETE', '/v1/models/' + id)).status, 200);
    m = (await list()).get(id);
    assert.equal(m.state, 'unloaded');
    assert.equal(m.memory_bytes, 0);
    assert.equal(m.pinned, false);

    const before = (await list()).get(name(5)).settings.temperature;
    const patched = await server.request('PATCH', `/v1/models/${name(5)}/settings`, { temperature: 0.25 });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const models = await list();
    assert.deepEqual(models.get(name(5)).settings.temperature, { value: 0.25, source: 'api' });
    assert.deepEqual(models.get(name(6)).settings.temperature, before);
    assert.equal((await server.request('DELETE', `/v1/models/${name(5)}/settings`)).status, 200);
    assert.deepEqual((await list()).get(name(5)).settings.temperature, before);
  });

  test('the list follows files added, replaced and removed', async () => {
    fs.rmSync(path.join(dirs.models, name(0) + '.gguf'));
    fs.linkSync(base, path.join(dirs.models, 'added.gguf'));
    // Replaced by another model: its facts change once its header is read again.
    const replaced = path.join(dirs.models, name(1) + '.gguf');
    fs.rmSync(replaced);
    fs.copyFileSync(path.join(sharedDir, 'models', 'qwen2-d256-q4_k_m.gguf'), replaced);
    const r = await server.request('POST', '/v1/models/refresh');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.added, ['added']);
    assert.deepEqual(r.body.updated, [name(1)]);
    assert.deepEqual(r.body.removed, [name(0)]);
    let models = await list();
    assert.equal(models.size, N);
    assert.ok(!models.has(name(0)) && models.has('added'));
    assert.equal(models.get(name(1)).meta.file_bytes, fs.statSync(replaced).size);
    assert.equal((await details(name(1))).meta.architecture, 'qwen2');
    models = await list();
    assert.equal(models.get(name(1)).meta.architecture, 'qwen2');
    assert.equal(models.get(name(1)).meta.header_pending, false);
    assert.equal((await server.request('GET', '/v1/models/' + name(0))).status, 404);
  });

  test('a restart lists the same models at once, with nothing left to read', async () => {
    // And hashed: the hasher sets a record's sha256 between a list and a details call otherwise.
    await waitFor('headers read and files hashed', async () => {
      const s = (await server.request('GET', '/v1/models/stats')).body;
      return s.background.headers_pending === 0 && s.hashing.pending === 0 && s.hashing.current_id === '';
    });
    const before = await list();
    await server.stop();
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, ...flags]);
    const again = await list();
    assert.deepEqual([...again.keys()], [...before.keys()]);
    for (const [id, m] of again) {
      assert.equal(m.meta.header_pending, false, id);
      assert.deepEqual(m.meta, before.get(id).meta);
      assert.equal(m.estimated_bytes, before.get(id).estimated_bytes);
    }
  });
});
