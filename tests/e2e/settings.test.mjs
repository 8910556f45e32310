// Per-model settings (hangar.toml) through the real server on loopback with its real SQLite
// registry: precedence and sources, aliases, request defaults, hot reload (mtime poll and
// refresh), bad files at start and at run time, and PATCH/DELETE persisted across a restart.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { hangarBin, makeModelsDir, sharedDir, startServer, waitFor } from './server.mjs';

const QWEN = 'qwen2-d256-q4_k_m';    // has a chat template
const LLAMA = 'llama-spm-d256-q4_0';
const flags = ['--ctx', '512', '--parallel', '2', '--threads', '2', '--keep-alive', '-1'];

const SETTINGS = `
[defaults]                      # every model
temperature = 0.7
top_k = 10

[models.${QWEN}]
alias = ["coder", "gpt-4o-mini"]
temperature = 0
ctx = 256
max_tokens = 4

[models."llama*"]               # a glob
top_k = 20
priority = 5
`;

const golden = (model) =>
  JSON.parse(fs.readFileSync(path.join(sharedDir, 'golden/completions', model + '.gguf.json'), 'utf8'));
// Cases whose every step leads the runner-up by 0.1: greedy decoding cannot swap a token.
const decisive = (model) => golden(model).cases.filter((c) => c.steps.every((s) => s.top[0][1] - s.top[1][1] >= 0.1));
const longPrompt = (n) => Array.from({ length: n }, (_, i) => 100 + (i % 50));

function writeSettings(dirs, text) {
  fs.writeFileSync(path.join(dirs.models, 'hangar.toml'), text);
}

async function settingsOf(server, id) {
  const r = await server.request('GET', '/v1/models/' + id);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.settings;
}

describe('per-model settings', () => {
  const dirs = makeModelsDir([QWEN + '.gguf', LLAMA + '.gguf']);
  let server;
  before(async () => {
    writeSettings(dirs, SETTINGS);
    server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, ...flags]);
  });
  after(async () => {
    if (server) await server.stop();
  });

  test('GET /v1/models/{id} gives each key its effective value and source', async () => {
    const q = await settingsOf(server, QWEN);
    assert.deepEqual(q.temperature, { value: 0, source: `models.${QWEN}` });
    assert.deepEqual(q.ctx, { value: 256, source: `models.${QWEN}`, applies: 'next load' });
    assert.deepEqual(q.parallel, { value: 2, source: 'flag', applies: 'next load' });
    assert.deepEqual(q.batch_tokens, { value: 512, source: 'builtin', applies: 'next load' });
    assert.deepEqual(q.keep_alive, { value: '-1', source: 'flag' });
    assert.deepEqual(q.top_k, { value: 10, source: 'defaults' });
    assert.deepEqual(q.top_p, { value: 0.95, source: 'builtin' });
    assert.deepEqual(q.system_prompt, { value: null, source: 'builtin' });
    assert.deepEqual(q.alias, { value: ['coder', 'gpt-4o-mini'], source: `models.${QWEN}` });
    const l = await settingsOf(server, LLAMA);
    assert.deepEqual(l.top_k, { value: 20, source: 'models."llama*"' });
    assert.deepEqual(l.priority, { value: 5, source: 'models."llama*"' });
    assert.deepEqual(l.temperature, { value: 0.7, source: 'defaults' });
    assert.deepEqual(l.ctx, { value: 512, source: 'flag', applies: 'next load' });
  });

  test('an alias names the model; responses show the real id', async () => {
    const r = await server.request('POST', '/v1/chat/completions',
      { model: 'coder', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.model, QWEN);
    const m = await server.request('GET', '/v1/models/gpt-4o-mini');
    assert.equal(m.body.id, QWEN);
    const t = await server.request('POST', '/tokenize', { model: 'coder', content: 'Hello' });
    assert.equal(t.status, 200);
    assert.equal((await server.request('GET', '/v1/models/nobody')).status, 404);
    // Readiness takes the names requests take.
    const ready = await server.request('GET', '/health/ready/coder');
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    assert.equal(ready.body.model, QWEN);
  });

  test('request fields win over settings, settings over the built-in defaults', async () => {
    // temperature 0 from the model's section: llama.cpp's greedy text without asking for it.
    const cases = decisive(QWEN).filter((c) => c.completion_tokens.length >= 4);
    assert.ok(cases.length > 0);
    for (const c of cases) {
      const r = await server.request('POST', '/v1/completions', { model: QWEN, prompt: c.prompt });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.usage.completion_tokens, 4, 'max_tokens = 4 from the settings');
      assert.ok(c.content.startsWith(r.body.choices[0].text), 'greedy: the start of llama.cpp\'s text');
      const full = await server.request('POST', '/v1/completions',
        { model: QWEN, prompt: c.prompt, max_tokens: c.completion_tokens.length });
      assert.equal(full.body.choices[0].text, c.content, 'greedy (temperature 0 from the settings)');
      assert.equal(full.body.usage.completion_tokens, c.completion_tokens.length, 'the request max_tokens wins');
    }
  });

  test('ctx from the settings sizes the model at load', async () => {
    const r = await server.request('POST', '/v1/completions', { model: QWEN, prompt: longPrompt(300), max_tokens: 1 });
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /context of 256 tokens/);
    const l = await server.request('POST', '/v1/completions', { model: LLAMA, prompt: longPrompt(300), max_tokens: 1 });
    assert.equal(l.status, 200, JSON.stringify(l.body));
  });

  test('a changed file applies without a restart (mtime poll); a new ctx reloads the idle model', async () => {
    const v0 = (await server.request('GET', '/v1/models/stats')).body.settings.version;
    writeSettings(dirs, SETTINGS.replace('max_tokens = 4', 'max_tokens = 3\nsystem_prompt = "Be brief."')
      .replace('ctx = 256', 'ctx = 384'));
    await waitFor('the poll to read the new file',
      async () => (await settingsOf(server, QWEN)).max_tokens.value === 3);
    const stats = (await server.request('GET', '/v1/models/stats')).body.settings;
    assert.ok(stats.version > v0);
    assert.equal(stats.error, null);
    const r = await server.request('POST', '/v1/completions', { model: QWEN, prompt: 'Once upon a time' });
    assert.equal(r.body.usage.completion_tokens, 3);
    const t = await server.request('POST', '/apply-template', { model: 'coder', messages: [{ role: 'user', content: 'Hi' }] });
    assert.match(t.body.prompt, /^<\|im_start\|>system\nBe brief\.<\|im_end\|>/);
    // The model was loaded with 256 tokens of context and idle: the new ctx unloaded it, and
    // the next load took 384.
    assert.equal((await server.request('GET', '/v1/models/' + QWEN)).body.last_eviction, 'settings_change');
    let long = await server.request('POST', '/v1/completions', { model: QWEN, prompt: longPrompt(300), max_tokens: 1 });
    assert.equal(long.status, 200, JSON.stringify(long.body));
    long = await server.request('POST', '/v1/completions', { model: QWEN, prompt: longPrompt(400), max_tokens: 1 });
    assert.match(long.body.error.message, /context of 384 tokens/);
  });

  test('POST /v1/models/refresh reads the file at once', async () => {
    writeSettings(dirs, SETTINGS.replace('priority = 5', 'priority = 7'));
    const r = await server.request('POST', '/v1/models/refresh', {});
    assert.deepEqual(r.body.settings, { ok: true, error: null });
    assert.deepEqual((await settingsOf(server, LLAMA)).priority, { value: 7, source: 'models."llama*"' });
  });

  test('chat_template from the settings, inline or a file beside them, replaces the model\'s', async () => {
    fs.writeFileSync(path.join(dirs.models, 'roles.jinja'),
      "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}");
    writeSettings(dirs, SETTINGS + `\n[models.${LLAMA}]\nsystem_prompt = "Sys"\n` +
      `chat_template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}"\n`);
    assert.equal((await server.request('POST', '/v1/models/refresh', {})).body.settings.ok, true);
    let t = await server.request('POST', '/apply-template', { model: LLAMA, messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(t.body.prompt, '<system>Sys<user>Hi');
    writeSettings(dirs, SETTINGS.replace('max_tokens = 4', 'max_tokens = 4\nchat_template = "roles.jinja"'));
    assert.equal((await server.request('POST', '/v1/models/refresh', {})).body.settings.ok, true);
    t = await server.request('POST', '/apply-template',
      { model: 'coder', messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'Hi' }] });
    assert.equal(t.body.prompt, '[system] S\n[user] Hi\n');
  });

  // Each bad file is refused whole: the last good settings stay, the error is in the refresh
  // answer, in stats and in the log, with the file, the line and the key.
  const badFiles = [
    ['a syntax error', SETTINGS + '\n[models.x\nctx = 1\n', /hangar\.toml:16:\d+: syntax error/, ''],
    ['an unknown key', SETTINGS + '\n[models.y]\ntemprature = 0.1\n', /hangar\.toml:17: models\.y\.temprature: unknown key; expected one of: alias, ctx/, 'models.y.temprature'],
    ['a wrong type', SETTINGS.replace('ctx = 256', 'ctx = "big"'), /hangar\.toml:9: models\.qwen2-d256-q4_k_m\.ctx: expected an integer from 16 to 1048576, got a string/, `models.${QWEN}.ctx`],
    ['an out-of-range value', SETTINGS.replace('top_k = 10', 'top_k = 10\nmin_p = 1.5'), /hangar\.toml:5: defaults\.min_p: expected a number from 0 to 1, got 1\.5/, 'defaults.min_p'],
    ['an alias clash', SETTINGS + `\n[models.${LLAMA}]\nalias = ["coder"]\n`, /hangar\.toml:17: models\.llama-spm-d256-q4_0\.alias: expected an alias of one model, but "coder" is also an alias of 'qwen2-d256-q4_k_m' \(line 7\)/, `models.${LLAMA}.alias`],
    ['a chat template that does not parse', SETTINGS.replace('priority = 5', 'priority = 5\nchat_template = "{% if %}"'), /hangar\.toml:15: models\."llama\*"\.chat_template: expected a chat template that parses/, 'models."llama*".chat_template'],
    ['an alias that is a model id', SETTINGS.replace('alias = ["coder", "gpt-4o-mini"]', `alias = ["${LLAMA}"]`), /hangar\.toml:7: models\.qwen2-d256-q4_k_m\.alias: expected an alias that is not a model id/, `models.${QWEN}.alias`],
  ];
  for (const [what, text, message, key] of badFiles) {
    test(`a file with ${what} is refused and the last good settings stay`, async () => {
      writeSettings(dirs, SETTINGS.replace('priority = 5', 'priority = 6'));
      assert.equal((await server.request('POST', '/v1/models/refresh', {})).body.settings.ok, true);
      writeSettings(dirs, text.replace('priority = 5', 'priority = 6').replace('top_k = 20', 'top_k = 25'));
      const r = await server.request('POST', '/v1/models/refresh', {});
      assert.equal(r.status, 200);
      assert.equal(r.body.settings.ok, false);
      assert.match(r.body.settings.error, message);
      const st = (await server.request('GET', '/v1/models/stats')).body.settings;
      assert.match(st.error.message, message);
      assert.equal(st.error.file, path.join(dirs.models, 'hangar.toml'));
      assert.ok(st.error.line > 0);
      assert.equal(st.error.key, key);
      assert.match(server.log(), /settings file refused, the previous settings stay in force/);
      // Nothing of the bad file applied, not even its good parts.
      assert.deepEqual((await settingsOf(server, LLAMA)).top_k, { value: 20, source: 'models."llama*"' });
      assert.equal((await settingsOf(server, QWEN)).alias.value[0], 'coder');
      const c = await server.request('POST', '/v1/chat/completions',
        { model: 'coder', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 1 });
      assert.equal(c.status, 200);
    });
  }
});

describe('settings changed through the API', () => {
  const dirs = makeModelsDir([QWEN + '.gguf', LLAMA + '.gguf']);
  const start = () => startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, ...flags]);

  test('PATCH persists in the registry across a restart; DELETE goes back to the file', async () => {
    writeSettings(dirs, SETTINGS);
    let server = await start();
    try {
      let r = await server.request('PATCH', `/v1/models/coder/settings`,
        { temperature: 0.25, alias: ['writer'], stop: 'END', keep_alive: '30s' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.id, QWEN);
      assert.deepEqual(r.body.settings.temperature, { value: 0.25, source: 'api' });
      assert.deepEqual(r.body.settings.stop, { value: ['END'], source: 'api' });
      // The API alias list replaces the file's.
      assert.equal((await server.request('GET', '/v1/models/writer')).body.id, QWEN);
      assert.equal((await server.request('GET', '/v1/models/coder')).status, 404);
      // Bad values and clashes are refused with the key named, and change nothing.
      r = await server.request('PATCH', `/v1/models/${QWEN}/settings`, { top_p: 2 });
      assert.equal(r.status, 400);
      assert.equal(r.body.error.param, 'top_p');
      assert.match(r.body.error.message, /'top_p': expected a number from 0 to 1, got 2/);
      r = await server.request('PATCH', `/v1/models/${QWEN}/settings`, { tempreature: 1 });
      assert.equal(r.status, 400);
      assert.match(r.body.error.message, /unknown setting 'tempreature'/);
      r = await server.request('PATCH', `/v1/models/${LLAMA}/settings`, { alias: ['writer'] });
      assert.equal(r.status, 400);
      assert.match(r.body.error.message, /also an alias of 'qwen2-d256-q4_k_m'/);
      assert.equal((await server.request('PATCH', '/v1/models/nobody/settings', { pin: true })).status, 404);
      // A PATCH of a key to null removes just that override.
      r = await server.request('PATCH', `/v1/models/${QWEN}/settings`, { keep_alive: null });
      assert.deepEqual(r.body.settings.keep_alive, { value: '-1', source: 'flag' });
    } finally {
      assert.equal((await server.stop()).code, 0);
    }

    server = await start();
    try {
      let s = await settingsOf(server, QWEN);
      assert.deepEqual(s.temperature, { value: 0.25, source: 'api' });
      assert.deepEqual(s.stop, { value: ['END'], source: 'api' });
      assert.deepEqual(s.max_tokens, { value: 4, source: `models.${QWEN}` });
      assert.equal((await server.request('GET', '/v1/models/writer')).body.id, QWEN);
      const r = await server.request('DELETE', `/v1/models/${QWEN}/settings`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.settings.temperature, { value: 0, source: `models.${QWEN}` });
      assert.equal((await server.request('GET', '/v1/models/coder')).body.id, QWEN);
    } finally {
      assert.equal((await server.stop()).code, 0);
    }

    server = await start();
    try {
      const s = await settingsOf(server, QWEN);
      assert.deepEqual(s.temperature, { value: 0, source: `models.${QWEN}` });
      assert.deepEqual(s.stop, { value: [], source: 'builtin' });
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  });

  test('pin and preload from the settings drive the cache and the preloader', async () => {
    const d = makeModelsDir([QWEN + '.gguf', LLAMA + '.gguf']);
    writeSettings(d, `[models."llama*"]\npin = true\npreload = true\n`);
    const server = await startServer(['--models-dir', d.models, '--state-dir', d.state, ...flags]);
    try {
      const m = await waitFor('the preload', async () => {
        const r = await server.request('GET', '/v1/models/' + LLAMA);
        return r.body.state === 'loaded' ? r.body : null;
      });
      assert.equal(m.pinned, true);
      assert.equal((await server.request('DELETE', '/v1/models/' + LLAMA)).status, 409);  // pinned
      const r = await server.request('PATCH', `/v1/models/${LLAMA}/settings`, { pin: false });
      assert.equal(r.body.pinned, false);
      assert.equal((await server.request('DELETE', '/v1/models/' + LLAMA)).status, 200);
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  });
});

describe('a bad settings file at start-up', () => {
  test('exits with status 1 and names the file, the line and the key', () => {
    const d = makeModelsDir([QWEN + '.gguf']);
    writeSettings(d, '[defaults]\ntemperature = 0.5\nkeep_alive = "soon"\n');
    let r = spawnSync(hangarBin, ['serve', '--models-dir', d.models, '--state-dir', d.state, '--port', '0'],
      { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /hangar\.toml:3: defaults\.keep_alive: /);
    r = spawnSync(hangarBin, ['serve', '--models-dir', d.models, '--state-dir', d.state, '--port', '0',
      '--presets', path.join(d.root, 'missing.toml')], { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /missing\.toml/);
  });

  test('--presets names a settings file elsewhere', async () => {
    const d = makeModelsDir([QWEN + '.gguf']);
    const presets = path.join(d.root, 'presets.toml');
    fs.writeFileSync(presets, `[models.${QWEN}]\ntop_k = 3\n`);
    const server = await startServer(['--models-dir', d.models, '--state-dir', d.state, '--presets', presets, ...flags]);
    try {
      assert.deepEqual((await settingsOf(server, QWEN)).top_k, { value: 3, source: `models.${QWEN}` });
      assert.equal((await server.request('GET', '/v1/models/stats')).body.settings.file, presets);
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  });
});
