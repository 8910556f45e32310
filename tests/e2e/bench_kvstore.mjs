// Prints time to first token of one more turn of a long conversation after its model was
// unloaded and loaded again: computed from scratch (--kv-disk-budget 0) vs restored from the
// disk store, and, for reference, with the model never unloaded (prefix in memory).
// Usage: HANGAR_BIN=build/hangar HANGAR_SHARED_DIR=../shared node tests/e2e/bench_kvstore.mjs
//        [--file ~/.cache/hangar-bench/llama-1b-q4_k_m.gguf] [--tokens 2000] [--repeat 3] [--threads 2]
// (/work/shared/bench/make_bench_models.sh writes the bench model if it is missing.)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { makeModelsDir, startServer } from './server.mjs';

const arg = (name, def) => {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 ? process.argv[i + 1] : def;
};
const file = arg('file', path.join(os.homedir(), '.cache/hangar-bench/llama-1b-q4_k_m.gguf'));
const target = Number(arg('tokens', '2000'));
const repeat = Number(arg('repeat', '3'));
const threads = arg('threads', '2');
const model = path.basename(file, '.gguf');
if (!fs.existsSync(file)) throw new Error(`${file} is missing: run /work/shared/bench/make_bench_models.sh`);

const dirs = makeModelsDir([]);
fs.symlinkSync(path.resolve(file), path.join(dirs.models, model + '.gguf'));
const args = (state, budget) => ['--models-dir', dirs.models, '--state-dir', state, '--ctx', String(target + 1024),
  '--parallel', '1', '--threads', threads, '--keep-alive', '-1', '--kv-disk-budget', budget];

// A conversation of about `target` tokens (checked with the server's tokenizer), distinct per
// `salt` so that no run finds another's prefix.
async function conversation(server, salt) {
  const words = ['the', 'pilot', 'checks', 'each', 'gauge', 'before', 'a', 'long', 'flight', 'over', 'water'];
  const messages = [{ role: 'system', content: `Session ${salt}. You are a careful assistant.` }];
  let turn = 0, tokens = 0;
  while (tokens < target) {
    const text = Array.from({ length: 60 }, (_, i) => words[(i * 7 + turn * 3 + salt) % words.length]).join(' ');
    messages.push({ role: turn % 2 ? 'assistant' : 'user', content: `${turn}: ${text}` });
    turn++;
    const r = await server.request('POST', '/apply-template', { model, messages });
    const t = await server.request('POST', '/tokenize', { model, content: r.body.prompt });
    tokens = t.body.tokens.length;
  }
  if (messages.at(-1).role === 'user') messages.pop();
  return messages;
}

// One streamed chat turn; client-side time to first token and the server's timings.
async function turn(server, messages) {
  const t0 = performance.now();
  const res = await fetch(server.url + '/v1/chat/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages, max_tokens: 8, temperature: 0, stream: true,
                           stream_options: { include_usage: true } }),
  });
  let ttft = -1, timings = null, buf = '';
  for await (const chunk of res.body) {
    buf += Buffer.from(chunk).toString();
    for (let i; (i = buf.indexOf('\n\n')) >= 0; buf = buf.slice(i + 2)) {
      const line = buf.slice(0, i);
      if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
      const ev = JSON.parse(line.slice(6));
      // The first event carries only the role and an empty content (sent before the prompt is
      // computed): the first token is the first non-empty content.
      if (ttft < 0 && ev.choices?.[0]?.delta?.content) ttft = performance.now() - t0;
      if (ev.timings && ev.usage) timings = { ...ev.timings, prompt_tokens: ev.usage.prompt_tokens };
    }
  }
  return { ttft, timings };
}

async function timed(fn) {
  const t0 = performance.now();
  const r = await fn();
  return { ms: performance.now() - t0, r };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = { cold: [], disk: [], memory: [], save_ms: [], load_ms: [] };
let sample = null;

// Cold: the model is loaded, nothing of the conversation is cached.
{
  const server = await startServer(args(path.join(dirs.root, 'state-cold'), '0'), { timeoutMs: 120000 });
  for (let i = 0; i < repeat; i++) {
    const history = await conversation(server, 100 + i);
    await server.request('POST', `/v1/models/${model}/load`);
    const next = [...history, { role: 'user', content: 'And one more question?' }];
    const t = await turn(server, next);
    if (t.timings.cache_n !== 0) throw new Error('cold run reused a prefix: ' + JSON.stringify(t.timings));
    results.cold.push(t.ttft);
    await server.request('DELETE', '/v1/models/' + model);
  }
  await server.stop();
}

// Restored: the conversation so far runs, the model is unloaded (saving its prefix) and loaded
// again, then the next turn comes.
{
  const server = await startServer(args(path.join(dirs.root, 'state-disk'), '4G'), { timeoutMs: 120000 });
  for (let i = 0; i < repeat; i++) {
    const history = await conversation(server, 200 + i);
    await turn(server, history.slice(0, -1));  // the turn that produced the last assistant message
    const next = [...history, { role: 'user', content: 'And one more question?' }];
    const mem = await turn(server, next);  // the model still loaded: the prefix is in memory
    results.memory.push(mem.ttft);
    const save = await timed(() => server.request('DELETE', '/v1/models/' + model));
    const load = await timed(() => server.request('POST', `/v1/models/${model}/load`));
    results.save_ms.push(save.ms);
    results.load_ms.push(load.ms);
    const t = await turn(server, next);
    if (!(t.timings.cache_n_disk > 0)) throw new Error('nothing restored from disk: ' + JSON.stringify(t.timings));
    results.disk.push(t.ttft);
    sample = t.timings;
    await server.request('DELETE', '/v1/models/' + model);
  }
  await server.stop();
}

const f = (x) => x.toFixed(1);
console.log(`model ${model}, ${sample.prompt_tokens}-token prompt, ${threads} threads, ${repeat} runs each (median ms)`);
console.log(`load: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log('| case | TTFT ms | runs |');
console.log('|---|---|---|');
console.log(`| cold (model reloaded, nothing cached) | ${f(median(results.cold))} | ${results.cold.map(f).join(', ')} |`);
console.log(`| restored from disk (model reloaded) | ${f(median(results.disk))} | ${results.disk.map(f).join(', ')} |`);
console.log(`| in memory (model never unloaded) | ${f(median(results.memory))} | ${results.memory.map(f).join(', ')} |`);
console.log(`restored ${sample.cache_n_disk} of ${sample.prompt_tokens} prompt tokens from disk; ` +
            `cold / restored = ${(median(results.cold) / median(results.disk)).toFixed(1)}x`);
console.log(`unload (saving the prefix) ${f(median(results.save_ms))} ms, load ${f(median(results.load_ms))} ms (medians)`);
fs.rmSync(dirs.root, { recursive: true, force: true });
