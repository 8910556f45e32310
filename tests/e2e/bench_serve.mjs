// Prints time to first token and tokens/s through `hangar serve` for 1 and N concurrent streams.
// Usage: HANGAR_BIN=build/hangar HANGAR_SHARED_DIR=../shared node tests/e2e/bench_serve.mjs
//        [--model qwen2-d256-q4_k_m | --file PATH.gguf] [--streams 1,8] [--tokens 128] [--parallel 8]
//        [--threads 2] [--prefix 1000] [--prompt-words 120]
// --file serves any GGUF (linked, not copied); --prefix N also times two requests that share an
// N-token system prompt (the second should reuse the first's KV cache).
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';

import { makeModelsDir, startServer } from './server.mjs';

const arg = (name, def) => {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 ? process.argv[i + 1] : def;
};
const file = arg('file', '');
const model = file ? path.basename(file, '.gguf') : arg('model', 'qwen2-d256-q4_k_m');
const prefix = Number(arg('prefix', '0'));
const streams = arg('streams', '1,8').split(',').map(Number);
const tokens = Number(arg('tokens', '128'));
const parallel = arg('parallel', '8');
const threads = arg('threads', '2');

const dirs = makeModelsDir(file ? [] : [model + '.gguf']);
if (file) fs.symlinkSync(path.resolve(file), path.join(dirs.models, model + '.gguf'));
const server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, '--ctx', String(Math.max(1024, 2 * prefix + 2 * tokens + 64)),
  '--parallel', parallel, '--threads', threads, '--keep-alive', '-1']);
const openai = new OpenAI({ baseURL: server.url + '/v1', apiKey: 'unused', maxRetries: 0 });

// One streamed chat request; returns client-side time to first token and the server's timings.
// The user message starts with the stream's number, so concurrent prompts share no prefix, and
// is padded to about --prompt-words words (bench --batch-prompt's 128 tokens by default).
const promptWords = Number(arg('prompt-words', '120'));
// With a system prompt (the prefix-reuse check) the user message stays short: the shared
// prefix is then most of the prompt, as in a chat's later turns.
async function one(i, system = '') {
  const t0 = performance.now();
  const pad = [];
  for (let w = 0; pad.length < promptWords; w++) pad.push('once', 'upon', 'a', 'time');
  const words = system ? '' : ' ' + pad.slice(0, promptWords).join(' ');
  const messages = [{ role: 'user', content: `Story number ${i}:${words}` }];
  if (system) messages.unshift({ role: 'system', content: system });
  const stream = await openai.chat.completions.create({
    model, messages, max_tokens: tokens,
    ignore_eos: true, stream: true, stream_options: { include_usage: true },
  });
  let ttft = -1, n = 0, timings = null;
  const at = [];  // arrival time of each content chunk (one per token, but for held-back UTF-8)
  for await (const chunk of stream) {
    if (chunk.timings && chunk.usage) timings = chunk.timings;
    for (const ch of chunk.choices) {
      if (ch.delta.content) {
        const now = performance.now();
        if (ttft < 0) ttft = now - t0;
        at.push(now);
        n++;
      }
    }
  }
  return { ttft, ms: performance.now() - t0, chunks: n, timings, at };
}

// Aggregate decode rate while every stream is decoding: the chunks that arrive between the
// last stream's first token and the first stream's last token, over that window. This is
// what bench --batch N reports (decode only, all sequences in the batch), whereas the wall
// rate also counts the prompts' prefill and the ragged start and end.
function steadyRate(rs) {
  const start = Math.max(...rs.map((r) => r.at[0]));
  const end = Math.min(...rs.map((r) => r.at[r.at.length - 1]));
  if (!(end > start)) return NaN;
  const n = rs.reduce((a, r) => a + r.at.filter((t) => t > start && t <= end).length, 0);
  return n / ((end - start) / 1e3);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
await one(-1);  // load the model and warm up
console.log(`model ${model}, ${tokens} tokens per stream, --parallel ${parallel}, --threads ${threads}`);
console.log('| streams | TTFT median ms | TTFT max ms | per-stream decode t/s (server) | aggregate decode t/s (all streams decoding) | total t/s (client wall) |');
console.log('|---|---|---|---|---|---|');
for (const n of streams) {
  const t0 = performance.now();
  const rs = await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
  const wall = (performance.now() - t0) / 1e3;
  const generated = rs.reduce((a, r) => a + r.timings.predicted_n, 0);
  const decode = median(rs.map((r) => r.timings.predicted_per_second));
  console.log(`| ${n} | ${median(rs.map((r) => r.ttft)).toFixed(1)} | ${Math.max(...rs.map((r) => r.ttft)).toFixed(1)} | ` +
              `${decode.toFixed(1)} | ${steadyRate(rs).toFixed(1)} | ${(generated / wall).toFixed(1)} |`);
}
if (prefix > 0) {
  // About `prefix` tokens of system prompt (roughly one token per short word).
  const words = [];
  for (let i = 0; words.length < prefix; i++) words.push('the', 'rule', 'is', 'kept');
  const system = words.slice(0, prefix).join(' ');
  const first = await one(1000, system);
  const second = await one(1001, system);
  console.log(`\nshared system prompt: ${first.timings.prompt_n} prompt tokens; first request TTFT ` +
              `${first.ttft.toFixed(1)} ms, second (reusing ${second.timings.cache_n ?? '?'} cached tokens) ` +
              `${second.ttft.toFixed(1)} ms: ${(first.ttft / second.ttft).toFixed(1)}x shorter`);
}
await server.stop();
