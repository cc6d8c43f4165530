'use strict';
// limits.*: each limit is hit once and answers in the error shape (429 with Retry-After for
// counts and rates, 414/431/400 for the request's shape, 503 for connections), stores nothing,
// and lets the client in again once it is back under the limit.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');
const { Server, sse, publish, request, storedEvents, ev, uuid, sleep, BIN } = require('./lib');

function rawConnect(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}
function readAll(s) {
  return new Promise((resolve) => {
    let data = '';
    s.on('data', (d) => { data += d; });
    s.on('close', () => resolve(data));
  });
}

test('connections: over limits.max_connections a new one gets a 503 in the error shape', async () => {
  const srv = await new Server({ env: { FLOWGATE_LIMITS_MAX_CONNECTIONS: '4', FLOWGATE_THREADS: '1' } }).start();
  try {
    const held = [];
    for (let i = 0; i < 4; i++) held.push(await rawConnect(srv.port));
    await sleep(100);
    const extra = await rawConnect(srv.port);
    const answer = await readAll(extra);
    assert.match(answer, /^HTTP\/1\.1 503 /);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
    assert.equal(body.error, 'too_many_connections');
    for (const s of held) s.destroy();
    await sleep(200);
    const m = (await request(srv.base, 'GET', '/metrics')).text;
    assert.match(m, /flowgate_connections_refused_total 1\n/);
    assert.equal((await request(srv.base, 'GET', '/healthz')).status, 200, 'closed ones are counted out');
  } finally { await srv.stop(); srv.cleanup(); }
});

test('streams per address and per credential: 429 too_many_streams, free again after a close', async () => {
  const key = `fgk_${crypto.randomBytes(24).toString('base64url')}`;
  const hash = spawnSync(BIN, ['hash-key', key]).stdout.toString().trim();
  const srv = await new Server({ env: {
    FLOWGATE_LIMITS_MAX_STREAMS_PER_ADDRESS: '3', FLOWGATE_LIMITS_MAX_STREAMS_PER_CREDENTIAL: '2',
    FLOWGATE_SSE_HEARTBEAT_MS: '200', // an HTTP/1.1 client that left is noticed at the next writes
    FLOWGATE_AUTH_KEYS: JSON.stringify([{ name: 'ui', sha256: hash, scopes: ['subscribe', 'publish'] }]),
  } }).start();
  const auth = { authorization: `Bearer ${key}` };
  try {
    const a = await sse(`${srv.base}/v1/stream`, { headers: auth });
    const b = await sse(`${srv.base}/v1/stream`, { headers: auth });
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    let r = await request(srv.base, 'GET', '/v1/stream', { headers: auth });
    assert.equal(r.status, 429);
    assert.equal(r.json.error, 'too_many_streams');
    assert.equal(r.json.details.limit, 'max_streams_per_credential');
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    a.close();
    let c;
    for (let i = 0; i < 40; i++) {
      c = await sse(`${srv.base}/v1/stream`, { headers: auth });
      if (c.status === 200) break;
      c.close();
      await sleep(100);
    }
    assert.equal(c.status, 200, 'a closed stream frees its place');
    // per address: 2 (b, c) + 1 with the token in the query = 3, then the 4th is refused
    const d = await sse(`${srv.base}/v1/stream?access_token=${key}`);
    assert.equal(d.status, 429, 'still the credential limit');
    d.close();
    b.close();
    c.close();
  } finally { await srv.stop(); srv.cleanup(); }
  const open = await new Server({ env: { FLOWGATE_LIMITS_MAX_STREAMS_PER_ADDRESS: '2' } }).start();
  try {
    const x = await sse(`${open.base}/v1/stream`);
    const y = await sse(`${open.base}/v1/stream`);
    const r = await request(open.base, 'GET', '/v1/stream');
    assert.equal(r.status, 429);
    assert.equal(r.json.details.limit, 'max_streams_per_address');
    x.close();
    y.close();
  } finally { await open.stop(); open.cleanup(); }
});

test('publish rate: a token bucket per client, 429 rate_limited with Retry-After, nothing stored', async () => {
  // 2/s: a token comes back every 500 ms, so a slow (sanitizer) build's gap between two requests
  // does not refill the bucket before the one that must be refused
  const srv = await new Server({ env: { FLOWGATE_LIMITS_PUBLISH_RATE: '2', FLOWGATE_LIMITS_PUBLISH_BURST: '5' } }).start();
  try {
    const run = uuid();
    await publish(srv.base, Array.from({ length: 5 }, (_, i) => ev.log(run, `l${i}`)));
    const r = await request(srv.base, 'POST', '/v1/events', { body: ev.log(run, 'over') });
    assert.equal(r.status, 429);
    assert.equal(r.json.error, 'rate_limited');
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    await sleep(600); // 2/s: a token back
    await publish(srv.base, ev.log(run, 'later'));
    const lines = (await storedEvents(srv.base)).map((e) => e.event.line);
    assert.deepEqual(lines, ['l0', 'l1', 'l2', 'l3', 'l4', 'later']);
  } finally { await srv.stop(); srv.cleanup(); }
});

test('request shape: URL length 414, header bytes 431, query parameters and filter items 400', async () => {
  const srv = await new Server({ env: {
    FLOWGATE_LIMITS_MAX_URL_BYTES: '512', FLOWGATE_LIMITS_MAX_HEADER_BYTES: '2048',
    FLOWGATE_LIMITS_MAX_QUERY_PARAMS: '4', FLOWGATE_LIMITS_MAX_FILTER_ITEMS: '3',
  } }).start();
  try {
    let r = await request(srv.base, 'GET', `/v1/events?workflow=${'w'.repeat(600)}`);
    assert.equal(r.status, 414);
    assert.equal(r.json.error, 'url_too_long');
    r = await request(srv.base, 'GET', '/v1/events', { headers: { 'x-big': 'v'.repeat(3000) } });
    assert.equal(r.status, 431);
    assert.equal(r.json.error, 'headers_too_large');
    r = await request(srv.base, 'GET', '/v1/events?a=1&b=2&c=3&d=4&e=5');
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'too_many_params');
    r = await request(srv.base, 'GET', '/v1/stream?types=log_line,run_failed&workflow=a%2Cb');
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'invalid_filter');
    r = await request(srv.base, 'POST', '/v1/events', { body: ev.signedIn(), headers: { 'x-big': 'v'.repeat(3000) } });
    assert.equal(r.status, 431);
    assert.equal((await storedEvents(srv.base)).length, 0, 'nothing stored');
    assert.equal((await request(srv.base, 'GET', '/v1/events?types=log_line,run_failed')).status, 200);
  } finally { await srv.stop(); srv.cleanup(); }
});
