'use strict';
// Dead endpoints do not flood (issue #10): an endpoint that keeps failing trips its breaker, its
// backlog waits untried (its retry schedule unspent, nothing dropped) while one probe at a time
// goes out on a growing backoff; a healthy endpoint beside dead and hanging ones gets everything;
// the breaker opening and closing is logged once each, not every attempt; when the endpoint
// comes back its whole backlog is delivered, in order.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const { Server, publish, request, ev, uuid, sleep } = require('./lib');

// A receiver on 127.0.0.2 (port 0: a free one). Paths under /hang are never answered.
async function receiver(port = 0) {
  const got = [];
  const srv = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({ path: req.url, body: Buffer.concat(chunks).toString('utf8') });
      if (req.url.startsWith('/hang')) return;
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise((r) => srv.listen(port, '127.0.0.2', r));
  return { got, port: srv.address().port, close: () => { srv.closeAllConnections(); srv.close(); } };
}

async function closedPort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.2', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

async function waitFor(pred, what, ms = 20000) {
  for (let t = 0; t < ms; t += 50) { if (await pred()) return; await sleep(50); }
  assert.fail(`timed out waiting for ${what}`);
}

// Every delivery of a subscription (the delivery log, page by page).
async function deliveries(base, id) {
  const all = [];
  let after = '';
  for (;;) {
    const r = await request(base, 'GET', `/v1/webhooks/${id}/deliveries?limit=1000${after ? `&after=${after}` : ''}`);
    assert.equal(r.status, 200, r.text);
    all.push(...r.json.deliveries);
    if (r.json.deliveries.length < 1000) return all;
    after = r.json.next_after;
  }
}

const metric = async (base, name) => Number(((await request(base, 'GET', '/metrics')).text.match(new RegExp(`^${name} (\\d+)`, 'm')) || [])[1]);

test('a dead endpoint trips its breaker: no flood, the others unharmed, the backlog delivered in order once it is back', async () => {
  const rx = await receiver();
  const deadPort = await closedPort();
  const srv = await new Server({ env: {
    FLOWGATE_WEBHOOKS_ALLOW_NETWORKS: '127.0.0.2/32',
    FLOWGATE_WEBHOOKS_RETRY_SCHEDULE: '1s,1s,1s,1s,1s,1s,1s,1s,1s,1s',
    FLOWGATE_WEBHOOKS_REQUEST_TIMEOUT_MS: '1000',
    FLOWGATE_WEBHOOKS_BREAKER_FAILURES: '3',
    FLOWGATE_WEBHOOKS_BREAKER_PROBE_MS: '300',
    FLOWGATE_WEBHOOKS_BREAKER_PROBE_MAX_MS: '1200',
  } }).start();
  let back = null;
  try {
    const subscribe = async (url, extra = {}) => {
      const r = await request(srv.base, 'POST', '/v1/webhooks', { body: { url, event_types: ['log_line'], ...extra } });
      assert.equal(r.status, 201, r.text);
      return r.json.id;
    };
    const ok = await subscribe(`http://127.0.0.2:${rx.port}/ok`);
    const dead = [];
    for (let i = 0; i < 3; i++) dead.push(await subscribe(`http://127.0.0.2:${deadPort}/dead${i}`, i === 0 ? { max_in_flight: 1, ordering: 'per_run' } : {}));
    for (let i = 0; i < 2; i++) await subscribe(`http://127.0.0.2:${rx.port}/hang${i}`);
    const N = 300;
    const run = uuid();
    for (let i = 0; i < N; i += 100) await publish(srv.base, Array.from({ length: 100 }, (_, k) => ev.log(run, `l${i + k}`)));

    // the healthy endpoint gets everything while the others fail
    await waitFor(() => rx.got.filter((g) => g.path === '/ok').length === N, 'the healthy endpoint\'s deliveries');
    await waitFor(async () => (await metric(srv.base, 'flowgate_webhook_endpoints_open')) === 5, 'five breakers open');
    // then, open, each dead endpoint gets a probe now and then, not an attempt per delivery
    const attemptsOf = async (id) => (await deliveries(srv.base, id)).reduce((n, d) => n + d.attempts, 0);
    const before = await Promise.all(dead.map(attemptsOf));
    await sleep(4000);
    const after = await Promise.all(dead.map(attemptsOf));
    for (let i = 0; i < dead.length; i++) {
      const probes = after[i] - before[i];
      assert.ok(probes >= 1 && probes <= 6, `dead endpoint ${i}: ${probes} attempts in 4 s while open (probes at 0.3-1.2 s)`);
      assert.ok(after[i] <= 30, `dead endpoint ${i}: ${after[i]} attempts in all, for ${N} deliveries`);
      const ds = await deliveries(srv.base, dead[i]);
      assert.equal(ds.length, N, 'every delivery kept');
      assert.equal(ds.filter((d) => d.status === 'dead').length, 0, 'none dead');
      assert.ok(ds.filter((d) => d.attempts === 0).length >= N - 30, 'the backlog waits untried');
      // logged once when it opened, never per attempt
      assert.equal(srv.log.split('\n').filter((l) => l.includes(dead[i])).length, 1, `log lines about ${dead[i]}`);
      assert.match(srv.log, new RegExp(`event=webhook_endpoint_failing id=${dead[i]} host=127\\.0\\.0\\.2 failures=\\d+ last_error="[^"]+"`));
    }

    // the endpoint comes back: the next probe succeeds, the breaker closes, the backlog drains
    back = await receiver(deadPort);
    const firstDead = () => back.got.filter((g) => g.path === '/dead0');
    await waitFor(() => [0, 1, 2].every((i) => new Set(back.got.filter((g) => g.path === `/dead${i}`).map((g) => g.body)).size === N), 'the backlogs delivered', 30000);
    const lines = firstDead().map((g) => Number(JSON.parse(g.body).line.slice(1)));
    const firstSeen = lines.filter((l, k) => lines.indexOf(l) === k);
    assert.deepEqual(firstSeen, Array.from({ length: N }, (_, k) => k), 'in order (per_run)');
    for (const id of dead) assert.match(srv.log, new RegExp(`event=webhook_endpoint_recovered id=${id} host=127\\.0\\.0\\.2 down_ms=\\d+`));
    await waitFor(async () => (await metric(srv.base, 'flowgate_webhook_endpoints_open')) === 2, 'three breakers closed (the hanging two stay open)');
    assert.equal(await metric(srv.base, 'flowgate_webhook_breaker_opened_total'), 5);
  } finally {
    await srv.stop();
    srv.cleanup();
    rx.close();
    if (back) back.close();
  }
});
