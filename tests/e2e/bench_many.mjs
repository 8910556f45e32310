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
async function until(server, route, want, t0, test = () => true) {
  for (;;) {
    const r = await server.request('GET', route);
    if (r.status === 200 && (want === undefined || r.body.data.length === want) && test(r.body)) return performance.now() - t0;
    await new Promise((res) => setTimeout(res, 5));
  }
}

// CPU milliseconds the server process has used so far (utime + stime, 10 ms ticks).
function serverCpuMs(server) {
  const stat = fs.readFileSync(`/proc/${server.pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

// Wall time of each call as this client sees it (the body read, not parsed), the parse apart,
// and the server's CPU time per call averaged over all of them.
async function listTimes(server, want = n) {
  const times = [], parses = [];
  const c0 = serverCpuMs(server);
  for (let i = 0; i < lists; i++) {
    const t0 = performance.now();
    const res = await fetch(server.url + '/v1/models');
    const text = await res.text();
    times.push(performance.now() - t0);
    const t1 = performance.now();
    const body = JSON.parse(text);
    parses.push(performance.now() - t1);
    if (body.data.length !== want) throw new Error(`listed ${body.data.length} models, expected ${want}`);
  }
  const cpu = (serverCpuMs(server) - c0) / lists;
  times.sort((a, b) => a - b);
  parses.sort((a, b) => a - b);
  return `min ${times[0].toFixed(1)} ms, median ${times[times.length >> 1].toFixed(1)} ms; ` +
    `server CPU ${cpu.toFixed(1)} ms a call; client JSON.parse median ${parses[parses.length >> 1].toFixed(1)} ms`;
}

const rows = [];
let t0 = performance.now();
let server = await startServer(args, { timeoutMs: 300000 });
rows.push(['first start: listening', ms(t0) + ' ms']);
rows.push(['first start: GET /v1/models lists all', (await until(server, '/v1/models', n, t0)).toFixed(0) + ' ms']);
rows.push([`GET /v1/models (${n} models, ${lists} calls, while the files are hashed)`, await listTimes(server)]);
// Hashing changes every record once (its sha256): the list renders each again. Steady state after.
const hashed = (b) => b.hashing?.hashed >= n && b.hashing?.pending === 0;
rows.push(['first start: every file hashed', (await until(server, '/v1/models/stats', undefined, t0, hashed)).toFixed(0) + ' ms']);
rows.push([`GET /v1/models (${n} models, ${lists} calls, nothing changing)`, await listTimes(server)]);
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
let c0 = serverCpuMs(server);
const r = await server.request('POST', '/v1/models/refresh');
rows.push([`POST /v1/models/refresh registering ${n} new files`,
  ms(t0) + ` ms (${r.body.added?.length ?? '?'} added; server CPU ${serverCpuMs(server) - c0} ms)`]);
t0 = performance.now();
await until(server, '/v1/models/stats', undefined, t0, (b) => b.background?.headers_pending === 0);
rows.push([`their headers read in the background`, ms(t0) + ' ms after the refresh answered']);
rows.push([`GET /v1/models (${2 * n} models, ${n} new ones being hashed)`, await listTimes(server, 2 * n)]);
await server.stop();

console.log(`hangar serve with ${n} models (hard links of ${model}.gguf)\n`);
console.log('| measurement | figure |\n|---|---|');
for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
fs.rmSync(dirs.root, { recursive: true, force: true });
