'use strict';
// Publish and stream: curl -N, filters, headers, the per-run stream, heartbeats.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const { Server, sse, publish, request, ev, uuid, sleep } = require('./lib');

let srv;
test.before(async () => { srv = await new Server({ env: { FLOWGATE_SSE_HEARTBEAT_MS: '300' } }).start(); });
test.after(async () => { await srv.stop(); srv.cleanup(); });

test('an event published with curl arrives live on curl -N', async () => {
  const curl = spawn('curl', ['-sN', `${srv.base}/v1/stream?types=run_created`]);
  let out = '';
  curl.stdout.on('data', (d) => { out += d; });
  await sleep(300); // let curl connect; the stream starts live
  const run = uuid();
  const res = await publish(srv.base, ev.runCreated(run));
  const deadline = Date.now() + 10000;
  while (!out.includes(run) && Date.now() < deadline) await sleep(20);
  curl.kill();
  assert.match(out, /^retry: \d+\n\n/);
  assert.ok(out.includes(`id: ${res.seq}\nevent: run_created\ndata: {"type":"run_created","run_id":"${run}"`), out);
});

test('SSE response headers', async () => {
  const c = await sse(`${srv.base}/v1/stream`);
  assert.equal(c.status, 200);
  assert.match(c.resHeaders['content-type'], /^text\/event-stream/);
  assert.equal(c.resHeaders['cache-control'], 'no-store');
  assert.equal(c.resHeaders['x-accel-buffering'], 'no');
  await c.until(() => c.retry !== null, 5000, 'retry');
  assert.ok(c.retry > 0);
  // heartbeats arrive as comments while idle (configured to 300 ms here)
  await c.until(() => c.comments.includes('hb'), 5000, 'heartbeat');
  const text = (await request(srv.base, 'GET', '/metrics')).text;
  const open = [...text.matchAll(/flowgate_sse_streams_open\{loop="\d+"\} (\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
  assert.ok(open >= 1, 'the open stream is counted');
  c.close();
});

test('filters: types with wildcards, run_id, workflow, and the per-run stream', async () => {
  const runA = uuid(), runB = uuid();
  const approvals = await sse(`${srv.base}/v1/stream?types=approval_*`);
  const byRun = await sse(`${srv.base}/v1/stream?run_id=${runA.toUpperCase()}`);
  const twoRuns = await sse(`${srv.base}/v1/stream?run_id=${runA}&run_id=${runB}&types=log_line`);
  const byWorkflow = await sse(`${srv.base}/v1/stream?workflow=nightly`);
  const perRun = await sse(`${srv.base}/v1/runs/${runB}/stream`);
  const perRunTyped = await sse(`${srv.base}/v1/runs/${runB}/stream?types=approval_requested`);
  const all = await sse(`${srv.base}/v1/stream?types=*`);
  await sleep(100);
  const batch = [
    ev.runCreated(runA, 'deploy'), ev.runCreated(runB, 'nightly'), ev.approval(runA), ev.log(runA, 'a1'),
    ev.log(runB, 'b1'), ev.approval(runB), ev.granted(runB), ev.signedIn(),
  ];
  const res = await publish(srv.base, batch);
  assert.equal(res.length, batch.length);
  await all.waitFrames(batch.length);
  const types = (c) => c.events().map((e) => e.type);
  await approvals.waitFrames(3);
  assert.deepEqual(types(approvals), ['approval_requested', 'approval_requested', 'approval_granted']);
  await byRun.waitFrames(3);
  assert.deepEqual(types(byRun), ['run_created', 'approval_requested', 'log_line']);
  await twoRuns.waitFrames(2);
  assert.deepEqual(twoRuns.events().map((e) => e.body.line), ['a1', 'b1']);
  // workflow= also matches step events of the run, whose workflow comes from run_created
  await byWorkflow.waitFrames(4);
  assert.deepEqual(types(byWorkflow), ['run_created', 'log_line', 'approval_requested', 'approval_granted']);
  await perRun.waitFrames(4);
  assert.deepEqual(types(perRun), ['run_created', 'log_line', 'approval_requested', 'approval_granted']);
  await perRunTyped.waitFrames(1);
  // nothing more arrives on the narrow streams after a further unrelated event
  await publish(srv.base, ev.signedIn());
  await all.waitFrames(batch.length + 1);
  await sleep(200);
  assert.equal(approvals.frames.length, 3);
  assert.equal(byRun.frames.length, 3);
  assert.equal(perRunTyped.frames.length, 1);
  // ids are the sequence numbers, strictly increasing
  const seqs = all.events().map((e) => e.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
  assert.equal(seqs[0], res[0].seq);
  for (const c of [approvals, byRun, twoRuns, byWorkflow, perRun, perRunTyped, all]) c.close();
});

test('bad filters and cursors are 400 before the stream starts', async () => {
  const cases = [
    ['/v1/stream?types=nope', 'unknown_type'],
    ['/v1/stream?types=nope_*', 'unknown_type'],
    ['/v1/stream?types=', 'invalid_filter'],
    ['/v1/stream?types=log_line,,run_created', 'invalid_filter'],
    ['/v1/stream?types=a*b', 'invalid_filter'],
    ['/v1/stream?run_id=not-a-uuid', 'invalid_run_id'],
    ['/v1/stream?run_id=00000000-0000-0000-0000-000000000000', 'invalid_run_id'],
    ['/v1/runs/not-a-uuid/stream', 'invalid_run_id'],
    ['/v1/stream?last_event_id=-1', 'invalid_cursor'],
    ['/v1/stream?last_event_id=abc', 'invalid_cursor'],
    ['/v1/stream?last_event_id=99999999999999999999', 'invalid_cursor'],
    ['/v1/stream?types=%zz', 'invalid_query'],
  ];
  for (const [p, code] of cases) {
    const r = await request(srv.base, 'GET', p);
    assert.equal(r.status, 400, `${p}: ${r.text}`);
    assert.equal(r.json.error, code, p);
    assert.equal(typeof r.json.message, 'string');
    assert.equal(typeof r.json.details, 'object');
  }
  const r = await request(srv.base, 'GET', '/v1/stream', { headers: { 'Last-Event-ID': '12x' } });
  assert.equal(r.status, 400);
  assert.equal(r.json.error, 'invalid_cursor');
});

test('a data line with CR/LF from a custom field stays one event', async () => {
  const c = await sse(`${srv.base}/v1/stream?types=log_line`);
  await sleep(100);
  const run = uuid();
  await publish(srv.base, ev.log(run, 'multi\nline\r\ntext'));
  await c.waitFrames(1);
  assert.equal(c.events()[0].body.line, 'multi\nline\r\ntext');
  c.close();
});

// While an HTTP/1.1 stream lasts, the request's bytes move out of the connection's 4 KiB input
// buffer into one of their size (memory per idle stream). A request pipelined behind the stream
// moves with them and is answered when the stream ends, and the connection then reads on as usual.
test('a stream that ends leaves its connection working, with a request pipelined behind it', async () => {
  const net = require('node:net');
  const srv = await new Server().start();
  try {
    const run = uuid();
    await publish(srv.base, [ev.runCreated(run, 'ci'), ev.status(run, 'pending', 'running', 'ci')]);
    const sock = net.connect({ host: '127.0.0.1', port: srv.port });
    let got = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => { got += d; });
    const until = async (pred, what) => {
      for (let i = 0; i < 500 && !pred(); i++) await sleep(10);
      assert.ok(pred(), `waiting for ${what}; got:\n${got}`);
    };
    await new Promise((r) => sock.on('connect', r));
    sock.write(`GET /v1/runs/${run}/logs?follow=1 HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n` +
      'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(100);
    await publish(srv.base, [ev.log(run, 'one')]); // a text stream's head goes with its first line
    await until(() => got.includes('[build] [stdout] one'), 'the first line');
    await publish(srv.base, [ev.log(run, 'two'), ev.status(run, 'running', 'completed', 'ci')]);
    await until(() => (got.match(/HTTP\/1\.1 200/g) || []).length === 2, 'the pipelined answer');
    assert.match(got, /two\n\r\n0\r\n\r\nHTTP\/1\.1 200/); // the stream's end, then the next answer
    sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => (got.match(/HTTP\/1\.1 200/g) || []).length === 3, 'an answer on the same connection');
    sock.destroy();
  } finally { await srv.stop(); srv.cleanup(); }
});

// History on subscribe (issue #14): last=N starts a stream with the newest N matching events,
// since=RFC 3339 with those received since then; then live, without gap or duplicate. A
// reconnecting client's Last-Event-ID wins over both.
test('history on subscribe: last=N and since=', async () => {
  const srv = await new Server().start();
  try {
    const a = uuid(), b = uuid();
    await publish(srv.base, Array.from({ length: 20 }, (_, i) => ev.log(a, `a${i}`)));
    await publish(srv.base, Array.from({ length: 5 }, (_, i) => ev.log(b, `b${i}`)));
    await sleep(30);
    const mark = new Date().toISOString();
    await sleep(30);
    await publish(srv.base, [ev.log(a, 'a20'), ev.log(b, 'b5')]);
    const lines = (s) => s.frames.filter((f) => f.event === 'log_line').map((f) => JSON.parse(f.data).line);

    let s = await sse(`${srv.base}/v1/runs/${a}/stream?last=5`);
    await s.waitFrames(5);
    assert.deepEqual(lines(s), ['a16', 'a17', 'a18', 'a19', 'a20']);
    await publish(srv.base, ev.log(a, 'live'));
    await s.waitFrames(6);
    assert.deepEqual(lines(s).slice(5), ['live']);
    s.close();

    s = await sse(`${srv.base}/v1/stream?types=log_line&last=3`);
    await s.waitFrames(3);
    assert.deepEqual(lines(s), ['a20', 'b5', 'live']);
    s.close();

    s = await sse(`${srv.base}/v1/runs/${b}/stream?last=100`); // fewer than asked: all of them
    await s.waitFrames(6);
    assert.deepEqual(lines(s), ['b0', 'b1', 'b2', 'b3', 'b4', 'b5']);
    s.close();

    s = await sse(`${srv.base}/v1/stream?types=log_line&since=${encodeURIComponent(mark)}`);
    await s.waitFrames(3);
    assert.deepEqual(lines(s), ['a20', 'b5', 'live']);
    s.close();

    // both: the later start; the header wins over both
    s = await sse(`${srv.base}/v1/runs/${a}/stream?last=10&since=${encodeURIComponent(mark)}`);
    await s.waitFrames(2);
    assert.deepEqual(lines(s), ['a20', 'live']);
    s.close();
    const seqOfA19 = (await request(srv.base, 'GET', `/v1/runs/${a}/logs?limit=1000`)).json.lines.find((l) => l.line === 'a19').seq;
    s = await sse(`${srv.base}/v1/runs/${a}/stream?last=1`, { headers: { 'last-event-id': String(seqOfA19) } });
    await s.waitFrames(2);
    assert.deepEqual(lines(s), ['a20', 'live']);
    s.close();

    for (const [q, code] of [['last=0', 'invalid_last'], ['last=abc', 'invalid_last'], ['last=10001', 'invalid_last'],
      ['since=yesterday', 'invalid_since'], ['since=2026-13-01T00:00:00Z', 'invalid_since']]) {
      const r = await request(srv.base, 'GET', `/v1/stream?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.json.error, code, q);
    }
  } finally { await srv.stop(); srv.cleanup(); }
});
