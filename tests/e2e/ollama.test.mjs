// Ollama's API through the real server and the official ollama npm client: chat and generate
// (NDJSON streams and single answers, options, format, tools), tags, ps, show, version,
// embed, copy and delete in the models dir, keep_alive 0 unloading, and errors in Ollama's shape.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Ollama } from 'ollama';

import { makeModelsDir, metricValue, sharedDir, startServer } from './server.mjs';

const QWEN = 'qwen2-d256-q4_k_m';    // no template of its own: ChatML
const QWEN3 = 'qwen3-d256-q4_k_m';   // given Qwen3's template (Hermes <tool_call> blocks) through hangar.toml
const LLAMA = 'llama-spm-d256-q4_0';
const common = ['--ctx', '1024', '--parallel', '2', '--threads', '2', '--keep-alive', '-1'];

describe('ollama API', () => {
  let server, ollama, dirs;
  before(async () => {
    dirs = makeModelsDir([QWEN + '.gguf', LLAMA + '.gguf', QWEN3 + '.gguf']);
    const golden = JSON.parse(fs.readFileSync(path.join(sharedDir, 'golden/chat_templates.json'), 'utf8'));
    fs.writeFileSync(path.join(dirs.models, 'qwen3.jinja'), golden.templates.find((t) => t.template === 'Qwen-Qwen3-0.6B.jinja').source);
    fs.writeFileSync(path.join(dirs.models, 'hangar.toml'), `[models.${QWEN3}]\nchat_template = "qwen3.jinja"\n`);
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, ...common]);
    ollama = new Ollama({ host: server.url });
  });
  after(async () => {
    if (server) await server.stop();
  });

  test('version, tags and show describe the models dir', async () => {
    assert.match((await ollama.version()).version, /^\d+\.\d+\.\d+/);
    const { models } = await ollama.list();
    assert.deepEqual(models.map((m) => m.name).sort(), [LLAMA, QWEN, QWEN3].sort());
    const q = models.find((m) => m.name === QWEN);
    assert.equal(q.size, fs.statSync(path.join(dirs.models, QWEN + '.gguf')).size);
    assert.equal(q.details.format, 'gguf');
    assert.equal(q.details.family, 'qwen2');
    assert.equal(q.details.quantization_level, 'Q4_K');
    assert.ok(!Number.isNaN(Date.parse(q.modified_at)));
    const show = await ollama.show({ model: QWEN + ':latest' });
    assert.equal(show.model_info['general.architecture'], 'qwen2');
    assert.ok(show.model_info['qwen2.context_length'] > 0);
    assert.ok(show.capabilities.includes('completion'));
  });

  test('chat: one answer and an NDJSON stream, with options', async () => {
    const messages = [{ role: 'user', content: 'Say something.' }];
    const options = { temperature: 0, num_predict: 12, seed: 1 };
    const one = await ollama.chat({ model: QWEN, messages, options });
    assert.equal(one.done, true);
    assert.equal(one.message.role, 'assistant');
    assert.equal(one.eval_count, 12);
    assert.equal(one.done_reason, 'length');
    assert.ok(one.prompt_eval_count > 5 && one.total_duration > 0);
    let text = '', last;
    for await (const part of await ollama.chat({ model: QWEN, messages, options, stream: true })) {
      if (!part.done) text += part.message.content;
      last = part;
    }
    assert.equal(last.done, true);
    assert.equal(text, one.message.content);  // greedy: the same answer streamed
    assert.equal(last.eval_count, 12);
  });

  test('generate: templated and raw prompts, context, streamed', async () => {
    const r = await ollama.generate({ model: LLAMA, prompt: 'Once upon a time', options: { temperature: 0, num_predict: 8 } });
    assert.equal(r.done, true);
    assert.equal(r.eval_count, 8);
    assert.ok(Array.isArray(r.context) && r.context.length === r.prompt_eval_count + 8);
    let text = '';
    for await (const part of await ollama.generate({ model: LLAMA, prompt: 'Once upon a time', raw: true, stream: true,
      options: { temperature: 0, num_predict: 8 } }))
      text += part.response;
    const raw = await ollama.generate({ model: LLAMA, prompt: 'Once upon a time', raw: true, options: { temperature: 0, num_predict: 8 } });
    assert.equal(text, raw.response);
    // A raw prompt is the text itself: fewer prompt tokens than the templated one.
    assert.ok(raw.prompt_eval_count < r.prompt_eval_count);
    // An empty prompt loads the model; keep_alive 0 unloads it.
    const loaded = await ollama.generate({ model: QWEN, prompt: '' });
    assert.equal(loaded.done_reason, 'load');
    assert.ok((await ollama.ps()).models.some((m) => m.name === QWEN));
    const unloaded = await ollama.generate({ model: QWEN, prompt: '', keep_alive: 0 });
    assert.equal(unloaded.done_reason, 'unload');
    assert.ok(!(await ollama.ps()).models.some((m) => m.name === QWEN));
  });

  test('keep_alive sets how long the model stays after the request; 0 unloads it', async () => {
    const messages = [{ role: 'user', content: 'hi' }];
    const before = Date.now();
    await ollama.chat({ model: LLAMA, messages, keep_alive: '10m', options: { num_predict: 2 } });
    const listed = (await ollama.ps()).models.find((m) => m.name === LLAMA);
    assert.ok(listed, 'loaded after the request');
    const expires = Date.parse(listed.expires_at) - before;
    assert.ok(expires > 9 * 60e3 && expires < 11 * 60e3, `expires in ${expires} ms`);
    // A number is seconds, as in Ollama; 0 unloads once the answer is done.
    await ollama.chat({ model: LLAMA, messages, keep_alive: 0, options: { num_predict: 2 } });
    assert.ok(!(await ollama.ps()).models.some((m) => m.name === LLAMA));
    await assert.rejects(ollama.chat({ model: LLAMA, messages, keep_alive: 'soon' }),
      (e) => e.status_code === 400 && /keep_alive/.test(e.error));
  });

  test('format: json and a schema give valid JSON', async () => {
    const schema = { type: 'object', properties: { ok: { type: 'boolean' }, n: { type: 'integer', minimum: 0, maximum: 9 } },
      required: ['ok', 'n'], additionalProperties: false };
    const r = await ollama.chat({ model: QWEN, messages: [{ role: 'user', content: 'JSON' }], format: schema,
      options: { temperature: 1, seed: 3, num_predict: 200 } });
    const v = JSON.parse(r.message.content);
    assert.equal(typeof v.ok, 'boolean');
    assert.ok(Number.isInteger(v.n) && v.n >= 0 && v.n <= 9);
  });

  test('tools: the call comes back in message.tool_calls, streamed and not', async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather of a city',
      parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 } }, required: ['city'] } } }];
    // The model has random weights, so it calls only when made to: tool_choice (OpenAI's field,
    // which Ollama's API lacks and /api/chat takes as an extension) constrains it to a call.
    const messages = [{ role: 'user', content: 'Weather in Paris?' }];
    // Both answers below find the prompt in the prefix cache: one computed in a single pass
    // rounds differently, which sampling at temperature 0.8 can turn into another call.
    await ollama.chat({ model: QWEN3, messages, tools, tool_choice: 'required', options: { num_predict: 1 } });
    const r = await ollama.chat({ model: QWEN3, messages, tools, tool_choice: 'required', options: { temperature: 0.8, seed: 5, num_predict: 200 } });
    assert.equal(r.message.tool_calls.length >= 1, true, JSON.stringify(r.message));
    const call = r.message.tool_calls[0];
    assert.equal(call.function.name, 'get_weather');
    assert.equal(typeof call.function.arguments.city, 'string');
    let calls = [];
    for await (const part of await ollama.chat({ model: QWEN3, messages, tools, tool_choice: 'required', stream: true,
      options: { temperature: 0.8, seed: 5, num_predict: 200 } }))
      calls = calls.concat(part.message.tool_calls ?? []);
    assert.deepEqual(calls, r.message.tool_calls);
    // The result goes back as a tool message and renders through the template.
    const back = await ollama.chat({ model: QWEN3, options: { num_predict: 4 }, messages: [...messages,
      { role: 'assistant', content: '', tool_calls: r.message.tool_calls }, { role: 'tool', content: '18 degrees' }] });
    assert.equal(back.done, true);
  });

  test('embed and embeddings', async () => {
    const r = await ollama.embed({ model: QWEN, input: ['Hello world', 'Second text'] });
    assert.equal(r.embeddings.length, 2);
    for (const v of r.embeddings) assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-4);
    assert.ok(r.prompt_eval_count > 2);
    const legacy = await ollama.embeddings({ model: QWEN, prompt: 'Hello world' });
    // The older route's vector is the raw pooled one: the same direction, not unit length (up to
    // the rounding of a pass that held two inputs rather than one).
    const n = Math.hypot(...legacy.embedding);
    assert.ok(Math.abs(n - 1) > 1e-2, `norm ${n}`);
    const dot = legacy.embedding.reduce((s, x, i) => s + x * r.embeddings[0][i], 0);
    assert.ok(dot / n > 0.9999, `cosine ${dot / n}`);
  });

  test('copy and delete change the models dir', async () => {
    await ollama.copy({ source: LLAMA, destination: 'copied' });
    assert.ok(fs.existsSync(path.join(dirs.models, 'copied.gguf')));
    assert.ok((await ollama.list()).models.some((m) => m.name === 'copied'));
    const r = await ollama.generate({ model: 'copied:latest', prompt: 'Hi', options: { num_predict: 2 } });
    assert.equal(r.done, true);
    await ollama.delete({ model: 'copied' });
    assert.ok(!fs.existsSync(path.join(dirs.models, 'copied.gguf')));
    assert.ok(!(await ollama.list()).models.some((m) => m.name === 'copied'));
  });

  test('errors are Ollama error objects with the status', async () => {
    await assert.rejects(ollama.chat({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
      (e) => e.status_code === 404 && /nope/.test(e.error));
    await assert.rejects(ollama.chat({ model: QWEN, messages: [{ role: 'user', content: 'x' }], format: 'yaml' }),
      (e) => e.status_code === 400 && /format/.test(e.error));
    await assert.rejects(ollama.chat({ model: QWEN, messages: [{ role: 'user', content: 'x' }], options: { temperature: 9 } }),
      (e) => e.status_code === 400 && /'options\.temperature'/.test(e.error));
    await assert.rejects(ollama.generate({ model: QWEN, prompt: 'x', options: { top_k: -1 } }),
      (e) => e.status_code === 400 && /'options\.top_k'/.test(e.error));
    for (const route of ['/api/chat', '/api/generate']) {
      const r = await server.request('POST', route, { model: 5, prompt: 'x', messages: [{ role: 'user', content: 'x' }] });
      assert.equal(r.status, 400, route);
      assert.match(r.body.error, /'model' must be a string/);
    }
    await assert.rejects(ollama.show({ model: 'nope' }), (e) => e.status_code === 404);
    await assert.rejects(ollama.copy({ source: QWEN, destination: '../evil' }), (e) => e.status_code === 400);
    await assert.rejects(ollama.delete({ model: 'nope' }), (e) => e.status_code === 404);
  });
});

describe('ollama show on a loaded model', () => {
  let server, ollama;
  before(async () => {
    const dirs = makeModelsDir([QWEN3 + '.gguf']);  // the file's own template: read from the loaded model
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, ...common]);
    ollama = new Ollama({ host: server.url });
  });
  after(async () => {
    if (server) await server.stop();
  });

  test('shows the file\'s template without counting a use of the model', async () => {
    await ollama.generate({ model: QWEN3, prompt: 'Hi', options: { num_predict: 1 } });
    // The generation is in the metrics as an OpenAI one is, time to first token included.
    const metrics = (await server.request('GET', '/metrics')).body;
    assert.equal(metricValue(metrics, 'hangar_time_to_first_token_seconds_count', `model="${QWEN3}"`), 1);
    const used = async () => {
      const m = await server.model(QWEN3);
      return { state: m.state, accesses: m.registry.access_count, last: m.registry.last_access_ms };
    };
    const before = await used();
    assert.equal(before.state, 'loaded');
    const show = await ollama.show({ model: QWEN3 });
    assert.match(show.template, /<\|im_start\|>/);  // ChatML, without tools
    assert.deepEqual(show.capabilities, ['completion', 'embedding']);
    assert.deepEqual(await used(), before);
  });
});
