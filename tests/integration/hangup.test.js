'use strict';
// A client that closes its stream is let go at once (issue #13): its stream, its connection and
// its per-address and per-credential slots are released within a second of the FIN or the RST,
// over HTTP/1.1 and HTTP/2, with TLS and without; so a reconnect storm from one address is
// accepted again at once with the default limits.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const tls = require('node:tls');
const path = require('node:path');
const http2 = require('node:http2');
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');
const { Server, request, tmpDir, sleep } = require('./lib');

// An SSE stream over HTTP/1.1 on its own socket; resolves once the 200 head arrived.
function open1(port, { secure = false, ca, from } = {}) {
  return new Promise((resolve, reject) => {
    const raw = net.connect({ host: '127.0.0.1', port, localAddress: from });
    const sock = secure ? tls.connect({ socket: raw, ca, host: '127.0.0.1', ALPNProtocols: ['http/1.1'] }) : raw;
    let head = '';
    sock.setEncoding('utf8');
    sock.on(secure ? 'secureConnect' : 'connect', () => sock.write('GET /v1/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n'));
    sock.on('data', (d) => {
      if (head === null) return;
      head += d;
      if (head.includes('\r\n\r\n')) {
        const status = Number(head.slice(9, 12));
        head = null;
        resolve({ sock, raw, status });
      }
    });
    sock.on('error', (e) => { if (head !== null) reject(e); });
  });
}

async function gauges(base) {
  const text = (await request(base, 'GET', '/metrics')).text;
  const streams = [...text.matchAll(/^flowgate_sse_streams_open\{[^}]*\} (\d+)/gm)].reduce((s, m) => s + Number(m[1]), 0);
  const conns = Number(text.match(/^flowgate_connections_open (\d+)/m)[1]);
  return { streams, conns };
}

// Waits until the server shows no stream and at most `conns` connections (the test's own
// keep-alive connections for /metrics stay); how long it took.
async function released(base, conns, ms = 5000) {
  const t0 = Date.now();
  for (;;) {
    const g = await gauges(base);
    if (g.streams === 0 && g.conns <= conns) return Date.now() - t0;
    if (Date.now() - t0 > ms) assert.fail(`still open after ${ms} ms: ${JSON.stringify(g)}`);
    await sleep(20);
  }
}

async function openMany(n, open, wave = 100) {
  const out = [];
  for (let i = 0; i < n; i += wave) out.push(...await Promise.all(Array.from({ length: Math.min(wave, n - i) }, (_, k) => open(i + k))));
  return out;
}

test('1,000 HTTP/1.1 streams closed by their clients (FIN and RST) are released within a second, and 1,000 more are accepted at once', async () => {
  const srv = await new Server().start();
  try {
    const port = Number(new URL(srv.base).port);
    const idle = (await gauges(srv.base)).conns + 1;
    const first = await openMany(1000, () => open1(port));
    assert.ok(first.every((s) => s.status === 200));
    assert.equal((await gauges(srv.base)).streams, 1000);
    // half close politely, half reset
    first.forEach((s, i) => (i % 2 ? s.raw.resetAndDestroy() : s.sock.end()));
    const took = await released(srv.base, idle);
    assert.ok(took < 1000, `released after ${took} ms`);
    // the same address gets its 1,000 slots back (limits.max_streams_per_address: 1000)
    const again = await openMany(1000, () => open1(port));
    assert.deepEqual([...new Set(again.map((s) => s.status))], [200]);
    for (const s of again) s.sock.destroy();
    await released(srv.base, idle);
    assert.match((await request(srv.base, 'GET', '/metrics')).text, /flowgate_sse_streams_hung_up_total (\d{4})/);
  } finally { await srv.stop(); srv.cleanup(); }
});

test('HTTP/2: streams reset one by one, and a whole connection closed, are released within a second', async () => {
  const srv = await new Server().start();
  try {
    const idle = (await gauges(srv.base)).conns + 1;
    const session = http2.connect(srv.base);
    const streams = await Promise.all(Array.from({ length: 50 }, () => new Promise((resolve, reject) => {
      const st = session.request({ ':path': '/v1/stream' });
      st.on('response', (h) => resolve({ st, status: h[':status'] }));
      st.on('error', reject);
    })));
    assert.ok(streams.every((s) => s.status === 200));
    for (const s of streams.slice(0, 25)) s.st.close(http2.constants.NGHTTP2_CANCEL);
    for (let t0 = Date.now(); (await gauges(srv.base)).streams !== 25;) {
      assert.ok(Date.now() - t0 < 1000, 'reset streams still open after a second');
      await sleep(20);
    }
    session.destroy(); // the connection goes
    assert.ok(await released(srv.base, idle) < 1000);
  } finally { await srv.stop(); srv.cleanup(); }
});

test('TLS: HTTP/1.1 streams closed by their clients are released within a second', async () => {
  const dir = tmpDir();
  const key = path.join(dir, 'k.pem');
  const cert = path.join(dir, 'c.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
  assert.equal(r.status, 0, r.stderr.toString());
  const srv = await new Server({ env: { FLOWGATE_TLS_CERT_FILE: cert, FLOWGATE_TLS_KEY_FILE: key } }).start();
  try {
    const port = Number(new URL(srv.base).port);
    const ca = fs.readFileSync(cert);
    const opened = await openMany(100, () => open1(port, { secure: true, ca }));
    assert.ok(opened.every((s) => s.status === 200));
    opened.forEach((s, i) => (i % 2 ? s.raw.resetAndDestroy() : s.sock.end()));
    const metricsBase = srv.base.replace('http:', 'https:');
    // metrics over TLS: the test reads them with the CA
    const t0 = Date.now();
    for (;;) {
      const text = await new Promise((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port, ca, ALPNProtocols: ['http/1.1'] }, () => s.write('GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
        let t = '';
        s.setEncoding('utf8');
        s.on('data', (d) => { t += d; });
        s.on('end', () => resolve(t));
        s.on('error', reject);
      });
      const open = [...text.matchAll(/^flowgate_sse_streams_open\{[^}]*\} (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
      if (open === 0) break;
      assert.ok(Date.now() - t0 < 1000, `${open} TLS streams still open after a second (${metricsBase})`);
      await sleep(20);
    }
  } finally { await srv.stop(); srv.cleanup(); fs.rmSync(dir, { recursive: true, force: true }); }
});

test('reconnect storm: 10,000 streams dropped at once and reopened at once are all accepted', { timeout: 240000 }, async () => {
  // ten client addresses, 1,000 streams each: the default limits.max_streams_per_address
  const srv = await new Server().start();
  try {
    const port = Number(new URL(srv.base).port);
    const idle = (await gauges(srv.base)).conns + 1;
    const from = (i) => `127.0.0.${2 + (i % 10)}`;
    const first = await openMany(10000, (i) => open1(port, { from: from(i) }), 500);
    assert.deepEqual([...new Set(first.map((s) => s.status))], [200]);
    assert.equal((await gauges(srv.base)).streams, 10000);
    // a proxy restarts: every connection drops, and every client comes back at once
    for (const s of first) s.raw.destroy();
    const again = await openMany(10000, (i) => open1(port, { from: from(i) }), 500);
    const statuses = new Map();
    for (const s of again) statuses.set(s.status, (statuses.get(s.status) || 0) + 1);
    assert.deepEqual([...statuses], [[200, 10000]], 'every reconnect accepted');
    assert.equal((await gauges(srv.base)).streams, 10000, 'the dropped ones are gone');
    for (const s of again) s.raw.destroy();
    assert.ok(await released(srv.base, idle) < 1000);
  } finally { await srv.stop(); srv.cleanup(); }
});
