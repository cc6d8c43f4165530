'use strict';
// Engines plugged in without code changes (issue #14): ironflow's webhook subscriber pointed at
// POST /v1/ingest/ironflow. Its signature is checked (401 when missing or wrong, nothing
// stored), its retries of the same body are one event, types the catalog does not know are a
// 204, bad bodies a 400 in the one error shape, and what it sends lands in the run views as if
// it had been published with POST /v1/events — with auth on, without a flowgate credential.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');
const { Server, request, storedEvents, uuid, tmpDir, BIN } = require('./lib');

const SECRET = 'ironflow-webhook-secret-0123456789';
const sign = (body, secret = SECRET) => `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;

async function withServer(cfg, fn) {
  const dir = tmpDir();
  const file = path.join(dir, 'flowgate.json');
  fs.writeFileSync(file, JSON.stringify(cfg));
  const srv = await new Server({ args: ['--config', file] }).start();
  try { await fn(srv); } finally { await srv.stop(); srv.cleanup(); fs.rmSync(dir, { recursive: true, force: true }); }
}

// As ironflow sends it: the flat event, signed.
function deliver(srv, ev, { sig, raw } = {}) {
  const body = raw ?? JSON.stringify(ev);
  const headers = { 'content-type': 'application/json' };
  if (sig !== null) headers['x-signature-256'] = sig ?? sign(body);
  return request(srv.base, 'POST', '/v1/ingest/ironflow', { body, raw: true, headers });
}

const at = (s) => `2026-12-03T10:00:${String(s).padStart(2, '0')}.000000Z`;

test('ironflow deliveries: signed, retried, mapped onto the runs as published', async () => {
  const admin = `fgk_${crypto.randomBytes(24).toString('base64url')}`;
  const hash = spawnSync(BIN, ['hash-key', admin]).stdout.toString().trim();
  await withServer({ ingest: { ironflow: { secret: SECRET } }, auth: { keys: [{ name: 'ops', sha256: hash, scopes: ['admin', 'subscribe', 'publish'] }] } }, async (srv) => {
    const auth = { authorization: `Bearer ${admin}` };
    const run = uuid(), step = uuid();
    const created = { type: 'run_created', run_id: run, workflow_name: 'deploy', at: at(1) };
    let r = await deliver(srv, created);
    assert.equal(r.status, 202, r.text);
    const first = r.json;
    // ironflow retries the same body: the same event, the same seq
    r = await deliver(srv, created);
    assert.equal(r.status, 202);
    assert.deepEqual(r.json, first);
    // a log line keeps the engine's own id; hex in capitals is the same signature
    const lineId = uuid();
    const line = { type: 'log_line', run_id: run, step_id: step, step_name: 'build', stream: 'stdout', line: 'npm ci', id: lineId, at: at(3) };
    const body = JSON.stringify(line);
    r = await deliver(srv, null, { raw: body, sig: `sha256=${sign(body).slice(7).toUpperCase()}` });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.json.id, lineId);
    for (const [i, ev] of [
      { type: 'run_status_changed', run_id: run, workflow_name: 'deploy', from: 'pending', to: 'running', cost_usd: '0', duration_ms: 0, at: at(2) },
      { type: 'step_completed', run_id: run, step_id: step, step_name: 'build', kind: 'shell', duration_ms: 1200, cost_usd: '0.01', at: at(4) },
      { type: 'run_status_changed', run_id: run, workflow_name: 'deploy', from: 'running', to: 'completed', cost_usd: '0.01', duration_ms: 1300, at: at(5) },
    ].entries()) {
      r = await deliver(srv, ev);
      assert.equal(r.status, 202, `${i}: ${r.text}`);
    }
    // a type this catalog does not know (a newer ironflow): ignored, 204
    r = await deliver(srv, { type: 'run_budget_exceeded', run_id: run, at: at(6) });
    assert.equal(r.status, 204);
    const view = await request(srv.base, 'GET', `/v1/runs/${run}`, { headers: auth });
    assert.equal(view.json.status, 'completed');
    assert.equal(view.json.steps[0].status, 'completed');
    const stored = await storedEvents(srv.base, '', auth);
    assert.deepEqual(stored.map((e) => e.type), ['run_created', 'log_line', 'run_status_changed', 'step_completed', 'run_status_changed']);
    assert.equal(stored[0].event.id, first.id);
    assert.match(first.id, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

test('ironflow deliveries that are not signed right, or not events, change nothing', async () => {
  await withServer({ ingest: { ironflow: { secret: SECRET } } }, async (srv) => {
    const run = uuid();
    const ev = { type: 'run_created', run_id: run, workflow_name: 'deploy', at: at(1) };
    let r = await deliver(srv, ev, { sig: null });
    assert.equal(r.status, 401);
    assert.equal(r.json.error, 'missing_signature');
    r = await deliver(srv, ev, { sig: sign(JSON.stringify(ev), 'another-secret') });
    assert.equal(r.status, 401);
    assert.equal(r.json.error, 'invalid_signature');
    r = await deliver(srv, ev, { sig: 'sha256=' });
    assert.equal(r.status, 401);
    r = await deliver(srv, ev, { sig: sign(JSON.stringify(ev)).replace('sha256=', 'sha1=') });
    assert.equal(r.status, 401);
    r = await deliver(srv, null, { raw: '{"type": "run_created",' });
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'invalid_json');
    r = await deliver(srv, null, { raw: '[1,2]' });
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'invalid_event');
    r = await deliver(srv, { type: 'run_created', workflow_name: 'deploy', at: at(1) });
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'missing_run_id');
    r = await request(srv.base, 'POST', '/v1/ingest/argo', { body: ev });
    assert.equal(r.status, 404);
    assert.equal(r.json.error, 'unknown_engine');
    assert.deepEqual(await storedEvents(srv.base), []);
  });
  await withServer({}, async (srv) => {
    const r = await deliver(srv, { type: 'run_created', run_id: uuid(), workflow_name: 'x', at: at(1) });
    assert.equal(r.status, 404);
    assert.equal(r.json.error, 'ingest_not_configured');
    assert.equal(r.json.details.config_key, 'ingest.ironflow.secret');
  });
});

// GitHub Actions: workflow_run and workflow_job webhooks (payloads shaped after GitHub's
// documented schema), in order and out of order: a run never moves backwards and no illegal
// transition is ever stored; redeliveries are one event; ping and other events are a 204.
const GH_SECRET = 'github-webhook-secret-abcdef';
let deliveries = 0;
function gh(srv, event, payload, { delivery, sig } = {}) {
  const body = JSON.stringify(payload);
  return request(srv.base, 'POST', '/v1/ingest/github', { body, raw: true, headers: {
    'content-type': 'application/json', 'x-github-event': event, 'x-github-delivery': delivery || `d-${++deliveries}`,
    'x-hub-signature-256': sig || sign(body, GH_SECRET) } });
}
const repo = { id: 123456, full_name: 'acme/app', name: 'app' };
const wfRun = (action, runId, extra = {}) => ({ action, repository: repo, sender: { login: 'octocat' },
  workflow: { id: 99, name: 'CI' },
  workflow_run: { id: runId, name: 'CI', run_attempt: 1, head_branch: 'main', event: 'push', status: action === 'completed' ? 'completed' : action === 'requested' ? 'queued' : 'in_progress',
    conclusion: null, created_at: '2026-12-03T10:00:00Z', run_started_at: '2026-12-03T10:00:01Z', updated_at: '2026-12-03T10:00:05Z', ...extra } });
const wfJob = (action, runId, jobId, name, extra = {}) => ({ action, repository: repo, sender: { login: 'octocat' },
  workflow_job: { id: jobId, run_id: runId, run_attempt: 1, workflow_name: 'CI', name, status: action === 'completed' ? 'completed' : 'in_progress',
    conclusion: null, started_at: '2026-12-03T10:00:02Z', completed_at: action === 'completed' ? '2026-12-03T10:00:04Z' : null, ...extra } });

test('GitHub Actions: runs and jobs through the status machine, in order and out of order', async () => {
  await withServer({ ingest: { github: { secret: GH_SECRET } } }, async (srv) => {
    const illegal = async () => Number((await request(srv.base, 'GET', '/metrics')).text.match(/^flowgate_illegal_transitions_total (\d+)/m)?.[1] ?? 0);
    // in order: requested, in_progress, two jobs, completed (failure)
    let r = await gh(srv, 'workflow_run', wfRun('requested', 1001));
    assert.equal(r.status, 202, r.text);
    const runId = r.json.id && (await request(srv.base, 'GET', '/v1/events?after=0')).json.events[0].event.run_id;
    r = await gh(srv, 'workflow_run', wfRun('in_progress', 1001));
    assert.equal(r.status, 202, r.text);
    r = await gh(srv, 'workflow_job', wfJob('in_progress', 1001, 5001, 'build'));
    assert.equal(r.status, 204);
    r = await gh(srv, 'workflow_job', wfJob('completed', 1001, 5001, 'build', { conclusion: 'success' }));
    assert.equal(r.status, 202, r.text);
    r = await gh(srv, 'workflow_job', wfJob('completed', 1001, 5002, 'test', { conclusion: 'failure' }));
    assert.equal(r.status, 202, r.text);
    const done = wfRun('completed', 1001, { conclusion: 'failure' });
    r = await gh(srv, 'workflow_run', done, { delivery: 'redelivered-1' });
    assert.equal(r.status, 202, r.text);
    const first = r.json;
    const count = (await storedEvents(srv.base)).length;
    r = await gh(srv, 'workflow_run', done, { delivery: 'redelivered-1' }); // GitHub redelivers it
    assert.equal(r.status, 204); // the run already ended there: nothing new
    assert.equal((await storedEvents(srv.base)).length, count);
    let v = (await request(srv.base, 'GET', `/v1/runs/${runId}`)).json;
    assert.equal(v.status, 'failed');
    assert.equal(v.workflow_name, 'CI');
    assert.deepEqual(v.status_history.map((h) => `${h.from}>${h.to}`), ['pending>running', 'running>failed']);
    assert.deepEqual(v.steps.map((s) => `${s.name}:${s.status}`).sort(), ['build:completed', 'test:failed']);
    assert.equal(v.steps.find((s) => s.name === 'build').duration_ms, 2000);

    // out of order: completed (success) first, then its in_progress and requested
    r = await gh(srv, 'workflow_run', wfRun('completed', 1002, { conclusion: 'success' }));
    assert.equal(r.status, 202, r.text);
    assert.equal(r.json.length, 3); // created, pending>running, running>completed
    const run2 = (await request(srv.base, 'GET', `/v1/events?after=${first[first.length - 1].seq}`)).json.events.find((e) => e.type === 'run_created').event.run_id;
    for (const a of ['in_progress', 'requested']) {
      r = await gh(srv, 'workflow_run', wfRun(a, 1002));
      assert.equal(r.status, 204, `${a}: ${r.text}`); // never backwards
    }
    // a job that ends after its run: the run stays completed
    r = await gh(srv, 'workflow_job', wfJob('completed', 1002, 5003, 'lint', { conclusion: 'success' }));
    assert.equal(r.status, 202);
    v = (await request(srv.base, 'GET', `/v1/runs/${run2}`)).json;
    assert.equal(v.status, 'completed');
    assert.deepEqual(v.status_history.map((h) => `${h.from}>${h.to}`), ['pending>running', 'running>completed']);
    // cancelled while queued: pending > cancelled directly
    await gh(srv, 'workflow_run', wfRun('requested', 1003));
    r = await gh(srv, 'workflow_run', wfRun('completed', 1003, { conclusion: 'cancelled' }));
    assert.equal(r.status, 202);
    const run3 = (await request(srv.base, 'GET', '/v1/runs?limit=100')).json.runs.find((x) => x.run_id !== runId && x.run_id !== run2).run_id;
    v = (await request(srv.base, 'GET', `/v1/runs/${run3}`)).json;
    assert.equal(v.status, 'cancelled');
    assert.deepEqual(v.status_history.map((h) => `${h.from}>${h.to}`), ['pending>cancelled']);
    assert.equal(await illegal(), 0);

    // ping, other events, bad signatures, bad payloads
    r = await gh(srv, 'ping', { zen: 'Keep it logically awesome.', hook_id: 1 });
    assert.equal(r.status, 204);
    r = await gh(srv, 'push', { ref: 'refs/heads/main' });
    assert.equal(r.status, 204);
    r = await gh(srv, 'workflow_run', wfRun('completed', 1004, { conclusion: 'success' }), { sig: sign('{}', GH_SECRET) });
    assert.equal(r.status, 401);
    r = await gh(srv, 'workflow_run', { action: 'completed', repository: repo });
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'invalid_payload');
    r = await gh(srv, 'workflow_job', { action: 'completed', repository: repo, workflow_job: { id: 1, run_id: 'x' } });
    assert.equal(r.status, 400);
  });
});
