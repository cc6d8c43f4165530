'use strict';
// The TLS listener: a self-signed certificate made here with openssl; ALPN gives h2 (many SSE
// streams on one connection, beyond a browser's six per host) or http/1.1; SIGHUP loads a new
// certificate for new connections while open streams go on.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const http2 = require('node:http2');
const https = require('node:https');
const tls = require('node:tls');
const { spawnSync } = require('node:child_process');
const { Server, ev, uuid, tmpDir, sleep } = require('./lib');

function makeCert(dir, name) {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1']);
  assert.equal(r.status, 0, r.stderr.toString());
  return { key, cert, pem: fs.readFileSync(cert) };
}

function peerCert(port, ca) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, ALPNProtocols: ['h2'] }, () => {
      const c = s.getPeerCertificate();
      resolve({ cn: c.subject.CN, alpn: s.alpnProtocol });
      s.end();
    });
    s.on('error', reject);
  });
}

function httpsJson(port, ca, method, p, body) {
  return new Promise((resolve, reject) => {
    const data = body ? JSON.stringify(body) : undefined;
    const req = https.request({ host: '127.0.0.1', port, path: p, method, ca, ALPNProtocols: ['http/1.1'],
      headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      let text = '';
      const alpn = res.socket.alpnProtocol;
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, text, alpn }));
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

// An SSE stream on an HTTP/2 session; collects the data of log_line frames.
function h2Stream(session, p) {
  const lines = [];
  const req = session.request({ ':path': p, accept: 'text/event-stream' });
  req.setEncoding('utf8');
  let buf = '';
  req.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      if (data) lines.push(JSON.parse(data).line);
    }
  });
  return { req, lines };
}

async function until(pred, ms = 5000) {
  for (let t = 0; t < ms && !pred(); t += 20) await sleep(20);
  return pred();
}

test('TLS with ALPN h2 and http/1.1; SIGHUP swaps the certificate, streams go on', async () => {
  const dir = tmpDir();
  const a = makeCert(dir, 'first');
  const b = makeCert(dir, 'second');
  const certFile = path.join(dir, 'server.crt');
  const keyFile = path.join(dir, 'server.key');
  fs.copyFileSync(a.cert, certFile);
  fs.copyFileSync(a.key, keyFile);
  const srv = await new Server({ env: { FLOWGATE_TLS_CERT_FILE: certFile, FLOWGATE_TLS_KEY_FILE: keyFile } }).start();
  const ca = [a.pem, b.pem];
  try {
    assert.match(srv.log, /event=listening .*tls=1/);
    assert.deepEqual(await peerCert(srv.port, ca), { cn: 'first', alpn: 'h2' });
    // HTTP/2: ten SSE streams on one connection
    const session = http2.connect(`https://127.0.0.1:${srv.port}`, { ca });
    const run = uuid();
    const streams = Array.from({ length: 10 }, () => h2Stream(session, `/v1/runs/${run}/stream`));
    await sleep(200);
    // HTTP/1.1 over TLS publishes
    let r = await httpsJson(srv.port, ca, 'POST', '/v1/events', ev.log(run, 'one'));
    assert.equal(r.status, 202, r.text);
    assert.equal(r.alpn, 'http/1.1');
    assert.ok(await until(() => streams.every((s) => s.lines.length === 1)), 'all ten streams got the event');
    // SIGHUP with a new certificate: new connections get it, the open streams keep going
    fs.copyFileSync(b.cert, certFile);
    fs.copyFileSync(b.key, keyFile);
    srv.proc.kill('SIGHUP');
    assert.ok(await until(() => /event=tls_reloaded/.test(srv.log)), 'reloaded');
    assert.deepEqual(await peerCert(srv.port, ca), { cn: 'second', alpn: 'h2' });
    r = await httpsJson(srv.port, ca, 'POST', '/v1/events', ev.log(run, 'two'));
    assert.equal(r.status, 202);
    assert.ok(await until(() => streams.every((s) => s.lines.length === 2)), 'the old connection\'s streams go on');
    assert.deepEqual(streams[0].lines, ['one', 'two']);
    // a reload that fails keeps the working certificate
    fs.writeFileSync(keyFile, 'not a key');
    srv.proc.kill('SIGHUP');
    assert.ok(await until(() => /event=tls_reload_failed/.test(srv.log)), 'failed reload logged');
    assert.deepEqual(await peerCert(srv.port, ca), { cn: 'second', alpn: 'h2' });
    for (const s of streams) s.req.close();
    session.close();
  } finally {
    await srv.stop();
    srv.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('TLS needs both files; a bad certificate stops start-up naming the key', async () => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'bad.crt'), 'nope');
  const data = tmpDir();
  try {
    const only = spawnSync(process.env.FLOWGATE_BIN, ['--listen', '127.0.0.1:0', '--data-dir', data],
      { env: { ...process.env, FLOWGATE_TLS_CERT_FILE: path.join(dir, 'bad.crt') }, timeout: 10000 });
    assert.equal(only.status, 1);
    assert.match(only.stderr.toString(), /tls\.cert_file and tls\.key_file go together/);
    const bad = spawnSync(process.env.FLOWGATE_BIN, ['--listen', '127.0.0.1:0', '--data-dir', data],
      { env: { ...process.env, FLOWGATE_TLS_CERT_FILE: path.join(dir, 'bad.crt'), FLOWGATE_TLS_KEY_FILE: path.join(dir, 'bad.crt') }, timeout: 10000 });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr.toString(), /config key tls\.cert_file/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(data, { recursive: true, force: true });
  }
});
