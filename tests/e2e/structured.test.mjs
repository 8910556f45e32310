// Structured output and tools through the real server and the official openai client: every
// sampled output parses and validates (ajv) against its JSON schema, streamed and not, on chat
// and completions, at several seeds and temperatures; tool_choice required or named gives calls
// in the model's own format (Hermes, Llama 3.1 JSON, Mistral) that parse into tool_calls with
// valid arguments; bad schemas and tool requests are 400s naming the field.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Ajv from 'ajv';
import OpenAI from 'openai';

import { makeModelsDir, sharedDir, startServer } from './server.mjs';

const QWEN = 'qwen2-d256-q4_k_m';    // byte-level BPE, 151k tokens, a chat template
const LLAMA = 'llama-spm-d256-q4_0'; // SentencePiece with byte fallback, 32k tokens
const common = ['--ctx', '1024', '--parallel', '2', '--threads', '2', '--keep-alive', '-1'];

// Bounded, so that a random-weight model finishes well inside max_tokens: strings have a
// maxLength or an enum, arrays a maxItems.
const PERSON = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 8 },
    age: { type: 'integer', minimum: 0, maximum: 120 },
    color: { enum: ['red', 'green', 'blue'] },
    tags: { type: 'array', items: { type: 'string', pattern: '^[a-z]{1,4}$' }, maxItems: 3 },
    address: {
      type: 'object',
      properties: { zip: { type: 'string', pattern: '^[0-9]{5}$' }, primary: { type: 'boolean' } },
      required: ['zip', 'primary'],
      additionalProperties: false,
    },
    score: { anyOf: [{ type: 'number' }, { type: 'null' }] },
  },
  required: ['name', 'age', 'color', 'tags', 'address', 'score'],
  additionalProperties: false,
};
const LIST = {
  type: 'array',
  minItems: 1,
  maxItems: 4,
  items: { $ref: '#/$defs/item' },
  $defs: { item: { type: 'object', properties: { id: { type: 'integer', minimum: 1, maximum: 99 }, ok: { type: 'boolean' } }, required: ['id'] } },
};

const ajv = new Ajv({ strict: false });
const validate = (schema, text) => {
  let value;
  assert.doesNotThrow(() => { value = JSON.parse(text); }, `not JSON: ${text}`);
  const check = ajv.compile(schema);
  assert.ok(check(value), `${JSON.stringify(check.errors)} in ${text}`);
  return value;
};
const jsonSchema = (schema) => ({ type: 'json_schema', json_schema: { name: 'out', strict: true, schema } });

describe('structured output', () => {
  let server, openai;
  before(async () => {
    const dirs = makeModelsDir([QWEN + '.gguf', LLAMA + '.gguf']);
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, ...common]);
    openai = new OpenAI({ baseURL: server.url + '/v1', apiKey: 'unused', maxRetries: 0, timeout: 120000 });
  });
  after(async () => {
    if (server) await server.stop();
  });

  test('chat json_schema: every output parses and validates, at any seed and temperature', async () => {
    for (const [seed, temperature] of [[1, 0], [2, 0.7], [3, 1.0], [4, 1.5], [5, 2.0]]) {
      const r = await openai.chat.completions.create({
        model: QWEN, messages: [{ role: 'user', content: 'Describe a person.' }], max_tokens: 400,
        seed, temperature, response_format: jsonSchema(PERSON),
      });
      assert.equal(r.choices[0].finish_reason, 'stop', r.choices[0].message.content);
      validate(PERSON, r.choices[0].message.content);
    }
  });

  test('chat json_schema streamed: the chunks join into valid JSON; n > 1 choices each valid', async () => {
    const stream = await openai.chat.completions.create({
      model: QWEN, messages: [{ role: 'user', content: 'List items.' }], max_tokens: 300, seed: 9, temperature: 1,
      n: 2, stream: true, response_format: jsonSchema(LIST),
    });
    const texts = ['', ''], finish = [null, null];
    for await (const chunk of stream)
      for (const ch of chunk.choices) {
        texts[ch.index] += ch.delta.content ?? '';
        if (ch.finish_reason) finish[ch.index] = ch.finish_reason;
      }
    for (let i = 0; i < 2; i++) {
      assert.equal(finish[i], 'stop', texts[i]);
      assert.ok(validate(LIST, texts[i]).length >= 1);
    }
  });

  test('completions json_schema on a SentencePiece vocabulary', async () => {
    for (const seed of [1, 2, 3]) {
      const r = await openai.completions.create({
        model: LLAMA, prompt: 'JSON:', max_tokens: 400, seed, temperature: 1, response_format: jsonSchema(PERSON),
      });
      assert.equal(r.choices[0].finish_reason, 'stop', r.choices[0].text);
      validate(PERSON, r.choices[0].text);
    }
  });

  test('json_object: an object that parses (the bias makes the random model close early)', async () => {
    const tok = async (s) => (await server.request('POST', '/tokenize', { model: QWEN, content: s })).body.tokens;
    const [quote] = await tok('"');
    const [close] = await tok('}');
    for (const stream of [false, true]) {
      const req = {
        model: QWEN, messages: [{ role: 'user', content: 'JSON please' }], max_tokens: 300, seed: 3,
        response_format: { type: 'json_object' }, logit_bias: { [quote]: 6, [close]: 6 }, stream,
      };
      let text = '';
      if (stream) {
        for await (const chunk of await openai.chat.completions.create(req)) text += chunk.choices[0]?.delta?.content ?? '';
      } else {
        text = (await openai.chat.completions.create(req)).choices[0].message.content;
      }
      const v = JSON.parse(text);
      assert.equal(typeof v, 'object');
      assert.ok(v !== null && !Array.isArray(v), text);
    }
  });

  test('bad schemas are 400s that name response_format and the keyword', async () => {
    const bad = async (response_format, pattern) => {
      await assert.rejects(openai.chat.completions.create({
        model: QWEN, messages: [{ role: 'user', content: 'x' }], response_format,
      }), (e) => {
        assert.equal(e.status, 400);
        assert.equal(e.param, 'response_format');
        assert.match(e.message, pattern);
        return true;
      });
    };
    await bad(jsonSchema({ type: 'object', properties: { a: { type: 'string', format: 'email', not: { const: '' } } } }),
      /#\/properties\/a: unsupported JSON schema keyword 'not'/);
    await bad(jsonSchema({ type: 'array', uniqueItems: true }), /'uniqueItems'/);
    await bad(jsonSchema({ type: 'string', pattern: '(?<=a)b' }), /pattern.*lookaround/);
    await bad(jsonSchema({ $ref: '#/$defs/none' }), /does not resolve/);
    await bad({ type: 'xml' }, /not supported/);
  });
});

// --- tools -------------------------------------------------------------------------------

const QWEN3 = 'qwen3-d256-q4_k_m';   // given Qwen3's template (Hermes <tool_call> blocks) through hangar.toml
const LLAMA3 = 'llama3-d256-q4_k_m'; // given Llama 3.1's template through hangar.toml
const MISTRAL = LLAMA;               // given Mistral Nemo's template ([TOOL_CALLS]) likewise
const PLAIN = QWEN;                  // no template of its own: ChatML, which ignores tools

const TOOLS = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: {
    type: 'object', properties: { location: { type: 'string', maxLength: 16 }, unit: { enum: ['celsius', 'fahrenheit'] } },
    required: ['location', 'unit'], additionalProperties: false } } },
  { type: 'function', function: { name: 'get_time', description: 'Local time', parameters: {
    type: 'object', properties: { offset: { type: 'integer', minimum: -12, maximum: 14 } },
    required: ['offset'], additionalProperties: false } } },
];
const argsValid = (call) => {
  const tool = TOOLS.find((t) => t.function.name === call.function.name);
  assert.ok(tool, `unknown tool ${call.function.name}`);
  validate(tool.function.parameters, call.function.arguments);
};
const ask = [{ role: 'user', content: 'What is the weather in Paris, and the time there?' }];

describe('tools', () => {
  let server, openai;
  before(async () => {
    const dirs = makeModelsDir([QWEN3, LLAMA3, LLAMA, QWEN].map((m) => m + '.gguf'));
    const golden = JSON.parse(fs.readFileSync(path.join(sharedDir, 'golden/chat_templates.json'), 'utf8'));
    const source = (name) => golden.templates.find((t) => t.template === name).source;
    fs.writeFileSync(path.join(dirs.models, 'qwen3.jinja'), source('Qwen-Qwen3-0.6B.jinja'));
    fs.writeFileSync(path.join(dirs.models, 'llama31.jinja'), source('meta-llama-Llama-3.1-8B-Instruct.jinja'));
    fs.writeFileSync(path.join(dirs.models, 'nemo.jinja'), source('mistralai-Mistral-Nemo-Instruct-2407.jinja'));
    fs.writeFileSync(path.join(dirs.models, 'hangar.toml'),
      `[models.${QWEN3}]\nchat_template = "qwen3.jinja"\n[models.${LLAMA3}]\nchat_template = "llama31.jinja"\n` +
      `[models.${MISTRAL}]\nchat_template = "nemo.jinja"\n`);
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, ...common]);
    openai = new OpenAI({ baseURL: server.url + '/v1', apiKey: 'unused', maxRetries: 0, timeout: 120000 });
  });
  after(async () => {
    if (server) await server.stop();
  });

  test('tool_choice required: calls in each model\'s format parse into tool_calls with valid arguments', async () => {
    for (const model of [QWEN3, LLAMA3, MISTRAL]) {
      for (const [seed, temperature] of [[1, 0], [2, 0.8], [3, 1.5]]) {
        const r = await openai.chat.completions.create({
          model, messages: ask, tools: TOOLS, tool_choice: 'required', seed, temperature, max_tokens: 300,
          // A random-weight model may go on calling for ever in a JSON array; Hermes blocks end.
          parallel_tool_calls: model === QWEN3,
        });
        const m = r.choices[0].message;
        assert.equal(r.choices[0].finish_reason, 'tool_calls', `${model}: ${JSON.stringify(m)}`);
        assert.ok(m.tool_calls.length >= 1);
        assert.equal(m.content, null);
        for (const call of m.tool_calls) {
          assert.equal(call.type, 'function');
          assert.match(call.id, /^call_/);
          argsValid(call);
        }
      }
    }
  });

  test('a named function, streamed: delta.tool_calls join into one call of it', async () => {
    for (const model of [QWEN3, MISTRAL]) {
      const stream = await openai.chat.completions.create({
        model, messages: ask, tools: TOOLS, tool_choice: { type: 'function', function: { name: 'get_time' } },
        parallel_tool_calls: false, seed: 5, temperature: 1, max_tokens: 200, stream: true,
      });
      const calls = [];
      let finish = null, content = '';
      for await (const chunk of stream) {
        const ch = chunk.choices[0];
        if (!ch) continue;
        content += ch.delta.content ?? '';
        for (const d of ch.delta.tool_calls ?? []) {
          calls[d.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } };
          if (d.id) calls[d.index].id = d.id;
          if (d.function?.name) calls[d.index].function.name += d.function.name;
          if (d.function?.arguments) calls[d.index].function.arguments += d.function.arguments;
        }
        if (ch.finish_reason) finish = ch.finish_reason;
      }
      assert.equal(finish, 'tool_calls', model);
      assert.equal(content, '', model);
      assert.equal(calls.length, 1, model);
      assert.equal(calls[0].function.name, 'get_time');
      argsValid(calls[0]);
    }
  });

  test('tool results come back as role tool messages and render through the template', async () => {
    const messages = [
      ...ask,
      { role: 'assistant', content: null, tool_calls: [
        { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris","unit":"celsius"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '18 degrees and sunny' },
    ];
    const t = await server.request('POST', '/apply-template', { model: QWEN3, messages, tools: TOOLS });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.match(t.body.prompt, /<tool_call>\n\{"name": "get_weather", "arguments": \{"location": "Paris", "unit": "celsius"\}\}\n<\/tool_call>/);
    assert.match(t.body.prompt, /<tool_response>\n18 degrees and sunny\n<\/tool_response>/);
    const r = await openai.chat.completions.create({ model: QWEN3, messages, tools: TOOLS, max_tokens: 4 });
    assert.equal(r.choices.length, 1);
  });

  test('tool_choice none reads no calls; auto answers with content or calls', async () => {
    const r = await openai.chat.completions.create({ model: QWEN3, messages: ask, tools: TOOLS, tool_choice: 'none', max_tokens: 8 });
    assert.equal(r.choices[0].message.tool_calls, undefined);
    assert.equal(typeof r.choices[0].message.content, 'string');
    const a = await openai.chat.completions.create({ model: QWEN3, messages: ask, tools: TOOLS, max_tokens: 8 });
    assert.ok(['stop', 'length', 'tool_calls'].includes(a.choices[0].finish_reason));
  });

  test('bad tool requests are 400s naming the field', async () => {
    const bad = async (req, param, pattern) => {
      await assert.rejects(openai.chat.completions.create({ messages: ask, max_tokens: 4, ...req }), (e) => {
        assert.equal(e.status, 400, e.message);
        assert.equal(e.param, param);
        assert.match(e.message, pattern);
        return true;
      });
    };
    await bad({ model: QWEN3, tools: TOOLS, tool_choice: { type: 'function', function: { name: 'get_stock' } } },
      'tool_choice', /get_stock/);
    await bad({ model: PLAIN, tools: TOOLS }, 'tools', /cannot call tools/);
    await bad({ model: QWEN3, tool_choice: 'required' }, 'tool_choice', /'tools' is empty/);
    await bad({ model: QWEN3, tools: TOOLS, tool_choice: 'required', response_format: { type: 'json_object' } },
      'tool_choice', /response_format/);
    await bad({ model: QWEN3, tools: [{ type: 'function', function: { parameters: {} } }] }, 'tools', /name/);
  });
});
