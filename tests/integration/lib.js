'use strict';
// Helpers for the integration tests: start the real flowgate binary on a free loopback port
// with its own data directory, publish events, read SSE streams. Everything stays on 127.0.0.1.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const crypto = require('node:crypto');

const BIN = process.env.FLOWGATE_BIN || path.join(__dirname, '../../build/flowgate');

function tmpDir(prefix = 'fg-it-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// A running flowgate. start() resolves once it logged its listening address.
class Server {
  constructor(opts = {}) {
    this.dataDir = opts.dataDir || tmpDir();
    this.env = opts.env || {};
    this.args = opts.args || [];
    this.port = opts.port || 0;
    this.log = '';
    this.proc = null;
  }

  async start() {
    const env = { ...process.env, ...this.env };
    for (const k of Object.keys(env)) if (k.startsWith('FLOWGATE_') && !(k in this.env)) delete env[k];
    this.log = '';
    this.proc = spawn(BIN, ['--listen', `127.0.0.1:${this.port}`, '--data-dir', this.dataDir,
      ...this.args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, sig) => resolve({ code, sig })));
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`flowgate did not start:\n${this.log}`)), 15000);
      this.proc.stderr.on('data', (d) => {
        this.log += d.toString();
        const m = this.log.match(/event=listening addr=[^ ]*:(\d+)/);
        if (m && timer) {
          this.port = Number(m[1]); // the same port is reused across restarts
          clearTimeout(timer);
          resolve();
        }
      });
      this.proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`flowgate exited ${code}:\n${this.log}`)); });
    });
    this.base = `http://127.0.0.1:${this.port}`;
    return this;
  }

  async stop(signal = 'SIGTERM') {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    const how = await this.exited;
    this.checkSanitizers();
    return how;
  }

  // In the sanitizer builds (ASan+UBSan, TSan) a report from flowgate fails the test that ran it.
  checkSanitizers() {
    const i = this.log.search(/(ERROR|WARNING): \w+Sanitizer|runtime error: /);
    if (i >= 0) throw new Error(`flowgate's sanitizer report:\n${this.log.slice(i, i + 6000)}`);
  }

  kill9() { return this.stop('SIGKILL'); }

  async restart() {
    await this.stop();
    return this.start();
  }

  cleanup() { fs.rmSync(this.dataDir, { recursive: true, force: true }); }
}

const uuid = () => crypto.randomUUID();

const ev = {
  runCreated: (run, wf = 'deploy') => ({ type: 'run_created', run_id: run, workflow_name: wf }),
  status: (run, from, to, wf = 'deploy') => ({ type: 'run_status_changed', run_id: run, workflow_name: wf,
    from, to, cost_usd: '0.10', duration_ms: 12 }),
  log: (run, line, extra = {}) => ({ type: 'log_line', run_id: run, step_id: extra.step_id || '0b7d2e51-1111-4c1e-9f2a-1b2c3d4e5f61',
    step_name: 'build', stream: 'stdout', line, ...extra }),
  approval: (run) => ({ type: 'approval_requested', run_id: run, step_id: uuid(), message: 'ship it?' }),
  granted: (run) => ({ type: 'approval_granted', run_id: run, approved_by: 'ana' }),
  signedIn: () => ({ type: 'user_signed_in', user_id: uuid(), username: 'ana' }),
};

async function request(base, method, p, { body, headers = {}, raw } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = raw ? body : JSON.stringify(body);
    if (!raw && !init.headers['content-type']) init.headers['content-type'] = 'application/json';
  }
  const res = await fetch(base + p, init);
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

async function publish(base, body, headers) {
  const r = await request(base, 'POST', '/v1/events', { body, headers });
  if (r.status !== 202) throw new Error(`publish failed ${r.status}: ${r.text}`);
  return r.json;
}

// Every stored event (paging through GET /v1/events).
async function storedEvents(base, query = '', headers = {}) {
  const out = [];
  let after = 0;
  for (;;) {
    const r = await request(base, 'GET', `/v1/events?after=${after}&limit=1000${query}`, { headers });
    if (r.status !== 200) throw new Error(`GET /v1/events ${r.status} ${r.text}`);
    out.push(...r.json.events);
    if (r.json.events.length === 0) return out;
    after = r.json.next_after;
  }
}

// An SSE client over http.get that parses frames as a browser would (CRLF/CR/LF, data joined
// with LF, comments ignored). frames: [{id, event, data}], comments: [text].
class SseClient {
  constructor(url, { headers = {} } = {}) {
    this.url = url;
    this.headers = headers;
    this.frames = [];
    this.comments = [];
    this.retry = null;
    this.closed = false;
    this.waiters = [];
    this.buf = '';
  }

  open() {
    return new Promise((resolve, reject) => {
      this.req = http.get(this.url, { headers: { accept: 'text/event-stream', ...this.headers } }, (res) => {
        this.res = res;
        this.status = res.statusCode;
        this.resHeaders = res.headers;
        res.setEncoding('utf8');
        res.on('data', (d) => this._feed(d));
        res.on('end', () => { this.closed = true; this._wake(); });
        res.on('error', () => { this.closed = true; this._wake(); });
        resolve(this);
      });
      this.req.on('error', (e) => { this.closed = true; this._wake(); if (!this.res) reject(e); });
    });
  }

  _feed(d) {
    this.buf += d;
    for (;;) {
      const m = this.buf.match(/\r\n\r\n|\n\n|\r\r/);
      if (!m) break;
      const block = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      const f = { id: undefined, event: 'message', data: [] };
      let hasData = false;
      for (const line of block.split(/\r\n|\r|\n/)) {
        if (line.startsWith(':')) { this.comments.push(line.slice(1).trim()); continue; }
        const i = line.indexOf(':');
        const name = i < 0 ? line : line.slice(0, i);
        let val = i < 0 ? '' : line.slice(i + 1);
        if (val.startsWith(' ')) val = val.slice(1);
        if (name === 'id') f.id = val;
        else if (name === 'event') f.event = val;
        else if (name === 'data') { f.data.push(val); hasData = true; }
        else if (name === 'retry') this.retry = Number(val);
      }
      if (hasData) this.frames.push({ id: f.id, event: f.event, data: f.data.join('\n') });
    }
    this._wake();
  }

  _wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }

  // Resolves when pred() is true; rejects after ms.
  until(pred, ms = 10000, what = 'condition') {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (pred()) { clearTimeout(t); resolve(this); return; }
        this.waiters.push(check);
      };
      const t = setTimeout(() => reject(new Error(`timeout waiting for ${what}: ${this.frames.length} frames, closed=${this.closed}`)), ms);
      check();
    });
  }

  waitFrames(n, ms) { return this.until(() => this.frames.length >= n, ms, `${n} frames`); }
  waitClosed(ms) { return this.until(() => this.closed, ms, 'close'); }
  events() { return this.frames.filter((f) => f.event !== 'gap').map((f) => ({ seq: Number(f.id), type: f.event, body: JSON.parse(f.data) })); }
  close() { if (this.req) this.req.destroy(); this.closed = true; }
}

async function sse(url, opts) { return new SseClient(url, opts).open(); }

// The keys that appear twice in one object of a JSON text (JSON.parse keeps only the last).
function duplicateKeys(text) {
  const dups = [];
  let i = 0;
  const ws = () => { while (/\s/.test(text[i])) i++; };
  const str = () => { const s = i; i++; while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1; i++; return JSON.parse(text.slice(s, i)); };
  const value = () => {
    ws();
    if (text[i] === '{') {
      const seen = new Set();
      i++; ws();
      while (text[i] !== '}') {
        ws(); const k = str(); ws(); i++; // ':'
        if (seen.has(k)) dups.push(k);
        seen.add(k);
        value(); ws();
        if (text[i] === ',') i++;
        ws();
      }
      i++;
    } else if (text[i] === '[') {
      i++; ws();
      while (text[i] !== ']') { value(); ws(); if (text[i] === ',') i++; ws(); }
      i++;
    } else if (text[i] === '"') {
      str();
    } else {
      while (i < text.length && !/[,}\]\s]/.test(text[i])) i++;
    }
  };
  value();
  return dups;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

module.exports = { duplicateKeys, Server, SseClient, sse, publish, request, storedEvents, ev, uuid, tmpDir, sleep, BIN };
