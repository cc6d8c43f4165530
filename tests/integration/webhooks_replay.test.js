'use strict';
// A webhook replay is done in bounded chunks (issue #10): publishes sent while a large replay
// runs are answered before it ends (once it held the writer for its whole length), its count
// is exact, and one past the cap is refused before anything is enqueued.
const test = require('node:test');
const assert = require('node:assert/strict');
const { performance } = require('node:perf_hooks');
const { Server, request, publish, ev, uuid } = require('./lib');

test('a large replay lets publishes through and counts exactly; past the cap it is a 413 with nothing enqueued', async () => {
  const srv = await new Server({ env: { FLOWGATE_LIMITS_PUBLISH_RATE: '0' } }).start();
  try {
    const wh = await request(srv.base, 'POST', '/v1/webhooks', { body: { url: 'https://hooks.example.com/x', enabled: false, event_types: ['user_signed_in'] } });
    assert.equal(wh.status, 201, wh.text);
    const id = wh.json.id;
    const N = 100001;
    for (let i = 0; i < N; i += 1000) {
      await publish(srv.base, Array.from({ length: Math.min(1000, N - i) }, () => ev.signedIn()));
    }
    const pending = async () => Number((await request(srv.base, 'GET', '/metrics')).text.match(/^flowgate_webhook_pending (\d+)/m)[1]);
    const before = await pending();
    assert.equal(before, N);

    // past the cap: refused, nothing enqueued
    const big = await request(srv.base, 'POST', `/v1/webhooks/${id}/replay`, { body: { since_seq: 1 } });
    assert.equal(big.status, 413, big.text);
    assert.equal(big.json.error, 'replay_too_large');
    assert.equal(await pending(), before);

    // 60,001 events: publishes sent meanwhile are answered before the replay ends
    const t0 = performance.now();
    let replayDone = 0;
    const replay = request(srv.base, 'POST', `/v1/webhooks/${id}/replay`, { body: { since_seq: 40001 } })
      .then((r) => { replayDone = performance.now() - t0; return r; });
    const answered = [];
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 20));
      await publish(srv.base, ev.log(uuid(), `during ${i}`));
      if (!replayDone) answered.push(performance.now() - t0);
    }
    const r = await replay;
    assert.equal(r.status, 202, r.text);
    assert.deepEqual(r.json, { enqueued: 60001, first_seq: 40001, last_seq: N });
    assert.ok(answered.length >= 1, `publishes answered while the replay ran: ${answered.length} (the replay took ${replayDone.toFixed(0)} ms)`);
    assert.equal(await pending(), before + 60001);
  } finally { await srv.stop(); srv.cleanup(); }
});
