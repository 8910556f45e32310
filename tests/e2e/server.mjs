// Starts and stops `hangar serve` as a child process for the end-to-end tests.
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
