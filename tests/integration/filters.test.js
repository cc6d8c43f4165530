'use strict';
// Payload filters (issue #15): a filter on the event's fields on SSE streams (live, replayed
// after a cursor, last=N), on GET /v1/events, and on webhook subscriptions (a real receiver,
// signatures checked by the `standardwebhooks` npm package); POST /v1/filters/test; bad
// filters are 400s naming the position that change nothing.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Webhook } = require('standardwebhooks');
const { Server, SseClient, publish, request, storedEvents, uuid, sleep } = require('./lib');
const { receiver } = require('./receiver');

const WF = ['deploy', 'release', 'nightly'];
const ENV = ['prod', 'staging', undefined];

// Status changes of many runs: workflows, labels (or none) and costs varying.
function events(n, from = 0) {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    const e = { type: 'run_status_changed', run_id: uuid(), workflow_name: WF[i % 3], from: 'pending', to: 'running',
      cost_usd: (i % 7 * 0.75).toFixed(2), duration_ms: i * 10 };
    if (ENV[i % 4 % 3]) e.labels = { env: ENV[i % 4 % 3], n: String(i) };
    return e;
  });
}

// The filters of this test and the same predicate in JavaScript.
const cases = [
  [{ workflow_name: { $in: ['deploy', 'release'] }, 'labels.env': 'prod' }, (e) => ['deploy', 'release'].includes(e.workflow_name) && e.labels?.env === 'prod'],
  [{ cost_usd: { $gt: 2, $lte: 4.5 } }, (e) => Number(e.cost_usd) > 2 && Number(e.cost_usd) <= 4.5],
  [{ $or: [{ 'labels.env': { $exists: false } }, { workflow_name: { $prefix: 'night' } }] }, (e) => !e.labels || e.workflow_name.startsWith('night')],
  [{ $not: { 'labels.env': 'staging' }, duration_ms: { $lt: 300 } }, (e) => e.labels?.env !== 'staging' && e.duration_ms < 300],
];
const q = (f) => encodeURIComponent(JSON.stringify(f));

test('payload filters on streams, replays, last=N and the events query; bad ones refused', async () => {
  const srv = await new Server().start();
  try {
    const live = [];
    for (const [f] of cases) live.push(await new SseClient(`${srv.base}/v1/stream?types=run_status_changed&filter=${q(f)}`).open());
    const sent = [...events(30), ...events(30, 30)];
    const acks = [];
    for (let i = 0; i < sent.length; i += 10) acks.push(...await publish(srv.base, sent.slice(i, i + 10)));
    const seqOf = (e) => acks[sent.indexOf(e)].seq;
    for (let c = 0; c < cases.length; c++) {
      const want = sent.filter(cases[c][1]);
      assert.ok(want.length > 3 && want.length < sent.length, `case ${c} selects some: ${want.length}`);
      await live[c].waitFrames(want.length, 5000);
      await sleep(c === 0 ? 300 : 0); // anything more would be here by now
      assert.deepEqual(live[c].events().map((e) => e.seq), want.map(seqOf), `live, case ${c}`);
      // the query, a replay after a cursor, and the newest 3 then live
      const stored = await storedEvents(srv.base, `&filter=${q(cases[c][0])}`);
      assert.deepEqual(stored.map((e) => e.seq), want.map(seqOf), `query, case ${c}`);
      // small pages: each ends with a match or at the end; an empty page only at the end
      const paged = [];
      for (let after = 0, pages = 0; pages < 100; pages++) {
        const r = await request(srv.base, 'GET', `/v1/events?limit=2&after=${after}&filter=${q(cases[c][0])}`);
        assert.equal(r.status, 200);
        if (r.json.events.length === 0) break;
        paged.push(...r.json.events.map((e) => e.seq));
        after = r.json.next_after;
      }
      assert.deepEqual(paged, want.map(seqOf), `pages of 2, case ${c}`);
      const cursor = seqOf(want[1]);
      const replay = await new SseClient(`${srv.base}/v1/stream?filter=${q(cases[c][0])}`, { headers: { 'last-event-id': String(cursor) } }).open();
      await replay.waitFrames(want.length - 2, 5000);
      assert.deepEqual(replay.events().map((e) => e.seq), want.slice(2).map(seqOf), `replay, case ${c}`);
      replay.close();
      const last = await new SseClient(`${srv.base}/v1/stream?last=3&filter=${q(cases[c][0])}`).open();
      await last.waitFrames(3, 5000);
      await sleep(100);
      assert.deepEqual(last.events().map((e) => e.seq), want.slice(-3).map(seqOf), `last=3, case ${c}`);
      last.close();
    }
    for (const s of live) s.close();
    // a run's stream takes one too
    const run = sent.find(cases[0][1]).run_id;
    const one = await new SseClient(`${srv.base}/v1/runs/${run}/stream?filter=${q(cases[0][0])}&last_event_id=0`).open();
    await one.waitFrames(1, 5000);
    assert.equal(one.events()[0].body.run_id, run);
    one.close();

    // bad filters: 400 naming the position, on every route that takes one
    const bad = [
      ['{"a":', /at character 5/],
      [JSON.stringify({ cost_usd: { $gt: 'x' } }), /at cost_usd\.\$gt: must be a number/],
      [JSON.stringify({ $or: [{ a: 1 }, { b: { $between: [1, 2] } }] }), /at \$or\[1\]\.b\.\$between: not an operator/],
      ['[]', /a filter is an object/],
    ];
    for (const [text, msg] of bad) {
      for (const p of ['/v1/stream', `/v1/runs/${run}/stream`, '/v1/events']) {
        const r = await request(srv.base, 'GET', `${p}?filter=${encodeURIComponent(text)}`);
        assert.equal(r.status, 400, `${p} ${text}`);
        assert.equal(r.json.error, 'invalid_filter');
        assert.match(r.json.message, msg);
      }
    }
    const twice = await request(srv.base, 'GET', `/v1/events?filter=${q({ a: 1 })}&filter=${q({ b: 1 })}`);
    assert.equal(twice.status, 400);
    assert.match(twice.json.message, /\$and/);

    // POST /v1/filters/test
    const t = async (body) => request(srv.base, 'POST', '/v1/filters/test', { body });
    for (const [f, pred] of cases) {
      for (const e of sent.slice(0, 12)) {
        const r = await t({ filter: f, event: e });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.match, pred(e));
      }
    }
    let r = await t({ filter: { cost_usd: { $gt: 'x' } }, event: sent[0] });
    assert.equal(r.status, 400);
    assert.match(r.json.message, /cost_usd\.\$gt/);
    r = await t({ filter: {} });
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'invalid_event');
    r = await t({ event: sent[0] });
    assert.equal(r.json.error, 'missing_filter');
    r = await t({ filter: {}, event: {}, extra: 1 });
    assert.equal(r.json.error, 'unknown_field');
    r = await request(srv.base, 'POST', '/v1/filters/test', { raw: true, body: '{"filter":', headers: { 'content-type': 'application/json' } });
    assert.equal(r.json.error, 'invalid_json');
    assert.equal(r.status, 400);
  } finally { await srv.stop(); srv.cleanup(); }
});

test('payload filters on webhook subscriptions: only matching events delivered, shown, changed, refused when bad', async () => {
  const rx = await receiver();
  const srv = await new Server({ env: { FLOWGATE_WEBHOOKS_ALLOW_NETWORKS: '127.0.0.2/32' } }).start();
  try {
    const [f, pred] = cases[0];
    const sub = await request(srv.base, 'POST', '/v1/webhooks', { body: { url: `${rx.base}/hook`, event_types: ['run_status_changed'], filter: f } });
    assert.equal(sub.status, 201, sub.text);
    assert.deepEqual(sub.json.filter, f);
    assert.deepEqual((await request(srv.base, 'GET', `/v1/webhooks/${sub.json.id}`)).json.filter, f);
    // refused: a bad filter on create or patch changes nothing
    let r = await request(srv.base, 'POST', '/v1/webhooks', { body: { url: `${rx.base}/hook`, filter: { 'labels.env': { $in: 'prod' } } } });
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'invalid_filter');
    assert.match(r.json.message, /at labels\.env\.\$in/);
    r = await request(srv.base, 'PATCH', `/v1/webhooks/${sub.json.id}`, { body: { filter: { $nor: [] } } });
    assert.equal(r.status, 400);
    assert.deepEqual((await request(srv.base, 'GET', '/v1/webhooks')).json.webhooks.map((w) => w.filter), [f]);

    const sent = events(24);
    const acks = await publish(srv.base, sent);
    const want = sent.filter(pred);
    for (let i = 0; i < 400 && rx.got.length < want.length; i++) await sleep(25);
    await sleep(300);
    const wh = new Webhook(sub.json.secret);
    const bodies = rx.got.map((g) => wh.verify(g.body, g.headers));
    assert.deepEqual(bodies.map((b) => b.run_id).sort(), want.map((e) => e.run_id).sort());
    assert.ok(want.length > 0 && want.length < sent.length);
    // a replay goes through the filter too
    const replay = await request(srv.base, 'POST', `/v1/webhooks/${sub.json.id}/replay`, { body: { since_seq: 0 } });
    assert.equal(replay.status, 202, replay.text);
    assert.equal(replay.json.enqueued, want.length);
    for (let i = 0; i < 400 && rx.got.length < 2 * want.length; i++) await sleep(25);
    assert.equal(rx.got.length, 2 * want.length);
    // the filter removed (null): every status change goes
    r = await request(srv.base, 'PATCH', `/v1/webhooks/${sub.json.id}`, { body: { filter: null } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.filter, undefined);
    const before = rx.got.length;
    await publish(srv.base, events(5, 100));
    for (let i = 0; i < 400 && rx.got.length < before + 5; i++) await sleep(25);
    assert.equal(rx.got.length, before + 5);
    assert.ok(acks.length === sent.length);
  } finally { await srv.stop(); srv.cleanup(); rx.close(); }
});
