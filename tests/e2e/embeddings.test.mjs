// Embeddings through the real server and the official openai client: every input agrees with
// llama.cpp's llama-embedding (tests/data/embedding_golden.json, cosine >= 0.999) for each
// pooling, in one batched request; base64 decodes to the same floats; dimensions truncate and
// renormalise; token-array inputs; bad inputs are 400s naming the field.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';

import { makeModelsDir, startServer } from './server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const golden = JSON.parse(fs.readFileSync(path.join(here, '..', 'data', 'embedding_golden.json'), 'utf8'));
const models = [...new Set(golden.runs.map((r) => r.model))];

const cosine = (a, b) => {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / Math.sqrt(aa * bb);
};
const norm = (a) => Math.sqrt(a.reduce((s, x) => s + x * x, 0));

describe('embeddings', () => {
  let server, openai;
  before(async () => {
    const dirs = makeModelsDir(models);
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, '--ctx', '512',
      '--parallel', '3', '--batch-tokens', '64', '--threads', '2', '--keep-alive', '-1']);
    openai = new OpenAI({ baseURL: server.url + '/v1', apiKey: 'unused', maxRetries: 0, timeout: 120000 });
  });
  after(async () => {
    if (server) await server.stop();
  });

  test('every input of a batch agrees with llama-embedding, for every pooling', async () => {
    for (const run of golden.runs) {
      const model = run.model.replace(/\.gguf$/, '');
      const body = { model, input: golden.inputs };
      // The model files have no pooling key: mean is their default, the others are asked for.
      if (run.pooling !== 'mean') body.pooling = run.pooling;
      const r = await openai.embeddings.create(body);
      assert.equal(r.object, 'list');
      assert.equal(r.model, model);
      assert.equal(r.data.length, golden.inputs.length);
      assert.ok(r.usage.prompt_tokens > golden.inputs.length && r.usage.total_tokens === r.usage.prompt_tokens);
      for (const d of r.data) {
        assert.equal(d.object, 'embedding');
        const c = cosine(d.embedding, run.embeddings[d.index]);
        assert.ok(c >= 0.999, `${model} ${run.pooling} input ${d.index}: cosine ${c}`);
        assert.ok(Math.abs(norm(d.embedding) - 1) < 1e-4);
      }
    }
  });

  test('base64 is the same floats; dimensions truncate and renormalise; token ids are inputs', async () => {
    const model = models[0].replace(/\.gguf$/, '');
    const plain = await server.request('POST', '/v1/embeddings', { model, input: 'Hello world' });
    assert.equal(plain.status, 200);
    const floats = plain.body.data[0].embedding;
    // The openai client asks for base64 by default and decodes it itself.
    const viaClient = (await openai.embeddings.create({ model, input: 'Hello world' })).data[0].embedding;
    assert.deepEqual(viaClient, floats.map((x) => Math.fround(x)));
    const b64 = await server.request('POST', '/v1/embeddings', { model, input: 'Hello world', encoding_format: 'base64' });
    const buf = Buffer.from(b64.body.data[0].embedding, 'base64');
    assert.equal(buf.length, floats.length * 4);
    for (let i = 0; i < floats.length; i++) assert.equal(buf.readFloatLE(i * 4), Math.fround(floats[i]));

    const short = (await openai.embeddings.create({ model, input: 'Hello world', dimensions: 32, encoding_format: 'float' })).data[0].embedding;
    assert.equal(short.length, 32);
    assert.ok(Math.abs(norm(short) - 1) < 1e-4);
    assert.ok(cosine(short, floats.slice(0, 32)) > 0.9999);

    const tokens = (await server.request('POST', '/tokenize', { model, content: 'Hello world', add_special: true })).body.tokens;
    const byTokens = await openai.embeddings.create({ model, input: [tokens, tokens], encoding_format: 'float' });
    assert.equal(byTokens.data.length, 2);
    assert.deepEqual(byTokens.data[1].embedding, byTokens.data[0].embedding);
    // Not bit-equal to the text's: two inputs in one pass take other kernel paths (float rounding).
    assert.ok(cosine(byTokens.data[1].embedding, floats) > 0.9999);
  });

  test('bad inputs are 400s naming the field', async () => {
    const model = models[0].replace(/\.gguf$/, '');
    const cases = [
      [{ model }, 'input'],
      [{ model, input: [] }, 'input'],
      [{ model, input: [1, 'a'] }, 'input'],
      [{ model, input: [[]] }, 'input'],
      [{ model, input: 'x', encoding_format: 'int8' }, 'encoding_format'],
      [{ model, input: 'x', dimensions: 0 }, 'dimensions'],
      [{ model, input: 'x', dimensions: 100000 }, 'dimensions'],
      [{ model, input: 'x', pooling: 'max' }, 'pooling'],
      [{ model, input: [999999999] }, 'input'],
      [{ model, input: 'word '.repeat(2000) }, 'input'],
    ];
    for (const [body, param] of cases) {
      const r = await server.request('POST', '/v1/embeddings', body);
      assert.equal(r.status, 400, JSON.stringify(body).slice(0, 100));
      assert.equal(r.body.error.param, param, JSON.stringify(r.body));
    }
    const unknown = await server.request('POST', '/v1/embeddings', { model: 'nope', input: 'x' });
    assert.equal(unknown.status, 404);
    // Token ids are refused from the model's header: an unloaded model stays unloaded.
    const idle = models[1].replace(/\.gguf$/, '');
    assert.equal((await server.request('DELETE', '/v1/models/' + idle)).status, 200);
    for (const input of [[999999999], ['x', Array(600).fill(1)]]) {
      const r = await server.request('POST', '/v1/embeddings', { model: idle, input });
      assert.equal(r.status, 400);
      assert.match(r.body.error.param, /^input/);
    }
    assert.equal((await server.model(idle)).state, 'unloaded');
  });
});
