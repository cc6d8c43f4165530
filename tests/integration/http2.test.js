'use strict';
// Cleartext HTTP/2 streams: prior knowledge (node's http2 client, several streams on one
// connection) and Upgrade: h2c (curl --http2).
const test = require('node:test');
const assert = require('node:assert/strict');
const http2 = require('node:http2');
const { spawn } = require('node:child_process');
const { Server, publish, ev, uuid, sleep } = require('./lib');

let srv;
test.before(async () => { srv = await new Server().start(); });
test.after(async () => { await srv.stop(); srv.cleanup(); });

function h2stream(session, path) {
  const s = { status: 0, headers: null, text: '' };
  const req = session.request({ ':path': path, accept: 'text/event-stream' });
  req.setEncoding('utf8');
  req.on('response', (h) => { s.status = h[':status']; s.headers = h; });
  req.on('data', (d) => { s.text += d; });
  s.req = req;
  return s;
}

test('HTTP/2 with prior knowledge: two SSE streams on one connection', async () => {
  const session = http2.connect(srv.base);
  session.on('error', () => {});
  const run = uuid();
  const a = h2stream(session, '/v1/stream?types=run_created');
  const b = h2stream(session, `/v1/runs/${run}/stream`);
  await sleep(300);
  const res = await publish(srv.base, [ev.runCreated(run), ev.log(run, 'over h2')]);
  const deadline = Date.now() + 10000;
  while ((!a.text.includes(run) || !b.text.includes('over h2')) && Date.now() < deadline) await sleep(20);
  assert.equal(a.status, 200);
  assert.match(a.headers['content-type'], /text\/event-stream/);
  assert.ok(a.text.includes(`id: ${res[0].seq}\nevent: run_created\n`), a.text);
  assert.ok(b.text.includes(`id: ${res[1].seq}\nevent: log_line\n`), b.text);
  a.req.close();
  b.req.close();
  session.close();
});

test('HTTP/2 by Upgrade: h2c (curl --http2) streams', async () => {
  const run = uuid();
  const curl = spawn('curl', ['-sN', '--http2', '-D', '-', `${srv.base}/v1/runs/${run}/stream`]);
  let out = '';
  curl.stdout.on('data', (d) => { out += d; });
  await sleep(400);
  await publish(srv.base, ev.runCreated(run));
  const deadline = Date.now() + 10000;
  while (!out.includes(run) && Date.now() < deadline) await sleep(20);
  curl.kill();
  assert.match(out, /HTTP\/1\.1 101 Switching Protocols/);
  assert.match(out, /HTTP\/2 200/);
  assert.ok(out.includes('event: run_created'), out);
});
