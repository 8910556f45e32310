// Prints what hostile requests cost `hangar serve` (issue 12): the answer, the server's peak
// resident memory above its level before the attack, and the time to the answer, each attack on
// a fresh server (memory freed by one attack would hide the next one's). A program,
// not a test: run it against any build to compare, e.g.
//   HANGAR_BIN=build/hangar HANGAR_SHARED_DIR=../shared node tests/e2e/attack_memory.mjs
// Old builds without the newer flags are driven with the flags they know.
import zlib from 'node:zlib';

import { exchange, flood, memKiB, MiB, openConn, resetPeak, write } from './raw_http.mjs';
import { makeModelsDir, startServer } from './server.mjs';

const KEY = 'attack-secret';
const dirs = makeModelsDir([]);
let server = null;

async function measure(name, attack) {
  server = await startServer(['--models-dir', dirs.models, '--state-dir', dirs.state, '--api-key', KEY,
    '--http-threads', '4']);  // --max-body-size stays at its default, 8 MiB
  const before = resetPeak(server.pid);
  const t0 = performance.now();
  const r = await attack();
  const ms = performance.now() - t0;
  const grew = (memKiB(server.pid).peak - before) / 1024;
  console.log(`${name.padEnd(52)} ${String(r.status).padStart(4)}  peak +${grew.toFixed(1).padStart(7)} MiB  ${ms.toFixed(0).padStart(6)} ms`);
  await server.stop();
}

console.log(`${'attack'.padEnd(52)} answer  memory held           time`);
const chunk = Buffer.concat([Buffer.from(MiB.toString(16) + '\r\n'), Buffer.alloc(MiB, 'a'), Buffer.from('\r\n')]);
await measure('chunked body of 400 MiB (limit 8 MiB), with the key', () =>
  flood(server.port, `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\n` +
    'Transfer-Encoding: chunked\r\n\r\n', 400 * MiB, () => chunk, '0\r\n\r\n'));
await measure('header line of 200 MiB, without the key', () =>
  flood(server.port, 'GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Pad: ', 200 * MiB, () => Buffer.alloc(MiB, 'a'), '\r\n\r\n'));
await measure('request line of 200 MiB', () =>
  flood(server.port, 'GET /', 200 * MiB, () => Buffer.alloc(MiB, 'a'), ' HTTP/1.1\r\n\r\n'));
await measure('100,000 header fields', () =>
  exchange(server.port, (sock) => write(sock, 'GET /health HTTP/1.1\r\n' + 'X-A: 1\r\n'.repeat(100000) + '\r\n')));
const bomb = zlib.gzipSync(Buffer.alloc(512 * MiB, ' '));
await measure(`gzip body of ${(bomb.length / MiB).toFixed(1)} MiB inflating to 512 MiB`, () =>
  exchange(server.port, async (sock) => {
    await write(sock, `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\n` +
      `Content-Encoding: gzip\r\nContent-Length: ${bomb.length}\r\n\r\n`);
    await write(sock, bomb);
  }));
await measure('GET /health behind 64 idle connections', async () => {
  const idle = await Promise.all(Array.from({ length: 64 }, () => openConn(server.port)));
  const r = await exchange(server.port, (sock) => write(sock, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n'));
  for (const c of idle) c.sock.destroy();
  return r;
});
