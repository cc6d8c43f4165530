'use strict';
// What a client sends never earns a 5xx and every refusal says why (issue #10): limit errors
// carry the limit's value, nesting is bounded (400 json_too_deep, also for the first line of a
// new step), gzip bodies are accepted within the same limits (a bomb is a 413, other codings a
// 415), and an oversized body over HTTP/2 is a 413 like over HTTP/1.1. Nothing refused is
// stored.
const test = require('node:test');
const assert = require('node:assert/strict');
const http2 = require('node:http2');
const zlib = require('node:zlib');
const { Server, request, publish, storedEvents, ev, uuid } = require('./lib');

let srv;
test.before(async () => {
  srv = await new Server({ env: { FLOWGATE_LIMITS_MAX_BATCH_EVENTS: '50', FLOWGATE_LIMITS_MAX_EVENT_BYTES: '4096' } }).start();
});
test.after(async () => { await srv.stop(); srv.cleanup(); });

const post = (body, headers = {}) => request(srv.base, 'POST', '/v1/events',
  { body, raw: true, headers: { 'content-type': 'application/json', ...headers } });

// An unknown field nested `depth` levels deep (the event object itself is level 1).
function nested(depth, run = uuid(), step = uuid()) {
  let inner = '1';
  for (let i = 0; i < depth - 1; i++) inner = `[${inner}]`;
  const e = ev.log(run, 'deep', { step_id: step });
  return JSON.stringify(e).replace(/}$/, `,"deep":${inner}}`);
}

test('limit errors show the limit and its value', async () => {
  const before = (await storedEvents(srv.base)).length;
  const big = await post('x'.repeat((1 << 20) + 1));
  assert.equal(big.status, 413);
  assert.deepEqual(big.json.details, { limit: 'max_body_bytes', max_body_bytes: 1048576 });

  const run = uuid();
  const batch = await post(JSON.stringify(Array.from({ length: 51 }, (_, i) => ev.log(run, `l${i}`))));
  assert.equal(batch.status, 413);
  assert.deepEqual(batch.json.details, { limit: 'max_batch_events', max_batch_events: 50 });

  const nd = await post(Array.from({ length: 51 }, (_, i) => JSON.stringify(ev.log(run, `l${i}`))).join('\n'),
    { 'content-type': 'application/x-ndjson' });
  assert.equal(nd.status, 413);
  assert.equal(nd.json.details.max_batch_events, 50);

  const fat = await post(JSON.stringify([ev.log(run, 'ok'), ev.log(run, 'y'.repeat(5000))]));
  assert.equal(fat.status, 413);
  assert.deepEqual(fat.json.details, { limit: 'max_event_bytes', max_event_bytes: 4096, index: 1 });
  assert.equal((await storedEvents(srv.base)).length, before, 'nothing stored');
});

test('nesting is bounded: 128 levels pass, deeper is a 400 and nothing is stored', async () => {
  const run = uuid();
  const ok = await post(nested(128, run));
  assert.equal(ok.status, 202, ok.text);
  const before = (await storedEvents(srv.base)).length;
  // the first line of a new step with a deep unknown field: once a 503 (SQLite's JSON limit)
  for (const depth of [129, 2000, 5000]) {
    const r = await post(nested(depth, run));
    assert.equal(r.status, 400, `${depth} levels: ${r.text.slice(0, 200)}`);
    assert.equal(r.json.error, depth > 2048 ? 'invalid_json' : 'json_too_deep', r.text.slice(0, 200));
    if (r.json.error === 'json_too_deep') assert.deepEqual(r.json.details, { max_json_depth: '128' });
  }
  assert.equal((await storedEvents(srv.base)).length, before, 'nothing stored');
  // the run view took the accepted line's step, and the store still commits
  const view = await request(srv.base, 'GET', `/v1/runs/${run}`);
  assert.equal(view.status, 200, view.text);
  assert.equal(view.json.steps.length, 1);
  await publish(srv.base, ev.log(run, 'after'));
});

test('gzip bodies are accepted within the limits; other codings are refused', async () => {
  const run = uuid();
  const one = await post(zlib.gzipSync(JSON.stringify(ev.log(run, 'zipped'))), { 'content-encoding': 'gzip' });
  assert.equal(one.status, 202, one.text);
  const lines = Array.from({ length: 20 }, (_, i) => JSON.stringify(ev.log(run, `nd${i}`))).join('\n');
  const nd = await post(zlib.gzipSync(lines), { 'content-encoding': 'x-gzip', 'content-type': 'application/x-ndjson' });
  assert.equal(nd.status, 202, nd.text);
  assert.equal(nd.json.length, 20);
  // two gzip members one after the other are one body
  const halves = Buffer.concat([zlib.gzipSync('['), zlib.gzipSync(`${JSON.stringify(ev.log(run, 'two members'))}]`)]);
  const two = await post(halves, { 'content-encoding': 'GZIP' });
  assert.equal(two.status, 202, two.text);
  const stored = (await storedEvents(srv.base, `&run_id=${run}`)).map((e) => e.event.line);
  assert.deepEqual(stored, ['zipped', ...Array.from({ length: 20 }, (_, i) => `nd${i}`), 'two members']);

  const before = (await storedEvents(srv.base)).length;
  const plain = await post(JSON.stringify(ev.log(run, 'not zipped')), { 'content-encoding': 'gzip' });
  assert.equal(plain.status, 400);
  assert.equal(plain.json.error, 'invalid_body');
  const cut = zlib.gzipSync(JSON.stringify(ev.log(run, 'cut short')));
  const truncated = await post(cut.subarray(0, cut.length - 6), { 'content-encoding': 'gzip' });
  assert.equal(truncated.status, 400);
  for (const coding of ['br', 'deflate', 'gzip, br', 'compress']) {
    const r = await post(zlib.gzipSync('{}'), { 'content-encoding': coding });
    assert.equal(r.status, 415, coding);
    assert.equal(r.json.error, 'unsupported_encoding');
  }
  // a bomb: 20 KiB that would inflate to 20 MiB
  const bomb = zlib.gzipSync(Buffer.alloc(20 << 20, 0x20));
  assert.ok(bomb.length < 64 << 10);
  const b = await post(bomb, { 'content-encoding': 'gzip' });
  assert.equal(b.status, 413);
  assert.deepEqual(b.json.details, { limit: 'max_body_bytes', max_body_bytes: 1048576 });
  // the webhook API reads its bodies the same way
  const wh = await request(srv.base, 'POST', '/v1/webhooks', { raw: true, body: zlib.gzipSync(JSON.stringify({ url: 'https://hooks.example.com/x', enabled: false })),
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } });
  assert.equal(wh.status, 201, wh.text);
  assert.equal((await storedEvents(srv.base)).length, before, 'nothing stored');
});

function h2post(body) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(srv.base);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': '/v1/events', 'content-type': 'application/json' });
    let status = 0;
    let text = '';
    req.on('response', (h) => { status = h[':status']; });
    req.setEncoding('utf8');
    req.on('data', (d) => { text += d; });
    req.on('end', () => { session.close(); resolve({ status, text }); });
    req.on('error', (e) => { session.close(); resolve({ status, text, error: e.code }); });
    req.end(body);
  });
}

test('over HTTP/2 an oversized body is a 413, not a stream reset', async () => {
  for (const size of [(1 << 20) + 1, 12 << 20]) {
    const r = await h2post(Buffer.alloc(size, 0x20));
    assert.equal(r.error, undefined, `${size} bytes: ${r.error}`);
    assert.equal(r.status, 413, `${size} bytes`);
    assert.deepEqual(JSON.parse(r.text).details, { limit: 'max_body_bytes', max_body_bytes: 1048576 });
  }
  const ok = await h2post(JSON.stringify(ev.log(uuid(), 'small over h2')));
  assert.equal(ok.status, 202, ok.text);
});
