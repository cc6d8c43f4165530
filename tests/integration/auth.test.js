'use strict';
// Authentication and scopes: API keys from the config (stored as hashes), JWTs (HS256 with a
// shared secret, ES256 and RS256 with a public key file), the three places a credential may come
// from, subscribers narrowed to what they may see (403 when they ask for more), a stream ended at
// its token's exp with `event: auth_expired`, the safe defaults at start, CORS, and no credential
// in the log. Tokens are made here with node:crypto.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { Server, sse, publish, request, ev, uuid, tmpDir, BIN } = require('./lib');

const b64u = (x) => Buffer.from(x).toString('base64url');
function jwt(header, claims, sign) {
  const head = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
  return `${head}.${sign ? sign(head) : ''}`;
}
const hs256 = (secret) => (data) => crypto.createHmac('sha256', secret).update(data).digest('base64url');
const pkSign = (key, opts = {}) => (data) => crypto.sign('sha256', Buffer.from(data), { key, ...opts }).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);
const hashKey = (k) => spawnSync(BIN, ['hash-key', k]).stdout.toString().trim();

const SECRET = 'a-shared-secret-of-at-least-32-characters!';
const RUN_A = uuid();
const RUN_B = uuid();
const keys = {
  pub: `fgk_${crypto.randomBytes(24).toString('base64url')}`,
  reader: `fgk_${crypto.randomBytes(24).toString('base64url')}`,
  admin: `fgk_${crypto.randomBytes(24).toString('base64url')}`,
};
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const bearer = (t) => ({ authorization: `Bearer ${t}` });

async function withServer(config, fn, env = {}) {
  const dir = tmpDir();
  const cfg = path.join(dir, 'flowgate.json');
  fs.writeFileSync(cfg, JSON.stringify(config));
  const srv = await new Server({ args: ['--config', cfg], env: { FLOWGATE_LOG_LEVEL: 'debug', ...env } }).start();
  try { await fn(srv); } finally { await srv.stop(); srv.cleanup(); fs.rmSync(dir, { recursive: true, force: true }); }
}

test('hash-key prints what auth.keys stores; a new key when asked for one', () => {
  assert.equal(hashKey(keys.pub), crypto.createHash('sha256').update(keys.pub).digest('hex'));
  const bad = spawnSync(BIN, ['hash-key', 'not-a-key']);
  assert.equal(bad.status, 2);
});

test('safe defaults: open on loopback with a warning; elsewhere only with auth.mode none', async () => {
  const srv = await new Server().start();
  try {
    assert.match(srv.log, /event=auth_open/);
    assert.equal((await request(srv.base, 'GET', '/v1/webhooks')).status, 200);
  } finally { await srv.stop(); srv.cleanup(); }
  const dir = tmpDir();
  const r = spawnSync(BIN, ['--listen', '0.0.0.0:0', '--data-dir', dir], { timeout: 10000 });
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(r.status, 1);
  assert.match(r.stderr.toString(), /auth\.mode.*not a loopback/);
  const dir2 = tmpDir();
  const r2 = spawnSync(BIN, ['--data-dir', dir2, '--listen', '127.0.0.1:0'], { env: { ...process.env, FLOWGATE_AUTH_MODE: 'required' }, timeout: 10000 });
  fs.rmSync(dir2, { recursive: true, force: true });
  assert.equal(r2.status, 1, 'required with no credentials cannot start');
});

test('API keys: 401 without or with a bad credential, 403 without the scope, subscribers narrowed', async () => {
  const config = {
    auth: {
      keys: [
        { name: 'ci', sha256: hashKey(keys.pub), scopes: ['publish'] },
        { name: 'ui', sha256: hashKey(keys.reader), scopes: ['subscribe'], types: ['log_line', 'approval_*'], runs: [RUN_A] },
        { name: 'ops', sha256: hashKey(keys.admin), scopes: ['admin', 'subscribe', 'publish'] },
      ],
    },
  };
  await withServer(config, async (srv) => {
    const b = srv.base;
    // no credential
    let r = await request(b, 'GET', '/v1/stream');
    assert.equal(r.status, 401);
    assert.equal(r.json.error, 'unauthorized');
    assert.match(r.headers.get('www-authenticate'), /^Bearer/);
    r = await request(b, 'POST', '/v1/events', { body: ev.signedIn() });
    assert.equal(r.status, 401);
    // a bad key, a non-Bearer header
    r = await request(b, 'GET', '/v1/events', { headers: bearer('fgk_nope_nope_nope_nope_nope_nope_nope') });
    assert.equal(r.status, 401);
    assert.equal(r.json.error, 'invalid_credential');
    r = await request(b, 'GET', '/v1/events', { headers: { authorization: `Basic ${b64u('a:b')}` } });
    assert.equal(r.status, 401);
    // health needs nothing
    assert.equal((await request(b, 'GET', '/healthz')).status, 200);
    // the publisher publishes and nothing else
    const published = await publish(b, [ev.log(RUN_A, 'a1'), ev.log(RUN_B, 'b1'), ev.approval(RUN_A), ev.signedIn()], bearer(keys.pub));
    assert.equal(published.length, 4);
    r = await request(b, 'GET', '/v1/stream', { headers: bearer(keys.pub) });
    assert.equal(r.status, 403);
    assert.equal(r.json.error, 'forbidden');
    assert.equal((await request(b, 'GET', '/v1/webhooks', { headers: bearer(keys.pub) })).status, 403);
    assert.equal((await request(b, 'GET', '/metrics', { headers: bearer(keys.pub) })).status, 403);
    // the reader sees log lines and approvals of RUN_A only, however it asks
    r = await request(b, 'GET', '/v1/events', { headers: bearer(keys.reader) });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.events.map((e) => e.type).sort(), ['approval_requested', 'log_line']);
    assert.ok(r.json.events.every((e) => e.event.run_id === RUN_A));
    r = await request(b, 'GET', '/v1/events?types=run_failed', { headers: bearer(keys.reader) });
    assert.equal(r.status, 403);
    assert.equal(r.json.error, 'forbidden_type');
    r = await request(b, 'GET', `/v1/stream?run_id=${RUN_B}`, { headers: bearer(keys.reader) });
    assert.equal(r.status, 403);
    assert.equal(r.json.error, 'forbidden_run');
    assert.equal((await request(b, 'GET', `/v1/runs/${RUN_B}/stream`, { headers: bearer(keys.reader) })).status, 403);
    assert.equal((await request(b, 'POST', '/v1/events', { body: ev.signedIn(), headers: bearer(keys.reader) })).status, 403);
    // the same key from the cookie and from ?access_token= (what an EventSource can send)
    const viaCookie = await sse(`${b}/v1/stream?last_event_id=0`, { headers: { cookie: `theme=dark; flowgate_token=${keys.reader}` } });
    const viaQuery = await sse(`${b}/v1/stream?last_event_id=0&access_token=${encodeURIComponent(keys.reader)}`);
    for (const s of [viaCookie, viaQuery]) {
      assert.equal(s.status, 200);
      await s.waitFrames(2);
      assert.deepEqual(s.events().map((e) => e.type), ['log_line', 'approval_requested']);
    }
    await publish(b, [ev.log(RUN_B, 'b2'), ev.log(RUN_A, 'a2')], bearer(keys.pub));
    await viaQuery.waitFrames(3);
    assert.equal(viaQuery.events()[2].body.line, 'a2');
    viaCookie.close();
    viaQuery.close();
    // the admin key manages webhooks and reads metrics
    assert.equal((await request(b, 'GET', '/v1/webhooks', { headers: bearer(keys.admin) })).status, 200);
    assert.equal((await request(b, 'GET', '/metrics', { headers: bearer(keys.admin) })).status, 200);
    // no credential ever reaches the log
    for (const k of Object.values(keys)) assert.ok(!srv.log.includes(k), 'a key was logged');
    assert.match(srv.log, /event=auth_rejected/);
  });
});

test('JWTs: HS256 and ES256/RS256, exp required, algorithms pinned, stream ended at exp', async () => {
  const dir = tmpDir();
  const pemFile = path.join(dir, 'ec.pem');
  fs.writeFileSync(pemFile, ec.publicKey.export({ type: 'spki', format: 'pem' }));
  const config = { auth: { jwt: { hs256_secret: SECRET, public_key_file: pemFile } } };
  try {
    await withServer(config, async (srv) => {
      const b = srv.base;
      const claims = (extra = {}) => ({ sub: 'ana', exp: now() + 600, scope: 'subscribe publish', ...extra });
      const good = jwt({ alg: 'HS256', typ: 'JWT' }, claims(), hs256(SECRET));
      assert.equal((await request(b, 'GET', '/v1/events', { headers: bearer(good) })).status, 200);
      await publish(b, [ev.log(RUN_A, 'x'), ev.signedIn()], bearer(good));
      const es = jwt({ alg: 'ES256', typ: 'JWT' }, claims(), pkSign(ec.privateKey, { dsaEncoding: 'ieee-p1363' }));
      assert.equal((await request(b, 'GET', '/v1/events', { headers: bearer(es) })).status, 200);
      // rejected: expired, no exp, another secret, alg none, HS256 signed with the public key
      const rejected = {
        expired: jwt({ alg: 'HS256' }, claims({ exp: now() - 5 }), hs256(SECRET)),
        'no exp': jwt({ alg: 'HS256' }, { sub: 'x', scope: 'subscribe' }, hs256(SECRET)),
        'other secret': jwt({ alg: 'HS256' }, claims(), hs256(`${SECRET}x`)),
        'alg none': jwt({ alg: 'none' }, claims()),
        'key confusion': jwt({ alg: 'HS256' }, claims(), hs256(fs.readFileSync(pemFile))),
        garbage: 'a.b.c',
      };
      for (const [what, t] of Object.entries(rejected)) {
        const r = await request(b, 'GET', '/v1/events', { headers: bearer(t) });
        assert.equal(r.status, 401, what);
        assert.equal(r.json.error, 'invalid_credential', what);
      }
      // a token without the scope
      const pubOnly = jwt({ alg: 'HS256' }, claims({ scope: ['publish'] }), hs256(SECRET));
      assert.equal((await request(b, 'GET', '/v1/stream', { headers: bearer(pubOnly) })).status, 403);
      // flowgate.types narrows, and the stream ends at exp with a final auth_expired frame
      const short = jwt({ alg: 'HS256' }, claims({ exp: now() + 2, flowgate: { types: ['log_line'] } }), hs256(SECRET));
      const s = await sse(`${b}/v1/stream?last_event_id=0`, { headers: bearer(short) });
      assert.equal(s.status, 200);
      await s.waitFrames(1);
      assert.deepEqual(s.events().map((e) => e.type), ['log_line']);
      await s.waitClosed(6000);
      assert.equal(s.frames[s.frames.length - 1].event, 'auth_expired');
      assert.ok(!srv.log.includes(good) && !srv.log.includes(short), 'a token was logged');
    });
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
  // RS256 with its own key file
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const dir2 = tmpDir();
  const rsaFile = path.join(dir2, 'rsa.pem');
  fs.writeFileSync(rsaFile, rsa.publicKey.export({ type: 'spki', format: 'pem' }));
  try {
    await withServer({ auth: { jwt: { public_key_file: rsaFile } } }, async (srv) => {
      const t = jwt({ alg: 'RS256' }, { exp: now() + 60, scope: 'admin' }, pkSign(rsa.privateKey));
      assert.equal((await request(srv.base, 'GET', '/v1/webhooks', { headers: bearer(t) })).status, 200);
      const hs = jwt({ alg: 'HS256' }, { exp: now() + 60, scope: 'admin' }, hs256(SECRET));
      assert.equal((await request(srv.base, 'GET', '/v1/webhooks', { headers: bearer(hs) })).status, 401, 'no HS256 without a secret');
    });
  } finally { fs.rmSync(dir2, { recursive: true, force: true }); }
});

test('CORS: listed origins are echoed with credentials, others get nothing', async () => {
  await withServer({ cors: { origins: ['http://app.example', 'https://ops.example:8443'] } }, async (srv) => {
    const b = srv.base;
    let r = await request(b, 'OPTIONS', '/v1/stream', { headers: { origin: 'http://app.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://app.example');
    assert.equal(r.headers.get('access-control-allow-credentials'), 'true');
    assert.match(r.headers.get('access-control-allow-headers'), /Authorization/);
    r = await request(b, 'OPTIONS', '/v1/stream', { headers: { origin: 'http://evil.example', 'access-control-request-method': 'GET' } });
    assert.equal(r.status, 403);
    assert.equal(r.json.error, 'forbidden_origin');
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    r = await request(b, 'GET', '/v1/events', { headers: { origin: 'https://ops.example:8443' } });
    assert.equal(r.headers.get('access-control-allow-origin'), 'https://ops.example:8443');
    r = await request(b, 'GET', '/v1/events', { headers: { origin: 'https://ops.example' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
  });
});
