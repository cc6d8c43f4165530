'use strict';
// Single-event POSTs pipelined on one HTTP/1.1 connection (issue #13): the requests already read
// behind a publish that repeat it but for their body are committed with it, and each is still
// answered exactly as the normal path would answer it, in order: one event each, in the order
// sent, bad ones refused without storing anything, nothing past a request that does not qualify
// committed before it, limits and credentials applied, and nothing left behind when the client
// goes away mid-pipeline.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');
const { Server, request, storedEvents, ev, uuid, tmpDir, sleep, BIN } = require('./lib');

const RUN = uuid();

// One raw request; headers as [name, value] pairs in order.
function raw(body, headers = [['Content-Type', 'application/json']], { lengthName = 'Content-Length' } = {}) {
  const b = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const lines = ['POST /v1/events HTTP/1.1', 'Host: x', ...headers.map(([k, v]) => `${k}: ${v}`), `${lengthName}: ${b.length}`];
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n'), b]);
}

// Sends every request in one write on one connection; resolves with the answers in order.
function pipelined(port, reqs, { closeAfterWrite = false } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    const out = [];
    sock.on('connect', () => {
      sock.write(Buffer.concat(reqs));
      if (closeAfterWrite) { sock.destroy(); resolve(out); }
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) break;
        const head = buf.subarray(0, end).toString();
        const len = Number((head.match(/content-length: *(\d+)/i) || [0, 0])[1]);
        if (buf.length < end + 4 + len) break;
        const body = buf.subarray(end + 4, end + 4 + len).toString();
        let json = null;
        try { json = JSON.parse(body); } catch { /* not JSON */ }
        out.push({ status: Number(head.slice(9, 12)), json });
        buf = buf.subarray(end + 4 + len);
      }
      if (out.length === reqs.length) { sock.end(); resolve(out); }
    });
    sock.on('error', (e) => { if (!closeAfterWrite) reject(e); });
    setTimeout(() => reject(new Error(`${out.length} of ${reqs.length} answers`)), 15000).unref();
  });
}

async function commits(base) {
  const text = (await request(base, 'GET', '/metrics')).text;
  return Number(text.match(/^flowgate_commits_total (\d+)/m)[1]);
}

const lines = async (base) => (await storedEvents(base)).map((e) => e.event.line);

test('200 pipelined single-event POSTs: 200 answers in order, one event each, committed together', async () => {
  const srv = await new Server().start();
  try {
    const reqs = Array.from({ length: 200 }, (_, i) => raw(ev.log(RUN, `l${i}`)));
    const before = await commits(srv.base);
    const res = await pipelined(srv.port, reqs);
    assert.deepEqual(res.map((r) => r.status), reqs.map(() => 202));
    assert.deepEqual(res.map((r) => r.json.seq), reqs.map((_, i) => i + 1));
    assert.deepEqual(await lines(srv.base), reqs.map((_, i) => `l${i}`));
    const used = (await commits(srv.base)) - before;
    assert.ok(used < 100, `${used} commits for 200 pipelined events: none were read ahead`);
  } finally { await srv.stop(); srv.cleanup(); }
});

test('a pipeline mixing good, bad and different requests: each answered as on its own, in order', async () => {
  const srv = await new Server().start();
  try {
    const reqs = [
      raw(ev.log(RUN, 'a1')),
      raw(ev.log(RUN, 'a2')),
      raw('{"type":"log_line",'), // broken JSON: 400, nothing stored
      raw(ev.log(RUN, 'a3')),
      raw([ev.log(RUN, 'b1'), ev.log(RUN, 'b2')]), // a batch: the normal path, in its turn
      raw(ev.log(RUN, 'a4'), [['Content-Type', 'application/json'], ['X-Trace', 't1']]), // other headers
      raw(ev.log(RUN, 'a5')),
      raw({ type: 'no_such_type', run_id: RUN }), // invalid event: 400
      raw(ev.log(RUN, 'a6'), [['CONTENT-TYPE', 'application/json']], { lengthName: 'content-LENGTH' }),
      raw(ev.log(RUN, 'a7')),
    ];
    const res = await pipelined(srv.port, reqs);
    assert.deepEqual(res.map((r) => r.status), [202, 202, 400, 202, 202, 202, 202, 400, 202, 202]);
    assert.equal(res[2].json.error, 'invalid_json');
    assert.equal(res[7].json.error, 'unknown_type');
    const seqs = res.filter((r) => r.status === 202).flatMap((r) => (Array.isArray(r.json) ? r.json : [r.json]).map((x) => x.seq));
    assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(await lines(srv.base), ['a1', 'a2', 'a3', 'b1', 'b2', 'a4', 'a5', 'a6', 'a7']);
  } finally { await srv.stop(); srv.cleanup(); }
});

test('pipelined publishes keep their credential and the publish rate limit', async () => {
  const key = `fgk_${crypto.randomBytes(24).toString('base64url')}`;
  const other = `fgk_${crypto.randomBytes(24).toString('base64url')}`;
  const hash = spawnSync(BIN, ['hash-key', key]).stdout.toString().trim();
  const dir = tmpDir();
  const cfg = path.join(dir, 'flowgate.json');
  fs.writeFileSync(cfg, JSON.stringify({
    auth: { keys: [{ name: 'ci', sha256: hash, scopes: ['publish', 'subscribe'] }] },
    limits: { publish_rate: 1, publish_burst: 5 },
  }));
  const srv = await new Server({ args: ['--config', cfg] }).start();
  try {
    const as = (k, i) => raw(ev.log(RUN, `c${i}`), [['Content-Type', 'application/json'], ['Authorization', `Bearer ${k}`]]);
    let res = await pipelined(srv.port, [as(key, 0), as(key, 1), as(other, 2), as(key, 3)]);
    assert.deepEqual(res.map((r) => r.status), [202, 202, 401, 202]);
    // two tokens are left of the burst of five (three if a second passed meanwhile): those pass,
    // the others are refused (429) and not stored
    res = await pipelined(srv.port, Array.from({ length: 6 }, (_, i) => as(key, 10 + i)));
    const passed = res.filter((r) => r.status === 202).length;
    assert.ok(passed === 2 || passed === 3, `${passed} passed`);
    assert.deepEqual(res.map((r) => r.status), res.map((_, i) => (i < passed ? 202 : 429)));
    const stored = await storedEvents(srv.base, '', { authorization: `Bearer ${key}` });
    assert.deepEqual(stored.map((e) => e.event.line), ['c0', 'c1', 'c3', ...Array.from({ length: passed }, (_, i) => `c${10 + i}`)]);
  } finally { await srv.stop(); srv.cleanup(); fs.rmSync(dir, { recursive: true, force: true }); }
});

test('the same Idempotency-Key on pipelined publishes: one event, every answer with its seq', async () => {
  const srv = await new Server().start();
  try {
    const h = [['Content-Type', 'application/json'], ['Idempotency-Key', 'deploy-42']];
    const res = await pipelined(srv.port, [0, 1, 2, 3].map((i) => raw(ev.log(RUN, `k${i}`), h)));
    assert.deepEqual(res.map((r) => r.status), [202, 202, 202, 202]);
    assert.deepEqual(res.map((r) => r.json.seq), [1, 1, 1, 1]);
    assert.deepEqual(await lines(srv.base), ['k0']);
  } finally { await srv.stop(); srv.cleanup(); }
});

test('a client that leaves mid-pipeline: what was stored is a prefix in order, the server carries on', async () => {
  const srv = await new Server().start();
  try {
    for (let round = 0; round < 20; round++) {
      const reqs = Array.from({ length: 50 }, (_, i) => raw(ev.log(RUN, `r${round}-${i}`)));
      await pipelined(srv.port, reqs, { closeAfterWrite: round % 2 === 0 });
    }
    await sleep(300);
    const got = await lines(srv.base);
    // per round: the events stored are its first k, in order, each once
    for (let round = 0; round < 20; round++) {
      const mine = got.filter((l) => l.startsWith(`r${round}-`));
      assert.deepEqual(mine, mine.map((_, i) => `r${round}-${i}`));
      if (round % 2 === 1) assert.equal(mine.length, 50);
    }
    const res = await pipelined(srv.port, [raw(ev.log(RUN, 'after'))]);
    assert.equal(res[0].status, 202);
  } finally { await srv.stop(); srv.cleanup(); }
});
