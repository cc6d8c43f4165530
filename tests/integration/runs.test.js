'use strict';
// Run views: /v1/runs, /v1/runs/{id}, /v1/approvals and /v1/runs/{id}/logs against the real
// binary. A random but legal event sequence of many runs is published in random batches and
// folded by an independent reducer here; the views must agree with it, before and after a
// kill -9. Logs page with cursors, follow like tail -f, and hand over to the stream with no gap
// and no duplicate.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { duplicateKeys, Server, request, publish, sse, uuid, tmpDir, BIN } = require('./lib');

// --- an independent model of the views ---------------------------------------------------------

const NANO = 1000000000n;
function nanos(v) { // decimal string or number -> BigInt nano-units
  const s = typeof v === 'number' ? v.toFixed(9) : String(v);
  const neg = s.startsWith('-');
  const [w, f = ''] = s.replace(/^[-+]/, '').split('.');
  const n = BigInt(w) * NANO + BigInt((f + '000000000').slice(0, 9));
  return neg ? -n : n;
}
function money(n) {
  if (n === null || n === undefined) return null;
  const neg = n < 0n; const a = neg ? -n : n;
  let frac = (a % NANO).toString().padStart(9, '0').replace(/0+$/, '');
  while (frac.length < 2) frac += '0';
  return `${neg ? '-' : ''}${a / NANO}.${frac}`;
}
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

function fold(events) { // events: [{seq, body}] in sequence order
  const runs = new Map();
  const run = (id, seq, at) => {
    if (!runs.has(id)) runs.set(id, { run_id: id, workflow_name: null, status: null, created_at: at, updated_at: at, error: null, cost: null, duration_ms: null, labels: {}, history: [], steps: new Map(), approvals: new Map(), last_seq: 0 });
    return runs.get(id);
  };
  for (const { seq, body: e } of events) {
    if (!e.run_id) continue;
    const r = run(e.run_id, seq, e.at);
    r.last_seq = seq;
    if (e.type === 'log_line') {
      if (!r.steps.has(e.step_id)) {
        r.updated_at = e.at;
        r.steps.set(e.step_id, { step_id: e.step_id, name: e.step_name, kind: null, status: 'running', cost: null, duration_ms: null, error: null });
      }
      continue;
    }
    r.updated_at = e.at;
    if (e.workflow_name) r.workflow_name = e.workflow_name;
    switch (e.type) {
      case 'run_created': r.created_at = e.at; if (r.status === null) r.status = 'pending'; break;
      case 'run_status_changed':
      case 'run_failed': {
        const to = e.type === 'run_failed' ? 'failed' : e.to;
        r.status = to;
        if (e.error) r.error = e.error;
        if (e.cost_usd !== undefined) r.cost = nanos(e.cost_usd);
        if (e.duration_ms !== undefined) r.duration_ms = e.duration_ms;
        if (e.labels) r.labels = e.labels;
        if (e.type === 'run_status_changed') r.history.push({ seq, from: e.from, to: e.to, at: e.at });
        if (TERMINAL.has(to)) for (const a of r.approvals.values()) if (a.status === 'pending') a.status = 'withdrawn';
        break;
      }
      case 'step_completed':
      case 'step_failed': {
        const s = r.steps.get(e.step_id) || { step_id: e.step_id, cost: null, duration_ms: null };
        Object.assign(s, { name: e.step_name, kind: e.kind, status: e.type === 'step_completed' ? 'completed' : 'failed', error: e.type === 'step_failed' ? e.error : null });
        if (e.cost_usd !== undefined) s.cost = nanos(e.cost_usd);
        if (e.duration_ms !== undefined) s.duration_ms = e.duration_ms;
        r.steps.set(e.step_id, s);
        break;
      }
      case 'approval_requested': {
        r.approvals.set(e.step_id, { step_id: e.step_id, message: e.message, status: 'pending', seq });
        const s = r.steps.get(e.step_id);
        if (!s) r.steps.set(e.step_id, { step_id: e.step_id, name: null, kind: null, status: 'awaiting_approval', cost: null, duration_ms: null, error: null });
        else if (s.status !== 'completed' && s.status !== 'failed') s.status = 'awaiting_approval';
        break;
      }
      case 'approval_granted':
      case 'approval_rejected': {
        const ok = e.type === 'approval_granted';
        for (const a of r.approvals.values()) {
          if (a.status !== 'pending' || (e.step_id && a.step_id !== e.step_id)) continue;
          a.status = ok ? 'granted' : 'rejected';
          const s = r.steps.get(a.step_id);
          if (s && s.status === 'awaiting_approval') s.status = ok ? 'running' : 'rejected';
        }
        break;
      }
      default: break;
    }
  }
  return runs;
}

function expectedRun(m) {
  let cost = m.cost;
  if (cost === null) {
    const costs = [...m.steps.values()].map((s) => s.cost).filter((c) => c !== null);
    cost = costs.length ? costs.reduce((a, b) => a + b, 0n) : null;
  }
  return {
    run_id: m.run_id, workflow_name: m.workflow_name, status: m.status, error: m.error,
    cost_usd: money(cost), duration_ms: m.duration_ms, labels: m.labels,
    status_history: m.history.map((h) => ({ seq: h.seq, from: h.from, to: h.to, at: h.at })),
    steps: [...m.steps.values()].map((s) => ({ step_id: s.step_id, name: s.name, kind: s.kind, status: s.status, cost_usd: money(s.cost), duration_ms: s.duration_ms, error: s.error })),
    pending_approvals: [...m.approvals.values()].filter((a) => a.status === 'pending').sort((a, b) => a.seq - b.seq).map((a) => ({ step_id: a.step_id, message: a.message })),
    pending_approval_count: [...m.approvals.values()].filter((a) => a.status === 'pending').length,
    last_seq: m.last_seq,
  };
}

function actualRun(j) {
  return {
    run_id: j.run_id, workflow_name: j.workflow_name, status: j.status, error: j.error,
    cost_usd: j.cost_usd, duration_ms: j.duration_ms, labels: j.labels,
    status_history: j.status_history,
    steps: j.steps.map((s) => ({ step_id: s.step_id, name: s.name, kind: s.kind, status: s.status, cost_usd: s.cost_usd, duration_ms: s.duration_ms, error: s.error })),
    pending_approvals: j.pending_approvals.map((a) => ({ step_id: a.step_id, message: a.message })),
    pending_approval_count: j.pending_approval_count,
    last_seq: j.last_seq,
  };
}

// --- a random, legal sequence --------------------------------------------------------------------

function rng(seed) { let x = seed >>> 0; return () => ((x = (x * 1664525 + 1013904223) >>> 0) / 4294967296); }

// One run's events, as the engine would send them; some runs stop half-way (still going).
function runScript(rand, i) {
  const run = uuid(); const wf = ['deploy', 'etl', 'nightly'][i % 3];
  const at = () => new Date(Date.UTC(2026, 10, 22, 10, 0, 0) + Math.floor(rand() * 3.6e6)).toISOString();
  const out = [{ type: 'run_created', run_id: run, workflow_name: wf, at: at() }];
  let status = 'pending'; let cost = 0n; let dur = 0;
  const move = (to, extra = {}) => {
    out.push({ type: 'run_status_changed', run_id: run, workflow_name: wf, from: status, to, cost_usd: money(cost), duration_ms: dur, at: at(), ...extra });
    status = to;
  };
  move('running');
  const nsteps = 1 + Math.floor(rand() * 4);
  for (let s = 0; s < nsteps; s++) {
    const step = uuid(); const name = `step${s}`;
    if (rand() < 0.3) { // an approval step
      out.push({ type: 'approval_requested', run_id: run, step_id: step, message: `approve ${name} of ${wf}?`, at: at() });
      move('awaiting_approval');
      const r = rand();
      if (r < 0.35) return out; // left waiting
      if (r < 0.55) { out.push({ type: 'approval_rejected', run_id: run, rejected_by: 'bo', ...(rand() < 0.5 ? { step_id: step } : {}), at: at() }); move('failed', { error: 'rejected' }); return out; }
      out.push({ type: 'approval_granted', run_id: run, approved_by: 'ana', ...(rand() < 0.5 ? { step_id: step } : {}), at: at() });
      move('running');
      continue;
    }
    const lines = 1 + Math.floor(rand() * 5);
    for (let l = 0; l < lines; l++) out.push({ type: 'log_line', run_id: run, step_id: step, step_name: name, stream: ['stdout', 'stderr', 'system'][l % 3], line: `${name} line ${l}`, at: at() });
    const c = BigInt(Math.floor(rand() * 500)) * 1000000n; const d = Math.floor(rand() * 5000);
    cost += c; dur += d;
    if (rand() < 0.15) {
      out.push({ type: 'step_failed', run_id: run, step_id: step, step_name: name, kind: 'shell', error: 'exit 1', at: at() });
      move('failed', { error: `${name} failed` });
      out.push({ type: 'run_failed', run_id: run, workflow_name: wf, error: `${name} failed`, cost_usd: money(cost), duration_ms: dur, at: at() });
      return out;
    }
    out.push({ type: 'step_completed', run_id: run, step_id: step, step_name: name, kind: rand() < 0.5 ? 'shell' : 'http', duration_ms: d, cost_usd: rand() < 0.5 ? money(c) : Number(c) / 1e9, at: at() });
    if (rand() < 0.1) { move('retrying'); move('running'); }
  }
  if (rand() < 0.15) return out; // still running
  if (rand() < 0.1) { move('cancelled'); return out; }
  move('completed', rand() < 0.5 ? { labels: { env: 'prod', n: String(i) } } : {});
  return out;
}

// Interleaves the runs' scripts, each kept in order.
function interleave(rand, scripts) {
  const out = []; const pos = scripts.map(() => 0);
  for (;;) {
    const live = scripts.map((s, i) => i).filter((i) => pos[i] < scripts[i].length);
    if (!live.length) return out;
    const i = live[Math.floor(rand() * live.length)];
    out.push(scripts[i][pos[i]++]);
  }
}

async function publishInBatches(base, rand, events) {
  const stored = [];
  for (let i = 0; i < events.length;) {
    const n = 1 + Math.floor(rand() * 40);
    const batch = events.slice(i, i + n);
    const res = await publish(base, batch.length === 1 ? batch[0] : batch);
    const acks = Array.isArray(res) ? res : [res];
    batch.forEach((body, k) => stored.push({ seq: acks[k].seq, body }));
    i += n;
  }
  return stored;
}

async function compareAll(base, model, label) {
  for (const m of model.values()) {
    const r = await request(base, 'GET', `/v1/runs/${m.run_id}`);
    assert.equal(r.status, 200, `${label}: ${r.text}`);
    assert.deepEqual(duplicateKeys(r.text), [], `${label}: no key twice in one object`);
    assert.deepEqual(actualRun(r.json), expectedRun(m), `${label}: run ${m.run_id}`);
  }
  // the list: every run once, newest first, its status; walk the pages
  const seen = [];
  let after = '';
  for (;;) {
    const r = await request(base, 'GET', `/v1/runs?limit=7${after}`);
    assert.equal(r.status, 200);
    assert.deepEqual(duplicateKeys(r.text), []);
    seen.push(...r.json.runs);
    if (r.json.next_after === null) break;
    after = `&after=${r.json.next_after}`;
  }
  assert.deepEqual(seen.map((s) => s.run_id), [...model.keys()].reverse(), `${label}: list order`);
  for (const s of seen) assert.equal(s.status, model.get(s.run_id).status);
  // pending approvals across runs, oldest first
  const want = [];
  for (const m of model.values()) for (const a of m.approvals.values()) if (a.status === 'pending') want.push({ run_id: m.run_id, step_id: a.step_id, message: a.message, seq: a.seq });
  want.sort((a, b) => a.seq - b.seq);
  const r = await request(base, 'GET', '/v1/approvals?status=pending&limit=1000');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.approvals.map((a) => ({ run_id: a.run_id, step_id: a.step_id, message: a.message, seq: a.requested_seq })), want, `${label}: approvals`);
  for (const a of r.json.approvals) assert.ok(a.age_ms >= 0 && a.status === 'pending');
}

test('run views agree with an independent fold of a random event sequence, also after kill -9', async () => {
  const srv = await new Server().start();
  try {
    const rand = rng(20261122);
    const scripts = Array.from({ length: 40 }, (_, i) => runScript(rand, i));
    const events = interleave(rand, scripts);
    const stored = await publishInBatches(srv.base, rand, events);
    // the model orders runs by their first event, as the views do (newest first in the list)
    const model = fold(stored);
    assert.ok(model.size === 40 && events.length > 200, `${events.length} events`);
    const statuses = new Set([...model.values()].map((m) => m.status));
    for (const s of ['completed', 'failed', 'running', 'awaiting_approval']) assert.ok(statuses.has(s), `sequence has a ${s} run`);
    await compareAll(srv.base, model, 'live');

    await srv.kill9();
    await srv.start();
    await compareAll(srv.base, model, 'after kill -9');

    // filters
    let r = await request(srv.base, 'GET', '/v1/runs?status=failed,cancelled&workflow=etl&limit=1000');
    const want = [...model.values()].filter((m) => (m.status === 'failed' || m.status === 'cancelled') && m.workflow_name === 'etl').map((m) => m.run_id).reverse();
    assert.deepEqual(r.json.runs.map((x) => x.run_id), want);
    r = await request(srv.base, 'GET', '/v1/approvals?status=granted,rejected,withdrawn&limit=1000');
    const decided = [];
    for (const m of model.values()) for (const a of m.approvals.values()) if (a.status !== 'pending') decided.push(`${a.seq}:${a.status}`);
    assert.deepEqual(r.json.approvals.map((a) => `${a.requested_seq}:${a.status}`), decided.sort((a, b) => parseInt(a, 10) - parseInt(b, 10)));
  } finally { await srv.stop(); srv.cleanup(); }
});

test('run view last_seq hands over to the run stream with no gap and no duplicate', async () => {
  const srv = await new Server().start();
  try {
    const run = uuid(); const step = uuid();
    await publish(srv.base, [{ type: 'run_created', run_id: run, workflow_name: 'deploy' },
      { type: 'run_status_changed', run_id: run, workflow_name: 'deploy', from: 'pending', to: 'running', cost_usd: '0', duration_ms: 0 },
      { type: 'log_line', run_id: run, step_id: step, step_name: 'build', stream: 'stdout', line: 'one' }]);
    await publish(srv.base, { type: 'log_line', run_id: uuid(), step_id: step, step_name: 'x', stream: 'stdout', line: 'another run' });
    const view = (await request(srv.base, 'GET', `/v1/runs/${run}`)).json;
    assert.equal(view.status, 'running');
    assert.equal(view.last_seq, 3);
    const later = await publish(srv.base, [{ type: 'log_line', run_id: run, step_id: step, step_name: 'build', stream: 'stdout', line: 'two' },
      { type: 'run_status_changed', run_id: run, workflow_name: 'deploy', from: 'running', to: 'completed', cost_usd: '0.5', duration_ms: 10 }]);
    const c = await sse(`${srv.base}/v1/runs/${run}/stream?last_event_id=${view.last_seq}`);
    await c.waitFrames(2);
    assert.deepEqual(c.events().map((e) => e.seq), later.map((a) => a.seq));
    c.close();
  } finally { await srv.stop(); srv.cleanup(); }
});

test('logs: cursor pages, filters, text, and follow=1 like tail -f until the run ends', async () => {
  const srv = await new Server().start();
  try {
    const run = uuid(); const s1 = uuid(); const s2 = uuid();
    const streams = ['stdout', 'stderr', 'system'];
    const lines = [];
    for (let i = 0; i < 250; i++) lines.push({ type: 'log_line', run_id: run, step_id: i % 2 ? s2 : s1, step_name: i % 2 ? 'test' : 'build', stream: streams[i % 3], line: `line ${i}` });
    await publish(srv.base, [{ type: 'run_created', run_id: run, workflow_name: 'ci' },
      { type: 'run_status_changed', run_id: run, workflow_name: 'ci', from: 'pending', to: 'running', cost_usd: '0', duration_ms: 0 }]);
    for (let i = 0; i < 250; i += 50) await publish(srv.base, lines.slice(i, i + 50));
    // pages of 100: every line once, in order
    const got = [];
    let after = 0;
    for (;;) {
      const r = await request(srv.base, 'GET', `/v1/runs/${run}/logs?limit=100&after=${after}`);
      assert.equal(r.status, 200);
      got.push(...r.json.lines);
      after = r.json.next_after;
      if (r.json.lines.length < 100) break;
    }
    assert.deepEqual(got.map((l) => l.line), lines.map((l) => l.line));
    assert.ok(got.every((l, i) => i === 0 || l.seq > got[i - 1].seq));
    assert.equal(after, got[got.length - 1].seq); // examined to the end
    // filters
    let r = await request(srv.base, 'GET', `/v1/runs/${run}/logs?limit=1000&step_id=${s2.toUpperCase()}&stream=stderr`);
    assert.deepEqual(r.json.lines.map((l) => l.line), lines.filter((l, i) => i % 2 && l.stream === 'stderr').map((l) => l.line));
    // a text page
    r = await request(srv.base, 'GET', `/v1/runs/${run}/logs?limit=3`, { headers: { accept: 'text/plain' } });
    assert.match(r.headers.get('content-type'), /^text\/plain/);
    assert.equal(r.text, '[build] [stdout] line 0\n[test] [stderr] line 1\n[build] [system] line 2\n');
    assert.equal(Number(r.headers.get('x-next-after')), got[2].seq);

    // follow: history after the cursor, then live lines, then the end when the run finishes
    const res = await fetch(`${srv.base}/v1/runs/${run}/logs?follow=1&after=${got[246].seq}&stream=stdout,stderr`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/plain/);
    let text = '';
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    const readUntil = async (pred) => {
      while (!pred()) {
        const { value, done } = await reader.read();
        if (done) return true;
        text += dec.decode(value, { stream: true });
      }
      return false;
    };
    await readUntil(() => text.includes('line 249')); // 248 is a system line
    await publish(srv.base, [{ type: 'log_line', run_id: run, step_id: s1, step_name: 'build', stream: 'stdout', line: 'live 1\nlive 2' },
      { type: 'log_line', run_id: run, step_id: s1, step_name: 'build', stream: 'system', line: 'not shown' }]);
    await readUntil(() => text.includes('live 2'));
    await publish(srv.base, [{ type: 'run_status_changed', run_id: run, workflow_name: 'ci', from: 'running', to: 'completed', cost_usd: '0', duration_ms: 5 },
      { type: 'log_line', run_id: run, step_id: s1, step_name: 'build', stream: 'stdout', line: 'after the end' }]);
    const ended = await readUntil(() => false);
    assert.ok(ended);
    assert.equal(text, '[test] [stderr] line 247\n[test] [stdout] line 249\n[build] [stdout] live 1\n[build] [stdout] live 2\n');
    // following a finished run prints its lines and ends at once
    const done = await request(srv.base, 'GET', `/v1/runs/${run}/logs?follow=1&after=${got[248].seq}`);
    assert.equal(done.status, 200);
    assert.equal(done.text, '[test] [stdout] line 249\n[build] [stdout] live 1\n[build] [stdout] live 2\n[build] [system] not shown\n[build] [stdout] after the end\n');
  } finally { await srv.stop(); srv.cleanup(); }
});

test('run views: bad input is a 4xx in the error shape', async () => {
  const srv = await new Server().start();
  try {
    const b = srv.base;
    const cases = [
      ['/v1/runs/not-a-uuid', 400, 'invalid_run_id'],
      ['/v1/runs/00000000-0000-0000-0000-000000000000', 400, 'invalid_run_id'],
      [`/v1/runs/${uuid()}`, 404, 'run_not_found'],
      [`/v1/runs/${uuid()}/logs`, 404, 'run_not_found'],
      ['/v1/runs/nope/logs', 400, 'invalid_run_id'],
      ['/v1/runs?limit=0', 400, 'invalid_limit'],
      ['/v1/runs?limit=1001', 400, 'invalid_limit'],
      ['/v1/runs?status=sleeping', 400, 'invalid_status'],
      ['/v1/runs?after=-1', 400, 'invalid_cursor'],
      ['/v1/approvals?status=maybe', 400, 'invalid_status'],
      ['/v1/approvals?run_id=nope', 400, 'invalid_run_id'],
    ];
    const run = uuid();
    await publish(b, { type: 'run_created', run_id: run, workflow_name: 'x' });
    cases.push([`/v1/runs/${run}/logs?step_id=12`, 400, 'invalid_step_id'],
      [`/v1/runs/${run}/logs?stream=stdin`, 400, 'invalid_stream'],
      [`/v1/runs/${run}/logs?follow=yes`, 400, 'invalid_follow'],
      [`/v1/runs/${run}/logs?limit=5000`, 400, 'invalid_limit']);
    for (const [p, status, code] of cases) {
      const r = await request(b, 'GET', p);
      assert.equal(r.status, status, `${p}: ${r.text}`);
      assert.equal(r.json.error, code, p);
      assert.equal(typeof r.json.message, 'string');
    }
    const r = await request(b, 'GET', `/v1/runs/${run}/logs?follow=1`, { headers: { accept: 'application/json' } });
    assert.equal(r.status, 406);
    assert.equal(r.json.error, 'not_acceptable');
    assert.equal((await request(b, 'POST', '/v1/runs')).status, 405);
  } finally { await srv.stop(); srv.cleanup(); }
});

test('run views show a credential only its runs and types', async () => {
  const key = (k) => spawnSync(BIN, ['hash-key', k]).stdout.toString().trim();
  const ops = `fgk_${crypto.randomBytes(24).toString('base64url')}`;
  const ui = `fgk_${crypto.randomBytes(24).toString('base64url')}`;
  const runA = uuid(); const runB = uuid();
  const dir = tmpDir();
  const cfg = path.join(dir, 'flowgate.json');
  fs.writeFileSync(cfg, JSON.stringify({ auth: { keys: [
    { name: 'ops', sha256: key(ops), scopes: ['admin', 'subscribe', 'publish'] },
    { name: 'ui', sha256: key(ui), scopes: ['subscribe'], types: ['run_*', 'log_line'], runs: [runA] },
  ] } }));
  const srv = await new Server({ args: ['--config', cfg] }).start();
  try {
    const as = (k) => ({ headers: { authorization: `Bearer ${k}` } });
    await publish(srv.base, [{ type: 'run_created', run_id: runA, workflow_name: 'a' }, { type: 'run_created', run_id: runB, workflow_name: 'b' },
      { type: 'approval_requested', run_id: runA, step_id: uuid(), message: 'ok?' }], as(ops).headers);
    assert.equal((await request(srv.base, 'GET', '/v1/runs')).status, 401);
    let r = await request(srv.base, 'GET', '/v1/runs', as(ui));
    assert.deepEqual(r.json.runs.map((x) => x.run_id), [runA]);
    r = await request(srv.base, 'GET', '/v1/runs', as(ops));
    assert.equal(r.json.runs.length, 2);
    r = await request(srv.base, 'GET', `/v1/runs/${runB}`, as(ui));
    assert.equal(r.status, 403);
    assert.equal(r.json.error, 'forbidden_run');
    assert.equal((await request(srv.base, 'GET', `/v1/runs/${runA}/logs`, as(ui))).status, 200);
    r = await request(srv.base, 'GET', '/v1/approvals', as(ui));
    assert.equal(r.status, 403);
    assert.equal(r.json.error, 'forbidden_type');
    r = await request(srv.base, 'GET', '/v1/approvals', as(ops));
    assert.equal(r.json.approvals.length, 1);
  } finally { await srv.stop(); srv.cleanup(); fs.rmSync(dir, { recursive: true, force: true }); }
});

// Download (issue #14): a run's whole log, or one step's, as a text file (Content-Disposition),
// read a page at a time (memory stays flat whatever the log's size), gzip'd when the client
// takes it; the same text as the log pages.
test('logs: download the whole log or a step\'s, plain or gzip, in bounded memory', async () => {
  const zlib = require('node:zlib');
  const srv = await new Server().start();
  try {
    const run = uuid(), s1 = uuid(), s2 = uuid();
    const N = 60000;
    for (let i = 0; i < N; i += 1000) {
      const body = Array.from({ length: 1000 }, (_, k) => JSON.stringify({ type: 'log_line', run_id: run, step_id: (i + k) % 2 ? s2 : s1,
        step_name: (i + k) % 2 ? 'test' : 'build', stream: (i + k) % 3 ? 'stdout' : 'stderr', line: `line ${i + k} ${'x'.repeat(40)}` })).join('\n');
      const r = await request(srv.base, 'POST', '/v1/events', { raw: true, body, headers: { 'content-type': 'application/x-ndjson' } });
      assert.equal(r.status, 202);
    }
    const rssAnon = () => Number(fs.readFileSync(`/proc/${srv.proc.pid}/status`, 'utf8').match(/RssAnon:\s+(\d+)/)[1]);
    const before = rssAnon();
    const res = await fetch(`${srv.base}/v1/runs/${run}/logs/download`, { headers: { 'accept-encoding': 'identity' } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-disposition'), new RegExp(`^attachment; filename="run-${run}\\.log"$`));
    assert.match(res.headers.get('content-type'), /^text\/plain/);
    const text = await res.text();
    const grown = rssAnon() - before;
    const lines = text.split('\n');
    assert.equal(lines.length, N + 1);
    assert.equal(lines[0], `[build] [stderr] line 0 ${'x'.repeat(40)}`);
    assert.equal(lines[N - 1], `[test] [stdout] line ${N - 1} ${'x'.repeat(40)}`);
    // the same text as the log pages
    const page = await request(srv.base, 'GET', `/v1/runs/${run}/logs?limit=1000`, { headers: { accept: 'text/plain' } });
    assert.ok(text.startsWith(page.text));
    // (the sanitizer builds keep freed memory in quarantine: measured in the release build)
    if (process.env.FG_SANITIZED !== '1') assert.ok(grown < 20 * 1024, `anonymous memory grew ${grown} KiB for ${text.length} bytes`);
    // gzip, one step, after a cursor
    const gz = await fetch(`${srv.base}/v1/runs/${run}/logs/download?step_id=${s2}`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(gz.headers.get('content-encoding'), 'gzip');
    const stepText = (await gz.text());
    assert.equal(stepText.split('\n').length, N / 2 + 1);
    assert.ok(stepText.split('\n').slice(0, -1).every((l) => l.startsWith('[test] ')));
    assert.match(gz.headers.get('content-disposition'), new RegExp(`filename="run-${run}-step-${s2.slice(0, 8)}\\.log"`));
    // errors in the one shape
    let r = await request(srv.base, 'GET', `/v1/runs/${uuid()}/logs/download`);
    assert.equal(r.status, 404);
    assert.equal(r.json.error, 'run_not_found');
    r = await request(srv.base, 'GET', '/v1/runs/nope/logs/download');
    assert.equal(r.status, 400);
    r = await request(srv.base, 'GET', `/v1/runs/${run}/logs/download?step_id=x`);
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'invalid_step_id');
    // the gzip'd bytes as sent decompress to the plain download
    const gzBytes = await new Promise((resolve, reject) => {
      require('node:http').get(`${srv.base}/v1/runs/${run}/logs/download`, { headers: { 'accept-encoding': 'gzip' } }, (res2) => {
        const chunks = [];
        res2.on('data', (c) => chunks.push(c));
        res2.on('end', () => resolve(Buffer.concat(chunks)));
      }).on('error', reject);
    });
    assert.ok(gzBytes.length < text.length / 4, `${gzBytes.length} compressed bytes for ${text.length}`);
    assert.equal(zlib.gunzipSync(gzBytes).toString(), text);
  } finally { await srv.stop(); srv.cleanup(); }
});

// ansi=keep|strip (issue #14): build logs' colours as escape sequences. JSON keeps them unless
// asked (the console renders them); text and downloads strip them unless asked to keep them.
test('logs: ansi=keep|strip on JSON pages, text pages, follow and downloads', async () => {
  const srv = await new Server().start();
  try {
    const run = uuid();
    const colored = '\u001b[32mok\u001b[0m \u001b]8;;https://example.com\u0007link\u001b]8;;\u0007';
    await publish(srv.base, [{ type: 'log_line', run_id: run, step_id: uuid(), step_name: 'build', stream: 'stdout', line: colored }]);
    const json = async (q) => (await request(srv.base, 'GET', `/v1/runs/${run}/logs?${q}`)).json.lines[0].line;
    const text = async (q) => (await request(srv.base, 'GET', `/v1/runs/${run}/logs?${q}`, { headers: { accept: 'text/plain' } })).text;
    assert.equal(await json(''), colored);
    assert.equal(await json('ansi=keep'), colored);
    assert.equal(await json('ansi=strip'), 'ok link');
    assert.equal(await text(''), '[build] [stdout] ok link\n');
    assert.equal(await text('ansi=keep'), `[build] [stdout] ${colored}\n`);
    assert.equal((await request(srv.base, 'GET', `/v1/runs/${run}/logs/download`)).text, '[build] [stdout] ok link\n');
    assert.equal((await request(srv.base, 'GET', `/v1/runs/${run}/logs/download?ansi=keep`)).text, `[build] [stdout] ${colored}\n`);
    const st = (from, to) => ({ type: 'run_status_changed', run_id: run, workflow_name: 'ci', from, to, cost_usd: '0', duration_ms: 0 });
    await publish(srv.base, [st('pending', 'running'), st('running', 'completed')]);
    assert.equal((await request(srv.base, 'GET', `/v1/runs/${run}/logs?follow=1`)).text, '[build] [stdout] ok link\n');
    const r = await request(srv.base, 'GET', `/v1/runs/${run}/logs?ansi=colour`);
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'invalid_ansi');
  } finally { await srv.stop(); srv.cleanup(); }
});
