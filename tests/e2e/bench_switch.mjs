// Prints the time to first token when `hangar serve` must switch models: two models, room for
// one (--max-loaded 1), requests alternating between them, beside the same model asked again.
// Usage: HANGAR_BIN=build/hangar HANGAR_SHARED_DIR=../shared node tests/e2e/bench_switch.mjs
//        --files A.gguf,B.gguf [--rounds 5] [--threads 2] [--serve-args "--weights copy"]
// Each request is a streamed completion of a short prompt ("Hello", a few tokens) for one
// token; the time is from sending it to the first streamed chunk. The files are linked, not
// copied, and read once before the first request, so they are in the page cache as in steady use.
// Beside wall time it prints the server's CPU time per request (utime + stime of the process
// from /proc, 10 ms ticks, averaged over the rounds): what a loaded machine does not inflate.
import fs from 'node:fs';
import path from 'node:path';

import { makeModelsDir, startServer } from './server.mjs';

const arg = (name, def) => {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 ? process.argv[i + 1] : def;
};
const files = arg('files', '').split(',').filter(Boolean);
if (files.length !== 2) throw new Error('--files A.gguf,B.gguf: two model files');
const rounds = Number(arg('rounds', '5'));
const serveArgs = arg('serve-args', '').split(' ').filter(Boolean);

const dirs = makeModelsDir([]);
const ids = files.map((f) => {
  const id = path.basename(f, '.gguf');
  fs.symlinkSync(path.resolve(f), path.join(dirs.models, id + '.gguf'));
  return id;
});
const server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, '--max-loaded', '1',
  '--threads', arg('threads', '2'), '--keep-alive', '-1', '--parallel', '1', '--ctx', '1024', ...serveArgs],
  { timeoutMs: 120000 });

async function firstToken(model) {
  const t0 = performance.now();
  const res = await fetch(server.url + '/v1/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, prompt: 'Hello', max_tokens: 1, stream: true, temperature: 0 }),
  });
  if (res.status !== 200) throw new Error(`${model}: HTTP ${res.status} ${await res.text()}`);
  const reader = res.body.getReader();
  let ttft = -1, text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
    if (ttft < 0 && text.includes('"choices"')) ttft = performance.now() - t0;
  }
  return ttft;
}

// CPU milliseconds the server process has used so far (all threads, live and exited).
function serverCpuMs() {
  const stat = fs.readFileSync(`/proc/${server.pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;  // utime, stime in ticks of 10 ms
}

async function loadMs(model) {
  const r = await server.request('GET', '/v1/models/stats');
  const m = (r.body.models ?? []).find((x) => x.id === model);
  return m ? m.last_load_ms : -1;
}

// Warm-up: each model once (builds any load-time caches, reads the files into the page cache).
for (const id of ids) await firstToken(id);
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const res = Object.fromEntries(ids.map((id) => [id, { switched: [], same: [], load: [], cpuSwitched: 0, cpuSame: 0 }]));
for (let r = 0; r < rounds; r++) {
  for (const id of ids) {
    let c0 = serverCpuMs();
    res[id].switched.push(await firstToken(id));
    res[id].cpuSwitched += serverCpuMs() - c0;
    res[id].load.push(await loadMs(id));
    c0 = serverCpuMs();
    res[id].same.push(await firstToken(id));
    res[id].cpuSame += serverCpuMs() - c0;
  }
}
await server.stop();
const f = (xs) => `${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)})`;
console.log(`switching between ${ids.join(' and ')}, ${rounds} rounds, serve ${serveArgs.join(' ') || '(defaults)'}\n`);
console.log('| model | TTFT after a switch, ms: median (range) | server CPU per switch, ms | server load, ms | TTFT same model again, ms | server CPU, same again, ms |');
console.log('|---|---:|---:|---:|---:|---:|');
const cpu = (total) => (total / rounds).toFixed(0);
for (const id of ids) {
  const r = res[id];
  console.log(`| ${id} | ${f(r.switched)} | ${cpu(r.cpuSwitched)} | ${f(r.load)} | ${f(r.same)} | ${cpu(r.cpuSame)} |`);
}
fs.rmSync(dirs.root, { recursive: true, force: true });
