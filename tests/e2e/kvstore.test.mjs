// Prompt prefixes saved to disk (--kv-disk-budget) through the real server and state dir: saved
// when the server stops or the model is unloaded, restored on the next load and after a restart
// with output identical to computing them, damaged, foreign and stale files deleted, never
// used, and the disk budget kept.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { makeModelsDir, metricValue as metric, sharedDir, startServer } from './server.mjs';

const MODEL = 'llama-spm-d256-q4_k_m';
const OTHER = 'llama-spm-d256-q4_0';
// One sequence, prefill chunks of 64 tokens: a 128-token prefix is computed in the same two
// chunks whether it is a turn of its own or the head of a longer prompt, so a restored prefix
// must give the very bits of a computed one.
const common = ['--ctx', '512', '--parallel', '1', '--batch-tokens', '64', '--threads', '2', '--keep-alive', '-1'];

const prefix = (salt) => Array.from({ length: 128 }, (_, i) => 100 + ((i * 37 + salt * 101) % 900));
const turnOf = (salt) => [...prefix(salt), ...Array.from({ length: 20 }, (_, i) => 50 + i * 11)];

const dirs = makeModelsDir([MODEL + '.gguf']);
const kvDir = (state) => path.join(state, 'kv-cache');
const kvFiles = (state) =>
  fs.existsSync(kvDir(state)) ? fs.readdirSync(kvDir(state)).filter((f) => f.endsWith('.kv')).sort() : [];
const kvBytes = (state) => kvFiles(state).reduce((n, f) => n + fs.statSync(path.join(kvDir(state), f)).size, 0);

async function complete(server, prompt, extra = {}) {
  const r = await server.request('POST', '/v1/completions', {
    model: MODEL, prompt, max_tokens: 12, temperature: 0, logprobs: 2, ...extra,
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}
const output = (body) => ({ text: body.choices[0].text, logprobs: body.choices[0].logprobs });
const start = (state, extra = []) =>
  startServer(['--models-dir', dirs.models, '--state-dir', state, ...common, ...extra]);

describe('prompt prefixes on disk', () => {
  const state = path.join(dirs.root, 'state');
  let reference;  // the turn computed from scratch

  before(async () => {
    const off = await start(path.join(dirs.root, 'state-off'), ['--kv-disk-budget', '0']);
    try {
      const body = await complete(off, turnOf(1));
      assert.equal(body.timings.cache_n, 0);
      assert.equal(body.timings.cache_n_disk, 0);
      reference = output(body);
    } finally {
      await off.stop();
    }
    assert.equal(fs.existsSync(kvDir(path.join(dirs.root, 'state-off'))), false, '--kv-disk-budget 0 writes nothing');
  });

  test('a prefix saved at shutdown is restored after a restart, with identical output', async () => {
    let server = await start(state);
    const first = await complete(server, prefix(1), { max_tokens: 1 });
    assert.equal(first.timings.cache_n_disk, 0);
    assert.equal((await server.stop()).code, 0);
    assert.equal(kvFiles(state).length, 1, 'the model unloaded at shutdown saved its prefix');

    server = await start(state);
    try {
      assert.match(server.log(), /KV store: 1 saved prompt prefixes/);
      const body = await complete(server, turnOf(1));
      assert.equal(body.timings.cache_n, 128);
      assert.equal(body.timings.cache_n_disk, 128);
      assert.deepEqual(output(body), reference, 'greedy tokens and logprobs equal to the last bit');
      const m = (await server.request('GET', '/metrics')).body;
      assert.equal(metric(m, 'hangar_prompt_tokens_cached_disk_total'), 128);
      assert.equal(metric(m, 'hangar_prompt_tokens_cached_total'), 128);
      assert.equal(metric(m, 'hangar_kv_disk_restores_total'), 1);
    } finally {
      await server.stop();
    }
  });

  test('an unloaded model saves its conversation; the next load restores it', async () => {
    const server = await start(state);
    try {
      const body = await complete(server, turnOf(2));
      assert.equal(body.timings.cache_n_disk, 0);
      const conv = [...turnOf(2), ...Array.from({ length: 5 }, (_, i) => 300 + i)];
      const del = await server.request('DELETE', '/v1/models/' + MODEL);
      assert.equal(del.status, 200, JSON.stringify(del.body));
      const again = await complete(server, conv);
      // The saved sequence holds the turn and the tokens it generated (all but the last).
      assert.ok(again.timings.cache_n_disk >= turnOf(2).length, JSON.stringify(again.timings));
      assert.equal(again.timings.cache_n, again.timings.cache_n_disk);
      const m = (await server.request('GET', '/metrics')).body;
      assert.equal(metric(m, 'hangar_kv_disk_saves_total'), 1, 'saved at the unload');
      assert.equal(metric(m, 'hangar_kv_disk_files'), kvFiles(state).length);
      assert.equal(metric(m, 'hangar_kv_disk_bytes'), kvBytes(state));
    } finally {
      await server.stop();
    }
  });

  test('a corrupt file is deleted, never used: the prompt is computed', async () => {
    // Flip a byte near the end of every saved file (inside the last block's keys and values).
    for (const f of kvFiles(state)) {
      const p = path.join(kvDir(state), f);
      const fd = fs.openSync(p, 'r+');
      const size = fs.fstatSync(fd).size, b = Buffer.alloc(1);
      fs.readSync(fd, b, 0, 1, size - 7);
      b[0] ^= 0x40;
      fs.writeSync(fd, b, 0, 1, size - 7);
      fs.closeSync(fd);
    }
    const server = await start(state);
    try {
      const body = await complete(server, turnOf(1));
      assert.equal(body.timings.cache_n_disk, 0);
      assert.deepEqual(output(body), reference);
      assert.match(server.log(), /KV store: ignoring and deleting .*checksum mismatch/);
      assert.ok(metric((await server.request('GET', '/metrics')).body, 'hangar_kv_disk_rejected_total') >= 1);
    } finally {
      await server.stop();
    }
  });

  test('truncated and foreign files are deleted at start', async () => {
    const files = kvFiles(state);
    assert.ok(files.length >= 1);
    for (const f of files) fs.truncateSync(path.join(kvDir(state), f), fs.statSync(path.join(kvDir(state), f)).size - 1000);
    fs.writeFileSync(path.join(kvDir(state), '00000000deadbeef.kv'), 'GGUF, but not a KV file');
    const server = await start(state);
    try {
      assert.match(server.log(), /KV store: 0 saved prompt prefixes/);
      assert.match(server.log(), /truncated/);
      assert.match(server.log(), /bad magic/);
      assert.deepEqual(kvFiles(state), []);
      const body = await complete(server, turnOf(1));
      assert.equal(body.timings.cache_n_disk, 0);
      assert.deepEqual(output(body), reference);
    } finally {
      await server.stop();
    }
  });

  test('a stale file (the model file changed) is deleted, never used', async () => {
    assert.equal(kvFiles(state).length, 1, 'the previous test left its turn saved');
    // The registry refuses a file whose sha256 changed; a model changes under its name only when
    // the registry has no digest for it (hashing had not finished, or the registry was reset).
    for (const f of fs.readdirSync(state)) if (f !== 'kv-cache') fs.rmSync(path.join(state, f), { recursive: true });
    fs.copyFileSync(path.join(sharedDir, 'models', OTHER + '.gguf'), path.join(dirs.models, MODEL + '.gguf'));
    const server = await start(state);
    try {
      const body = await complete(server, turnOf(1));
      assert.equal(body.timings.cache_n_disk, 0);
      assert.match(server.log(), /stale/);
      assert.deepEqual(kvFiles(state), []);
    } finally {
      await server.stop();
      fs.copyFileSync(path.join(sharedDir, 'models', MODEL + '.gguf'), path.join(dirs.models, MODEL + '.gguf'));
    }
  });
});

describe('the disk budget', () => {
  const state = path.join(dirs.root, 'state-budget');
  let fileBytes;
  before(async () => {
    const server = await start(state);
    await complete(server, prefix(10), { max_tokens: 1 });
    await server.stop();
    assert.equal(kvFiles(state).length, 1);
    fileBytes = kvBytes(state);
    fs.rmSync(kvDir(state), { recursive: true });
  });

  test('holds what fits and evicts the least recently used file', async () => {
    const budget = Math.floor(fileBytes * 2.5);
    const server = await start(state, ['--kv-disk-budget', String(budget)]);
    try {
      // keep_alive 0: the model is unloaded (and saves) after each request.
      for (const salt of [11, 12, 13, 14])
        await complete(server, prefix(salt), { max_tokens: 1, keep_alive: 0 });
      assert.equal(kvFiles(state).length, 2);
      assert.ok(kvBytes(state) <= budget, `${kvBytes(state)} > ${budget}`);
      const newest = await complete(server, turnOf(14), { keep_alive: 0 });
      assert.equal(newest.timings.cache_n_disk, 128);
      const oldest = await complete(server, turnOf(11), { keep_alive: 0 });
      assert.equal(oldest.timings.cache_n_disk, 0);
      const m = (await server.request('GET', '/metrics')).body;
      assert.ok(metric(m, 'hangar_kv_disk_evictions_total') >= 2, m);
      assert.ok(kvBytes(state) <= budget);
    } finally {
      await server.stop();
    }
  });
});

after(() => fs.rmSync(dirs.root, { recursive: true, force: true }));
