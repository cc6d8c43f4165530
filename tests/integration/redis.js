'use strict';
// A redis-server of the test's own (cluster mode): a free 127.0.0.1 port, a temporary
// directory, AOF on with appendfsync always; and a tiny RESP client for the test's own commands.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const { tmpDir, sleep } = require('./lib');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

// One command; resolves with the reply (string, number, null, array) or rejects with an error reply.
function command(port, ...args) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const parse = (i) => {
      const end = buf.indexOf('\r\n', i);
      if (end < 0) return null;
      const line = buf.slice(i + 1, end).toString();
      const t = String.fromCharCode(buf[i]);
      if (t === '+') return [line, end + 2];
      if (t === '-') return [new Error(line), end + 2];
      if (t === ':') return [Number(line), end + 2];
      if (t === '$') {
        const n = Number(line);
        if (n < 0) return [null, end + 2];
        if (buf.length < end + 2 + n + 2) return null;
        return [buf.slice(end + 2, end + 2 + n).toString(), end + 2 + n + 2];
      }
      if (t === '*') {
        const n = Number(line);
        if (n < 0) return [null, end + 2];
        const out = [];
        let at = end + 2;
        for (let k = 0; k < n; k++) { const r = parse(at); if (!r) return null; out.push(r[0]); at = r[1]; }
        return [out, at];
      }
      return [new Error(`bad reply ${t}`), buf.length];
    };
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const r = parse(0);
      if (!r) return;
      sock.end();
      if (r[0] instanceof Error) reject(r[0]); else resolve(r[0]);
    });
    sock.on('error', reject);
    sock.write(`*${args.length}\r\n` + args.map((a) => { const s = String(a); return `$${Buffer.byteLength(s)}\r\n${s}\r\n`; }).join(''));
  });
}

class Redis {
  constructor() { this.dir = tmpDir('fg-redis-'); this.port = 0; this.proc = null; }

  async start() {
    if (!this.port) this.port = await freePort();
    this.log = '';
    this.proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir,
      '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--protected-mode', 'yes'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout.on('data', (d) => { this.log += d; });
    this.exited = new Promise((resolve) => this.proc.on('exit', resolve));
    for (let i = 0; i < 200; i++) {
      try { if (await command(this.port, 'PING') === 'PONG') return this; } catch { /* not yet */ }
      await sleep(25);
    }
    throw new Error(`redis-server did not start:\n${this.log}`);
  }

  get url() { return `redis://127.0.0.1:${this.port}`; }

  cmd(...args) { return command(this.port, ...args); }

  async stop(signal = 'SIGTERM') {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    if (this.proc) await this.exited;
    this.proc = null;
  }

  cleanup() { fs.rmSync(this.dir, { recursive: true, force: true }); }
}

module.exports = { Redis, freePort };
