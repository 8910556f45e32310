// Starts and stops `hangar serve` as a child process for the end-to-end tests, and the helpers
// they share (the event stream, /metrics samples, a seeded generator).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const hangarBin = process.env.HANGAR_BIN;
export const sharedDir = process.env.HANGAR_SHARED_DIR;

if (!hangarBin || !sharedDir) {
  throw new Error('set HANGAR_BIN (the built hangar binary) and HANGAR_SHARED_DIR (../shared)');
}

// A temp dir with copies (writable, so a test can corrupt one) of the named shared models.
export function makeModelsDir(files) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hangar-e2e-'));
  const models = path.join(root, 'models');
  fs.mkdirSync(models);
  for (const f of files) {
    const dst = path.join(models, f);
    fs.copyFileSync(path.join(sharedDir, 'models', f), dst);
    fs.chmodSync(dst, 0o644);
  }
  return { root, models, state: path.join(root, 'state') };
}

// Runs `hangar serve --port 0 ...` and resolves once it logs the port it listens on.
// `port` (default 0: any free one) lets a restarted server come back where it was.
export async function startServer(args, { timeoutMs = 30000, env = undefined, port: wanted = 0 } = {}) {
  const child = spawn(hangarBin, ['serve', '--host', '127.0.0.1', '--port', String(wanted), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: env ? { ...process.env, ...env } : process.env,
  });
  let log = '';
  // 'close', not 'exit': it comes after the child's stdout and stderr are drained into `log`.
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('hangar serve did not start:\n' + log)), timeoutMs);
    const onData = (d) => {
      log += d.toString();
      const m = log.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stderr.on('data', onData);
    child.stdout.on('data', onData);
    exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`hangar serve exited with ${code} before listening:\n${log}`));
    });
  });
  const server = {
    pid: child.pid,
    port,
    exited,
    url: `http://127.0.0.1:${port}`,
    log: () => log,
    // SIGTERM, then the exit status (a clean stop is code 0).
    async stop({ timeoutMs = 20000 } = {}) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
    // fetch against the server; JSON bodies are serialised; returns { status, body }.
    async request(method, route, body, headers = {}) {
      const res = await fetch(server.url + route, {
        method,
        headers: { 'content-type': 'application/json', ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed = text;
      try {
        parsed = JSON.parse(text);
      } catch {}
      return { status: res.status, body: parsed, headers: res.headers };
    },
    // The bodies of GET /v1/models/stats and GET /v1/models/{id}, which must answer 200.
    async stats(headers = {}) {
      const r = await server.request('GET', '/v1/models/stats', undefined, headers);
      if (r.status !== 200) throw new Error('GET /v1/models/stats: ' + r.status + ' ' + JSON.stringify(r.body));
      return r.body;
    },
    async model(id, headers = {}) {
      const r = await server.request('GET', '/v1/models/' + id, undefined, headers);
      if (r.status !== 200) throw new Error(`GET /v1/models/${id}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
  };
  return server;
}

// Polls `fn` until it returns a truthy value (returned), or throws after timeoutMs.
export async function waitFor(what, fn, { timeoutMs = 20000, intervalMs = 50 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// Subscribes to GET /v1/models/events and resolves once the stream is open: the server
// subscribes before it sends the headers, so no event published after this resolves is missed.
// `events` collects each `data:` event's JSON in order; stop() ends the stream.
export async function subscribeEvents(server) {
  const controller = new AbortController();
  const res = await fetch(server.url + '/v1/models/events', { signal: controller.signal });
  if (res.status !== 200 || !/text\/event-stream/.test(res.headers.get('content-type'))) {
    throw new Error(`GET /v1/models/events: ${res.status} ${res.headers.get('content-type')}`);
  }
  const events = [];
  const done = (async () => {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body) {
        buf += decoder.decode(chunk, { stream: true });
        for (let cut; (cut = buf.indexOf('\n\n')) >= 0; buf = buf.slice(cut + 2)) {
          for (const line of buf.slice(0, cut).split('\n'))
            if (line.startsWith('data: ')) events.push(JSON.parse(line.slice(6)));
        }
      }
    } catch (e) {
      if (e.name !== 'AbortError') throw e;
    }
  })();
  return {
    events,
    async stop() {
      controller.abort();
      await done.catch(() => {});
    },
  };
}

// The value of the Prometheus sample `name` in /metrics text: the one with exactly `labels`
// (e.g. 'model="x"') when given, else the first of that name; undefined when there is none.
export function metricValue(text, name, labels) {
  const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const set = labels === undefined ? '(?:\\{[^}]*\\})?' : `\\{${escape(labels)}\\}`;
  const m = text.match(new RegExp(`^${escape(name)}${set} (\\S+)$`, 'm'));
  return m ? Number(m[1]) : undefined;
}

// mulberry32: a small seeded generator in [0, 1), so that a test's random stream is the same on
// every run.
export function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
