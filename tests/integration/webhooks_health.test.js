'use strict';
// Endpoint health (issue #15, part 2): a subscription's rate_limit_per_s paces its attempts
// (none dropped, none sooner than the rate allows), while another subscription's deliveries go
// at once; the setting is shown, changed and refused when bad. Operational events: an endpoint
// failing, recovering, disabled, and a dead delivery are webhook.* events on the bus, streamed
// and delivered like others, never to the subscription they are about; nobody else may publish
// them.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Server, SseClient, publish, request, uuid, sleep } = require('./lib');
const { receiver } = require('./receiver');

test('rate_limit_per_s paces one endpoint, drops nothing, and holds back no other', async () => {
  const rx = await receiver();
  const srv = await new Server({ env: { FLOWGATE_WEBHOOKS_ALLOW_NETWORKS: '127.0.0.2/32' } }).start();
  try {
    const RATE = 20;
    const sub = async (path, extra) => {
      const r = await request(srv.base, 'POST', '/v1/webhooks', { body: { url: rx.base + path, event_types: ['log_line'], max_in_flight: 10, ...extra } });
      assert.equal(r.status, 201, r.text);
      return r.json;
    };
    const paced = await sub('/paced', { rate_limit_per_s: RATE });
    assert.equal(paced.rate_limit_per_s, RATE);
    const free = await sub('/free', {});
    assert.equal(free.rate_limit_per_s, null);
    const run = uuid();
    const N = 50;
    const t0 = Date.now();
    await publish(srv.base, Array.from({ length: N }, (_, i) => ({ type: 'log_line', run_id: run, step_id: uuid(), step_name: 'build', stream: 'stdout', line: `line ${i}` })));
    const of = (p) => rx.got.filter((g) => g.path === p);
    for (let i = 0; i < 400 && of('/free').length < N; i++) await sleep(10);
    assert.equal(of('/free').length, N, 'the other subscription got every event');
    // the paced one is not done when the other is: it goes at its rate
    const elapsed = (Date.now() - t0) / 1000;
    assert.ok(of('/paced').length < N && of('/paced').length <= RATE * elapsed + 3,
      `paced: ${of('/paced').length} in ${elapsed} s`);
    for (let i = 0; i < 1000 && of('/paced').length < N; i++) await sleep(10);
    assert.equal(of('/paced').length, N, 'nothing dropped');
    assert.equal(new Set(of('/paced').map((g) => g.id)).size, N, 'each event once');
    // never more than the rate allows in any second (a token to start with, and the rate after)
    const at = of('/paced').map((g) => g.at).sort((a, b) => a - b);
    for (let i = 0; i < at.length; i++) {
      const inSecond = at.filter((x) => x >= at[i] && x < at[i] + 1000).length;
      assert.ok(inSecond <= RATE + 2, `${inSecond} attempts within a second from #${i}`);
    }
    assert.ok(at[N - 1] - t0 >= ((N - 2) / RATE) * 1000, `${N} attempts at ${RATE}/s took ${at[N - 1] - t0} ms`);

    // changed and removed through the API; bad values refused, nothing changed
    for (const bad of [0, -1, 'fast', 1e9, true]) {
      const r = await request(srv.base, 'PATCH', `/v1/webhooks/${paced.id}`, { body: { rate_limit_per_s: bad } });
      assert.equal(r.status, 400, `${bad}`);
      assert.equal(r.json.error, 'invalid_field');
      assert.match(r.json.message, /rate_limit_per_s/);
    }
    let r = await request(srv.base, 'PATCH', `/v1/webhooks/${paced.id}`, { body: { rate_limit_per_s: 0.5 } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.rate_limit_per_s, 0.5);
    r = await request(srv.base, 'PATCH', `/v1/webhooks/${paced.id}`, { body: { rate_limit_per_s: null } });
    assert.equal(r.json.rate_limit_per_s, null);
    // unpaced again: a burst goes at once
    const before = of('/paced').length;
    await publish(srv.base, Array.from({ length: 20 }, (_, i) => ({ type: 'log_line', run_id: run, step_id: uuid(), step_name: 'build', stream: 'stdout', line: `more ${i}` })));
    for (let i = 0; i < 300 && of('/paced').length < before + 20; i++) await sleep(10);
    assert.equal(of('/paced').length, before + 20);
  } finally { await srv.stop(); srv.cleanup(); rx.close(); }
});

// The dispatcher reads a page of due deliveries ahead and keeps it across its retry ticks; a
// failed delivery that comes due must still go before that page is used up (here a paced backlog
// of 300, 256 to a page: 5 s at 50/s).
test('a retry comes due while a paced backlog is read ahead: it goes at once, not after the page', async () => {
  let failed = false;
  const rx = await receiver(() => { if (failed) return 204; failed = true; return 500; });
  const srv = await new Server({ env: { FLOWGATE_WEBHOOKS_ALLOW_NETWORKS: '127.0.0.2/32', FLOWGATE_WEBHOOKS_RETRY_SCHEDULE: '200ms' } }).start();
  try {
    const r = await request(srv.base, 'POST', '/v1/webhooks', { body: { url: `${rx.base}/paced`, event_types: ['log_line'], rate_limit_per_s: 50, enabled: false } });
    assert.equal(r.status, 201, r.text);
    const run = uuid();
    await publish(srv.base, Array.from({ length: 300 }, (_, i) => ({ type: 'log_line', run_id: run, step_id: uuid(), step_name: 'build', stream: 'stdout', line: `line ${i}` })));
    assert.equal((await request(srv.base, 'PATCH', `/v1/webhooks/${r.json.id}`, { body: { enabled: true } })).status, 200);
    const first = () => rx.got.length > 0 && rx.got[0].id;
    for (let i = 0; i < 1000 && !(first() && rx.got.filter((g) => g.id === first()).length >= 2); i++) await sleep(10);
    const again = rx.got.findIndex((g, k) => k > 0 && g.id === first());
    assert.ok(again > 0, 'the failed delivery was retried');
    assert.ok(again < 100, `retried as attempt #${again + 1} of the endpoint, after ${again - 1} others`);
  } finally { await srv.stop(); srv.cleanup(); rx.close(); }
});

test('operational events: failing, recovered, disabled, dead; streamed, delivered, never about oneself', async () => {
  let health = { '/flaky': 500, '/gone': 410, '/short': 503 };
  const rx = await receiver((p) => health[p] || 204);
  const srv = await new Server({ env: {
    FLOWGATE_WEBHOOKS_ALLOW_NETWORKS: '127.0.0.2/32',
    FLOWGATE_WEBHOOKS_RETRY_SCHEDULE: '100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms',
    FLOWGATE_WEBHOOKS_BREAKER_FAILURES: '3',
    FLOWGATE_WEBHOOKS_BREAKER_PROBE_MS: '100',
    FLOWGATE_WEBHOOKS_BREAKER_PROBE_MAX_MS: '200',
  } }).start();
  try {
    const ops = await new SseClient(`${srv.base}/v1/stream?types=webhook.*`).open();
    const sub = async (p, extra) => {
      const r = await request(srv.base, 'POST', '/v1/webhooks', { body: { url: rx.base + p, ...extra } });
      assert.equal(r.status, 201, r.text);
      return r.json.id;
    };
    // /watch hears about the others; /flaky listens to webhook.* too but must not hear of itself
    const watch = await sub('/watch', { event_types: ['webhook.*'] });
    const flaky = await sub('/flaky', { event_types: ['log_line', 'webhook.*'] });
    const gone = await sub('/gone', { event_types: ['log_line'] });
    const short = await sub('/short', { event_types: ['log_line'] });
    await request(srv.base, 'PATCH', `/v1/webhooks/${short}`, { body: { description: 'no retries left soon' } });
    const run = uuid();
    await publish(srv.base, Array.from({ length: 4 }, (_, i) => ({ type: 'log_line', run_id: run, step_id: uuid(), step_name: 'b', stream: 'stdout', line: `l${i}` })));
    const seen = (type, id) => ops.events().find((e) => e.type === type && e.body.subscription_id === id);
    const until = async (pred, what) => { for (let i = 0; i < 600 && !pred(); i++) await sleep(25); assert.ok(pred(), what); };
    await until(() => seen('webhook.endpoint_failing', flaky), 'failing');
    await until(() => seen('webhook.endpoint_disabled', gone), 'disabled');
    await until(() => seen('webhook.delivery_dead', short), 'dead');
    const failing = seen('webhook.endpoint_failing', flaky).body;
    assert.equal(failing.host, '127.0.0.2');
    assert.match(failing.error, /500/);
    assert.ok(failing.failures >= 3);
    assert.ok(!JSON.stringify(ops.events()).includes(rx.base), 'never the url');
    assert.equal(seen('webhook.endpoint_disabled', gone).body.reason, 'gone');
    const dead = seen('webhook.delivery_dead', short).body;
    assert.equal(dead.http_status, 503);
    assert.ok(dead.attempts >= 8 && dead.delivery_id);
    // the endpoint comes back: recovered
    health = { '/gone': 410, '/short': 503 };
    await until(() => seen('webhook.endpoint_recovered', flaky), 'recovered');
    assert.ok(seen('webhook.endpoint_recovered', flaky).body.down_ms >= 0);
    // /watch got them as webhooks; /flaky got the others' but none about itself
    const bodies = (p) => rx.got.filter((g) => g.path === p).map((g) => JSON.parse(g.body));
    await until(() => bodies('/watch').some((b) => b.type === 'webhook.endpoint_recovered'), '/watch told');
    assert.ok(bodies('/watch').some((b) => b.type === 'webhook.endpoint_failing' && b.subscription_id === flaky));
    await until(() => bodies('/flaky').some((b) => b.subscription_id === gone), '/flaky told of /gone');
    await sleep(300);
    assert.ok(bodies('/flaky').every((b) => b.subscription_id !== flaky), 'nothing about itself');
    assert.ok(bodies('/watch').every((b) => b.subscription_id !== watch));
    // only flowgate publishes them
    const r = await request(srv.base, 'POST', '/v1/events', { body: { type: 'webhook.delivery_dead', subscription_id: flaky, host: 'x', delivery_id: 'd', attempts: 1 } });
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'reserved_type');
    ops.close();
  } finally { await srv.stop(); srv.cleanup(); rx.close(); }
});
