// Structured output through the real server and the official openai client: every sampled
// output parses and validates (ajv) against its JSON schema, streamed and not, on chat and
// completions, at several seeds and temperatures; bad schemas are 400s naming the keyword.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Ajv from 'ajv';
import OpenAI from 'openai';

import { makeModelsDir, startServer } from './server.mjs';

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
