// deploy/haproxy.cfg run for real (Debian's haproxy) on loopback in front of three `hangar serve`
// replicas sharing the read-only shared models dir, each with its own state dir. A seeded stream
// of requests over several models: each model is served by exactly one replica; one replica is
// killed mid-run (a generation streaming from it fails cleanly, every other request succeeds,
// its models move to the others), then it restarts on its port, rejoins, and gets its models back.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { rng, sharedDir, startServer, waitFor } from './server.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MODELS = ['qwen2-d256-q4_k_m', 'llama-spm-d256-q4_0', 'llama-spm-d256-q4_k_m', 'llama3-d256-q4_k_m',
  'qwen3-d256-q4_k_m'];
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hangar-haproxy-'));
const replicaArgs = (i) => ['--models-dir', path.join(sharedDir, 'models'), '--state-dir', path.join(root, `state${i}`),
  '--ctx', '1024', '--threads', '1', '--parallel', '2', '--keep-alive', '-1'];

// A port nothing listens on now (the replica that restarts must get the same one back).
async function freePort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

// The shipped config with loopback addresses: only the bind line, the three server addresses
// and the privileged global lines (chroot, user, group, syslog, the admin socket's path) change.
function generateConfig(shipped, lbPort, replicaPorts, socket) {
  let n = 0;
  let cfg = shipped
    .replace(/^(\s*)bind \S+$/m, `$1bind 127.0.0.1:${lbPort}`)
    .replace(/^(\s*server hangar(\d) )\S+( .*)$/gm, (_, head, i, tail) => {
      n += 1;
      return `${head}127.0.0.1:${replicaPorts[Number(i) - 1]}${tail}`;
    })
    .replace(/^\s*(chroot|user|group|log \/dev\/log)\b.*$/gm, '')
    .replace(/^(\s*stats socket )\S+/m, `$1${socket}`);
  assert.equal(n, 3, 'deploy/haproxy.cfg names three servers hangar1..3');
  assert.match(cfg, new RegExp(`bind 127\\.0\\.0\\.1:${lbPort}`));
  return cfg;
}

// One command on HAProxy's admin socket.
function admin(socket, command) {
  return new Promise((resolve, reject) => {
    let out = '';
    const c = net.createConnection(socket, () => c.end(command + '\n'));
    c.on('data', (d) => (out += d));
    c.on('end', () => resolve(out));
    c.on('error', reject);
  });
}

// Server name -> operational state as HAProxy sees it ('UP', 'DOWN', ...).
async function serverStates(socket) {
  const csv = await admin(socket, 'show stat');
  const states = {};
  for (const line of csv.split('\n')) {
    const f = line.split(',');
    if (f[0] === 'hangar_replicas' && f[1].startsWith('hangar')) states[f[1]] = f[17];
  }
  return states;
}

let lbPort, socket, haproxy, lbUrl;
let haproxyLog = '';
const replicaPorts = [];
const replicas = [];

before(async () => {
  for (let i = 0; i < 3; i++) replicaPorts.push(await freePort());
  for (let i = 0; i < 3; i++) replicas.push(await startServer(replicaArgs(i + 1), { port: replicaPorts[i] }));
  lbPort = await freePort();
  socket = path.join(root, 'admin.sock');
  const cfgPath = path.join(root, 'haproxy.cfg');
  fs.writeFileSync(cfgPath, generateConfig(fs.readFileSync(path.join(repoRoot, 'deploy/haproxy.cfg'), 'utf8'),
    lbPort, replicaPorts, socket));
  const check = spawnSync('haproxy', ['-c', '-f', cfgPath], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stdout + check.stderr);
  haproxy = spawn('haproxy', ['-db', '-f', cfgPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  haproxy.stderr.on('data', (d) => (haproxyLog += d));  // read, so that a full pipe never blocks it
  lbUrl = `http://127.0.0.1:${lbPort}`;
  await waitFor('haproxy to see three replicas up', async () => {
    try {
      const s = await serverStates(socket);
      return ['hangar1', 'hangar2', 'hangar3'].every((n) => s[n] === 'UP');
    } catch {
      return false;
    }
  });
});

after(async () => {
  if (haproxyLog) console.log('haproxy said:\n' + haproxyLog);
  if (haproxy) haproxy.kill('SIGTERM');
  for (const r of replicas) if (r) await r.stop().catch(() => {});
  fs.rmSync(root, { recursive: true, force: true });
});

// POST /v1/completions through HAProxy; resolves to { ok, status, error }.
async function complete(model, i) {
  try {
    const res = await fetch(lbUrl + '/v1/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, prompt: `request ${i}: once upon a time`, max_tokens: 4, temperature: 0 }),
    });
    const body = await res.json().catch(() => null);
    return { ok: res.status === 200 && body?.choices?.length === 1, status: res.status, model };
  } catch (e) {
    return { ok: false, status: 0, error: String(e), model };
  }
}

// Runs `n` requests from the seeded stream, `concurrency` at a time; returns their results.
async function runStream(next, n, concurrency, log) {
  const results = [];
  let i = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (i < n) {
      const k = i++;
      const model = next();
      const started = Date.now();
      const r = await complete(model, k);
      results.push({ ...r, started, ended: Date.now() });
      if (log) log(r);
    }
  }));
  return results;
}

// replica index -> model -> access_count (each request that reached it counts one).
async function accessCounts(indices) {
  const out = {};
  for (const i of indices) {
    out[i] = {};
    for (const m of MODELS) {
      const r = await replicas[i].request('GET', '/v1/models/' + m);
      assert.equal(r.status, 200);
      out[i][m] = r.body.registry.access_count;
    }
  }
  return out;
}

// model -> the one replica whose count grew between `a` and `b` (asserting there is one), and
// the requests it got.
function owners(a, b, indices) {
  const own = {};
  for (const m of MODELS) {
    const grew = indices.filter((i) => b[i][m] > a[i][m]);
    assert.ok(grew.length <= 1, `model ${m} was served by replicas ${grew.map((i) => i + 1)}`);
    if (grew.length === 1) own[m] = { replica: grew[0], requests: b[grew[0]][m] - a[grew[0]][m] };
  }
  return own;
}

test('each model on one replica; a replica killed mid-run loses only its in-flight work and rejoins', async () => {
  const all = [0, 1, 2];
  const random = rng(16);
  const next = () => MODELS[Math.floor(random() * MODELS.length)];
  const summary = { phases: [] };

  // Phase 1: every model is served by exactly one replica.
  const c0 = await accessCounts(all);
  const p1 = await runStream(next, 40, 4);
  assert.deepEqual(p1.filter((r) => !r.ok), []);
  const c1 = await accessCounts(all);
  const own1 = owners(c0, c1, all);
  for (const m of MODELS) {
    const sent = p1.filter((r) => r.model === m).length;
    if (sent > 0) assert.equal(own1[m]?.requests, sent, `every request for ${m} reached its one replica`);
  }
  summary.phases.push({ requests: p1.length, failures: 0, owners: Object.fromEntries(Object.entries(own1).map(([m, o]) => [m, o.replica + 1])) });

  // The victim: the replica that owns the most models.
  const byReplica = all.map((i) => MODELS.filter((m) => own1[m]?.replica === i));
  const victim = byReplica.reduce((best, ms, i) => (ms.length > byReplica[best].length ? i : best), 0);
  const victimModel = byReplica[victim][0];
  assert.ok(victimModel, 'the victim owns a model');

  // Phase 2: the stream keeps going while a long generation streams from the victim, which is
  // killed as soon as its first tokens arrive.
  const stream2 = runStream(next, 60, 4);
  const long = await fetch(lbUrl + '/v1/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: victimModel, prompt: 'Tell me everything', max_tokens: 900, stream: true,
      ignore_eos: true, temperature: 0 }),
  });
  assert.equal(long.status, 200);
  const reader = long.body.getReader();
  const first = await reader.read();
  assert.ok(!first.done && first.value.length > 0);
  const killedAt = Date.now();
  process.kill(replicas[victim].pid, 'SIGKILL');
  const exit = await replicas[victim].exited;
  assert.equal(exit.signal, 'SIGKILL');
  replicas[victim] = null;
  // The stream from the dead replica ends early and cleanly: an error or an end without the
  // final [DONE], never a hang (the test's timeout) and never a complete answer.
  let text = new TextDecoder().decode(first.value);
  let longError = null;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
  } catch (e) {
    longError = String(e);
  }
  assert.ok(!text.includes('[DONE]'), 'the killed generation did not complete');
  await waitFor('haproxy to mark the victim down', async () => (await serverStates(socket))[`hangar${victim + 1}`] === 'DOWN');
  const p2 = await stream2;
  // Only requests that were running on the victim when it died may fail.
  const failed2 = p2.filter((r) => !r.ok);
  for (const r of failed2) {
    assert.ok(byReplica[victim].includes(r.model) && r.started <= killedAt && r.ended >= killedAt,
      `a request lost that was not in flight on the killed replica: ${JSON.stringify(r)}`);
  }
  // After the kill, the victim's models are served by the others, each by one.
  const alive = all.filter((i) => i !== victim);
  const c2a = await accessCounts(alive);
  const p2b = await runStream(next, 30, 4);
  assert.deepEqual(p2b.filter((r) => !r.ok), []);
  const c2b = await accessCounts(alive);
  const own2 = owners(c2a, c2b, alive);
  for (const m of MODELS) {
    // Consistent hashing: the models of replicas that stayed do not move.
    if (own1[m] && own1[m].replica !== victim && own2[m]) assert.equal(own2[m].replica, own1[m].replica, m);
  }
  summary.phases.push({ requests: p2.length + p2b.length + 1, failures: failed2.length + 1, killed: victim + 1,
    long_stream: longError ?? 'ended without [DONE]' });

  // Phase 3: the victim restarts on its port with its state dir and gets its models back.
  replicas[victim] = await startServer(replicaArgs(victim + 1), { port: replicaPorts[victim] });
  await waitFor('haproxy to mark the victim up again', async () => (await serverStates(socket))[`hangar${victim + 1}`] === 'UP',
    { timeoutMs: 30000 });
  const c3a = await accessCounts(all);
  const p3 = await runStream(next, 40, 4);
  assert.deepEqual(p3.filter((r) => !r.ok), []);
  const c3b = await accessCounts(all);
  const own3 = owners(c3a, c3b, all);
  for (const m of MODELS) if (own1[m] && own3[m]) assert.equal(own3[m].replica, own1[m].replica, `${m} is back on its replica`);
  assert.ok(byReplica[victim].some((m) => own3[m]?.replica === victim), 'the rejoined replica serves again');
  summary.phases.push({ requests: p3.length, failures: 0, rejoined: victim + 1 });
  console.log('haproxy e2e: ' + JSON.stringify(summary));
});
