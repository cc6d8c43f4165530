'use strict';
// Load with churn: many streams and concurrent publishers over both loops, streams that join
// late, and clients that vanish mid-stream. Every stream that stays sees every event exactly
// once in order; the server keeps serving. (This found a cross-thread buffer pool bug.)
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { Server, sse, publish, request, ev, uuid, sleep } = require('./lib');

// A bare SSE reader counting frames (cheaper than the full client for hundreds of streams).
function rawStream(port, path) {
  const s = net.connect(port, '127.0.0.1');
  const st = { sock: s, ids: [], buf: '' };
  s.setEncoding('utf8');
  s.on('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`));
  s.on('data', (d) => {
    st.buf += d;
    let m;
    const re = /\nid: (\d+)\n/g;
    let last = 0;
    while ((m = re.exec(st.buf)) !== null) { st.ids.push(Number(m[1])); last = re.lastIndex; }
    st.buf = st.buf.slice(Math.max(0, last - 1));
  });
  s.on('error', () => {});
  return st;
}

test('streams, publishers and vanishing clients under load', async () => {
  const srv = await new Server({ env: { FLOWGATE_THREADS: '2' } }).start();
  try {
    const run = uuid();
    const keep = Array.from({ length: 150 }, () => rawStream(srv.port, `/v1/runs/${run}/stream?last_event_id=0`));
    const vanish = Array.from({ length: 150 }, () => rawStream(srv.port, '/v1/stream'));
    await sleep(300);
    const total = 3000;
    let sent = 0;
    const publisher = async () => {
      while (sent < total) {
        const n = 1; // one commit each: many cross-thread wake-ups on both loops
        sent += n;
        await publish(srv.base, Array.from({ length: n }, (_, i) => ev.log(run, `s${i}`)));
      }
    };
    const pubs = Promise.all(Array.from({ length: 8 }, publisher));
    await sleep(150);
    for (const v of vanish) v.sock.destroy(); // clients gone mid-stream
    const late = Array.from({ length: 50 }, () => rawStream(srv.port, `/v1/runs/${run}/stream?last_event_id=0`));
    await pubs;
    const all = keep.concat(late);
    for (let i = 0; i < 400 && all.some((s) => s.ids.length < total); i++) await sleep(50);
    for (const s of all) {
      assert.equal(s.ids.length, total);
      for (let i = 0; i < total; i++) assert.equal(s.ids[i], i + 1);
      s.sock.destroy();
    }
    assert.equal((await request(srv.base, 'GET', '/readyz')).status, 200);
    const fresh = await sse(`${srv.base}/v1/stream?types=user_signed_in`);
    await publish(srv.base, ev.signedIn());
    await fresh.waitFrames(1);
    fresh.close();
  } finally {
    const exit = await srv.stop();
    srv.cleanup();
    assert.equal(exit.code, 0, srv.log);
  }
});
