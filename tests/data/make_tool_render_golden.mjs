// Writes tests/data/tool_render_golden.json: llama.cpp's own renders (llama-server --jinja,
// POST /apply-template) of conversations with tools, tool calls and tool results through every
// tool-capable template of ../shared/golden/chat_templates.json; src/chat/chat_tool_golden_test.cc
// checks hangar renders them byte for byte. The model only supplies the special tokens (bos/eos
// '<|endoftext|>'). Templates that print today's date print the UTC day this ran ("rendered_on").
//
//   node tests/data/make_tool_render_golden.mjs [path/to/llama-server]
// Without an argument it asks ../shared/bench/build_llamacpp.sh for the reference build.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const shared = resolve(here, '../../../shared');
const golden = JSON.parse(readFileSync(join(shared, 'golden/chat_templates.json'), 'utf8'));
const model = join(shared, 'models', golden.model_for_special_tokens);
const server =
  process.argv[2] ??
  join(execFileSync(join(shared, 'bench/build_llamacpp.sh'), { encoding: 'utf8' }).trim().split('\n').pop(), 'llama-server');
const llamaSrc = resolve(dirname(server), '../..');

// Two functions whose parameters nest objects and arrays, as agent frameworks send them.
const WEATHER = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Get the weather forecast for a city',
    parameters: {
      type: 'object',
      properties: {
        location: { type: 'string', description: 'City and country, e.g. Paris, France' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        options: {
          type: 'object',
          properties: { days: { type: 'integer', minimum: 1 }, include: { type: 'array', items: { type: 'string' } } },
        },
      },
      required: ['location'],
    },
  },
};
const FLIGHTS = {
  type: 'function',
  function: {
    name: 'search_flights',
    description: 'Search flights between two airports',
    parameters: {
      type: 'object',
      properties: {
        route: {
          type: 'object',
          properties: { from: { type: 'string' }, to: { type: 'string' } },
          required: ['from', 'to'],
        },
        passengers: {
          type: 'array',
          items: { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' } } },
        },
      },
      required: ['route'],
    },
  },
};
// Arguments are JSON text, as OpenAI clients send them.
const WEATHER_CALL = {
  id: 'call_0001',
  type: 'function',
  function: {
    name: 'get_weather',
    arguments: '{"location": "Paris, France", "unit": "celsius", "options": {"days": 2, "include": ["wind", "rain"]}}',
  },
};
const FLIGHTS_CALL = {
  id: 'call_0002',
  type: 'function',
  function: {
    name: 'search_flights',
    arguments: '{"route": {"from": "CDG", "to": "NRT"}, "passengers": [{"name": "Ada", "age": 36}]}',
  },
};

const conversations = [
  { tools: [WEATHER, FLIGHTS], messages: [{ role: 'user', content: 'What is the weather in Paris?' }] },
  {
    tools: [WEATHER],
    messages: [
      { role: 'system', content: 'You are a weather bot.' },
      { role: 'user', content: 'Weather in Paris for two days, please.' },
      { role: 'assistant', content: '', tool_calls: [WEATHER_CALL] },
      { role: 'tool', tool_call_id: 'call_0001', content: '{"temperature": 18, "sky": "clear"}' },
    ],
  },
  {
    tools: [WEATHER, FLIGHTS],
    messages: [
      { role: 'user', content: 'Weather in Paris, and flights from CDG to Tokyo for Ada (36)?' },
      { role: 'assistant', content: null, tool_calls: [WEATHER_CALL, FLIGHTS_CALL] },
      { role: 'tool', tool_call_id: 'call_0001', content: '18 C, clear' },
      { role: 'tool', tool_call_id: 'call_0002', content: '[{"flight": "AF276", "departs": "10:05"}]' },
      { role: 'assistant', content: 'It is 18 C and clear; AF276 leaves at 10:05.' },
      { role: 'user', content: 'Thanks! And tomorrow?' },
    ],
  },
  // What agents send all the time: text and a call in one assistant turn.
  {
    tools: [WEATHER],
    messages: [
      { role: 'user', content: 'Should I take an umbrella in Paris?' },
      { role: 'assistant', content: 'Let me check the weather.', tool_calls: [WEATHER_CALL] },
      { role: 'tool', tool_call_id: 'call_0001', content: '{"temperature": 14, "sky": "rain"}' },
      { role: 'user', content: 'And in Lyon?' },
    ],
  },
  // The same with an answer after the result: Mistral's templates refuse a user turn right after
  // a tool result, and Gemma 4's older templates fold the answer into the calling turn.
  {
    tools: [WEATHER],
    messages: [
      { role: 'user', content: 'Should I take an umbrella in Paris?' },
      { role: 'assistant', content: 'Let me check the weather.', tool_calls: [WEATHER_CALL] },
      { role: 'tool', tool_call_id: 'call_0001', content: '{"temperature": 14, "sky": "rain"}' },
      { role: 'assistant', content: 'Yes: 14 C and rain.' },
      { role: 'user', content: 'And in Lyon?' },
    ],
  },
].map((c) => ({ ...c, add_generation_prompt: true }));

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Starts llama-server with `source` as its template and renders every conversation; a
// conversation llama.cpp refuses (or a template it cannot load) is recorded as an error.
async function renderAll(source) {
  const dir = mkdtempSync(join(tmpdir(), 'toolgold-'));
  const file = join(dir, 't.jinja');
  writeFileSync(file, source);
  const port = await freePort();
  const args = ['-m', model, '--jinja', '--chat-template-file', file, '--host', '127.0.0.1', '--port', String(port)];
  const proc = spawn(server, [...args, '-c', '512', '-t', '1', '--no-warmup'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let exited = false;
  proc.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
  proc.on('exit', () => (exited = true));
  try {
    for (;;) {
      if (exited) return conversations.map(() => ({ error: 'llama-server exited: ' + stderr.slice(-300) }));
      try {
        if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) break;
      } catch {}
      await sleep(200);
    }
    const out = [];
    for (const conv of conversations) {
      const r = await fetch(`http://127.0.0.1:${port}/apply-template`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(conv),
      });
      const body = await r.json();
      out.push(r.ok ? { prompt: body.prompt } : { error: body.error?.message ?? String(r.status) });
    }
    return out;
  } finally {
    proc.kill();
    while (!exited) await sleep(50);
    rmSync(dir, { recursive: true });
  }
}

const commit = execFileSync('git', ['-C', llamaSrc, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
const info = JSON.parse(readFileSync(join(llamaSrc, '../node_modules/node-llama-cpp/llama/llama.cpp.info.json'), 'utf8'));
const out = {
  generator: 'tests/data/make_tool_render_golden.mjs',
  llama_cpp: `${info.llamaCppGithubRepo} ${info.tag} (node-llama-cpp@3.21.1 bundle, commit ${commit})`,
  note:
    'llama-server --jinja, POST /apply-template, through each template of ../shared/golden/chat_templates.json ' +
    `that mentions tools; bos_token and eos_token are '<|endoftext|>' (${golden.model_for_special_tokens}). ` +
    "A case's conversation indexes 'conversations'; an 'error' is a conversation llama.cpp refused.",
  rendered_on: new Date().toISOString().slice(0, 10),
  conversations,
  cases: [],
};
for (const t of golden.templates) {
  if (!t.source.includes('tools')) continue;
  process.stderr.write(t.template + '\n');
  const renders = await renderAll(t.source);
  renders.forEach((r, i) => out.cases.push({ template_name: t.template, conversation: i, ...r }));
}
writeFileSync(join(here, 'tool_render_golden.json'), JSON.stringify(out, null, 1) + '\n');
