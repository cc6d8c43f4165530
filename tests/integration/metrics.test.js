'use strict';
// GET /metrics after some traffic (publishes of several types, a stream, a webhook delivery):
// the series issue #5 asks for are there with the right values, and `promtool check metrics`
// (Debian's prometheus package) accepts the whole exposition.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { spawnSync } = require('node:child_process');
const { Server, sse, publish, request, ev, uuid, sleep } = require('./lib');

test('metrics: the series, their values, and promtool check metrics', async () => {
  const got = [];
  const rx = http.createServer((req, res) => { req.resume(); req.on('end', () => { got.push(req.url); res.writeHead(204); res.end(); }); });
  await new Promise((r) => rx.listen(0, '127.0.0.2', r));
  const srv = await new Server({ env: { FLOWGATE_WEBHOOKS_ALLOW_NETWORKS: '127.0.0.2/32' } }).start();
  try {
    await request(srv.base, 'POST', '/v1/webhooks', { body: { url: `http://127.0.0.2:${rx.address().port}/in`, event_types: ['run_created'] } });
    const s = await sse(`${srv.base}/v1/stream`);
    const run = uuid();
    await publish(srv.base, [ev.runCreated(run), ev.log(run, 'a'), ev.log(run, 'b'), ev.signedIn()]);
    await s.waitFrames(4);
    await publish(srv.base, [ev.runCreated(uuid()), ev.approval(run)]);
    for (let i = 0; i < 200 && got.length < 2; i++) await sleep(25);
    await sleep(100);
    const m = (await request(srv.base, 'GET', '/metrics')).text;
    const val = (re) => { const x = m.match(re); assert.ok(x, `missing ${re}`); return Number(x[1]); };
    assert.equal(val(/^flowgate_events_published_total\{type="log_line"\} (\d+)$/m), 2);
    assert.equal(val(/^flowgate_events_published_total\{type="run_created"\} (\d+)$/m), 2);
    assert.equal(val(/^flowgate_events_published_total\{type="user_signed_in"\} (\d+)$/m), 1);
    assert.equal(val(/^flowgate_publish_duration_seconds_count (\d+)$/m), 2);
    assert.equal(val(/^flowgate_store_last_seq (\d+)$/m), 6);
    assert.equal(val(/^flowgate_runs\{status="pending"\} (\d+)$/m), 2);
    assert.equal(val(/^flowgate_runs\{status="running"\} (\d+)$/m), 0);
    assert.equal(val(/^flowgate_approvals_pending (\d+)$/m), 1);
    assert.ok(val(/^flowgate_store_bytes (\d+)$/m) > 0);
    const open = [...m.matchAll(/^flowgate_sse_streams_open\{loop="\d+"\} (\d+)$/gm)].reduce((a, x) => a + Number(x[1]), 0);
    assert.equal(open, 1);
    assert.ok(val(/^flowgate_sse_frames_sent_total (\d+)$/m) >= 4);
    assert.equal(val(/^flowgate_sse_slow_consumers_dropped_total (\d+)$/m), 0);
    assert.equal(val(/^flowgate_webhook_deliveries_total\{result="succeeded"\} (\d+)$/m), 2);
    assert.equal(val(/^flowgate_webhook_attempt_duration_seconds_count (\d+)$/m), 2);
    assert.equal(val(/^flowgate_webhook_retry_backlog (\d+)$/m), 0);
    assert.equal(val(/^flowgate_webhook_dead_total (\d+)$/m), 0);
    assert.equal(val(/^flowgate_webhook_subscriptions_disabled (\d+)$/m), 0);
    // buckets are cumulative and end at +Inf = count
    const buckets = [...m.matchAll(/^flowgate_publish_duration_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm)].map((x) => Number(x[2]));
    assert.ok(buckets.every((v, i) => i === 0 || v >= buckets[i - 1]));
    assert.equal(buckets[buckets.length - 1], 2);
    // what Prometheus's own linter says
    const check = spawnSync('promtool', ['check', 'metrics'], { input: m });
    assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
    s.close();
  } finally { await srv.stop(); srv.cleanup(); rx.close(); }
});
