// Prints how `hangar serve` copes with many models in its models dir: first start, restart,
// registering new files on refresh, and listing them.
// Usage: HANGAR_BIN=build/hangar HANGAR_SHARED_DIR=../shared node tests/e2e/bench_many.mjs
//        [--n 1000] [--model qwen2-d256-q4_k_m] [--lists 20]
// The N models are hard links of one shared model (a 151,936-token vocabulary: a realistic
// header to read), named m0000.gguf ...; every figure is measured from this client.
import fs from 'node:fs';
import path from 'node:path';

import { makeModelsDir, startServer } from './server.mjs';

const arg = (name, def) => {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 ? process.argv[i + 1] : def;
};
const n = Number(arg('n', '1000'));
const model = arg('model', 'qwen2-d256-q4_k_m');
const lists = Number(arg('lists', '20'));

const dirs = makeModelsDir([]);
const source = path.join(process.env.HANGAR_SHARED_DIR, 'models', model + '.gguf');
const name = (i) => 'm' + String(i).padStart(5, '0') + '.gguf';
// Links need one file system: copy the model once into the temp dir, then link it N times.
const base = path.join(dirs.root, 'base.gguf');
fs.copyFileSync(source, base);
for (let i = 0; i < n; i++) fs.linkSync(base, path.join(dirs.models, name(i)));

const args = ['--models-dir', dirs.models, '--state-dir', dirs.state, '--memory-budget', '1G'];
const ms = (t0) => (performance.now() - t0).toFixed(0);

// Time until `route` first answers 200 with `want` models.
async function until(server, route, want, t0) {
  for (;;) {
    const r = await server.request('GET', route);
    if (r.status === 200 && (want === undefined || r.body.data.length === want)) return performance.now() - t0;
    await new Promise((res) => setTimeout(res, 5));
  }
}

async function listTimes(server) {
  const times = [];
  for (let i = 0; i < lists; i++) {
    const t0 = performance.now();
    const r = await server.request('GET', '/v1/models');
    times.push(performance.now() - t0);
    if (r.body.data.length !== n) throw new Error(`listed ${r.body.data.length} models, expected ${n}`);
  }
  times.sort((a, b) => a - b);
  return `min ${times[0].toFixed(1)} ms, median ${times[times.length >> 1].toFixed(1)} ms`;
}

const rows = [];
let t0 = performance.now();
let server = await startServer(args, { timeoutMs: 300000 });
rows.push(['first start: listening', ms(t0) + ' ms']);
rows.push(['first start: GET /v1/models lists all', (await until(server, '/v1/models', n, t0)).toFixed(0) + ' ms']);
rows.push([`GET /v1/models (${n} models, ${lists} calls)`, await listTimes(server)]);
await server.stop();

t0 = performance.now();
server = await startServer(args, { timeoutMs: 300000 });
rows.push(['restart: listening', ms(t0) + ' ms']);
rows.push(['restart: GET /health answers', (await until(server, '/health', undefined, t0)).toFixed(0) + ' ms']);
rows.push(['restart: GET /v1/models lists all', (await until(server, '/v1/models', n, t0)).toFixed(0) + ' ms']);
rows.push([`restart: GET /v1/models (${lists} calls)`, await listTimes(server)]);

// N more files appear while it runs: one refresh registers them.
for (let i = n; i < 2 * n; i++) fs.linkSync(base, path.join(dirs.models, name(i)));
t0 = performance.now();
const r = await server.request('POST', '/v1/models/refresh');
rows.push([`POST /v1/models/refresh registering ${n} new files`, ms(t0) + ` ms (${r.body.added?.length ?? '?'} added)`]);
await server.stop();

console.log(`hangar serve with ${n} models (hard links of ${model}.gguf)\n`);
console.log('| measurement | figure |\n|---|---|');
for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
fs.rmSync(dirs.root, { recursive: true, force: true });
