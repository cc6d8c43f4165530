'use strict';
// A real client nobody here wrote: the `eventsource` npm package. It connects, receives, is
// cut off by a server restart, reconnects by itself with Last-Event-ID, and ends up with every
// event exactly once.
const test = require('node:test');
const assert = require('node:assert/strict');
const { EventSource } = require('eventsource');
const { Server, publish, ev, uuid, sleep } = require('./lib');

test('eventsource reconnects across a restart and receives every event exactly once', async () => {
  const srv = await new Server({ env: { FLOWGATE_SSE_RETRY_MS: '200' } }).start();
  const run = uuid();
  const seen = [];
  let opens = 0;
  const es = new EventSource(`${srv.base}/v1/runs/${run}/stream`);
  es.addEventListener('log_line', (e) => seen.push({ seq: Number(e.lastEventId), line: JSON.parse(e.data).line }));
  es.addEventListener('open', () => { opens++; });
  try {
    const waitFor = async (pred, what) => {
      for (let i = 0; i < 300 && !pred(); i++) await sleep(50);
      assert.ok(pred(), what);
    };
    await waitFor(() => opens === 1, 'first open');
    const sent = [];
    for (let i = 0; i < 10; i++) sent.push(...(await publish(srv.base, [ev.log(run, `a${i}`)])));
    await waitFor(() => seen.length === 10, 'first ten');

    // Restart: the stream ends; events published while the client is away are replayed.
    await srv.stop();
    await srv.start();
    for (let i = 0; i < 10; i++) sent.push(...(await publish(srv.base, [ev.log(run, `b${i}`)])));
    await waitFor(() => opens >= 2, 'reconnected');
    for (let i = 0; i < 10; i++) sent.push(...(await publish(srv.base, [ev.log(run, `c${i}`)])));
    await waitFor(() => seen.length >= 30, 'all thirty');
    await sleep(300);
    assert.deepEqual(seen.map((s) => s.seq), sent.map((s) => s.seq));
    assert.deepEqual(seen.map((s) => s.line), [...Array(10).keys()].map((i) => `a${i}`)
      .concat([...Array(10).keys()].map((i) => `b${i}`), [...Array(10).keys()].map((i) => `c${i}`)));
  } finally {
    es.close();
    await srv.stop();
    srv.cleanup();
  }
});
