'use strict';
// Requests as endpoints expect them (issue #15, part 3): Basic and Bearer auth on every attempt,
// mutual TLS with a client certificate (the endpoint, node's https server, checks it against its
// CA; the subscription's ca_cert checks the endpoint), secrets write-only in the API and never
// in the log, bad credentials refused with a 400 naming the field; and the publisher's W3C
// traceparent stored with the event, sent on each attempt and shown in the delivery log.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { Server, publish, request, uuid, sleep, tmpDir } = require('./lib');
const { receiver } = require('./receiver');

function openssl(args, cwd) {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

// A CA, the endpoint's certificate for 127.0.0.2, a client certificate, and a stranger's key.
function certificates() {
  const dir = tmpDir('fg-certs-');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=flowgate test CA'], dir);
  for (const [name, ext] of [['server', 'subjectAltName=IP:127.0.0.2'], ['client', 'extendedKeyUsage=clientAuth']]) {
    openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
    fs.writeFileSync(path.join(dir, `${name}.ext`), `${ext}\n`);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`], dir);
  }
  openssl(['genpkey', '-algorithm', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other.key'], dir);
  const read = (f) => fs.readFileSync(path.join(dir, f), 'utf8');
  const out = { ca: read('ca.pem'), serverCert: read('server.pem'), serverKey: read('server.key'),
    clientCert: read('client.pem'), clientKey: read('client.key'), otherKey: read('other.key') };
  fs.rmSync(dir, { recursive: true, force: true });
  return out;
}

const line = (run, text) => ({ type: 'log_line', run_id: run, step_id: uuid(), step_name: 'build', stream: 'stdout', line: text });

test('outbound auth: Basic and Bearer sent, secrets write-only and never logged, bad ones refused', async () => {
  const rx = await receiver();
  const srv = await new Server({ env: { FLOWGATE_WEBHOOKS_ALLOW_NETWORKS: '127.0.0.2/32', FLOWGATE_LOG_LEVEL: 'debug' } }).start();
  const PASSWORD = 'pa55-w0rd-that-must-not-leak';
  const TOKEN = 'tok_7c1d9e-must-not-leak';
  try {
    const mk = async (p, extra) => request(srv.base, 'POST', '/v1/webhooks', { body: { url: rx.base + p, event_types: ['log_line'], ...extra } });
    const basic = await mk('/basic', { auth: { type: 'basic', username: 'flowgate', password: PASSWORD } });
    assert.equal(basic.status, 201, basic.text);
    assert.deepEqual(basic.json.auth, { type: 'basic', username: 'flowgate', password_set: true });
    const bearer = await mk('/bearer', { auth: { type: 'bearer', token: TOKEN } });
    assert.deepEqual(bearer.json.auth, { type: 'bearer', token_set: true });
    await publish(srv.base, line(uuid(), 'hello'));
    for (let i = 0; i < 400 && rx.got.length < 2; i++) await sleep(10);
    const by = (p) => rx.got.find((g) => g.path === p);
    assert.equal(by('/basic').headers.authorization, `Basic ${Buffer.from(`flowgate:${PASSWORD}`).toString('base64')}`);
    assert.equal(by('/bearer').headers.authorization, `Bearer ${TOKEN}`);
    // a patch of something else keeps them; the API never shows them
    const p = await request(srv.base, 'PATCH', `/v1/webhooks/${basic.json.id}`, { body: { description: 'with auth' } });
    assert.equal(p.status, 200);
    for (const r of [p, await request(srv.base, 'GET', '/v1/webhooks'), await request(srv.base, 'GET', `/v1/webhooks/${bearer.json.id}`)]) {
      assert.ok(!r.text.includes(PASSWORD) && !r.text.includes(TOKEN), r.text);
    }
    // refused, naming the field; nothing made
    const bad = [
      [{ auth: { type: 'digest' } }, 'auth'],
      [{ auth: { type: 'basic', username: 'a:b', password: 'x' } }, 'auth.username'],
      [{ auth: { type: 'basic', username: 'a' } }, 'auth.password'],
      [{ auth: { type: 'bearer', token: 'x', username: 'y' } }, 'auth'],
      [{ auth: { type: 'bearer', token: 'line\nbreak' } }, 'auth.token'],
      [{ auth: { type: 'bearer', token: 'x' }, headers: { Authorization: 'Basic eA==' } }, 'headers'],
      [{ tls: { ca_cert: 'x' } }, 'tls'], // an http url
    ];
    for (const [extra, field] of bad) {
      const r = await mk('/bad', extra);
      assert.equal(r.status, 400, JSON.stringify(extra));
      assert.equal(r.json.error, 'invalid_field');
      assert.ok(r.json.message.startsWith(field), `${r.json.message} names ${field}`);
    }
    assert.equal((await request(srv.base, 'GET', '/v1/webhooks')).json.webhooks.length, 2);
    await srv.stop();
    assert.ok(!srv.log.includes(PASSWORD) && !srv.log.includes(TOKEN), 'no secret in the log');
  } finally { await srv.stop(); srv.cleanup(); rx.close(); }
});

test('mutual TLS: a client certificate the endpoint checks, the endpoint checked against ca_cert', async () => {
  const c = certificates();
  const rx = await receiver(() => 204, { key: c.serverKey, cert: c.serverCert, ca: c.ca });
  const srv = await new Server({ env: { FLOWGATE_WEBHOOKS_ALLOW_NETWORKS: '127.0.0.2/32', FLOWGATE_WEBHOOKS_RETRY_SCHEDULE: '10s', FLOWGATE_LOG_LEVEL: 'debug' } }).start();
  try {
    const mk = async (p, tls) => request(srv.base, 'POST', '/v1/webhooks', { body: { url: rx.base + p, event_types: ['log_line'], tls } });
    const mtls = await mk('/mtls', { client_cert: c.clientCert, client_key: c.clientKey, ca_cert: c.ca });
    assert.equal(mtls.status, 201, mtls.text);
    assert.equal(mtls.json.tls.client_key_set, true);
    assert.equal(mtls.json.tls.client_cert, c.clientCert);
    assert.ok(!JSON.stringify(mtls.json).includes(c.clientKey.split('\n')[1]), 'the key is not shown');
    const noCert = await mk('/nocert', { ca_cert: c.ca });
    assert.equal(noCert.status, 201);
    await publish(srv.base, line(uuid(), 'over mTLS'));
    for (let i = 0; i < 400 && rx.got.length < 1; i++) await sleep(10);
    assert.equal(rx.got.length, 1);
    assert.equal(rx.got[0].path, '/mtls');
    assert.equal(rx.got[0].peer, 'client');
    // without a client certificate the endpoint refuses the handshake: a failed attempt
    let attempts = [];
    for (let i = 0; i < 400 && attempts.length === 0; i++) {
      const d = await request(srv.base, 'GET', `/v1/webhooks/${noCert.json.id}/deliveries`);
      attempts = (d.json.deliveries || []).flatMap((x) => x.attempts || []);
      if (!attempts.length) await sleep(25);
    }
    assert.ok(attempts.length >= 1 && attempts[0].http_status == null, JSON.stringify(attempts));
    assert.equal(rx.got.filter((g) => g.path === '/nocert').length, 0);
    // bad certificates refused, naming the field
    const bad = [
      [{ client_cert: c.clientCert, client_key: c.otherKey }, 'tls.client_key'],
      [{ client_cert: 'not a certificate', client_key: c.clientKey }, 'tls.client_cert'],
      [{ client_cert: c.clientCert }, 'tls.client_key'],
      [{ ca_cert: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }, 'tls.ca_cert'],
      [{ client_cert: c.clientCert, client_key: c.clientKey, extra: 1 }, 'tls'],
    ];
    for (const [tls, field] of bad) {
      const r = await mk('/bad', tls);
      assert.equal(r.status, 400, field);
      assert.ok(r.json.message.startsWith(field), `${r.json.message} names ${field}`);
    }
    await srv.stop();
    assert.ok(!srv.log.includes(c.clientKey.split('\n')[1]), 'no key in the log');
  } finally { await srv.stop(); srv.cleanup(); rx.close(); }
});

test('traceparent: taken on publish, stored, sent on every attempt, in the delivery log; none invented', async () => {
  let failFirst = true;
  const got = [];
  const srv0 = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({ trace: req.headers.traceparent, body: JSON.parse(Buffer.concat(chunks).toString()) });
      const fail = failFirst && JSON.parse(Buffer.concat(chunks).toString()).line === 'traced';
      if (fail) failFirst = false;
      res.writeHead(fail ? 500 : 204); res.end();
    });
  });
  await new Promise((res) => srv0.listen(0, '127.0.0.2', res));
  const srv = await new Server({ env: { FLOWGATE_WEBHOOKS_ALLOW_NETWORKS: '127.0.0.2/32', FLOWGATE_WEBHOOKS_RETRY_SCHEDULE: '100ms' } }).start();
  const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const TP2 = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  try {
    const sub = await request(srv.base, 'POST', '/v1/webhooks', { body: { url: `http://127.0.0.2:${srv0.address().port}/t`, event_types: ['log_line'] } });
    assert.equal(sub.status, 201);
    const run = uuid();
    let r = await request(srv.base, 'POST', '/v1/events', { body: line(run, 'traced'), headers: { traceparent: TP } });
    assert.equal(r.status, 202, r.text);
    r = await request(srv.base, 'POST', '/v1/events', { body: [line(run, 'batch a'), line(run, 'batch b')], headers: { traceparent: TP2 } });
    assert.equal(r.status, 202, r.text);
    r = await request(srv.base, 'POST', '/v1/events', { body: line(run, 'untraced') });
    assert.equal(r.status, 202);
    for (const bad of ['00-xyz', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', `${TP}-00`]) {
      r = await request(srv.base, 'POST', '/v1/events', { body: line(run, 'bad'), headers: { traceparent: bad } });
      assert.equal(r.status, 400, bad);
      assert.equal(r.json.error, 'invalid_traceparent');
    }
    for (let i = 0; i < 400 && got.length < 5; i++) await sleep(10);
    const of = (text) => got.filter((g) => g.body.line === text).map((g) => g.trace);
    assert.deepEqual(of('traced'), [TP, TP], 'the first attempt and its retry');
    assert.deepEqual(of('batch a'), [TP2]);
    assert.deepEqual(of('batch b'), [TP2]);
    assert.deepEqual(of('untraced'), [undefined], 'none invented');
    assert.equal(of('bad').length, 0, 'a bad one stored nothing');
    const log = await request(srv.base, 'GET', `/v1/webhooks/${sub.json.id}/deliveries`);
    const traces = log.json.deliveries.map((d) => d.traceparent);
    assert.deepEqual(traces.filter((t) => t === TP).length, 1);
    assert.deepEqual(traces.filter((t) => t === TP2).length, 2);
    assert.deepEqual(traces.filter((t) => t === null).length, 1);
    // a custom header cannot set it
    r = await request(srv.base, 'POST', '/v1/webhooks', { body: { url: `http://127.0.0.2:${srv0.address().port}/x`, headers: { traceparent: TP } } });
    assert.equal(r.status, 400);
  } finally { await srv.stop(); srv.cleanup(); srv0.closeAllConnections(); srv0.close(); }
});
