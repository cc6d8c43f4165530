'use strict';
// Webhook deliveries end to end, to receivers the test runs on 127.0.0.2 (the only allowed
// network): body and headers, signatures checked by the `standardwebhooks` npm package, retries
// keeping their webhook-id, 410 disabling, 3xx not followed, Retry-After, secret rotation with
// two signatures, a hanging endpoint not delaying a healthy one, and the address guard refusing
// at connect time a name that resolves to a loopback address outside the allowed network, and a
// receiver closing its idle keep-alive connections (new ones opened, the closed ones not polled).
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const os = require('node:os');
const dns = require('node:dns').promises;
const { Webhook } = require('standardwebhooks');
const { Server, publish, request, storedEvents, ev, uuid, sleep } = require('./lib');

// A receiver: records every request; `plan(path, n)` says how to answer the n-th attempt of a
// delivery (requests with the same path and webhook-id) to a path.
async function receiver(plan) {
  const got = [];
  const srv = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const path = req.url;
      const id = req.headers['webhook-id'];
      const n = got.filter((g) => g.path === path && g.headers['webhook-id'] === id).length + 1;
      got.push({ path, at: Date.now(), headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const a = plan(path, n) || { status: 204 };
      if (a.hang) return; // never answers
      res.writeHead(a.status, a.headers || {});
      res.end(a.body || '');
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.2', r));
  return { got, port: srv.address().port, closeIdle: () => srv.closeIdleConnections(), close: () => { srv.closeAllConnections(); srv.close(); } };
}

async function waitFor(pred, what, ms = 15000) {
  for (let t = 0; t < ms; t += 25) { if (pred()) return; await sleep(25); }
  assert.fail(`timed out waiting for ${what}`);
}

test('webhook deliveries end to end', async (t) => {
  const rx = await receiver((path, n) => {
    if (path === '/flaky') return n <= 2 ? { status: 500, body: 'not yet' } : { status: 200 };
    if (path === '/gone') return { status: 410 };
    if (path === '/moved') return n === 1 ? { status: 302, headers: { Location: 'http://127.0.0.2:1/elsewhere' } } : { status: 200 };
    if (path === '/busy') return n === 1 ? { status: 503, headers: { 'Retry-After': '1' } } : { status: 200 };
    if (path === '/hang') return { hang: true };
    return { status: 204 };
  });
  const srv = await new Server({ env: {
    FLOWGATE_WEBHOOKS_ALLOW_NETWORKS: '127.0.0.2/32',
    FLOWGATE_WEBHOOKS_RETRY_SCHEDULE: '200ms,200ms,200ms',
    FLOWGATE_WEBHOOKS_REQUEST_TIMEOUT_MS: '10000',
  } }).start();
  const base = `http://127.0.0.2:${rx.port}`;
  const subscribe = async (path, extra = {}) => {
    const r = await request(srv.base, 'POST', '/v1/webhooks', { body: { url: base + path, event_types: ['log_line'], ...extra } });
    assert.equal(r.status, 201, r.text);
    return r.json;
  };
  try {
    const ok = await subscribe('/ok');
    const flaky = await subscribe('/flaky');
    const gone = await subscribe('/gone');
    await subscribe('/moved');
    await subscribe('/busy');
    await subscribe('/hang', { max_in_flight: 2 });
    const run = uuid();
    const sent = await publish(srv.base, [ev.log(run, 'one'), ev.log(run, 'two'), ev.signedIn()]);

    // the healthy endpoint gets both log lines, not the sign-in, while /hang hangs
    await waitFor(() => rx.got.filter((g) => g.path === '/ok').length === 2, '/ok deliveries');
    const stored = await storedEvents(srv.base, `&run_id=${run}`);
    const okReqs = rx.got.filter((g) => g.path === '/ok');
    assert.deepEqual(okReqs.map((g) => g.body).sort(), stored.map((e) => JSON.stringify(e.event)).sort());
    for (const g of okReqs) {
      assert.equal(g.headers['content-type'], 'application/json');
      assert.match(g.headers['user-agent'], /^flowgate\/\d/);
      assert.match(g.headers['webhook-id'], /^msg_[0-9a-f-]{36}$/);
      assert.match(g.headers['webhook-timestamp'], /^\d{10}$/);
      // the independent verifier accepts the signature over the exact bytes received
      const parsed = new Webhook(ok.secret).verify(g.body, g.headers);
      assert.equal(parsed.type, 'log_line');
      // a different secret does not
      assert.throws(() => new Webhook(flaky.secret).verify(g.body, g.headers));
    }
    assert.equal(stored.length, 2);
    assert.equal(sent.length, 3);

    // fails twice, succeeds the third time, one webhook-id per delivery across its attempts
    await waitFor(() => rx.got.filter((g) => g.path === '/flaky').length >= 6, 'flaky retries');
    const flakyIds = new Map();
    for (const g of rx.got.filter((x) => x.path === '/flaky')) flakyIds.set(g.headers['webhook-id'], (flakyIds.get(g.headers['webhook-id']) || 0) + 1);
    assert.equal(flakyIds.size, 2);
    for (const n of flakyIds.values()) assert.equal(n, 3);

    // 410 disables the subscription
    await waitFor(() => rx.got.some((g) => g.path === '/gone'), '/gone');
    for (let i = 0; i < 100; i++) {
      if ((await request(srv.base, 'GET', `/v1/webhooks/${gone.id}`)).json.enabled === false) break;
      await sleep(50);
    }
    assert.equal((await request(srv.base, 'GET', `/v1/webhooks/${gone.id}`)).json.enabled, false);

    // a 302 is a failure (Location not followed), retried to the same URL
    await waitFor(() => rx.got.filter((g) => g.path === '/moved').length >= 3, '/moved retries');
    assert.ok(!rx.got.some((g) => g.path === '/elsewhere'));

    // Retry-After: 1 is honoured over the 200 ms schedule
    await waitFor(() => rx.got.some((g) => g.path === '/busy'), '/busy first attempt');
    const firstBusy = rx.got.find((g) => g.path === '/busy');
    const firstId = firstBusy.headers['webhook-id'];
    const sameDelivery = () => rx.got.filter((g) => g.path === '/busy' && g.headers['webhook-id'] === firstId);
    await waitFor(() => sameDelivery().length >= 2, '/busy retry');
    const busyReqs = sameDelivery();
    const retry = busyReqs[1];
    assert.ok(retry.at - busyReqs[0].at >= 900, `retried after ${retry.at - busyReqs[0].at} ms`);

    // the hanging endpoint got its attempts, and did not hold up anybody else
    assert.ok(rx.got.some((g) => g.path === '/hang'));

    // rotation: during the grace period every delivery carries both signatures
    const rotated = await request(srv.base, 'POST', `/v1/webhooks/${ok.id}/secret/rotate`);
    await publish(srv.base, ev.log(run, 'after rotation'));
    await waitFor(() => rx.got.filter((g) => g.path === '/ok').length === 3, 'post-rotation delivery');
    const last = rx.got.filter((g) => g.path === '/ok')[2];
    assert.equal(last.headers['webhook-signature'].split(' ').length, 2);
    assert.equal(new Webhook(rotated.json.secret).verify(last.body, last.headers).line, 'after rotation');
    assert.equal(new Webhook(ok.secret).verify(last.body, last.headers).line, 'after rotation');

    // localhost (127.0.0.1, outside 127.0.0.2/32) is refused at creation, before any lookup
    const local = await request(srv.base, 'POST', '/v1/webhooks', { body: { url: `http://localhost:${rx.port}/` } });
    assert.equal(local.status, 400);
    assert.equal(local.json.error, 'forbidden_target');

    // the address guard at connect time: a name resolving to 127.0.0.1, outside 127.0.0.2/32
    const name = os.hostname();
    let loopbackName = false;
    try { loopbackName = (await dns.lookup(name)).address.startsWith('127.'); } catch { /* unresolvable */ }
    if (loopbackName) {
      const sneaky = await request(srv.base, 'POST', '/v1/webhooks', { body: { url: `http://${name}:${rx.port}/sneaky`, event_types: ['log_line'] } });
      assert.equal(sneaky.status, 201, sneaky.text); // a name passes creation...
      await publish(srv.base, ev.log(run, 'to the sneaky one'));
      for (let i = 0; i < 200; i++) {
        const m = (await request(srv.base, 'GET', '/metrics')).text.match(/flowgate_webhook_refused_total (\d+)/);
        if (m && Number(m[1]) > 0) break;
        await sleep(25);
      }
      const m = (await request(srv.base, 'GET', '/metrics')).text.match(/flowgate_webhook_refused_total (\d+)/);
      assert.ok(Number(m[1]) > 0, '...and is refused at connect');
      assert.ok(!rx.got.some((g) => g.path === '/sneaky'));
    } else {
      t.diagnostic(`skipped the connect-time guard check: ${name} does not resolve to a loopback address`);
    }
  } finally {
    await srv.stop();
    srv.cleanup();
    rx.close();
  }
});

test('delivery log, redelivery of a dead delivery, replay', async () => {
  let healthy = false;
  const rx = await receiver((path) => (healthy ? { status: 200 } : { status: 500, body: 'nope' }));
  const srv = await new Server({ env: {
    FLOWGATE_WEBHOOKS_ALLOW_NETWORKS: '127.0.0.2/32', FLOWGATE_WEBHOOKS_RETRY_SCHEDULE: '100ms',
  } }).start();
  try {
    const sub = (await request(srv.base, 'POST', '/v1/webhooks', { body: { url: `http://127.0.0.2:${rx.port}/in` } })).json;
    const [ev1] = await publish(srv.base, [ev.signedIn()]);
    // two attempts (the immediate one and one retry), then dead
    let dead;
    for (let i = 0; i < 200; i++) {
      dead = (await request(srv.base, 'GET', `/v1/webhooks/${sub.id}/deliveries?status=dead`)).json.deliveries;
      if (dead.length === 1) break;
      await sleep(25);
    }
    assert.equal(dead.length, 1);
    assert.equal(dead[0].seq, ev1.seq);
    assert.equal(dead[0].attempts, 2);
    const detail = (await request(srv.base, 'GET', `/v1/deliveries/${dead[0].id}`)).json;
    assert.equal(detail.status, 'dead');
    assert.deepEqual(detail.attempt_log.map((a) => a.http_status), [500, 500]);
    assert.equal(detail.attempt_log[0].response, 'nope');
    assert.ok(detail.attempt_log[0].duration_ms >= 0);

    // redeliver it now: same webhook-id
    healthy = true;
    assert.equal((await request(srv.base, 'POST', `/v1/deliveries/${dead[0].id}/retry`)).status, 202);
    await waitFor(() => rx.got.filter((g) => g.headers['webhook-id'] === dead[0].id).length === 3, 'redelivery');
    for (let i = 0; i < 100; i++) {
      if ((await request(srv.base, 'GET', `/v1/deliveries/${dead[0].id}`)).json.status === 'succeeded') break;
      await sleep(25);
    }
    assert.equal((await request(srv.base, 'GET', `/v1/deliveries/${dead[0].id}`)).json.status, 'succeeded');
    const again = await request(srv.base, 'POST', `/v1/deliveries/${dead[0].id}/retry`);
    assert.equal(again.status, 409);
    assert.equal(again.json.error, 'not_retryable');

    // replay since a sequence: new deliveries (new ids) of the stored events
    await publish(srv.base, [ev.signedIn(), ev.signedIn()]);
    await waitFor(() => rx.got.length >= 5, 'two more deliveries');
    const before = new Set(rx.got.map((g) => g.headers['webhook-id']));
    const replay = await request(srv.base, 'POST', `/v1/webhooks/${sub.id}/replay`, { body: { since_seq: ev1.seq } });
    assert.equal(replay.status, 202, replay.text);
    assert.equal(replay.json.enqueued, 3);
    await waitFor(() => rx.got.filter((g) => !before.has(g.headers['webhook-id'])).length === 3, 'replayed deliveries');
    const replayed = rx.got.filter((g) => !before.has(g.headers['webhook-id']));
    assert.deepEqual(replayed.map((g) => JSON.parse(g.body).type), ['user_signed_in', 'user_signed_in', 'user_signed_in']);

    // bad input
    assert.equal((await request(srv.base, 'POST', `/v1/webhooks/${sub.id}/replay`, { body: {} })).status, 400);
    assert.equal((await request(srv.base, 'POST', `/v1/webhooks/${sub.id}/replay`, { body: { since: 'yesterday' } })).status, 400);
    assert.equal((await request(srv.base, 'POST', '/v1/webhooks/wh_nope/replay', { body: { since_seq: 1 } })).status, 404);
    assert.equal((await request(srv.base, 'GET', '/v1/deliveries/msg_nope')).status, 404);
    assert.equal((await request(srv.base, 'POST', '/v1/deliveries/msg_nope/retry')).status, 404);
    assert.equal((await request(srv.base, 'GET', `/v1/webhooks/${sub.id}/deliveries?status=lost`)).status, 400);
    const page = (await request(srv.base, 'GET', `/v1/webhooks/${sub.id}/deliveries?limit=2`)).json;
    assert.equal(page.deliveries.length, 2);
    const rest = (await request(srv.base, 'GET', `/v1/webhooks/${sub.id}/deliveries?after=${page.next_after}`)).json;
    assert.equal(rest.deliveries.length, 4); // 6 in all: 3 originals, 3 replays
  } finally {
    await srv.stop();
    srv.cleanup();
    rx.close();
  }
});

// A receiver that answers after `delay` ms and tracks concurrency per path, and overlapping
// requests of one run on /ordered.
async function slowReceiver(delay) {
  const got = [];
  const inflight = new Map();
  const maxInflight = new Map();
  let runOverlap = 0;
  const srv = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const ev = JSON.parse(body);
      const runKey = `${req.url}|${ev.run_id}`;
      for (const k of [req.url, runKey]) inflight.set(k, (inflight.get(k) || 0) + 1);
      maxInflight.set(req.url, Math.max(maxInflight.get(req.url) || 0, inflight.get(req.url)));
      if (req.url === '/ordered' && inflight.get(runKey) > 1) runOverlap++;
      got.push({ path: req.url, id: req.headers['webhook-id'], ev });
      setTimeout(() => {
        for (const k of [req.url, runKey]) inflight.set(k, inflight.get(k) - 1);
        res.writeHead(200);
        res.end();
      }, delay);
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.2', r));
  return { got, maxInflight, overlaps: () => runOverlap, port: srv.address().port, close: () => { srv.closeAllConnections(); srv.close(); } };
}

test('per-run ordering and the in-flight cap', async () => {
  const rx = await slowReceiver(40);
  const srv = await new Server({ env: { FLOWGATE_WEBHOOKS_ALLOW_NETWORKS: '127.0.0.2/32' } }).start();
  try {
    const base = `http://127.0.0.2:${rx.port}`;
    await request(srv.base, 'POST', '/v1/webhooks', { body: { url: `${base}/ordered`, ordering: 'per_run', max_in_flight: 8, event_types: ['log_line'] } });
    await request(srv.base, 'POST', '/v1/webhooks', { body: { url: `${base}/capped`, max_in_flight: 3, event_types: ['log_line'] } });
    const runs = [uuid(), uuid()];
    const batch = [];
    for (let i = 0; i < 12; i++) batch.push(ev.log(runs[i % 2], `n${Math.floor(i / 2)}`));
    await publish(srv.base, batch);
    await waitFor(() => rx.got.filter((g) => g.path === '/ordered').length === 12 && rx.got.filter((g) => g.path === '/capped').length === 12, 'all deliveries', 20000);
    // per_run: each run's events arrive one at a time, in order; the two runs interleave
    for (const run of runs) {
      const lines = rx.got.filter((g) => g.path === '/ordered' && g.ev.run_id === run).map((g) => g.ev.line);
      assert.deepEqual(lines, ['n0', 'n1', 'n2', 'n3', 'n4', 'n5']);
    }
    assert.equal(rx.overlaps(), 0);
    assert.equal(rx.maxInflight.get('/ordered'), 2); // one per run, two runs at once
    assert.ok(rx.maxInflight.get('/capped') <= 3, `capped at 3, saw ${rx.maxInflight.get('/capped')}`);
    assert.ok(rx.maxInflight.get('/capped') >= 2, 'several at once below the cap');
  } finally { await srv.stop(); srv.cleanup(); rx.close(); }
});

test('kill -9 during a stream of deliveries: every acknowledged event arrives, duplicates share their webhook-id', async (t) => {
  const rx = await slowReceiver(2);
  const srv = await new Server({ env: { FLOWGATE_WEBHOOKS_ALLOW_NETWORKS: '127.0.0.2/32', FLOWGATE_WEBHOOKS_RETRY_SCHEDULE: '200ms,200ms,200ms,200ms,200ms' } }).start();
  try {
    await request(srv.base, 'POST', '/v1/webhooks', { body: { url: `http://127.0.0.2:${rx.port}/all`, max_in_flight: 16 } });
    const acked = new Set();
    for (let round = 0; round < 3; round++) {
      let go = true;
      const pumps = Array.from({ length: 4 }, async () => {
        while (go) {
          try {
            const r = await request(srv.base, 'POST', '/v1/events', { body: Array.from({ length: 5 }, () => ev.signedIn()) });
            if (r.status === 202) for (const x of r.json) acked.add(x.id);
          } catch { await sleep(5); }
        }
      });
      await sleep(150 + Math.random() * 200);
      await srv.kill9();
      go = false;
      await Promise.all(pumps);
      await srv.start();
    }
    const seen = () => new Set(rx.got.map((g) => g.ev.id));
    await waitFor(() => [...acked].every((id) => seen().has(id)), 'every acknowledged event delivered', 30000);
    // an event delivered more than once is the same delivery: one webhook-id per event
    const idsPerEvent = new Map();
    for (const g of rx.got) {
      if (!idsPerEvent.has(g.ev.id)) idsPerEvent.set(g.ev.id, new Set());
      idsPerEvent.get(g.ev.id).add(g.id);
    }
    for (const [event, ids] of idsPerEvent) assert.equal(ids.size, 1, `event ${event} came with ${ids.size} webhook-ids`);
    t.diagnostic(`acknowledged ${acked.size}, requests ${rx.got.length}, distinct events ${idsPerEvent.size}`);
    assert.ok(acked.size > 0);
  } finally { await srv.stop(); srv.cleanup(); rx.close(); }
});

test('a subscription whose attempts all fail for webhooks.disable_after_s is disabled and counted', async () => {
  const rx = await receiver(() => ({ status: 500 }));
  const srv = await new Server({ env: {
    FLOWGATE_WEBHOOKS_ALLOW_NETWORKS: '127.0.0.2/32', FLOWGATE_WEBHOOKS_DISABLE_AFTER_S: '1',
    FLOWGATE_WEBHOOKS_RETRY_SCHEDULE: '300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms',
  } }).start();
  try {
    const sub = (await request(srv.base, 'POST', '/v1/webhooks', { body: { url: `http://127.0.0.2:${rx.port}/down` } })).json;
    await publish(srv.base, ev.signedIn());
    let enabled = true;
    for (let i = 0; i < 200 && enabled; i++) {
      enabled = (await request(srv.base, 'GET', `/v1/webhooks/${sub.id}`)).json.enabled;
      if (enabled) await sleep(25);
    }
    assert.equal(enabled, false);
    // disabled only once its failures spanned more than disable_after_s: how many attempts that
    // takes depends on the retry timer (it runs every 250 ms), so check the span itself
    const span = rx.got[rx.got.length - 1].at - rx.got[0].at;
    assert.ok(rx.got.length >= 2 && span >= 900, `disabled after ${rx.got.length} attempts spanning ${span} ms`);
    assert.match((await request(srv.base, 'GET', '/metrics')).text, /flowgate_webhook_disabled_total [1-9]/);
    assert.match(srv.log, /event=webhook_disabled/);
    // paused, not lost: the delivery is still there, waiting for the subscription's return
    const pending = (await request(srv.base, 'GET', `/v1/webhooks/${sub.id}/deliveries`)).json.deliveries;
    assert.equal(pending.length, 1);
    assert.notEqual(pending[0].status, 'succeeded');
  } finally { await srv.stop(); srv.cleanup(); rx.close(); }
});

test('the failing period survives a restart: the first failure after it past disable_after_s disables', async () => {
  const rx = await receiver(() => ({ status: 500 }));
  const env = {
    FLOWGATE_WEBHOOKS_ALLOW_NETWORKS: '127.0.0.2/32', FLOWGATE_WEBHOOKS_DISABLE_AFTER_S: '2',
    FLOWGATE_WEBHOOKS_RETRY_SCHEDULE: Array(30).fill('200ms').join(','),
  };
  const srv = await new Server({ env }).start();
  try {
    const sub = (await request(srv.base, 'POST', '/v1/webhooks', { body: { url: `http://127.0.0.2:${rx.port}/down` } })).json;
    await publish(srv.base, ev.signedIn());
    await waitFor(() => rx.got.length >= 1, 'the first failed attempt');
    const firstFailure = rx.got[0].at;
    await srv.stop();
    // down for longer than disable_after_s, counted from the first failure before the restart
    await sleep(Math.max(0, firstFailure + 3200 - Date.now())); // a second of margin over 2 s
    const before = rx.got.length;
    await srv.start();
    let enabled = true;
    for (let i = 0; i < 200 && enabled; i++) {
      enabled = (await request(srv.base, 'GET', `/v1/webhooks/${sub.id}`)).json.enabled;
      if (enabled) await sleep(25);
    }
    assert.equal(enabled, false);
    // a restart that forgot the period would have needed two more seconds of failures (~10 attempts)
    assert.equal(rx.got.length - before, 1, `attempts after the restart: ${rx.got.length - before}`);
    // enabled again by the user, it starts a new period instead of being disabled at once
    await request(srv.base, 'PATCH', `/v1/webhooks/${sub.id}`, { body: { enabled: true } });
    const again = rx.got.length;
    await waitFor(() => rx.got.length >= again + 2, 'two attempts after enabling it again');
    assert.equal((await request(srv.base, 'GET', `/v1/webhooks/${sub.id}`)).json.enabled, true);
  } finally { await srv.stop(); srv.cleanup(); rx.close(); }
});

test('chat formats: a slack or discord subscription gets a message a person can read, signed as sent', async () => {
  const rx = await receiver(() => ({ status: 204 }));
  const srv = await new Server({ env: {
    FLOWGATE_WEBHOOKS_ALLOW_NETWORKS: '127.0.0.2/32', FLOWGATE_WEBHOOKS_CONSOLE_URL: 'https://flowgate.example/console',
  } }).start();
  try {
    const slack = (await request(srv.base, 'POST', '/v1/webhooks', { body: { url: `http://127.0.0.2:${rx.port}/slack`, event_types: ['run_failed'], format: 'slack' } })).json;
    const discord = (await request(srv.base, 'POST', '/v1/webhooks', { body: { url: `http://127.0.0.2:${rx.port}/discord`, event_types: ['run_failed'], format: 'discord' } })).json;
    assert.equal(slack.format, 'slack');
    const bad = await request(srv.base, 'POST', '/v1/webhooks', { body: { url: `http://127.0.0.2:${rx.port}/x`, format: 'teams' } });
    assert.equal(bad.status, 400);
    const run = uuid();
    await publish(srv.base, { type: 'run_failed', run_id: run, workflow_name: 'deploy', error: 'exit 1', cost_usd: '0.42', duration_ms: 9 });
    await waitFor(() => rx.got.length >= 2, 'both chat deliveries');
    const bySlack = rx.got.find((g) => g.path === '/slack');
    const byDiscord = rx.got.find((g) => g.path === '/discord');
    // the signature covers the body as sent (the formatted one)
    const s = new Webhook(slack.secret).verify(bySlack.body, bySlack.headers);
    assert.match(s.text, /Run failed/);
    assert.ok(s.blocks.some((b) => b.type === 'section' && /exit 1/.test(b.text.text)));
    assert.ok(s.blocks.some((b) => b.type === 'actions' && b.elements[0].url === `https://flowgate.example/console/runs/${run}`));
    const d = new Webhook(discord.secret).verify(byDiscord.body, byDiscord.headers);
    assert.equal(d.embeds[0].title, 'Run failed');
    assert.equal(d.embeds[0].description, 'exit 1');
    assert.ok(d.embeds[0].fields.some((f) => f.name === 'Workflow' && f.value === 'deploy'));
    assert.deepEqual(d.allowed_mentions, { parse: [] });
  } finally { await srv.stop(); srv.cleanup(); rx.close(); }
});

// CPU time (user + system, seconds) the process has used so far.
function cpuSeconds(pid) {
  const f = require('node:fs').readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; /* clock ticks: USER_HZ is 100 on Linux */
}

// A proxy named in the environment is not used: the address guard checks where a delivery goes,
// and a proxy would take it anywhere.
test('deliveries go straight to the endpoint, never through a proxy from the environment', async () => {
  const proxy = await receiver(() => null);
  const rx = await receiver(() => null);
  const via = `http://127.0.0.2:${proxy.port}`;
  const srv = await new Server({ env: { FLOWGATE_WEBHOOKS_ALLOW_NETWORKS: '127.0.0.2/32', http_proxy: via, HTTP_PROXY: via, https_proxy: via, ALL_PROXY: via, all_proxy: via } }).start();
  try {
    const r = await request(srv.base, 'POST', '/v1/webhooks', { body: { url: `http://127.0.0.2:${rx.port}/direct`, event_types: ['log_line'] } });
    assert.equal(r.status, 201, r.text);
    await publish(srv.base, [{ type: 'log_line', run_id: uuid(), step_id: uuid(), step_name: 'build', stream: 'stdout', line: 'hello' }]);
    for (let i = 0; i < 500 && rx.got.length === 0 && proxy.got.length === 0; i++) await sleep(10);
    assert.equal(proxy.got.length, 0, `the proxy got ${proxy.got.map((g) => g.path).join(', ')}`);
    assert.equal(rx.got.length, 1);
    assert.equal(rx.got[0].path, '/direct');
  } finally { await srv.stop(); srv.cleanup(); rx.close(); proxy.close(); }
});

test('a receiver closing its idle keep-alive connections: the next deliveries open new ones, and the closed ones are not polled', async () => {
  const rx = await receiver(() => ({ status: 204 }));
  const srv = await new Server({ env: { FLOWGATE_WEBHOOKS_ALLOW_NETWORKS: '127.0.0.2/32' } }).start();
  try {
    const sub = (await request(srv.base, 'POST', '/v1/webhooks', { body: { url: `http://127.0.0.2:${rx.port}/idle`, event_types: ['log_line'], max_in_flight: 4 } })).json;
    const run = uuid();
    for (let round = 1; round <= 3; round++) {
      for (let i = 0; i < 4; i++) await publish(srv.base, ev.log(run, `r${round} ${i}`));
      await waitFor(() => rx.got.length >= 4 * round, `round ${round}'s deliveries`);
      // the receiver closes every idle connection: flowgate's sockets see the peer's close
      rx.closeIdle();
      const before = cpuSeconds(srv.proc.pid);
      await sleep(1000);
      // a closed connection still watched would wake the loop at once, again and again
      assert.ok(cpuSeconds(srv.proc.pid) - before < 0.5, 'flowgate spun on a closed connection');
    }
    for (const g of rx.got) new Webhook(sub.secret).verify(g.body, g.headers);
    assert.equal(new Set(rx.got.map((g) => g.headers['webhook-id'])).size, 12);
  } finally { await srv.stop(); srv.cleanup(); rx.close(); }
});
