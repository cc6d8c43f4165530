'use strict';
// A client that stops reading is cut off once its bounded queue overflows; another client on
// the same server keeps receiving everything, in order.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { Server, sse, publish, request, ev, uuid, sleep } = require('./lib');

test('a stalled client is disconnected while another receives every event', async () => {
  const srv = await new Server({ env: {
    FLOWGATE_SSE_QUEUE_MAX_BYTES: '1048576', FLOWGATE_SSE_QUEUE_MAX_EVENTS: '100000', FLOWGATE_THREADS: '1',
  } }).start();
  try {
    // The stalled client: sends its request, then never reads.
    const stalled = net.connect(srv.port, '127.0.0.1');
    stalled.setNoDelay(true);
    let stalledClosed = false;
    stalled.on('close', () => { stalledClosed = true; });
    stalled.on('error', () => {});
    await new Promise((r) => stalled.on('connect', r));
    stalled.write('GET /v1/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
    stalled.pause();
    const healthy = await sse(`${srv.base}/v1/stream`);
    await sleep(200);

    const run = uuid();
    const line = 'z'.repeat(4000);
    const batches = 60, per = 100; // ~24 MB in all: far beyond the socket buffers and the queue cap
    let last;
    for (let b = 0; b < batches; b++) {
      last = await publish(srv.base, Array.from({ length: per }, (_, i) => ev.log(run, line, { n: b * per + i })));
    }
    await healthy.waitFrames(batches * per, 60000);
    const seqs = healthy.events().map((e) => e.seq);
    assert.equal(seqs.length, batches * per);
    assert.equal(seqs[seqs.length - 1], last[last.length - 1].seq);
    for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1] + 1);
    healthy.close();

    const m = await request(srv.base, 'GET', '/metrics');
    assert.match(m.text, /flowgate_sse_slow_consumers_dropped_total [1-9]/);
    // once it reads again, the stalled client finds its connection closed
    stalled.resume();
    stalled.on('data', () => {});
    for (let i = 0; i < 200 && !stalledClosed; i++) await sleep(50);
    assert.ok(stalledClosed, 'the stalled connection was closed by the server');
    // the server still serves new streams
    const fresh = await sse(`${srv.base}/v1/stream`);
    await publish(srv.base, ev.signedIn());
    await fresh.waitFrames(1);
    fresh.close();
  } finally { await srv.stop(); srv.cleanup(); }
});
