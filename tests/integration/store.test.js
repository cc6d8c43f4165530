'use strict';
// The store refuses what is not its own and says what is broken (issue #10): another
// application's database is left untouched; a damaged store starts but is not ready, refuses
// publishes and ends a resuming stream with an error event; a lost write-ahead log never makes
// a number be given out twice (cursors inside the lost range or beyond the log get
// `event: reset`); and while the store cannot commit (a file size limit standing in for a full
// disk) /readyz says so, reads go on, and readiness comes back by itself.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { Server, SseClient, request, publish, storedEvents, ev, uuid, tmpDir, sleep, BIN } = require('./lib');

const sha = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

// Starts flowgate on dir and returns what it printed when it exited (it must not start).
function failedStart(dir) {
  const r = spawnSync(BIN, ['--listen', '127.0.0.1:0', '--data-dir', dir], { timeout: 15000 });
  return { status: r.status, stderr: r.stderr.toString() };
}

test('another application\'s database is refused and left as it was', () => {
  const dir = tmpDir();
  try {
    const db = path.join(dir, 'flowgate.db');
    for (const schema of [
      "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers(name) VALUES ('ana');",
      'CREATE TABLE events(id INTEGER PRIMARY KEY, what TEXT); INSERT INTO events(what) VALUES (\'theirs\');',
    ]) {
      fs.rmSync(db, { force: true });
      assert.equal(spawnSync('sqlite3', [db, schema]).status, 0);
      const before = sha(db);
      const r = failedStart(dir);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /not a flowgate store/);
      assert.ok(r.stderr.includes(db), `the message names the file: ${r.stderr}`);
      assert.equal(sha(db), before, 'not a byte changed');
      const tables = spawnSync('sqlite3', [db, "SELECT group_concat(name) FROM sqlite_master WHERE type = 'table'"]).stdout.toString().trim();
      assert.ok(!tables.includes('meta'), `tables now: ${tables}`);
      assert.ok(!fs.existsSync(`${db}-seq`));
    }
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});

// Overwrites pages in the middle of a stopped server's store.
// Junk over data pages: the schema's pages come first in the file (the tables are all created
// at the first start), so a page past the first 60 holds rows, not the schema.
function damage(file) {
  const fd = fs.openSync(file, 'r+');
  const junk = Buffer.alloc(4096, 0x5a);
  for (let page = 60; page < 100; page += 3) fs.writeSync(fd, junk, 0, junk.length, page * 4096);
  fs.closeSync(fd);
}

test('a damaged store starts, is not ready, refuses publishes, and tells a resuming stream why', async () => {
  const srv = await new Server().start();
  try {
    const run = uuid();
    for (let i = 0; i < 5; i++) {
      await publish(srv.base, Array.from({ length: 200 }, (_, k) => ev.log(run, `${'x'.repeat(300)} ${i * 200 + k}`)));
    }
    assert.equal((await request(srv.base, 'GET', '/readyz')).status, 200);
    await srv.stop();
    damage(path.join(srv.dataDir, 'flowgate.db'));
    await srv.start();
    assert.match(srv.log, /event=store_corrupt file=\S+flowgate\.db problems="[^"\n]+"/);
    const ready = await request(srv.base, 'GET', '/readyz');
    assert.equal(ready.status, 503);
    assert.equal(ready.json.details.reason, 'store_corrupt');
    assert.match(ready.json.message, /damaged/);
    assert.equal((await request(srv.base, 'GET', '/healthz')).status, 200, 'alive, though not ready');
    const pub = await request(srv.base, 'POST', '/v1/events', { body: ev.log(run, 'into a damaged store') });
    assert.equal(pub.status, 503);
    assert.equal(pub.json.error, 'store_corrupt');
    const page = await request(srv.base, 'GET', '/v1/events?after=0&limit=1000');
    assert.ok(page.status === 503 ? page.json.error === 'store_corrupt' : page.status === 200, page.text.slice(0, 200));
    // a resuming stream gets an error event naming the reason, then ends
    const s = await new SseClient(`${srv.base}/v1/stream`, { headers: { 'last-event-id': '0' } }).open();
    await s.waitClosed(10000);
    const err = s.frames.find((f) => f.event === 'error');
    assert.ok(err, `frames: ${JSON.stringify(s.frames.map((f) => f.event))}`);
    assert.equal(JSON.parse(err.data).error, 'store_corrupt');
    assert.doesNotMatch(srv.log, /not an error/);
  } finally { await srv.stop(); srv.cleanup(); }
});

// An SSE client that reads until it has `n` frames or `ms` passed.
async function frames(base, cursor, n, ms = 3000) {
  const s = await new SseClient(`${base}/v1/stream`, { headers: { 'last-event-id': String(cursor) } }).open();
  await s.waitFrames(n, ms).catch(() => {});
  s.close();
  return s.frames;
}

test('a lost write-ahead log never gives a number out twice; cursors that cannot be resumed get event: reset', async () => {
  const srv = await new Server().start();
  try {
    const run = uuid();
    const first = await publish(srv.base, Array.from({ length: 5 }, (_, i) => ev.log(run, `a${i}`)));
    assert.deepEqual(first.map((r) => r.seq), [1, 2, 3, 4, 5]);
    await srv.restart(); // a clean stop checkpoints: 1..5 are in the database file
    const epoch = (await request(srv.base, 'GET', '/readyz')).json.epoch;
    const second = await publish(srv.base, Array.from({ length: 5 }, (_, i) => ev.log(run, `b${i}`)));
    assert.deepEqual(second.map((r) => r.seq), [6, 7, 8, 9, 10]);
    await srv.kill9();
    fs.rmSync(path.join(srv.dataDir, 'flowgate.db-wal')); // 6..10 were only there
    await srv.start();
    assert.match(srv.log, /event=store_lost_events .*last_seq=5 given_out=10/);
    const ready = await request(srv.base, 'GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.notEqual(ready.json.epoch, epoch, 'a new epoch');
    const next = await publish(srv.base, ev.log(run, 'c0'));
    assert.equal(next.seq, 11, 'never 6 again');
    // a cursor inside the lost range: reset (id: the current head), then live
    const lost = await frames(srv.base, 7, 1);
    assert.equal(lost[0].event, 'reset');
    assert.equal(lost[0].id, '11');
    assert.deepEqual(JSON.parse(lost[0].data), { after: 7, last_seq: 11, epoch: ready.json.epoch, reason: 'events_lost' });
    // a cursor beyond every number given out (from another store): reset
    const ahead = await frames(srv.base, 500, 1);
    assert.equal(ahead[0].event, 'reset');
    assert.equal(JSON.parse(ahead[0].data).reason, 'cursor_ahead');
    // a cursor below the loss resumes as before
    const below = await frames(srv.base, 3, 3);
    assert.deepEqual(below.map((f) => [f.id, f.event]), [['4', 'log_line'], ['5', 'log_line'], ['11', 'log_line']]);
  } finally { await srv.stop(); srv.cleanup(); }
});

test('while the store cannot commit, /readyz says why, reads go on, and readiness comes back by itself', async () => {
  const srv = await new Server().start();
  const limit = (v) => assert.equal(spawnSync('prlimit', ['--pid', String(srv.proc.pid), `--fsize=${v}:unlimited`]).status, 0);
  try {
    const run = uuid();
    const acked = [];
    for (let i = 0; i < 3; i++) acked.push((await publish(srv.base, ev.log(run, `before ${i}`))).seq);
    limit(1); // every write past the first byte of a file fails, as on a full disk
    const refused = await request(srv.base, 'POST', '/v1/events', { body: ev.log(run, 'no room') });
    assert.equal(refused.status, 503, refused.text);
    assert.equal(refused.json.error, 'store_unavailable');
    const ready = await request(srv.base, 'GET', '/readyz');
    assert.equal(ready.status, 503);
    assert.equal(ready.json.details.reason, 'cannot_commit');
    assert.match(ready.json.message, /cannot commit/);
    assert.equal((await request(srv.base, 'GET', '/v1/events?after=0')).status, 200, 'reads are served');
    limit('unlimited');
    let back = false;
    for (let i = 0; i < 100 && !back; i++) {
      await sleep(100);
      back = (await request(srv.base, 'GET', '/readyz')).status === 200;
    }
    assert.ok(back, 'ready again without a publish');
    assert.match(srv.log, /event=store_cannot_commit .*\n(.*\n)*.*event=store_commits_again/);
    acked.push((await publish(srv.base, ev.log(run, 'after'))).seq);
    const stored = (await storedEvents(srv.base)).map((e) => e.seq);
    assert.deepEqual(stored, acked, 'every acknowledged event, and only those');
  } finally { await srv.stop(); srv.cleanup(); }
});
