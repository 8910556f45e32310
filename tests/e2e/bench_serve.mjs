// Prints time to first token and tokens/s through `hangar serve` for 1 and N concurrent streams.
// Usage: HANGAR_BIN=build/hangar HANGAR_SHARED_DIR=../shared node tests/e2e/bench_serve.mjs
//        [--model qwen2-d256-q4_k_m] [--streams 1,8] [--tokens 128] [--parallel 8] [--threads 2]
import OpenAI from 'openai';

import { makeModelsDir, startServer } from './server.mjs';

const arg = (name, def) => {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 ? process.argv[i + 1] : def;
};
const model = arg('model', 'qwen2-d256-q4_k_m');
const streams = arg('streams', '1,8').split(',').map(Number);
const tokens = Number(arg('tokens', '128'));
const parallel = arg('parallel', '8');
const threads = arg('threads', '2');

const dirs = makeModelsDir([model + '.gguf']);
const server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, '--ctx', '1024',
  '--parallel', parallel, '--threads', threads, '--keep-alive', '-1']);
const openai = new OpenAI({ baseURL: server.url + '/v1', apiKey: 'unused', maxRetries: 0 });

// One streamed chat request; returns client-side time to first token and the server's timings.
async function one(i) {
  const t0 = performance.now();
  const stream = await openai.chat.completions.create({
    model, messages: [{ role: 'user', content: `Tell me story number ${i}.` }], max_tokens: tokens,
    ignore_eos: true, stream: true, stream_options: { include_usage: true },
  });
  let ttft = -1, n = 0, timings = null;
  for await (const chunk of stream) {
    if (chunk.timings && chunk.usage) timings = chunk.timings;
    for (const ch of chunk.choices) {
      if (ch.delta.content) {
        if (ttft < 0) ttft = performance.now() - t0;
        n++;
      }
    }
  }
  return { ttft, ms: performance.now() - t0, chunks: n, timings };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
await one(-1);  // load the model and warm up
console.log(`model ${model}, ${tokens} tokens per stream, --parallel ${parallel}, --threads ${threads}`);
console.log('| streams | TTFT median ms | TTFT max ms | per-stream decode t/s (server) | total t/s (client wall) |');
console.log('|---|---|---|---|---|');
for (const n of streams) {
  const t0 = performance.now();
  const rs = await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
  const wall = (performance.now() - t0) / 1e3;
  const generated = rs.reduce((a, r) => a + r.timings.predicted_n, 0);
  const decode = median(rs.map((r) => r.timings.predicted_per_second));
  console.log(`| ${n} | ${median(rs.map((r) => r.ttft)).toFixed(1)} | ${Math.max(...rs.map((r) => r.ttft)).toFixed(1)} | ` +
              `${decode.toFixed(1)} | ${(generated / wall).toFixed(1)} |`);
}
await server.stop();
