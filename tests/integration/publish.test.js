'use strict';
// The publish API: single, batch, NDJSON, idempotency, transitions, paging, and every kind of
// bad input answered 4xx in the one error shape with the store unchanged.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { Server, publish, request, storedEvents, ev, uuid } = require('./lib');

let srv;
test.before(async () => {
  srv = await new Server({ env: { FLOWGATE_LIMITS_MAX_BODY_BYTES: '65536', FLOWGATE_LIMITS_MAX_EVENT_BYTES: '8192', FLOWGATE_LIMITS_MAX_BATCH_EVENTS: '50' } }).start();
});
test.after(async () => { await srv.stop(); srv.cleanup(); });

function assertErrorShape(r, status, code) {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.equal(r.json.error, code, r.text);
  assert.equal(typeof r.json.message, 'string');
  assert.ok(r.json.details && typeof r.json.details === 'object');
}

// Sends raw bytes over a socket (for what fetch refuses to send) and returns the status line.
function rawRequest(text) {
  return new Promise((resolve, reject) => {
    const s = net.connect(srv.port, '127.0.0.1', () => s.end(text));
    let out = '';
    s.on('data', (d) => { out += d; });
    s.on('end', () => resolve(out));
    s.on('error', reject);
    s.setTimeout(5000, () => { s.destroy(); resolve(out); });
  });
}

test('single, batch and NDJSON publishes answer 202 with seq and id', async () => {
  const run = uuid();
  const one = await publish(srv.base, ev.runCreated(run));
  assert.equal(typeof one.seq, 'number');
  assert.match(one.id, /^[0-9a-f-]{36}$/);
  const batch = await publish(srv.base, [ev.log(run, 'a'), ev.log(run, 'b')]);
  assert.equal(batch.length, 2);
  assert.equal(batch[1].seq, batch[0].seq + 1);
  const nd = await request(srv.base, 'POST', '/v1/events', {
    raw: true, headers: { 'content-type': 'application/x-ndjson' },
    body: `${JSON.stringify(ev.log(run, 'c'))}\n\n${JSON.stringify(ev.log(run, 'd'))}\n`,
  });
  assert.equal(nd.status, 202, nd.text);
  assert.equal(nd.json.length, 2);
  const stored = await storedEvents(srv.base, `&run_id=${run}`);
  assert.deepEqual(stored.map((e) => e.event.line || e.type), ['run_created', 'a', 'b', 'c', 'd']);
  // the stored event is the producer's JSON plus id and at, unknown fields kept
  const custom = await publish(srv.base, { ...ev.log(run, 'x'), extra: { nested: [1, 'two'] } });
  const got = (await storedEvents(srv.base, `&run_id=${run}&types=log_line`)).pop();
  assert.equal(got.seq, custom.seq);
  assert.deepEqual(got.event.extra, { nested: [1, 'two'] });
  assert.equal(got.event.id, custom.id);
  assert.match(got.event.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
});

test('idempotent publish: a repeated id gets the first result and stores nothing new', async () => {
  const run = uuid();
  const lineId = uuid();
  const a = await publish(srv.base, ev.log(run, 'once', { id: lineId }));
  const b = await publish(srv.base, ev.log(run, 'once', { id: lineId }));
  assert.deepEqual(b, a);
  const k1 = await publish(srv.base, ev.signedIn(), { 'Idempotency-Key': 'signin-42' });
  const k2 = await publish(srv.base, ev.signedIn(), { 'Idempotency-Key': 'signin-42' });
  assert.equal(k1.id, 'signin-42');
  assert.deepEqual(k2, k1);
  const stored = await storedEvents(srv.base, `&run_id=${run}`);
  assert.equal(stored.length, 1);
});

test('a batch with one bad event stores nothing and names its index and field', async () => {
  const run = uuid();
  const before = (await storedEvents(srv.base)).length;
  const bad = { ...ev.log(run, 'bad'), step_id: 'nope' };
  const r = await request(srv.base, 'POST', '/v1/events', { body: [ev.log(run, 'ok1'), ev.log(run, 'ok2'), bad] });
  assertErrorShape(r, 400, 'invalid_step_id');
  assert.equal(r.json.details.index, 2);
  assert.equal(r.json.details.step_id, 'nope');
  assert.equal((await storedEvents(srv.base)).length, before);
});

test('run status transitions are warned about by default, and accepted', async () => {
  const run = uuid();
  await publish(srv.base, ev.status(run, 'pending', 'running'));
  const w = await publish(srv.base, ev.status(run, 'running', 'pending'));
  assert.match(w.warning, /illegal_transition/);
  const metrics = await request(srv.base, 'GET', '/metrics');
  assert.match(metrics.text, /flowgate_illegal_transitions_total [1-9]/);
});

test('every kind of bad input is a 4xx in the error shape and stores nothing', async () => {
  const run = uuid();
  const before = await storedEvents(srv.base);
  const cases = [
    { body: '{"type":"run_created",', status: 400, code: 'invalid_json' },
    { body: 'not json', status: 400, code: 'invalid_json' },
    { body: '"a string"', status: 400, code: 'invalid_event' },
    { body: '[]', status: 400, code: 'empty_batch' },
    { body: '[1]', status: 400, code: 'invalid_event' },
    { body: '', status: 400, code: 'empty_body' },
    { body: JSON.stringify({ type: 'run_teleported', run_id: run }), status: 400, code: 'unknown_type' },
    { body: JSON.stringify({ run_id: run }), status: 400, code: 'missing_type' },
    { body: JSON.stringify({ type: 'run_created', run_id: run }), status: 400, code: 'missing_workflow_name' },
    { body: JSON.stringify({ type: 'run_created', run_id: 'xyz', workflow_name: 'w' }), status: 400, code: 'invalid_run_id' },
    { body: JSON.stringify({ ...ev.runCreated(run), at: '2026-13-01T00:00:00Z' }), status: 400, code: 'invalid_at' },
    { body: JSON.stringify({ ...ev.status(run, 'pending', 'running'), to: 'exploded' }), status: 400, code: 'invalid_to' },
    { body: JSON.stringify({ ...ev.log(run, 'x'), stream: 'stdin' }), status: 400, code: 'invalid_stream' },
    { body: '{"type":"run_created","type":"log_line"}', status: 400, code: 'invalid_json' }, // duplicate keys
    { body: '{"type":"log_line","line":"a\\u0000b"}', status: 400, code: 'invalid_json' }, // NUL in a string
    { body: `{"type":"run_created","run_id":"${run}","workflow_name":"w","n":1e999}`, status: 400, code: 'invalid_json' },
    { body: `{"type":"run_created","run_id":"${run}","workflow_name":"w","n":123456789012345678901234567890}`, status: 400, code: 'invalid_json' },
    { body: '['.repeat(5000) + ']'.repeat(5000), status: 400, code: 'invalid_json' }, // deep nesting
    { body: Buffer.from([0x7b, 0x22, 0x74, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), status: 400, code: 'invalid_json' }, // bad UTF-8
    { body: JSON.stringify(Array.from({ length: 51 }, () => ev.log(run, 'x'))), status: 413, code: 'batch_too_large' },
    { body: JSON.stringify(ev.log(run, 'x'.repeat(9000))), status: 413, code: 'event_too_large' },
    { body: JSON.stringify(Array.from({ length: 40 }, () => ev.log(run, 'y'.repeat(2000)))), status: 413, code: 'body_too_large' },
    { body: JSON.stringify(ev.runCreated(run)), ct: 'text/plain', status: 415, code: 'unsupported_media_type' },
    { body: JSON.stringify(ev.runCreated(run)), ct: 'application/x-www-form-urlencoded', status: 415, code: 'unsupported_media_type' },
    { body: `${JSON.stringify(ev.log(run, 'a'))}\n{broken`, ct: 'application/x-ndjson', status: 400, code: 'invalid_json' },
    { body: JSON.stringify(ev.log(run, 'k')), headers: { 'Idempotency-Key': 'has space' }, status: 400, code: 'invalid_idempotency_key' },
  ];
  for (const c of cases) {
    const r = await request(srv.base, 'POST', '/v1/events', { raw: true, body: c.body, headers: { 'content-type': c.ct || 'application/json', ...(c.headers || {}) } });
    assertErrorShape(r, c.status, c.code);
  }
  // method and path
  assertErrorShape(await request(srv.base, 'DELETE', '/v1/events'), 405, 'method_not_allowed');
  assertErrorShape(await request(srv.base, 'PUT', '/v1/stream'), 405, 'method_not_allowed');
  assertErrorShape(await request(srv.base, 'GET', '/v2/whatever'), 404, 'not_found');
  assertErrorShape(await request(srv.base, 'GET', '/v1/events/'), 404, 'not_found');
  assertErrorShape(await request(srv.base, 'GET', '/v1/events?after=x'), 400, 'invalid_cursor');
  assertErrorShape(await request(srv.base, 'GET', '/v1/events?limit=0'), 400, 'invalid_limit');
  assertErrorShape(await request(srv.base, 'GET', '/v1/events?types=bogus'), 400, 'unknown_type');
  // a body announced far over the limit (past h2o's own ceiling, 64 MiB) is refused at once,
  // without being read or stored
  const huge = await rawRequest(`POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\nConnection: close\r\n\r\n{`);
  assert.match(huge, /^HTTP\/1\.1 413/);
  assert.match(huge, /content-type: application\/json/i);
  assert.deepEqual(JSON.parse(huge.slice(huge.indexOf('\r\n\r\n') + 4)),
    { error: 'payload_too_large', message: 'Request Entity Too Large', details: {} });
  // both Content-Length and Transfer-Encoding: refused or treated safely, never stored twice
  const smuggle = await rawRequest(`POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n`);
  assert.match(smuggle, /^HTTP\/1\.1 4\d\d/);
  // nothing was stored by any of it
  const after = await storedEvents(srv.base);
  assert.equal(after.length, before.length);
  // and the server still serves
  await publish(srv.base, ev.runCreated(run));
});

test('GET /v1/events pages with after/limit and filters', async () => {
  const run = uuid();
  const res = await publish(srv.base, Array.from({ length: 25 }, (_, i) => ev.log(run, `p${i}`)));
  const page1 = await request(srv.base, 'GET', `/v1/events?run_id=${run}&limit=10`);
  assert.equal(page1.status, 200);
  assert.equal(page1.json.events.length, 10);
  assert.equal(page1.json.events[0].seq, res[0].seq);
  assert.equal(page1.json.events[0].type, 'log_line');
  const page2 = await request(srv.base, 'GET', `/v1/events?run_id=${run}&limit=10&after=${page1.json.next_after}`);
  assert.equal(page2.json.events[0].seq, res[10].seq);
  const all = await storedEvents(srv.base, `&run_id=${run}`);
  assert.deepEqual(all.map((e) => e.seq), res.map((r) => r.seq));
});

test('health, readiness and metrics', async () => {
  const h = await request(srv.base, 'GET', '/healthz');
  assert.equal(h.status, 200);
  assert.equal(h.json.status, 'ok');
  const r = await request(srv.base, 'GET', '/readyz');
  assert.equal(r.status, 200);
  assert.equal(r.json.status, 'ready');
  const m = await request(srv.base, 'GET', '/metrics');
  assert.match(m.text, /flowgate_events_published_total\{type="[a-z_]+"\} [1-9]/);
});

test('GET /v1/events stops a page of large events near 4 MiB; next_after continues', async () => {
  const big = await new Server().start();
  try {
    const run = uuid();
    const line = 'x'.repeat(200 * 1024);
    const seqs = [];
    for (let i = 0; i < 10; i++) seqs.push(...(await publish(big.base, Array.from({ length: 4 }, () => ev.log(run, line)))).map((r) => r.seq));
    const first = await request(big.base, 'GET', '/v1/events?limit=1000');
    assert.equal(first.status, 200);
    assert.ok(first.text.length < 5 * 1024 * 1024, `response of ${first.text.length} bytes`);
    assert.ok(first.json.events.length >= 10 && first.json.events.length < 40);
    assert.equal(first.json.next_after, first.json.events[first.json.events.length - 1].seq);
    const all = await storedEvents(big.base);
    assert.deepEqual(all.map((e) => e.seq), seqs);
  } finally { await big.stop(); big.cleanup(); }
});

// A publisher reads its own events right after their 202, on any loop: GET /v1/events reads
// what is committed, not only what its loop has taken of the writer's announcements.
test('read your own writes: an event is in GET /v1/events as soon as its 202 came', async () => {
  const srv = await new Server().start();
  try {
    const run = uuid();
    for (let i = 0; i < 200; i++) {
      const p = await publish(srv.base, ev.log(run, `rw${i}`));
      const r = await request(srv.base, 'GET', `/v1/events?after=${p.seq - 1}&limit=1`);
      assert.equal(r.json.events.length, 1, `seq ${p.seq} not read back`);
      assert.equal(r.json.events[0].seq, p.seq);
      assert.equal(r.json.next_after, p.seq);
    }
  } finally { await srv.stop(); srv.cleanup(); }
});
