// hangar's dashboard: polls /v1/models, /v1/models/stats and /metrics, follows /v1/models/events,
// and drives the management routes and a streaming chat; plain DOM, no dependencies.
'use strict';

const $ = (id) => document.getElementById(id);
const kModelsPollMs = 1000;
const kMetricsPollMs = 2000;
const kHistoryMs = 5 * 60 * 1000;  // the charts show the last five minutes
const kMaxEvents = 200;

// ---- API access: every call carries the key the user typed (kept in this browser only).
const keyInput = $('api-key');
keyInput.value = localStorage.getItem('hangar-api-key') || '';
keyInput.addEventListener('change', () => {
  localStorage.setItem('hangar-api-key', keyInput.value.trim());
  events.restart();
  pollModels();
});

function authHeaders(extra = {}) {
  const key = keyInput.value.trim();
  return key ? { ...extra, Authorization: 'Bearer ' + key } : extra;
}

async function api(method, path, body) {
  const init = { method, headers: authHeaders(body === undefined ? {} : { 'content-type': 'application/json' }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch(path, init);
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* /metrics is text */ }
  if (!res.ok) throw new Error((json && json.error && json.error.message) || `${method} ${path}: HTTP ${res.status}`);
  return json === null ? text : json;
}

function setConn(ok, text) {
  const el = $('conn');
  el.textContent = text;
  el.className = ok ? 'good' : 'bad';
}

// ---- Formatting.
// Reads a server-sent event stream to its end, calling onData with each "data: " line's text
// (the event stream and chat both read one; an exception from onData ends the read).
async function readSse(res, onData) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      for (const line of block.split('\n')) if (line.startsWith('data: ')) onData(line.slice(6));
    }
  }
}

function fmtBytes(n) {
  if (!n) return '0';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + units[i];
}
function fmtDuration(ms) {
  if (ms <= 0) return '0s';
  const s = Math.ceil(ms / 1000);
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
  return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
}
function colorFor(id) {
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return `hsl(${h % 360}, 55%, 55%)`;
}

// ---- Models table: one row per model, kept and updated in place so clicks are never lost.
const models = new Map();     // id -> model object from /v1/models
const loading = new Map();    // id -> { progress, stage } from the event stream
const rows = new Map();       // id -> { tr, cells }
const cacheStatus = new Map();  // id -> the cache's status (hits, misses since start) from stats
let modelsFetchedAt = 0;
const kColumns = ['id', 'state', 'memory', 'pin', 'keepalive', 'hits', 'misses', 'inflight', 'actions'];

function makeRow(id) {
  const tr = document.createElement('tr');
  tr.dataset.id = id;
  const cells = {};
  for (const col of kColumns) {
    const td = document.createElement('td');
    td.className = 'col-' + col + (['memory', 'hits', 'misses', 'inflight'].includes(col) ? ' num' : '');
    tr.appendChild(td);
    cells[col] = td;
  }
  cells.id.textContent = id;
  for (const action of ['load', 'unload', 'pin', 'preload', 'verify']) {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.action = action;
    b.textContent = action;
    cells.actions.appendChild(b);
  }
  return { tr, cells };
}

function renderModels() {
  const tbody = $('models').tBodies[0];
  const filter = $('filter').value.trim().toLowerCase();
  const ids = [...models.keys()].sort();
  for (const [id, row] of rows) if (!models.has(id)) { row.tr.remove(); rows.delete(id); }
  const elapsed = Date.now() - modelsFetchedAt;
  let shown = 0;
  for (const id of ids) {
    const m = models.get(id);
    let row = rows.get(id);
    if (!row) { row = makeRow(id); rows.set(id, row); }
    tbody.appendChild(row.tr);  // keeps the sorted order; moving a row keeps its elements
    const visible = !filter || id.toLowerCase().includes(filter);
    row.tr.hidden = !visible;
    if (visible) shown++;
    const c = row.cells;
    const lp = loading.get(id);
    const state = m.state === 'loading' && lp ? `loading ${Math.round(lp.progress * 100)}%` : m.state;
    // The tier only where it says more than the state: on the GPU (a demoted GPU model reads "host").
    c.state.textContent = m.tier === 'gpu' ? state + ' (gpu)' : state;
    c.state.title = m.tier ? 'tier: ' + m.tier : '';
    c.state.className = 'col-state state-' + m.state;
    c.memory.textContent = m.memory_bytes ? fmtBytes(m.memory_bytes) : '~' + fmtBytes(m.estimated_bytes || 0);
    c.pin.textContent = m.pinned ? 'pinned' : '';
    c.keepalive.textContent = m.pinned && m.state === 'loaded' ? 'pinned'
      : m.expires_in_ms == null ? '' : fmtDuration(m.expires_in_ms - elapsed);
    const cs = cacheStatus.get(id);
    c.hits.textContent = cs ? cs.hits ?? '' : 0;
    c.misses.textContent = cs ? cs.misses ?? '' : 0;
    c.inflight.textContent = m.in_flight || 0;
    const pinBtn = c.actions.querySelector('[data-action="pin"]');
    pinBtn.textContent = m.pinned ? 'unpin' : 'pin';
  }
  $('model-count').textContent = `(${ids.length}${filter ? ', ' + shown + ' shown' : ''})`;
  const select = $('chat-model');
  const chosen = select.value;
  if ([...select.options].map((o) => o.value).join('\n') !== ids.join('\n')) {
    select.replaceChildren(...ids.map((id) => new Option(id, id)));
    if (ids.includes(chosen)) select.value = chosen;
  }
}

let pollSeq = 0, appliedSeq = 0;  // polls overlap (events trigger them): never apply an older one

async function pollModels() {
  const seq = ++pollSeq;
  try {
    const [list, stats] = await Promise.all([api('GET', '/v1/models'), api('GET', '/v1/models/stats')]);
    if (seq < appliedSeq) return;
    appliedSeq = seq;
    models.clear();
    for (const m of list.data) models.set(m.id, m);
    cacheStatus.clear();
    for (const s of stats.models || []) cacheStatus.set(s.id, s);
    modelsFetchedAt = Date.now();
    renderModels();
    renderBudget(stats);
    setConn(events.connected, events.connected ? 'live' : 'polling (no event stream)');
  } catch (e) {
    setConn(false, e.message);
  }
}

$('filter').addEventListener('input', renderModels);

$('models').addEventListener('click', async (ev) => {
  const b = ev.target.closest('button[data-action]');
  if (!b) return;
  const id = b.closest('tr').dataset.id;
  const m = models.get(id);
  const path = '/v1/models/' + encodeURIComponent(id);
  const calls = {
    load: ['POST', path + '/load'],
    unload: ['DELETE', path],
    pin: m && m.pinned ? ['DELETE', path + '/pin'] : ['POST', path + '/pin'],
    preload: ['POST', path + '/preload'],
    verify: ['POST', path + '/verify'],
  };
  const [method, route] = calls[b.dataset.action];
  $('action-error').textContent = '';
  b.disabled = true;
  try {
    await api(method, route);
  } catch (e) {
    $('action-error').textContent = `${b.dataset.action} ${id}: ${e.message}`;
  } finally {
    b.disabled = false;
    pollModels();
  }
});

// ---- Budget bar: each resident model's share of the memory budget.
function renderBudget(stats) {
  const budget = stats.bytes_budget || 0;
  const bar = $('budget-bar');
  const segs = (stats.models || []).filter((m) => m.bytes > 0).map((m) => {
    const s = document.createElement('span');
    s.style.width = budget ? Math.min(100, (100 * m.bytes) / budget) + '%' : '0';
    s.style.background = colorFor(m.id);
    s.title = `${m.id}: ${fmtBytes(m.bytes)} (${m.state})`;
    return s;
  });
  bar.replaceChildren(...segs);
  const gpu = stats.gpu && stats.gpu.budget_bytes ? `, GPU ${fmtBytes(stats.gpu.used_bytes)} of ${fmtBytes(stats.gpu.budget_bytes)}` : '';
  $('budget-text').textContent = `${fmtBytes(stats.bytes_used)} of ${fmtBytes(budget)}, ${stats.loaded} loaded${gpu}`;
  $('budget-text').title = (stats.budget && stats.budget.reason) || '';
  const u = stats.unloads || {};
  const q = stats.queue || {};
  $('summary').textContent = `hits ${stats.hits}, misses ${stats.misses}, hit rate ${(100 * (stats.hit_rate || 0)).toFixed(0)}%` +
    `, loads ${stats.loads} (avg ${Math.round(stats.avg_load_ms || 0)} ms), unloads: ` +
    Object.entries(u).map(([k, v]) => `${k} ${v}`).join(', ') + `; waiting ${q.waiting ?? 0}`;
}

// ---- Live events from /v1/models/events (fetch, not EventSource, so the API key can be sent).
const events = {
  connected: false,
  controller: null,
  restart() {
    if (this.controller) this.controller.abort();
    this.controller = new AbortController();
    this.run(this.controller.signal);
  },
  async run(signal) {
    while (!signal.aborted) {
      try {
        const res = await fetch('/v1/models/events', { headers: authHeaders(), signal });
        if (!res.ok) throw new Error('HTTP ' + res.status);
        this.connected = true;
        await readSse(res, (data) => onEvent(JSON.parse(data)));
      } catch (e) {
        if (signal.aborted) return;
      }
      this.connected = false;
      await new Promise((r) => setTimeout(r, 2000));
    }
  },
};

function describeEvent(ev) {
  const parts = [ev.type, ev.model || ''];
  if (ev.reason) parts.push('reason: ' + ev.reason);
  if (ev.detail) parts.push(ev.detail);
  if (ev.stage && ev.type !== 'loading') parts.push(ev.stage);
  if (ev.bytes) parts.push(fmtBytes(ev.bytes));
  if (ev.load_ms != null) parts.push(ev.load_ms + ' ms');
  if (ev.error) parts.push('error: ' + ev.error);
  if (ev.count != null) parts.push(ev.count + ' events lost');
  return parts.filter(Boolean).join(' · ');
}

function onEvent(ev) {
  if (ev.type === 'loading') {
    loading.set(ev.model, { progress: ev.progress || 0, stage: ev.stage });
    if (ev.stage !== 'start') { renderModels(); return; }  // progress updates the row, not the list
  } else if (ev.model) {
    loading.delete(ev.model);
  }
  const li = document.createElement('li');
  li.className = ev.type;
  li.dataset.type = ev.type;
  li.dataset.model = ev.model || '';
  const t = ev.time_ms ? new Date(ev.time_ms) : new Date();
  li.textContent = t.toLocaleTimeString() + ' ' + describeEvent(ev);
  const list = $('events');
  list.prepend(li);
  while (list.children.length > kMaxEvents) list.lastChild.remove();
  pollModels();  // the table follows the event at once rather than at the next poll
}

// ---- Charts from /metrics: counters become rates between two samples.
const samples = [];

function parseMetrics(text) {
  const sums = {};
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$/);
    if (!m) continue;
    const v = Number(m[3]);
    if (Number.isFinite(v)) sums[m[1]] = (sums[m[1]] || 0) + v;
  }
  return sums;
}

async function pollMetrics() {
  try {
    const s = parseMetrics(await api('GET', '/metrics'));
    s.t = Date.now();
    samples.push(s);
    while (samples.length && samples[0].t < s.t - kHistoryMs) samples.shift();
    drawCharts();
  } catch (e) {
    setConn(false, e.message);
  }
}

function series(fn) {
  const out = [];
  for (let i = 1; i < samples.length; i++) out.push({ t: samples[i].t, v: fn(samples[i - 1], samples[i]) });
  return out;
}

function drawChart(canvas, points) {
  const ctx = canvas.getContext('2d');
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const vals = points.filter((p) => p.v != null && Number.isFinite(p.v));
  const max = Math.max(0, ...vals.map((p) => p.v));
  const now = Date.now();
  ctx.strokeStyle = '#36c';
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  let first = true;
  for (const p of vals) {
    const x = w - ((now - p.t) / kHistoryMs) * w;
    const y = h - 12 - (max > 0 ? p.v / max : 0) * (h - 24);
    if (first) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    first = false;
  }
  ctx.stroke();
  ctx.fillStyle = '#555';
  ctx.font = '10px sans-serif';
  const last = vals.length ? vals[vals.length - 1].v : 0;
  canvas.dataset.points = String(vals.length);  // for tests and for anyone inspecting the page
  canvas.dataset.last = String(last);
  ctx.fillText(`max ${+max.toPrecision(3)}  now ${+last.toPrecision(3)}`, 4, 10);
}

function drawCharts() {
  const dt = (a, b) => (b.t - a.t) / 1000;
  const delta = (a, b, k) => Math.max(0, (b[k] || 0) - (a[k] || 0));
  drawChart($('chart-tps'), series((a, b) => delta(a, b, 'hangar_generated_tokens_total') / dt(a, b)));
  drawChart($('chart-queue'), series((a, b) => b.hangar_requests_waiting || 0));
  drawChart($('chart-ttft'), series((a, b) => {
    const n = delta(a, b, 'hangar_time_to_first_token_seconds_count');
    return n ? delta(a, b, 'hangar_time_to_first_token_seconds_sum') / n : null;
  }));
  drawChart($('chart-mem'), series((a, b) => (b.hangar_memory_used_bytes || 0) / (1024 * 1024)));
}

// ---- Chat playground: streams a chat completion from the chosen model into the page.
const chat = { history: [], model: '' };

$('chat-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const model = $('chat-model').value;
  const text = $('chat-input').value.trim();
  if (!model || !text) return;
  if (model !== chat.model) { chat.history = []; chat.model = model; }
  chat.history.push({ role: 'user', content: text });
  $('chat-input').value = '';
  const out = $('chat-output');
  out.dataset.done = 'false';
  out.dataset.chunks = '0';
  out.textContent = '';
  $('chat-send').disabled = true;
  let reply = '';
  try {
    const res = await fetch('/v1/chat/completions', {
      method: 'POST',
      headers: authHeaders({ 'content-type': 'application/json' }),
      body: JSON.stringify({ model, messages: chat.history, stream: true, max_tokens: 64 }),
    });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new Error((body.error && body.error.message) || 'HTTP ' + res.status);
    }
    await readSse(res, (data) => {
      if (data === '[DONE]') return;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message);
      const piece = (chunk.choices[0] && chunk.choices[0].delta.content) || '';
      if (!piece) return;
      reply += piece;
      out.textContent = reply;
      out.dataset.chunks = String(Number(out.dataset.chunks) + 1);
    });
    chat.history.push({ role: 'assistant', content: reply });
  } catch (e) {
    out.textContent = reply + '\n[error: ' + e.message + ']';
    chat.history.pop();
  } finally {
    out.dataset.done = 'true';
    $('chat-send').disabled = false;
  }
});

// ---- Start: the event stream, the polls, and a countdown tick between polls.
events.restart();
pollModels();
pollMetrics();
setInterval(pollModels, kModelsPollMs);
setInterval(pollMetrics, kMetricsPollMs);
