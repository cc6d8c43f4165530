'use strict';
// Proof that crashes lose nothing (issue #4 §5): concurrent producers, SSE clients that resume
// by cursor, and a webhook receiver, while the server is killed with SIGKILL at random moments
// six times and restarted. At the end: every acknowledged event is stored exactly once and in
// order; every SSE client saw every stored event exactly once, in order; the receiver got every
// acknowledged event at least once, and duplicates share their webhook-id. It prints the counts.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { Server, SseClient, request, ev, uuid, sleep } = require('./lib');

const KILLS = 6;

// A webhook receiver on 127.0.0.2 that answers 204 and records (event id, webhook-id).
async function receiver() {
  const got = [];
  const srv = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      try { got.push({ id: JSON.parse(Buffer.concat(chunks).toString()).id, wid: req.headers['webhook-id'] }); } catch { /* counted as missing */ }
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.2', r));
  return { got, port: srv.address().port, close: () => { srv.closeAllConnections(); srv.close(); } };
}

// An SSE subscriber that reconnects with Last-Event-ID whenever its stream ends or fails.
function resumingClient(srv) {
  const c = { seqs: [], ids: [], done: false, connects: 0 };
  c.loop = (async () => {
    let last = '0';
    while (!c.done) {
      const s = new SseClient(`${srv.base}/v1/stream`, { headers: { 'last-event-id': last } });
      try {
        await s.open();
        c.connects++;
        let seen = 0;
        while (!c.done && !s.closed) {
          await s.until(() => s.frames.length > seen || s.closed || c.done, 1000).catch(() => {});
          for (; seen < s.frames.length; seen++) {
            const f = s.frames[seen];
            if (f.event === 'gap') continue;
            c.seqs.push(Number(f.id));
            c.ids.push(JSON.parse(f.data).id);
            last = f.id;
          }
        }
      } catch { /* the server is down: try again */ }
      s.close();
      if (!c.done) await sleep(50);
    }
  })();
  return c;
}

test('SIGKILL at random moments: nothing acknowledged is lost, nothing is duplicated', async (t) => {
  const rx = await receiver();
  const srv = await new Server({ env: {
    FLOWGATE_WEBHOOKS_ALLOW_NETWORKS: '127.0.0.2/32',
    FLOWGATE_WEBHOOKS_RETRY_SCHEDULE: '200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms',
  } }).start();
  const acked = new Map(); // event id -> seq
  const clients = [];
  try {
    const sub = await request(srv.base, 'POST', '/v1/webhooks', { body: { url: `http://127.0.0.2:${rx.port}/in`, max_in_flight: 16 } });
    assert.equal(sub.status, 201);
    for (let i = 0; i < 3; i++) clients.push(resumingClient(srv));
    let producing = true;
    const run = uuid();
    const producers = Array.from({ length: 4 }, (_, p) => (async () => {
      let n = 0;
      while (producing) {
        const batch = Array.from({ length: 1 + (n % 5) }, (_, i) => ev.log(run, `p${p}-${n}-${i}`));
        n++;
        try {
          const r = await request(srv.base, 'POST', '/v1/events', { body: batch });
          if (r.status === 202) for (const x of r.json) acked.set(x.id, x.seq);
        } catch { await sleep(20); /* down */ }
      }
    })());
    for (let k = 0; k < KILLS; k++) {
      await sleep(300 + Math.random() * 500);
      await srv.kill9();
      await sleep(Math.random() * 200);
      await srv.start();
    }
    await sleep(500);
    producing = false;
    await Promise.all(producers);

    // the store: every acknowledged event once, sequence numbers without gaps or repeats
    const stored = [];
    for (let after = 0; ;) {
      const r = await request(srv.base, 'GET', `/v1/events?after=${after}&limit=1000`);
      assert.equal(r.status, 200);
      if (r.json.events.length === 0) break;
      stored.push(...r.json.events);
      after = r.json.next_after;
    }
    const storedIds = new Map(stored.map((e) => [e.event.id, e.seq]));
    assert.equal(storedIds.size, stored.length, 'an event id is stored twice');
    stored.forEach((e, i) => assert.equal(e.seq, i + 1, 'sequence numbers run 1, 2, 3… in order'));
    for (const [id, seq] of acked) assert.equal(storedIds.get(id), seq, `acknowledged ${id} (seq ${seq}) is not stored as such`);

    // every SSE client: every stored event exactly once, in order
    const last = stored.length;
    await Promise.all(clients.map((c) => (async () => {
      for (let i = 0; i < 400 && c.seqs.length < last; i++) await sleep(25);
    })()));
    for (const c of clients) {
      c.done = true;
      assert.deepEqual(c.seqs, stored.map((e) => e.seq), `a client saw ${c.seqs.length} events, the store has ${last}`);
    }

    // the receiver: every acknowledged event at least once, one webhook-id per event
    const delivered = () => new Set(rx.got.map((g) => g.id));
    for (let i = 0; i < 600 && ![...acked.keys()].every((id) => delivered().has(id)); i++) await sleep(50);
    const missing = [...acked.keys()].filter((id) => !delivered().has(id));
    assert.equal(missing.length, 0, `${missing.length} acknowledged events never reached the receiver`);
    const wids = new Map();
    for (const g of rx.got) {
      if (!wids.has(g.id)) wids.set(g.id, new Set());
      wids.get(g.id).add(g.wid);
    }
    for (const [id, set] of wids) assert.equal(set.size, 1, `event ${id} came with ${set.size} webhook-ids`);
    const dupes = rx.got.length - wids.size;
    t.diagnostic(`kills ${KILLS}; acknowledged ${acked.size}, stored ${stored.length} (${stored.length - acked.size} committed without their 202); `
      + `SSE clients ${clients.map((c) => `${c.seqs.length} events/${c.connects} connections`).join(', ')}; `
      + `webhook requests ${rx.got.length} for ${wids.size} events (${dupes} repeated, same webhook-id)`);
  } finally {
    for (const c of clients) c.done = true;
    await srv.stop();
    await Promise.all(clients.map((c) => c.loop));
    srv.cleanup();
    rx.close();
  }
});
