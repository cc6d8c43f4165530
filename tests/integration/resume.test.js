'use strict';
// Resume: Last-Event-ID and last_event_id replay exactly what was missed, across the switch
// from replay to live, across a restart and a kill -9; retention makes an explicit gap.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Server, sse, publish, request, storedEvents, ev, uuid, sleep } = require('./lib');

test('Last-Event-ID resume returns exactly the missed events, in order', async () => {
  const srv = await new Server().start();
  try {
    const run = uuid();
    const first = await publish(srv.base, Array.from({ length: 5 }, (_, i) => ev.log(run, `l${i}`)));
    const c1 = await sse(`${srv.base}/v1/stream?last_event_id=0`);
    await c1.waitFrames(5);
    c1.close();
    const lastSeen = c1.frames[4].id;
    const missed = await publish(srv.base, Array.from({ length: 7 }, (_, i) => ev.log(run, `m${i}`)));
    await publish(srv.base, ev.signedIn()); // does not match the filter below
    const c2 = await sse(`${srv.base}/v1/stream?types=log_line`, { headers: { 'Last-Event-ID': lastSeen } });
    await c2.waitFrames(7);
    assert.deepEqual(c2.events().map((e) => e.seq), missed.map((m) => m.seq));
    assert.deepEqual(c2.events().map((e) => e.body.line), missed.map((_, i) => `m${i}`));
    // then it is live: one more arrives once
    const live = await publish(srv.base, ev.log(run, 'live'));
    await c2.waitFrames(8);
    assert.equal(Number(c2.frames[7].id), live.seq);
    await sleep(200);
    assert.equal(c2.frames.length, 8);
    c2.close();
    // the header wins over the query (a reconnecting EventSource keeps its original URL)
    const c3 = await sse(`${srv.base}/v1/stream?last_event_id=0&types=log_line`, { headers: { 'Last-Event-ID': String(missed[5].seq) } });
    await c3.waitFrames(2);
    assert.deepEqual(c3.events().map((e) => e.body.line), ['m6', 'live']);
    c3.close();
    assert.equal(first[0].seq, 1);
  } finally { await srv.stop(); srv.cleanup(); }
});

test('replay switches to live with no event missed and none twice under concurrent publishing', async () => {
  const srv = await new Server({ env: { FLOWGATE_SSE_REPLAY_PAGE: '7' } }).start();
  try {
    const run = uuid();
    for (let i = 0; i < 20; i++) await publish(srv.base, Array.from({ length: 10 }, (_, k) => ev.log(run, `pre${i}-${k}`)));
    let publishing = true;
    let total = 200;
    const pump = (async () => {
      while (publishing) { await publish(srv.base, [ev.log(run, 'x'), ev.log(run, 'y')]); total += 2; }
    })();
    const clients = [];
    for (let i = 0; i < 6; i++) {
      clients.push(await sse(`${srv.base}/v1/stream?last_event_id=${i * 30}`));
      await sleep(15);
    }
    await sleep(300);
    publishing = false;
    await pump;
    for (let i = 0; i < clients.length; i++) {
      const c = clients[i];
      await c.waitFrames(total - i * 30, 15000);
      const seqs = c.events().map((e) => e.seq);
      const expected = Array.from({ length: total - i * 30 }, (_, k) => i * 30 + k + 1);
      assert.deepEqual(seqs, expected, `client ${i}`);
      c.close();
    }
  } finally { await srv.stop(); srv.cleanup(); }
});

test('resume across a clean restart and after kill -9 right after a 202', async () => {
  const srv = await new Server().start();
  try {
    const run = uuid();
    const c1 = await sse(`${srv.base}/v1/runs/${run}/stream`);
    await sleep(100);
    const a = await publish(srv.base, [ev.runCreated(run), ev.log(run, 'one')]);
    await c1.waitFrames(2);
    await srv.restart();
    await c1.waitClosed(5000); // the stream was ended cleanly by SIGTERM
    const b = await publish(srv.base, ev.log(run, 'two'));
    const c2 = await sse(`${srv.base}/v1/runs/${run}/stream`, { headers: { 'Last-Event-ID': c1.frames[1].id } });
    await c2.waitFrames(1);
    assert.equal(Number(c2.frames[0].id), b.seq);

    // kill -9 immediately after the 202: the acknowledged event must be there
    const acked = await publish(srv.base, ev.log(run, 'acked-before-kill'));
    await srv.kill9();
    await c2.waitClosed(5000);
    await srv.start();
    const stored = await storedEvents(srv.base);
    assert.ok(stored.some((e) => e.seq === acked.seq && e.event.line === 'acked-before-kill'));
    const c3 = await sse(`${srv.base}/v1/runs/${run}/stream`, { headers: { 'Last-Event-ID': String(b.seq) } });
    await c3.waitFrames(1);
    assert.equal(Number(c3.frames[0].id), acked.seq);
    // and the sequence continues after the restart without reuse
    const next = await publish(srv.base, ev.log(run, 'after'));
    assert.equal(next.seq, acked.seq + 1);
    await c3.waitFrames(2);
    assert.equal(a[0].seq, 1);
    c3.close();
  } finally { await srv.stop(); srv.cleanup(); }
});

test('a cursor older than retention gets an event: gap before the replay', async () => {
  const srv = await new Server({ env: { FLOWGATE_STORE_RETENTION_MAX_EVENTS: '5', FLOWGATE_STORE_RETENTION_INTERVAL_S: '1' } }).start();
  try {
    const run = uuid();
    await publish(srv.base, Array.from({ length: 12 }, (_, i) => ev.log(run, `g${i}`)));
    // wait for background retention to cut the log down to 5
    let purged = 0;
    for (let i = 0; i < 100 && purged < 7; i++) {
      purged = (await request(srv.base, 'GET', '/v1/events?after=0&limit=1')).json.purged_through;
      await sleep(100);
    }
    assert.equal(purged, 7);
    const c = await sse(`${srv.base}/v1/stream?last_event_id=2`);
    await c.waitFrames(6);
    assert.equal(c.frames[0].event, 'gap');
    assert.equal(c.frames[0].id, '7');
    assert.deepEqual(JSON.parse(c.frames[0].data), { after: 2, first_seq: 8 });
    assert.deepEqual(c.events().map((e) => e.seq), [8, 9, 10, 11, 12]);
    c.close();
    // a cursor inside the retained range gets no gap
    const d = await sse(`${srv.base}/v1/stream?last_event_id=9`);
    await d.waitFrames(3);
    assert.ok(d.frames.every((f) => f.event !== 'gap'));
    d.close();
  } finally { await srv.stop(); srv.cleanup(); }
});
