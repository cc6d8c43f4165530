'use strict';
// Cluster mode (issue #12): several nodes on one Redis log. Publish on any node, stream and
// resume on any other with no gap and no duplicate, one seq per event id across nodes, the same
// run views everywhere, the transition check across nodes, Redis down and back, and an entry
// written by hand into the log.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { Server, sse, publish, request, storedEvents, ev, uuid, sleep, tmpDir } = require('./lib');
const { Redis } = require('./redis');

async function cluster(n, env = {}) {
  const redis = await new Redis().start();
  const nodes = [];
  for (let i = 0; i < n; i++) {
    nodes.push(await new Server({ env: { FLOWGATE_CLUSTER_REDIS_URL: redis.url,
      FLOWGATE_CLUSTER_NODE_ID: `n${i}`, ...env } }).start());
  }
  return { redis, nodes };
}

async function teardown({ redis, nodes }) {
  for (const s of nodes) { await s.stop(); s.cleanup(); }
  await redis.stop();
  redis.cleanup();
}

// Publishes body until a 202 (every other answer meanwhile a 503); its reply.
async function publishWhenBack(node, body, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const r = await request(node.base, 'POST', '/v1/events', { body });
    if (r.status === 202) return r.json;
    assert.equal(r.status, 503, r.text);
    if (Date.now() > end) throw new Error('publishes did not work again');
    await sleep(50);
  }
}

// Waits until a node has applied the log up to seq (its GET /v1/events shows it).
async function applied(node, seq, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const evs = await storedEvents(node.base);
    if (evs.length && evs[evs.length - 1].seq >= seq) return evs;
    if (Date.now() > end) throw new Error(`node did not apply seq ${seq}: has ${evs.length}`);
    await sleep(20);
  }
}

test('publish on one node, stream and resume on the others: the same ids, no gap, no duplicate', async () => {
  const c = await cluster(3);
  const [a, b, cc] = c.nodes;
  try {
    const run = uuid();
    const onB = await sse(`${b.base}/v1/stream?last_event_id=0`);
    const onC = await sse(`${cc.base}/v1/stream?last_event_id=0`);
    const first = await publish(a.base, [ev.runCreated(run), ...Array.from({ length: 9 }, (_, i) => ev.log(run, `l${i}`))]);
    assert.deepEqual(first.map((r) => r.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const second = await publish(b.base, ev.log(run, 'from b'));
    assert.equal(second.seq, 11);
    await onB.waitFrames(11);
    await onC.waitFrames(11);
    assert.deepEqual(onB.frames.map((f) => f.id), onC.frames.map((f) => f.id));
    assert.deepEqual(onB.events().map((e) => e.seq), Array.from({ length: 11 }, (_, i) => i + 1));
    // resume on C with an id read from B: exactly the rest
    const cut = onB.frames[5].id;
    onB.close(); onC.close();
    await publish(cc.base, ev.log(run, 'from c'));
    const resumed = await sse(`${cc.base}/v1/stream`, { headers: { 'Last-Event-ID': cut } });
    await resumed.waitFrames(6);
    assert.deepEqual(resumed.events().map((e) => e.seq), [7, 8, 9, 10, 11, 12]);
    await sleep(200);
    assert.equal(resumed.frames.length, 6);
    resumed.close();
    // every node holds the same log
    const logs = await Promise.all(c.nodes.map((n) => applied(n, 12)));
    for (const l of logs) assert.deepEqual(l, logs[0]);
  } finally { await teardown(c); }
});

test('the same event id sent to two nodes gets one seq', async () => {
  const c = await cluster(2);
  const [a, b] = c.nodes;
  try {
    const run = uuid();
    const e = { ...ev.runCreated(run), id: 'evt-once' };
    const [ra, rb] = await Promise.all([publish(a.base, e), publish(b.base, e)]);
    assert.equal(ra.seq, rb.seq);
    const twice = uuid();
    const again = await publish(b.base, [e, ev.log(run, 'x'), { ...ev.log(run, 'y'), id: twice }, { ...ev.log(run, 'y'), id: twice }]);
    assert.equal(again[0].seq, ra.seq);
    assert.equal(again[2].seq, again[3].seq);
    const evs = await applied(a, again[2].seq);
    assert.equal(evs.filter((x) => x.event.id === 'evt-once').length, 1);
    assert.equal(evs.filter((x) => x.event.id === twice).length, 1);
    assert.equal(evs.length, 3);
  } finally { await teardown(c); }
});

test('a client resuming on a node that has not applied its cursor yet waits for it, then gets exactly the next events', async () => {
  const c = await cluster(2);
  const [a, b] = c.nodes;
  try {
    const run = uuid();
    // many publishes on A; the 202's seq is the cursor the client takes to B at once
    let last;
    for (let i = 0; i < 20; i++) last = await publish(a.base, ev.log(run, `l${i}`));
    const s = await sse(`${b.base}/v1/stream`, { headers: { 'Last-Event-ID': String(last.seq) } });
    const next = await publish(a.base, ev.log(run, 'next'));
    await s.waitFrames(1);
    await sleep(200);
    assert.deepEqual(s.frames.map((f) => [f.event, Number(f.id)]), [['log_line', next.seq]]);
    s.close();
  } finally { await teardown(c); }
});

test('run views and the transition check agree across nodes', async () => {
  const c = await cluster(3, { FLOWGATE_EVENTS_TRANSITIONS: 'enforce' });
  const [a, b, cc] = c.nodes;
  try {
    const run = uuid();
    await publish(a.base, ev.runCreated(run));
    await publish(b.base, ev.status(run, 'pending', 'running'));
    // the run is running now, whichever node is asked
    const r = await request(cc.base, 'POST', '/v1/events', { body: ev.status(run, 'pending', 'running') });
    assert.equal(r.status, 409, r.text);
    assert.equal(r.json.error, 'illegal_transition');
    const ok = await publish(cc.base, ev.status(run, 'running', 'completed'));
    await Promise.all(c.nodes.map((n) => applied(n, ok.seq)));
    const views = await Promise.all(c.nodes.map((n) => request(n.base, 'GET', `/v1/runs/${run}`)));
    for (const v of views) {
      assert.equal(v.status, 200);
      assert.equal(v.json.status, 'completed');
      assert.deepEqual(v.json.status_history, views[0].json.status_history);
      assert.equal(v.json.last_seq, ok.seq);
    }
    // an illegal transition by the state machine itself, refused before Redis
    const bad = await request(a.base, 'POST', '/v1/events', { body: ev.status(run, 'completed', 'running') });
    assert.equal(bad.status, 409);
    // many publishes at once share function calls: the one in conflict is refused alone
    const run2 = uuid();
    await publish(a.base, [ev.runCreated(run2), ev.status(run2, 'pending', 'running')]);
    const many = await Promise.all([
      ...Array.from({ length: 30 }, (_, i) => request(a.base, 'POST', '/v1/events', { body: ev.log(run2, `x${i}`) })),
      request(a.base, 'POST', '/v1/events', { body: ev.status(run2, 'pending', 'running') }),
      ...Array.from({ length: 30 }, (_, i) => request(a.base, 'POST', '/v1/events', { body: ev.log(run2, `y${i}`) })),
    ]);
    assert.deepEqual(many.map((r) => r.status), [...Array(30).fill(202), 409, ...Array(30).fill(202)]);
    const seqs = many.filter((r) => r.status === 202).map((r) => r.json.seq).sort((x, y) => x - y);
    assert.equal(new Set(seqs).size, 60);
    assert.equal(seqs[59] - seqs[0], 59, 'no number skipped for the refused one');
  } finally { await teardown(c); }
});

test('Redis down: publishes get 503 with Retry-After, /readyz says why, streams stay open and go on when it is back', async () => {
  const c = await cluster(2);
  const [a, b] = c.nodes;
  try {
    const run = uuid();
    const before = await publish(a.base, [ev.runCreated(run), ev.log(run, 'before')]);
    const s = await sse(`${b.base}/v1/stream?last_event_id=0`);
    await s.waitFrames(2);
    await c.redis.stop();
    const r = await request(a.base, 'POST', '/v1/events', { body: ev.log(run, 'while down') });
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json.error, 'store_unavailable');
    assert.equal(r.headers.get('retry-after'), '1');
    const ready = await request(a.base, 'GET', '/readyz');
    assert.equal(ready.status, 503);
    assert.equal(ready.json.details.reason, 'redis_unavailable');
    assert.equal(s.closed, false);
    await c.redis.start(); // the same directory: its AOF
    const after = await publishWhenBack(a, ev.log(run, 'after'));
    assert.equal(after.seq, before[1].seq + 1, 'numbering goes on: nothing acknowledged was lost');
    await s.waitFrames(3, 15000);
    assert.equal(Number(s.frames[2].id), after.seq);
    assert.equal((await request(a.base, 'GET', '/readyz')).status, 200);
    s.close();
  } finally { await teardown(c); }
});

test('an entry written into the log by hand is skipped with an error and a metric, never a crash', async () => {
  const c = await cluster(2);
  const [a, b] = c.nodes;
  try {
    const run = uuid();
    const first = await publish(a.base, ev.runCreated(run));
    const seq = await c.redis.cmd('INCR', 'fg:seq');
    await c.redis.cmd('XADD', 'fg:log', `${seq}-0`, 'j', 'not json', 'r', '0');
    const seq2 = await c.redis.cmd('INCR', 'fg:seq');
    await c.redis.cmd('XADD', 'fg:log', `${seq2}-0`, 'x', 'y'); // no event in it at all
    const next = await publish(b.base, ev.log(run, 'after the bad ones'));
    assert.equal(next.seq, seq2 + 1);
    for (const n of c.nodes) {
      const evs = await applied(n, next.seq);
      assert.deepEqual(evs.map((e) => e.seq), [first.seq, next.seq]);
      const told = await sse(`${n.base}/v1/stream`, { headers: { 'Last-Event-ID': String(seq) } });
      await told.waitFrames(1);
      assert.equal(told.frames[0].event, 'reset', 'a cursor on a skipped entry is told');
      told.close();
      const m = await request(n.base, 'GET', '/metrics');
      assert.match(m.text, /flowgate_cluster_bad_entries_total 2/);
      assert.match(n.log, /event=cluster_bad_entry/);
    }
    // the nodes go on: a later publish is applied everywhere
    const later = await publish(a.base, ev.log(run, 'later'));
    for (const n of c.nodes) assert.equal((await request(n.base, 'GET', '/readyz')).status, 200);
    assert.equal(later.seq, next.seq + 1);
    for (const n of c.nodes) await applied(n, later.seq);
  } finally { await teardown(c); }
});

// A webhook receiver on 127.0.0.2: every request, by webhook-id.
async function receiver(answer = () => 204) {
  const got = [];
  const srv = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({ path: req.url, id: req.headers['webhook-id'], body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      res.writeHead(answer(req));
      res.end();
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.2', r));
  return { got, url: `http://127.0.0.2:${srv.address().port}/hook`, close: () => { srv.closeAllConnections(); srv.close(); } };
}

const HOOKS = { FLOWGATE_WEBHOOKS_ALLOW_NETWORKS: '127.0.0.2/32', FLOWGATE_WEBHOOKS_RETRY_SCHEDULE: '200ms,200ms,200ms,200ms,200ms',
  FLOWGATE_WEBHOOKS_CONNECT_TIMEOUT_MS: '300', FLOWGATE_WEBHOOKS_REQUEST_TIMEOUT_MS: '700', FLOWGATE_CLUSTER_LEASE_MS: '1500' };

async function until(pred, what, ms = 15000) {
  for (const end = Date.now() + ms; ;) {
    if (await pred()) return;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function metric(text, name) {
  const m = text.match(new RegExp(`^${name} (\\d+)`, 'm'));
  return m ? Number(m[1]) : NaN;
}

test('webhooks in cluster mode: subscriptions and delivery logs are the same on every node, each event delivered once', async () => {
  const rx = await receiver();
  const c = await cluster(3, HOOKS);
  const [a, b, cc] = c.nodes;
  try {
    const made = await request(a.base, 'POST', '/v1/webhooks', { body: { url: rx.url, event_types: ['log_line'] } });
    assert.equal(made.status, 201, made.text);
    const id = made.json.id;
    assert.match(made.json.secret, /^whsec_/);
    // the node that took it has applied it when it answers; the others follow the log
    const shown = (await request(a.base, 'GET', `/v1/webhooks/${id}`)).json;
    for (const n of c.nodes) await until(async () => (await request(n.base, 'GET', `/v1/webhooks/${id}`)).status === 200, 'the subscription everywhere');
    for (const n of c.nodes) assert.deepEqual((await request(n.base, 'GET', `/v1/webhooks/${id}`)).json, shown);
    for (const n of c.nodes) assert.equal((await request(n.base, 'GET', `/v1/webhooks/${id}/secret`)).json.secret, made.json.secret);
    // bad input changes nothing, as on one node
    const bad = await request(b.base, 'POST', '/v1/webhooks', { body: { url: 'ftp://x', event_types: ['log_line'] } });
    assert.equal(bad.status, 400);
    const run = uuid();
    const lines = [];
    for (let i = 0; i < 30; i++) {
      lines.push(`line ${i}`);
      await publish(c.nodes[i % 3].base, ev.log(run, `line ${i}`));
    }
    await until(() => new Set(rx.got.map((g) => g.id)).size >= 30, '30 deliveries');
    await sleep(500);
    const ids = rx.got.map((g) => g.id);
    assert.equal(ids.length, new Set(ids).size, 'no delivery sent twice');
    assert.deepEqual(rx.got.map((g) => g.body.line).sort(), lines.slice().sort());
    // one node owns it
    const held = [];
    for (const n of c.nodes) held.push(metric((await request(n.base, 'GET', '/metrics')).text, 'flowgate_cluster_webhook_leases_held'));
    assert.deepEqual(held.slice().sort(), [0, 0, 1]);
    // the delivery log is the same everywhere
    const log = async (n) => (await request(n.base, 'GET', `/v1/webhooks/${id}/deliveries?limit=100`)).json;
    await until(async () => {
      const logs = await Promise.all(c.nodes.map(log));
      return logs.every((l) => l.deliveries.length === 30 && l.deliveries.every((d) => d.status === 'succeeded'));
    }, 'settled delivery logs');
    const logs = await Promise.all(c.nodes.map(log));
    for (const l of logs) assert.deepEqual(l, logs[0]);
    assert.deepEqual(logs[0].deliveries.map((d) => d.id).sort(), ids.slice().sort(), 'the webhook-ids are the delivery ids');
    // a change on one node is everywhere; a delete too
    const off = await request(b.base, 'PATCH', `/v1/webhooks/${id}`, { body: { enabled: false } });
    assert.equal(off.status, 200, off.text);
    for (const n of c.nodes) await until(async () => (await request(n.base, 'GET', `/v1/webhooks/${id}`)).json.enabled === false, 'disabled everywhere');
    assert.equal((await request(cc.base, 'DELETE', `/v1/webhooks/${id}`)).status, 204);
    for (const n of c.nodes) await until(async () => (await request(n.base, 'GET', `/v1/webhooks/${id}`)).status === 404, 'deleted everywhere');
    assert.equal((await request(a.base, 'DELETE', `/v1/webhooks/${id}`)).status, 404);
  } finally { rx.close(); await teardown(c); }
});

test('webhook leases: shared out across the nodes, taken over when the owner is killed, repeats only with the same webhook-id', async () => {
  const rx = await receiver();
  const c = await cluster(3, HOOKS);
  try {
    const subs = [];
    for (let i = 0; i < 6; i++) {
      const r = await request(c.nodes[i % 3].base, 'POST', '/v1/webhooks', { body: { url: `${rx.url}?s=${i}`, event_types: ['log_line'] } });
      assert.equal(r.status, 201, r.text);
      subs.push(r.json.id);
    }
    const held = async () => Promise.all(c.nodes.map(async (n) => metric((await request(n.base, 'GET', '/metrics')).text, 'flowgate_cluster_webhook_leases_held')));
    await until(async () => (await held()).every((h) => h === 2), 'two leases per node');
    const run = uuid();
    const lines = [];
    const send = async (n, line) => { lines.push(line); await publish(n.base, ev.log(run, line)); };
    for (let i = 0; i < 10; i++) await send(c.nodes[i % 3], `before ${i}`);
    const victim = c.nodes[1];
    await victim.kill9();
    const alive = [c.nodes[0], c.nodes[2]];
    for (let i = 0; i < 10; i++) await send(alive[i % 2], `after ${i}`);
    // every event reaches every subscription; the survivors hold all six leases
    await until(() => new Set(rx.got.map((g) => `${g.path} ${g.body.line}`)).size === 6 * lines.length,
      'every event delivered to every subscription', 20000);
    const after = await Promise.all(alive.map(async (n) => metric((await request(n.base, 'GET', '/metrics')).text, 'flowgate_cluster_webhook_leases_held')));
    assert.equal(after[0] + after[1], 6);
    // a repeat (a delivery in flight at the kill) has the same webhook-id and body
    const byId = new Map();
    for (const g of rx.got) {
      if (byId.has(g.id)) assert.deepEqual(g.body, byId.get(g.id));
      byId.set(g.id, g.body);
    }
    assert.equal(byId.size, 6 * lines.length);
  } finally { rx.close(); await teardown(c); }
});

test('a subscription declared in the config is declared through the log: the same on every node, each event delivered once', async () => {
  const rx = await receiver();
  const c = await cluster(2, { ...HOOKS, FLOWGATE_WEBHOOK_URL: rx.url, FLOWGATE_WEBHOOK_TYPES: 'log_line' });
  try {
    const lists = await Promise.all(c.nodes.map(async (n) => (await request(n.base, 'GET', '/v1/webhooks')).json));
    const ids = lists.map((l) => (l.data || l.webhooks || l).map((w) => w.id));
    assert.equal(ids[0].length, 1, JSON.stringify(lists[0]));
    assert.match(ids[0][0], /^wh_cfg_[0-9a-f]{16}$/);
    assert.deepEqual(ids[1], ids[0]);
    const secrets = await Promise.all(c.nodes.map(async (n) => (await request(n.base, 'GET', `/v1/webhooks/${ids[0][0]}/secret`)).json.secret));
    assert.equal(secrets[0], secrets[1], 'one secret: the first declaration made it, the second kept it');
    const run = uuid();
    for (let i = 0; i < 10; i++) await publish(c.nodes[i % 2].base, ev.log(run, `d${i}`));
    await until(() => rx.got.length >= 10, 'ten deliveries');
    await sleep(500);
    assert.equal(rx.got.length, 10);
    assert.equal(new Set(rx.got.map((g) => g.id)).size, 10);
  } finally { rx.close(); await teardown(c); }
});

test('a node stopped gracefully lets its webhook leases go at once: the others take over well within the lease time', async () => {
  const c = await cluster(3, { ...HOOKS, FLOWGATE_CLUSTER_LEASE_MS: '6000' });
  try {
    for (let i = 0; i < 3; i++) {
      const r = await request(c.nodes[i].base, 'POST', '/v1/webhooks', { body: { url: `http://127.0.0.2:9/s${i}`, event_types: ['log_line'] } });
      assert.equal(r.status, 201, r.text);
    }
    const held = async (nodes) => (await Promise.all(nodes.map(async (n) => metric((await request(n.base, 'GET', '/metrics')).text, 'flowgate_cluster_webhook_leases_held')))).reduce((x, y) => x + y, 0);
    await until(async () => (await held(c.nodes)) === 3 && (await request(c.nodes[1].base, 'GET', '/metrics')).text.includes('flowgate_cluster_webhook_leases_held 1'), 'one lease per node');
    const t0 = Date.now();
    await c.nodes[1].stop();
    const alive = [c.nodes[0], c.nodes[2]];
    await until(async () => (await held(alive)) === 3, 'the stopped node\'s lease taken over', 6000);
    assert.ok(Date.now() - t0 < 4500, `took ${Date.now() - t0} ms: the lease was let go, not left to lapse`);
    assert.match(c.nodes[1].log, /event=webhook_leases_released count=1/);
  } finally { await teardown(c); }
});

// The stop can come while the lease thread waits on Redis (a slow round): it must still let the
// leases go when Redis answers again, not leave them to lapse (it once left the loop on the stop
// without releasing, because the release had been asked for but had not run).
test('a node stopped while its lease thread waits on Redis still lets its leases go', async () => {
  const c = await cluster(2, { ...HOOKS, FLOWGATE_CLUSTER_LEASE_MS: '6000' });
  try {
    for (let i = 0; i < 2; i++) {
      const r = await request(c.nodes[i].base, 'POST', '/v1/webhooks', { body: { url: `http://127.0.0.2:9/p${i}`, event_types: ['log_line'] } });
      assert.equal(r.status, 201, r.text);
    }
    const held = async (n) => metric((await request(n.base, 'GET', '/metrics')).text, 'flowgate_cluster_webhook_leases_held');
    await until(async () => (await held(c.nodes[0])) === 1 && (await held(c.nodes[1])) === 1, 'one lease per node');
    await c.redis.cmd('CLIENT', 'PAUSE', '1200', 'ALL'); // every node's next command waits
    await sleep(400); // the lease thread looks at Redis every 200 ms: it is waiting now
    const t0 = Date.now();
    await c.nodes[1].stop();
    await until(async () => (await held(c.nodes[0])) === 2, 'the stopped node\'s lease taken over', 8000);
    assert.ok(Date.now() - t0 < 4500, `took ${Date.now() - t0} ms: the lease was left to lapse`);
    assert.match(c.nodes[1].log, /event=webhook_leases_released count=1/);
  } finally { await teardown(c); }
});

// A lease that lapsed in Redis while its node still held it (a renewal late under load) is
// taken anew by the renewal, with a new token: the node must fence and release with that one,
// else its outcomes are ignored and its leases are left to lapse when it stops.
test('a lease taken anew by its renewal: outcomes still count, and a stop still lets it go', async () => {
  const rx = await receiver();
  const env = { ...HOOKS, FLOWGATE_CLUSTER_LEASE_MS: '6000' };
  const c = await cluster(1, env); // alone: the renewal, not another node, takes the lease anew
  try {
    const [a] = c.nodes;
    const sub = await request(a.base, 'POST', '/v1/webhooks', { body: { url: rx.url, event_types: ['log_line'] } });
    assert.equal(sub.status, 201, sub.text);
    const held = async (n) => metric((await request(n.base, 'GET', '/metrics')).text, 'flowgate_cluster_webhook_leases_held');
    await until(async () => (await held(a)) === 1, 'the lease taken');
    const before = await c.redis.cmd('GET', `fg:lease:${sub.json.id}`);
    await c.redis.cmd('DEL', `fg:lease:${sub.json.id}`); // lapsed, as if the renewal came late
    await until(async () => { const v = await c.redis.cmd('GET', `fg:lease:${sub.json.id}`); return v && v !== before; }, 'the lease taken anew', 5000);
    const run = uuid();
    for (let i = 0; i < 3; i++) await publish(a.base, ev.log(run, `after ${i}`));
    await until(() => rx.got.length >= 3, 'the deliveries');
    await sleep(500);
    assert.equal(metric((await request(a.base, 'GET', '/metrics')).text, 'flowgate_cluster_webhook_outcomes_fenced_total'), 0);
    const b = await new Server({ env: { FLOWGATE_CLUSTER_REDIS_URL: c.redis.url, FLOWGATE_CLUSTER_NODE_ID: 'late', ...env } }).start();
    c.nodes.push(b);
    const t0 = Date.now();
    await a.stop();
    await until(async () => (await held(b)) === 1, 'the lease taken over', 8000);
    assert.ok(Date.now() - t0 < 4500, `took ${Date.now() - t0} ms: the lease was left to lapse`);
  } finally { rx.close(); await teardown(c); }
});

// A client that follows the log across nodes: when its node goes away it resumes on another
// with Last-Event-ID, as an EventSource behind a load balancer does.
class Roaming {
  constructor(nodes) { this.nodes = nodes; this.seqs = []; this.stopped = false; this.i = Math.floor(Math.random() * nodes.length); }

  async run() {
    while (!this.stopped) {
      const node = this.nodes[this.i++ % this.nodes.length];
      const last = this.seqs.length ? String(this.seqs[this.seqs.length - 1]) : '0';
      let c;
      try {
        c = await sse(`${node.base}/v1/stream`, { headers: { 'Last-Event-ID': last } });
      } catch { await sleep(50); continue; }
      this.current = c;
      let taken = 0;
      while (!this.stopped) {
        while (taken < c.frames.length) {
          const f = c.frames[taken++];
          if (f.event === 'log_line') this.seqs.push(Number(f.id));
        }
        if (c.closed) break;
        try { await c.until(() => c.frames.length > taken || c.closed || this.stopped, 1000); } catch { /* poll */ }
      }
      c.close();
    }
  }
}

test('kill -9 of random nodes under publishers, roaming streams and a webhook: nothing acknowledged lost, every stream sees each event once, in order, every event delivered', async () => {
  const rx = await receiver();
  const c = await cluster(3, HOOKS);
  const nodes = c.nodes;
  const sub = await request(nodes[0].base, 'POST', '/v1/webhooks', { body: { url: rx.url, event_types: ['log_line'] } });
  assert.equal(sub.status, 201, sub.text);
  const run = uuid();
  const acked = new Map(); // id -> seq
  let stop = false;
  const publisher = async (k) => {
    let n = 0;
    while (!stop) {
      const id = uuid();
      const body = { ...ev.log(run, `p${k}-${n++}`), id };
      for (let tries = 0; tries < 50; tries++) { // the same id until acknowledged: one seq
        const node = nodes[Math.floor(Math.random() * nodes.length)];
        try {
          const r = await request(node.base, 'POST', '/v1/events', { body });
          if (r.status === 202) { acked.set(id, r.json.seq); break; }
        } catch { /* the node is down */ }
        await sleep(20);
      }
    }
  };
  const clients = [0, 1, 2].map(() => new Roaming(nodes));
  const running = [...clients.map((cl) => cl.run()), ...[0, 1, 2, 3].map(publisher)];
  try {
    for (let k = 0; k < 5; k++) {
      await sleep(400);
      const victim = nodes[Math.floor(Math.random() * nodes.length)];
      await victim.kill9();
      await sleep(200);
      await victim.start();
    }
    await sleep(300);
    stop = true;
    await Promise.all(running.slice(3));
    const head = Math.max(...acked.values());
    assert.ok(acked.size > 50, `only ${acked.size} publishes acknowledged`);
    // every node holds every acknowledged event, under its number, in the same order
    const logs = await Promise.all(nodes.map((n) => applied(n, head, 20000)));
    for (const l of logs) assert.deepEqual(l.map((e) => e.seq), logs[0].map((e) => e.seq));
    const bySeq = new Map(logs[0].map((e) => [e.seq, e.event.id]));
    for (const [id, seq] of acked) assert.equal(bySeq.get(seq), id, `acknowledged ${id} as ${seq}`);
    assert.deepEqual(logs[0].map((e) => e.seq), Array.from({ length: logs[0].length }, (_, i) => i + 1), 'no gap');
    // every roaming stream saw each event once, in order, up to the head
    for (const cl of clients) {
      const end = Date.now() + 20000;
      while ((cl.seqs[cl.seqs.length - 1] || 0) < logs[0].length && Date.now() < end) await sleep(50);
      cl.stopped = true;
    }
    await Promise.all(running.slice(0, 3));
    for (const cl of clients) {
      assert.deepEqual(cl.seqs, Array.from({ length: logs[0].length }, (_, i) => i + 1));
    }
    // the webhook got every event at least once; a repeat only under the same webhook-id
    const lines = new Set(logs[0].map((e) => e.event.line));
    await until(() => new Set(rx.got.map((g) => g.body.line)).size === lines.size, 'every event delivered', 30000);
    const byLine = new Map();
    for (const g of rx.got) {
      assert.ok(lines.has(g.body.line));
      if (byLine.has(g.body.line)) assert.equal(g.id, byLine.get(g.body.line), 'a repeat keeps its webhook-id');
      byLine.set(g.body.line, g.id);
    }
  } finally {
    stop = true;
    for (const cl of clients) cl.stopped = true;
    await Promise.allSettled(running);
    rx.close();
    await teardown(c);
  }
});

test('retention trims the shared log by one node at a time, and the idempotency window with it', async () => {
  const c = await cluster(2, { FLOWGATE_STORE_RETENTION_MAX_EVENTS: '5', FLOWGATE_STORE_RETENTION_INTERVAL_S: '1' });
  const [a, b] = c.nodes;
  try {
    const run = uuid();
    const ids = Array.from({ length: 20 }, () => uuid());
    const acks = [];
    for (const id of ids) acks.push(await publish(a.base, { ...ev.log(run, id), id }));
    assert.equal(acks[19].seq, 20);
    let entries;
    for (let i = 0; i < 100; i++) {
      entries = await c.redis.cmd('XRANGE', 'fg:log', '-', '+');
      if (entries.length <= 5) break;
      await sleep(100);
    }
    assert.deepEqual(entries.map((e) => e[0]), ['16-0', '17-0', '18-0', '19-0', '20-0']);
    assert.equal(await c.redis.cmd('GET', 'fg:purged'), '15');
    assert.equal(await c.redis.cmd('HLEN', 'fg:ids'), 5);
    // an id still in the window is a duplicate; the log goes on above the floor
    assert.equal((await publish(b.base, { ...ev.log(run, ids[19]), id: ids[19] })).seq, 20);
    assert.equal((await publish(b.base, ev.log(run, 'next'))).seq, 21);
    const m = [await request(a.base, 'GET', '/metrics'), await request(b.base, 'GET', '/metrics')];
    assert.ok(m.some((r) => /flowgate_cluster_log_floor 15/.test(r.text)), 'one node trimmed');
    // a node that joins now, with no peer to copy (none listed), starts above the floor and says so
    await c.redis.cmd('DEL', 'fg:peers');
    const late = await new Server({ env: { FLOWGATE_CLUSTER_REDIS_URL: c.redis.url, FLOWGATE_CLUSTER_NODE_ID: 'late' } }).start();
    c.nodes.push(late);
    const evs = await applied(late, 21);
    assert.deepEqual(evs.map((e) => e.seq), [16, 17, 18, 19, 20, 21]);
    assert.match(late.log, /event=cluster_snapshot_none/);
    assert.match(late.log, /event=cluster_log_behind applied=0 first_in_log=16/);
    // a client resuming inside what this node never got is told so in-band
    const lost = await sse(`${late.base}/v1/stream`, { headers: { 'Last-Event-ID': '7' } });
    await lost.waitFrames(1);
    assert.equal(lost.frames[0].event, 'reset');
    assert.equal(JSON.parse(lost.frames[0].data).reason, 'events_lost');
    lost.close();
  } finally { await teardown(c); }
});

test('a node that joins after retention trimmed the log starts from a live peer\'s copy: its views equal the others\'', async () => {
  const env = { ...HOOKS, FLOWGATE_STORE_RETENTION_MAX_EVENTS: '10', FLOWGATE_STORE_RETENTION_INTERVAL_S: '1' };
  const rx = await receiver();
  const c = await cluster(2, env);
  const [a, b] = c.nodes;
  try {
    const sub = await request(a.base, 'POST', '/v1/webhooks', { body: { url: rx.url, event_types: ['approval_requested'] } });
    assert.equal(sub.status, 201, sub.text);
    const runs = [uuid(), uuid(), uuid()];
    for (const run of runs) {
      await publish(a.base, ev.runCreated(run));
      await publish(b.base, ev.status(run, 'pending', 'running'));
      await publish(a.base, ev.approval(run));
      for (let i = 0; i < 10; i++) await publish(b.base, ev.log(run, `${run} ${i}`));
    }
    await publish(a.base, ev.granted(runs[0]));
    await publish(b.base, ev.status(runs[1], 'running', 'completed'));
    await until(async () => Number(await c.redis.cmd('GET', 'fg:purged')) > 20, 'the log trimmed');
    const head = (await publish(a.base, ev.log(runs[2], 'last'))).seq;
    // copies left in its directory by an earlier crash (mid-serve, mid-fetch) are removed first
    const dir = tmpDir();
    const stale = ['snapshot-4242-0.db', 'snapshot-incoming.db', 'snapshot-incoming.db-journal'];
    for (const f of [...stale, 'snapshot-notes.txt']) fs.writeFileSync(path.join(dir, f), 'x'.repeat(4096));
    const late = await new Server({ dataDir: dir, env: { FLOWGATE_CLUSTER_REDIS_URL: c.redis.url, FLOWGATE_CLUSTER_NODE_ID: 'late', ...env } }).start();
    c.nodes.push(late);
    assert.match(late.log, /event=cluster_snapshot_installed peer=n[01] .*ok=1/);
    for (const f of stale) assert.match(late.log, new RegExp(`event=cluster_snapshot_stale_removed file=\\S*${f.replace(/\./g, '\\.')}\\b`));
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('snapshot-')), ['snapshot-notes.txt']);
    await applied(late, head);
    assert.doesNotMatch(late.log, /cluster_log_behind/);
    for (const p of ['/v1/runs', ...runs.map((r) => `/v1/runs/${r}`), '/v1/approvals', '/v1/webhooks', `/v1/webhooks/${sub.json.id}`]) {
      // (age_ms moves with the clock between the two reads)
      const view = async (n) => JSON.parse((await request(n.base, 'GET', p)).text, (k, v) => (k === 'age_ms' ? undefined : v));
      assert.deepEqual(await view(late), await view(a), p);
    }
    // and it goes on with the log like the others
    await publish(late.base, ev.status(runs[2], 'running', 'failed'));
    await until(async () => (await request(a.base, 'GET', `/v1/runs/${runs[2]}`)).json.status === 'failed', 'applied on a');
    await until(async () => (await request(late.base, 'GET', `/v1/runs/${runs[2]}`)).json.status === 'failed', 'applied on the late node');
  } finally { rx.close(); await teardown(c); }
});

test('Redis restarted empty: the nodes see a new epoch, never give out a number twice, and streams go on above', async () => {
  const c = await cluster(2);
  const [a, b] = c.nodes;
  try {
    const run = uuid();
    const before = await publish(a.base, Array.from({ length: 5 }, (_, i) => ev.log(run, `b${i}`)));
    const s = await sse(`${b.base}/v1/stream?last_event_id=0`);
    await s.waitFrames(5);
    // the data is gone: a restart with an empty directory
    await c.redis.stop();
    require('node:fs').rmSync(c.redis.dir, { recursive: true, force: true });
    require('node:fs').mkdirSync(c.redis.dir);
    await c.redis.start();
    const after = await publishWhenBack(b, ev.log(run, 'after'));
    assert.ok(after.seq > before[4].seq, `numbering goes on above: ${after.seq}`);
    await s.waitFrames(6, 15000);
    assert.equal(Number(s.frames[5].id), after.seq);
    for (const n of c.nodes) {
      const evs = await applied(n, after.seq);
      assert.deepEqual(evs.map((e) => e.seq), [1, 2, 3, 4, 5, after.seq]);
      assert.match(n.log, /event=cluster_log_epoch_changed/);
      assert.match((await request(n.base, 'GET', '/metrics')).text, /flowgate_cluster_epoch_changes_total [1-9]/);
    }
    s.close();
  } finally { await teardown(c); }
});

test('Redis flushed under live connections: the same, no number given twice', async () => {
  const c = await cluster(2);
  const [a, b] = c.nodes;
  try {
    const run = uuid();
    const before = await publish(a.base, Array.from({ length: 3 }, (_, i) => ev.log(run, `b${i}`)));
    await applied(b, before[2].seq);
    await c.redis.cmd('FLUSHALL');
    const after = await publishWhenBack(a, ev.log(run, 'after'));
    assert.ok(after.seq > before[2].seq, `numbering goes on above: ${after.seq}`);
    for (const n of c.nodes) assert.deepEqual((await applied(n, after.seq)).map((e) => e.seq), [1, 2, 3, after.seq]);
  } finally { await teardown(c); }
});

test('a batch of 5,000 events is one publish: numbered together, stored on every node', async () => {
  const c = await cluster(2, { FLOWGATE_LIMITS_MAX_BATCH_EVENTS: '10000', FLOWGATE_LIMITS_MAX_BODY_BYTES: '16777216' });
  const [a, b] = c.nodes;
  try {
    const run = uuid();
    const batch = Array.from({ length: 5000 }, (_, i) => ev.log(run, `l${i}`));
    const res = await publish(a.base, batch);
    assert.deepEqual(res.map((r) => r.seq), Array.from({ length: 5000 }, (_, i) => i + 1));
    const again = await publish(b.base, batch.map((e, i) => ({ ...e, id: res[i].id })));
    assert.deepEqual(again.map((r) => r.seq), res.map((r) => r.seq), 'all duplicates');
    for (const n of c.nodes) assert.equal((await applied(n, 5000)).length, 5000);
    assert.equal(await c.redis.cmd('XLEN', 'fg:log'), 5);
  } finally { await teardown(c); }
});
