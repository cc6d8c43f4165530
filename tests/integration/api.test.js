'use strict';
// The API described: /v1/openapi.json is served, is OpenAPI 3.1, and every operation in it
// reaches a handler on the running server (never the router's 404 "no such path" or a 405).
const test = require('node:test');
const assert = require('node:assert/strict');
const { Server, request, uuid } = require('./lib');

test('openapi.json: served, and every documented operation is routed', async () => {
  const srv = await new Server().start();
  try {
    const r = await request(srv.base, 'GET', '/v1/openapi.json');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /application\/json/);
    const doc = r.json;
    assert.equal(doc.openapi, '3.1.0');
    let ops = 0;
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of Object.keys(item)) {
        const concrete = path.replace('{run_id}', uuid()).replace('{id}', 'wh_nope');
        const res = await fetch(srv.base + concrete, { method: method.toUpperCase(), signal: AbortSignal.timeout(3000) }).catch((e) => e);
        if (res instanceof Error) {
          // a stream answers with its head and stays open: that is routed too
          assert.equal(res.name, 'TimeoutError', `${method} ${path}: ${res}`);
          ops++;
          continue;
        }
        const text = method === 'head' ? '' : (path.endsWith('/stream') ? '' : await res.text());
        if (path.endsWith('/stream')) res.body?.cancel();
        assert.notEqual(res.status, 405, `${method} ${path} is not routed: 405`);
        assert.ok(!(res.status === 404 && /no such path/.test(text)), `${method} ${path} is not routed: ${text}`);
        ops++;
      }
    }
    assert.ok(ops >= 20, `${ops} operations`);
    // an undocumented path is the router's 404
    const none = await request(srv.base, 'GET', '/v1/nowhere');
    assert.equal(none.status, 404);
    assert.equal(none.json.details.path, '/v1/nowhere');
  } finally { await srv.stop(); srv.cleanup(); }
});
