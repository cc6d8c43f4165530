'use strict';
// The webhook subscription API: create, list, get, PATCH (validated whole), DELETE, secret view
// and rotation, the address guard at creation, and persistence across a restart.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Server, request, uuid } = require('./lib');

test('webhook subscriptions: CRUD, validation, secrets, restart', async () => {
  const srv = await new Server({ env: { FLOWGATE_WEBHOOKS_ALLOW_NETWORKS: '127.0.0.0/8' } }).start();
  try {
    const b = srv.base;
    const created = await request(b, 'POST', '/v1/webhooks', { body: {
      url: 'http://127.0.0.1:9/hook', event_types: ['approval_*', 'run_failed'], run_id: uuid(),
      description: 'ops channel', headers: { 'X-Team': 'ops' }, ordering: 'per_run', signature: 'github',
    } });
    assert.equal(created.status, 201, created.text);
    const sub = created.json;
    assert.match(sub.id, /^wh_[0-9a-f-]{36}$/);
    assert.match(sub.secret, /^whsec_[A-Za-z0-9+/]{32}$/);
    assert.deepEqual(sub.event_types, ['approval_*', 'run_failed']);
    assert.deepEqual(sub.headers, { 'x-team': 'ops' });
    assert.equal(sub.enabled, true);
    assert.equal(sub.max_in_flight, 4);

    const list = await request(b, 'GET', '/v1/webhooks');
    assert.equal(list.status, 200);
    assert.equal(list.json.webhooks.length, 1);
    assert.equal(list.json.webhooks[0].secret, undefined); // shown at creation only
    const one = await request(b, 'GET', `/v1/webhooks/${sub.id}`);
    assert.equal(one.json.description, 'ops channel');

    const patched = await request(b, 'PATCH', `/v1/webhooks/${sub.id}`, { body: { enabled: false, max_in_flight: 9 } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.json.enabled, false);
    assert.equal(patched.json.max_in_flight, 9);
    assert.equal(patched.json.ordering, 'per_run'); // untouched fields stay

    const secret = await request(b, 'GET', `/v1/webhooks/${sub.id}/secret`);
    assert.equal(secret.json.secret, sub.secret);
    const rotated = await request(b, 'POST', `/v1/webhooks/${sub.id}/secret/rotate`);
    assert.equal(rotated.status, 200);
    assert.notEqual(rotated.json.secret, sub.secret);
    const after = await request(b, 'GET', `/v1/webhooks/${sub.id}/secret`);
    assert.equal(after.json.secret, rotated.json.secret);
    assert.equal(after.json.previous_secret, sub.secret); // both sign during the grace period

    // bad input: 400 in the error shape, nothing created or changed
    const bad = [
      [{ url: 'ftp://example.com/' }, 'invalid_url'],
      [{ url: 'http://10.0.0.1/' }, 'forbidden_target'],
      [{ url: 'http://169.254.169.254/latest' }, 'forbidden_target'],
      [{ url: 'http://[::1]/' }, 'forbidden_target'],
      [{ url: 'http://user:pw@example.com/' }, 'invalid_url'],
      [{ url: 'https://example.com/', event_types: ['nope'] }, 'unknown_type'],
      [{ url: 'https://example.com/', event_types: ['a*b'] }, 'invalid_filter'],
      [{ url: 'https://example.com/', run_id: 'xyz' }, 'invalid_run_id'],
      [{ url: 'https://example.com/', headers: { 'webhook-signature': 'x' } }, 'invalid_field'],
      [{ url: 'https://example.com/', surprise: 1 }, 'unknown_field'],
      [{ event_types: ['*'] }, 'missing_url'],
    ];
    for (const [body, code] of bad) {
      const r = await request(b, 'POST', '/v1/webhooks', { body });
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.json.error, code, JSON.stringify(body));
    }
    const badPatch = await request(b, 'PATCH', `/v1/webhooks/${sub.id}`, { body: { url: 'gopher://x/', enabled: true } });
    assert.equal(badPatch.status, 400);
    assert.equal((await request(b, 'GET', `/v1/webhooks/${sub.id}`)).json.enabled, false);
    assert.equal((await request(b, 'POST', '/v1/webhooks', { raw: true, body: '{"url":', headers: { 'content-type': 'application/json' } })).status, 400);
    assert.equal((await request(b, 'GET', '/v1/webhooks/wh_nope')).status, 404);
    assert.equal((await request(b, 'PATCH', '/v1/webhooks/wh_nope', { body: { enabled: true } })).status, 404);
    assert.equal((await request(b, 'DELETE', '/v1/webhooks/wh_nope')).status, 404);
    assert.equal((await request(b, 'PUT', '/v1/webhooks')).status, 405);
    assert.equal((await request(b, 'GET', '/v1/webhooks')).json.webhooks.length, 1);

    // subscriptions survive a restart
    await srv.restart();
    const again = await request(srv.base, 'GET', `/v1/webhooks/${sub.id}`);
    assert.equal(again.status, 200);
    assert.equal(again.json.max_in_flight, 9);
    assert.equal((await request(srv.base, 'GET', `/v1/webhooks/${sub.id}/secret`)).json.secret, rotated.json.secret);

    const del = await request(srv.base, 'DELETE', `/v1/webhooks/${sub.id}`);
    assert.equal(del.status, 204);
    assert.equal((await request(srv.base, 'GET', `/v1/webhooks/${sub.id}`)).status, 404);
  } finally { await srv.stop(); srv.cleanup(); }
});

test('subscriptions declared in the config file and by FLOWGATE_WEBHOOK_URL', async () => {
  const fs = require('node:fs');
  const path = require('node:path');
  const { tmpDir } = require('./lib');
  const dir = tmpDir();
  const cfg = path.join(dir, 'c.json');
  fs.writeFileSync(cfg, JSON.stringify({ webhooks: {
    allow_networks: ['127.0.0.0/8'],
    subscriptions: [{ url: 'http://127.0.0.1:9/cfg', event_types: ['run_failed'], secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }],
  } }));
  const env = { FLOWGATE_WEBHOOK_URL: 'http://127.0.0.1:9/env', FLOWGATE_WEBHOOK_TYPES: 'approval_*,run_failed' };
  const srv = await new Server({ args: ['--config', cfg], env }).start();
  try {
    const list = (await request(srv.base, 'GET', '/v1/webhooks')).json.webhooks;
    assert.equal(list.length, 2);
    const byUrl = Object.fromEntries(list.map((w) => [w.url, w]));
    assert.match(byUrl['http://127.0.0.1:9/cfg'].id, /^wh_cfg_[0-9a-f]{16}$/);
    assert.deepEqual(byUrl['http://127.0.0.1:9/env'].event_types, ['approval_*', 'run_failed']);
    const secret = (await request(srv.base, 'GET', `/v1/webhooks/${byUrl['http://127.0.0.1:9/cfg'].id}/secret`)).json.secret;
    assert.equal(secret, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    const envSecret = (await request(srv.base, 'GET', `/v1/webhooks/${byUrl['http://127.0.0.1:9/env'].id}/secret`)).json.secret;
    // a restart updates the declared subscriptions in place: same ids, same generated secret
    await srv.restart();
    const again = (await request(srv.base, 'GET', '/v1/webhooks')).json.webhooks;
    assert.deepEqual(again.map((w) => w.id).sort(), list.map((w) => w.id).sort());
    assert.equal((await request(srv.base, 'GET', `/v1/webhooks/${byUrl['http://127.0.0.1:9/env'].id}/secret`)).json.secret, envSecret);
  } finally { await srv.stop(); srv.cleanup(); fs.rmSync(dir, { recursive: true, force: true }); }
});
