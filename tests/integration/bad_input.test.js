'use strict';
// Bad input, all of it (issue #4 §6): each case gets its 4xx (or a clean close), nothing is
// stored, nothing crashes, an SSE client connected the whole time keeps getting events, and no
// secret or token reaches the log. HTTP-level cases go over raw sockets.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');
const { Server, sse, publish, request, storedEvents, ev, uuid, sleep, BIN } = require('./lib');

// Sends raw bytes; resolves with what came back when the server closes or after `ms`.
function raw(port, chunks, { ms = 1500, halfClose = false, gapMs = 0 } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let closed = false;
    s.on('data', (d) => {
      data = Buffer.concat([data, d]);
      // a whole response (head + Content-Length body) is enough: keep-alive would wait
      const text = data.toString('latin1');
      const head = text.indexOf('\r\n\r\n');
      const len = text.match(/content-length: *(\d+)/i);
      if (head >= 0 && len && data.length >= head + 4 + Number(len[1])) s.destroy();
    });
    s.on('error', () => {});
    s.on('close', () => { closed = true; clearTimeout(t); resolve({ text: data.toString('latin1'), closed }); });
    const t = setTimeout(() => { s.destroy(); resolve({ text: data.toString('latin1'), closed }); }, ms);
    s.on('connect', async () => {
      for (const c of [].concat(chunks)) {
        if (s.destroyed) break;
        s.write(c);
        if (gapMs) await sleep(gapMs);
      }
      if (halfClose) s.end();
    });
  });
}
const status = (text) => Number((text.match(/^HTTP\/1\.1 (\d{3})/) || [])[1] || 0);
const jsonOf = (text) => { try { return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)); } catch { return null; } };
const post = (body, headers = '') => `POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}Content-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`;

test('bad input: every case refused, nothing stored, the server keeps serving', async (t) => {
  const key = `fgk_${crypto.randomBytes(24).toString('base64url')}`;
  const hash = spawnSync(BIN, ['hash-key', key]).stdout.toString().trim();
  const jwtSecret = crypto.randomBytes(24).toString('hex');
  const srv = await new Server({ env: {
    FLOWGATE_LOG_LEVEL: 'debug', FLOWGATE_LIMITS_REQUEST_TIMEOUT_MS: '1000',
    FLOWGATE_AUTH_KEYS: JSON.stringify([{ name: 'all', sha256: hash, scopes: ['publish', 'subscribe', 'admin'] }]),
    FLOWGATE_AUTH_JWT_HS256_SECRET: jwtSecret,
  } }).start();
  const auth = `Authorization: Bearer ${key}\r\n`;
  const bearer = { authorization: `Bearer ${key}` };
  try {
    // a subscriber that stays connected through everything
    const watcher = await sse(`${srv.base}/v1/stream?types=log_line`, { headers: bearer });
    assert.equal(watcher.status, 200);
    const run = uuid();
    const good = JSON.stringify(ev.log(run, 'ok'));

    const cases = [
      ['invalid UTF-8', post(`{"type":"log_line","run_id":"${run}","step_id":"${run}","step_name":"b","stream":"stdout","line":"\xff\xfe"}`, auth), 400],
      ['deeply nested JSON', post('['.repeat(100000) + ']'.repeat(100000), auth), [400, 413]],
      ['huge number', post(good.replace('"line":"ok"', '"line":"ok","n":1e999999'), auth), 400],
      ['huge integer', post(good.replace('"line":"ok"', '"line":"ok","n":123456789012345678901234567890'), auth), 400],
      ['duplicate keys', post(good.replace('"line":"ok"', '"line":"ok","line":"twice"'), auth), 400],
      ['NUL inside a string', post(good.replace('"line":"ok"', '"line":"o\\u0000k"'), auth), 400],
      ['oversize header', `GET /v1/events HTTP/1.1\r\nHost: x\r\n${auth}X-Big: ${'a'.repeat(20000)}\r\n\r\n`, 431],
      ['Content-Length and Transfer-Encoding', `POST /v1/events HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: ${good.length}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${good}`, 400],
      ['Last-Event-ID with a newline', `GET /v1/stream HTTP/1.1\r\nHost: x\r\n${auth}Last-Event-ID: 5\n6\r\n\r\n`, 400],
      ['last_event_id with an encoded newline', `GET /v1/stream?last_event_id=5%0A6 HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, 400],
      ['types= with 10,000 entries', `GET /v1/stream?types=${Array(10000).fill('log_line').join(',')} HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, [400, 414, 431]],
      ['webhook URL with credentials', (() => { const b = JSON.stringify({ url: 'https://user:pass@hooks.example.com/x' }); return `POST /v1/webhooks HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: ${b.length}\r\n\r\n${b}`; })(), 400],
      ['unknown path', `GET /v2/nothing HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, 404],
      ['unknown method', `BREW /v1/events HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, 405],
      ['not HTTP at all', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n', 400],
    ];
    for (const [what, bytes, want] of cases) {
      const r = await raw(srv.port, Buffer.from(bytes, 'latin1'));
      const got = status(r.text);
      const ok = [].concat(want).includes(got) || (got === 0 && r.closed);
      assert.ok(ok, `${what}: got ${got || 'nothing'}${r.closed ? ' (closed)' : ''}, want ${want}\n${r.text.slice(0, 300)}`);
      if (got && got !== 414 && got !== 431 && /content-type: application\/json/i.test(r.text)) {
        const body = jsonOf(r.text);
        assert.equal(typeof body.error, 'string', `${what}: the error shape`);
        assert.equal(typeof body.message, 'string', `${what}: the error shape`);
      }
      t.diagnostic(`${what}: ${got || 'closed'}`);
    }

    // slowloris: a head sent a byte every 100 ms is cut off by limits.request_timeout_ms,
    // while a normal client is served meanwhile
    const slow = raw(srv.port, Array.from(`GET /v1/events HTTP/1.1\r\nHost: x\r\n${auth}X-Slow: ${'s'.repeat(80)}\r\n\r\n`), { ms: 8000, gapMs: 100 });
    await sleep(300);
    assert.equal((await request(srv.base, 'GET', '/healthz')).status, 200);
    const s = await slow;
    assert.ok(s.closed, 'the slow client was closed');
    assert.notEqual(status(s.text), 200, 'and not served');

    // half-closed: the request is sent, then the client shuts its write side; the answer comes
    const half = await raw(srv.port, `GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`, { halfClose: true });
    assert.ok([0, 200].includes(status(half.text)), `half-closed: ${half.text.slice(0, 80)}`);

    // nothing was stored; the watcher still gets the next event; the server is alive
    assert.equal((await storedEvents(srv.base, '').catch(() => null)), null, 'GET needs the key');
    const stored = (await request(srv.base, 'GET', '/v1/events', { headers: bearer })).json.events;
    assert.equal(stored.length, 0, `stored: ${JSON.stringify(stored).slice(0, 200)}`);
    await publish(srv.base, ev.log(run, 'after all that'), bearer);
    await watcher.waitFrames(1);
    assert.equal(watcher.events()[0].body.line, 'after all that');
    watcher.close();

    // secrets and tokens never reach the log, from the header, the query or the cookie, nor a
    // webhook secret (the subscription stays disabled: nothing is sent anywhere)
    const whsec = `whsec_${crypto.randomBytes(24).toString('base64')}`;
    const wh = await request(srv.base, 'POST', '/v1/webhooks', { headers: bearer, body: { url: 'https://hooks.example.com/x', secret: whsec, enabled: false } });
    assert.equal(wh.status, 201, wh.text);
    await request(srv.base, 'POST', `/v1/webhooks/${wh.json.id}/secret/rotate`, { headers: bearer });
    const tokenish = `fgk_${crypto.randomBytes(24).toString('base64url')}`;
    await request(srv.base, 'GET', `/v1/stream?access_token=${tokenish}`);
    await request(srv.base, 'GET', '/v1/events', { headers: { cookie: `flowgate_token=${tokenish}` } });
    await request(srv.base, 'GET', `/v1/events?access_token=${key}`);
    await sleep(100);
    for (const secret of [key, tokenish, jwtSecret, whsec, whsec.slice(6)]) assert.ok(!srv.log.includes(secret), 'a secret was logged');
  } finally { await srv.stop(); srv.cleanup(); }
  assert.equal(srv.proc.exitCode, 0, `flowgate exited ${srv.proc.exitCode}, signal ${srv.proc.signalCode}`);
});
