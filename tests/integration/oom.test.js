'use strict';
// Out of memory is a 503, never a crash (issue #10): with allocations of 3 MiB or more failing
// (an LD_PRELOAD library, tests/integration/failalloc.c), a batch whose event array needs more
// is answered 503 "out of memory", nothing of it is stored, and the server goes on serving.
// Skipped in the sanitizer builds, whose runtimes own malloc.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Server, request, publish, storedEvents, ev, uuid } = require('./lib');

const lib = process.env.FG_FAILALLOC_LIB;

test('a publish that cannot get its memory is a 503 and the server lives on', { skip: process.env.FG_SANITIZED === '1' || !lib ? 'sanitizer build' : false }, async () => {
  const srv = await new Server({ env: {
    LD_PRELOAD: lib, FG_FAIL_ALLOC_OVER: String(3 << 20),
    FLOWGATE_LIMITS_MAX_BODY_BYTES: String(4 << 20), FLOWGATE_LIMITS_MAX_BATCH_EVENTS: '100000',
    FLOWGATE_LIMITS_PUBLISH_RATE: '0',
  } }).start();
  try {
    const run = uuid();
    await publish(srv.base, ev.log(run, 'before'));
    // 14,000 small events: about 1 MiB of JSON, but their prepared array is over 3 MiB
    const batch = Array.from({ length: 14000 }, () => ({ type: 'user_signed_out', user_id: uuid() }));
    const body = JSON.stringify(batch);
    assert.ok(body.length < 2 << 20);
    const r = await request(srv.base, 'POST', '/v1/events', { body: batch });
    assert.equal(r.status, 503, r.text.slice(0, 200));
    assert.equal(r.json.error, 'unavailable');
    assert.match(r.json.message, /out of memory/);
    await publish(srv.base, ev.log(run, 'after'));
    assert.deepEqual((await storedEvents(srv.base)).map((e) => e.event.line), ['before', 'after']);
  } finally { await srv.stop(); srv.cleanup(); }
  assert.equal(srv.proc.exitCode, 0);
});
