// Raw HTTP/1.1 over a socket, for clients that no HTTP library would be: oversized, malformed,
// slow or idle. Also the server's memory from /proc, for tests that bound it.
import fs from 'node:fs';
import net from 'node:net';

export const MiB = 1 << 20;

// The server's resident memory and its peak since the last reset (KiB). Writing 5 to
// clear_refs resets the peak to the current figure, so a test sees only its own peak.
export function memKiB(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rss: Number(s.match(/VmRSS:\s+(\d+)/)[1]), peak: Number(s.match(/VmHWM:\s+(\d+)/)[1]) };
}
export function resetPeak(pid) {
  fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
  return memKiB(pid).rss;
}

// Parses the first final response in `buf` (1xx interim responses skipped); null if incomplete.
export function parseResponse(buf) {
  let text = buf.toString('latin1');
  for (;;) {
    const end = text.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const head = text.slice(0, end);
    const status = Number(head.match(/^HTTP\/1\.[01] (\d{3})/)?.[1]);
    if (status >= 100 && status < 200) {
      text = text.slice(end + 4);
      continue;
    }
    const headers = {};
    for (const line of head.split('\r\n').slice(1)) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
    }
    const length = Number(headers['content-length'] ?? -1);
    const rest = text.slice(end + 4);
    if (length < 0 || rest.length < length) return null;
    let body = rest.slice(0, length);
    try {
      body = JSON.parse(body);
    } catch {}
    return { status, headers, body };
  }
}

// Writes `buf`, waiting for the socket to drain; false once the connection is gone.
export function write(sock, buf) {
  if (sock.destroyed || !sock.writable) return Promise.resolve(false);
  if (sock.write(buf)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = () => {
      sock.off('drain', done);
      sock.off('close', done);
      resolve(!sock.destroyed);
    };
    sock.on('drain', done);
    sock.on('close', done);
  });
}

// Opens a connection, runs `send(sock, answered)` to write a request (it should stop once
// answered() is true) and resolves with the server's response, or { status: 0 } if the server
// closed without one. `sent` counts the bytes written.
export function exchange(port, send) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let result = null;
    const finish = () => {
      if (!result) result = parseResponse(data) ?? { status: 0, raw: data.toString('latin1') };
      sock.destroy();
      resolve(result);
    };
    sock.on('data', (d) => {
      data = Buffer.concat([data, d]);
      result = parseResponse(data);
      if (result) finish();
    });
    sock.on('error', () => {});  // a reset after the answer: 'close' follows
    sock.on('close', finish);
    sock.on('connect', () => {
      send(sock, () => result !== null).catch(() => {});
    });
  });
}

// Sends `head`, then `filler` bytes in 1 MiB writes (each produced by `piece`) until the server
// answers or `total` is sent, then `tail`.
export function flood(port, head, total, piece, tail = '') {
  return exchange(port, async (sock, answered) => {
    if (!(await write(sock, head))) return;
    for (let sent = 0; sent < total && !answered(); sent += MiB) {
      if (!(await write(sock, piece()))) return;
      // A write the kernel takes at once resolves without a turn of the event loop: yield one,
      // or the server's answer would not be read until the whole flood is sent.
      await new Promise(setImmediate);
    }
    if (!answered()) await write(sock, tail);
  });
}

// A connection that sends `text` and stays open; `closed` tells whether the server closed it.
export function openConn(port, text = '') {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1', () => {
      if (text) sock.write(text);
      resolve(conn);
    });
    const conn = { sock, closed: false, data: '' };
    sock.on('data', (d) => (conn.data += d.toString('latin1')));
    sock.on('error', () => {});
    sock.on('close', () => (conn.closed = true));
  });
}

