'use strict';
// Searching a run's log and downloading part of it (issue #14): GET /v1/runs/{id}/logs with
// q, regex, exclude, case, step_id, stream, since and until, paged with seqs, checked against a
// model here; the same answers with the trigram index, without it (logs.search_index=0), and
// after it is rebuilt at start; bad searches are 400s naming the problem. The download honours
// Range (one range, suffix, open end, If-Range, 416) on the same bytes as the whole file.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Server, request, publish, uuid, sleep } = require('./lib');

const strip = (s) => s.replace(/\x1b\[[0-9;:]*[A-Za-z]/g, '');
const S1 = uuid();
const S2 = uuid();
const WORDS = ['compile', 'Error', 'warning', 'ERROR:', 'link', 'test', 'passed', 'failed', 'ghost', 'é€x'];

// Deterministic lines: words, colours around some, both steps, the three streams.
function makeLines(run, n, from) {
  let x = from * 7919 + 17; // mulberry32
  const rnd = () => {
    x = (x + 0x6D2B79F5) | 0;
    let t = Math.imul(x ^ (x >>> 15), 1 | x);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    const w = [WORDS[rnd() % WORDS.length], WORDS[rnd() % WORDS.length], WORDS[rnd() % WORDS.length]];
    if (i % 5 === 0) w[1] = `\x1b[1;31m${w[1]}\x1b[0m`;
    return { type: 'log_line', run_id: run, step_id: i % 2 ? S2 : S1, step_name: i % 2 ? 'test' : 'build',
      stream: ['stdout', 'stderr', 'system'][i % 3], line: `${i} ${w.join(' ')}` };
  });
}

// Every page of a search, followed by next_after while it is short of last_seq.
async function searchAll(base, run, query, limit = 50) {
  const got = [];
  let after = 0;
  for (let pages = 0; pages < 1000; pages++) {
    const r = await request(base, 'GET', `/v1/runs/${run}/logs?${query}&limit=${limit}&after=${after}`);
    assert.equal(r.status, 200, `${query}: ${r.text}`);
    got.push(...r.json.lines);
    assert.ok(r.json.next_after >= after, 'the cursor moves on');
    if (r.json.next_after >= r.json.last_seq) return got;
    after = r.json.next_after;
  }
  throw new Error('the search never ended');
}

test('log search: substring, regex, exclude, case, step, stream and time bounds; index or not', async () => {
  const srv = await new Server().start();
  try {
    const run = uuid();
    const other = uuid();
    await publish(srv.base, [{ type: 'run_created', run_id: run, workflow_name: 'ci' }, { type: 'run_created', run_id: other, workflow_name: 'ci' }]);
    const all = []; // [{seq-less event, batch}]
    const cuts = [];
    for (let b = 0; b < 3; b++) {
      if (b > 0) { await sleep(40); cuts.push(new Date().toISOString()); await sleep(40); }
      for (let i = 0; i < 4; i++) {
        const lines = makeLines(run, 150, b * 600 + i * 150);
        all.push(...lines.map((e) => ({ ...e, batch: b })));
        await publish(srv.base, lines);
        await publish(srv.base, makeLines(other, 20, b * 600 + i * 150)); // another run, interleaved
      }
    }
    const cases = [
      ['q=error', (e) => strip(e.line).toLowerCase().includes('error')],
      ['q=ERROR%3A&case=sensitive', (e) => strip(e.line).includes('ERROR:')],
      ['q=er', (e) => strip(e.line).toLowerCase().includes('er')], // under three characters: no index
      ['q=%C3%A9%E2%82%AC', (e) => strip(e.line).includes('é€')],
      [`q=${encodeURIComponent('1 compile')}`, (e) => strip(e.line).toLowerCase().includes('1 compile')],
      ['q=Error%20test', (e) => strip(e.line).toLowerCase().includes('error test')],
      ['regex=' + encodeURIComponent('^[0-9]+ (warning|link) '), (e) => /^[0-9]+ (warning|link) /i.test(strip(e.line))],
      ['regex=' + encodeURIComponent('failed$') + '&case=sensitive', (e) => /failed$/.test(strip(e.line))],
      ['q=error&exclude=ghost&exclude=LINK', (e) => { const l = strip(e.line).toLowerCase(); return l.includes('error') && !l.includes('ghost') && !l.includes('link'); }],
      [`q=passed&step_id=${S2}&stream=stderr,system`, (e) => strip(e.line).toLowerCase().includes('passed') && e.step_id === S2 && e.stream !== 'stdout'],
      [`q=test&since=${cuts[0]}`, (e) => e.batch >= 1 && strip(e.line).toLowerCase().includes('test')],
      [`q=test&until=${cuts[1]}`, (e) => e.batch <= 1 && strip(e.line).toLowerCase().includes('test')],
      [`regex=compile&since=${cuts[0]}&until=${cuts[1]}`, (e) => e.batch === 1 && /compile/i.test(strip(e.line))],
      ['q=nowhere-at-all', () => false],
    ];
    const answers = async () => {
      const out = [];
      for (const [query, want] of cases) {
        const got = await searchAll(srv.base, run, query, query.startsWith('q=er') ? 17 : 50);
        const expected = all.filter(want).map((e) => e.line);
        assert.deepEqual(got.map((l) => l.line), expected, query);
        assert.ok(got.every((l, i) => i === 0 || l.seq > got[i - 1].seq), `${query}: in order`);
        out.push(got);
      }
      return out;
    };
    const indexed = await answers();
    assert.ok(indexed.slice(0, -1).every((g) => g.length > 0) && indexed[0].length > 100, `the cases find lines: ${indexed.map((g) => g.length)}`);
    // each match's seq is where the log pages find that line (the console jumps to it)
    const hit = indexed[0][37];
    const at = await request(srv.base, 'GET', `/v1/runs/${run}/logs?after=${hit.seq - 1}&limit=1`);
    assert.equal(at.json.lines[0].seq, hit.seq);
    assert.equal(at.json.lines[0].line, hit.line);
    // the colours stay in JSON (found through them), and go with ansi=strip or as text
    const red = indexed[0].find((l) => l.line.includes('\x1b[1;31m'));
    assert.ok(red, 'a coloured line is found by its text');
    let r = await request(srv.base, 'GET', `/v1/runs/${run}/logs?q=error&ansi=strip&limit=1000`);
    assert.ok(r.json.lines.every((l) => !l.line.includes('\x1b')));
    r = await request(srv.base, 'GET', `/v1/runs/${run}/logs?q=ERROR%3A&case=sensitive&limit=5`, { headers: { accept: 'text/plain' } });
    assert.equal(r.status, 200);
    assert.ok(Number(r.headers.get('x-next-after')) > 0);
    assert.deepEqual(r.text.split('\n').slice(0, -1),
      all.filter((e) => strip(e.line).includes('ERROR:')).slice(0, 5).map((e) => `[${e.step_name}] [${e.stream}] ${strip(e.line)}`));

    // without the index: the same answers, read from the lines
    await srv.stop();
    srv.env = { FLOWGATE_LOGS_SEARCH_INDEX: '0' };
    await srv.start();
    assert.deepEqual(await answers(), indexed);
    // a line stored while the index was off is found once it is back (built again at start)
    await publish(srv.base, [{ ...makeLines(run, 1, 5000)[0], line: 'late error line' }]);
    all.push({ type: 'log_line', step_id: S1, stream: 'stdout', line: 'late error line', batch: 2 });
    await srv.stop();
    srv.env = {};
    await srv.start();
    for (let i = 0; i < 200 && !/event=log_index_synced/.test(srv.log); i++) await sleep(50);
    assert.match(srv.log, /event=log_index_synced rebuilt=1 events=\d+/);
    const again = await answers();
    assert.equal(again[0].at(-1).line, 'late error line');
    assert.deepEqual(again[1], indexed[1]);
  } finally { await srv.stop(); srv.cleanup(); }
});

test('log search: bad searches are 400s naming the problem; unknown runs 404', async () => {
  const srv = await new Server().start();
  try {
    const run = uuid();
    await publish(srv.base, [{ type: 'run_created', run_id: run, workflow_name: 'ci' }, ...makeLines(run, 10, 0)]);
    const cases = [
      ['regex=' + encodeURIComponent('build (x'), 'invalid_regex', /parenthes|\(/i],
      ['regex=' + encodeURIComponent('a{2,1}'), 'invalid_regex', /regex/],
      ['q=', 'invalid_q', /empty/],
      ['regex=', 'invalid_regex', /empty/],
      ['q=x&case=upper', 'invalid_case', /sensitive/],
      ['q=x&since=yesterday', 'invalid_since', /RFC 3339/],
      ['q=x&until=2026-13-01T00:00:00Z', 'invalid_until', /RFC 3339/],
      ['q=x&' + Array.from({ length: 9 }, (_, i) => `exclude=e${i}`).join('&'), 'invalid_exclude', /at most 8/],
      ['exclude=', 'invalid_exclude', /empty/],
      ['q=x&follow=1', 'invalid_follow', /search/],
    ];
    for (const [query, code, msg] of cases) {
      const r = await request(srv.base, 'GET', `/v1/runs/${run}/logs?${query}`);
      assert.equal(r.status, 400, `${query}: ${r.text}`);
      assert.equal(r.json.error, code, query);
      assert.match(r.json.message, msg, query);
    }
    const bad = await request(srv.base, 'GET', `/v1/runs/${run}/logs?regex=${encodeURIComponent('build (x')}`);
    assert.equal(bad.json.details.regex, 'build (x');
    const none = await request(srv.base, 'GET', `/v1/runs/${uuid()}/logs?q=error`);
    assert.equal(none.status, 404);
    assert.equal(none.json.error, 'run_not_found');
    const dl = await request(srv.base, 'GET', `/v1/runs/${run}/logs/download?q=error`);
    assert.equal(dl.status, 400);
    assert.equal(dl.json.error, 'invalid_parameter');
  } finally { await srv.stop(); srv.cleanup(); }
});

// fetch() with Range (node's fetch sends it as given); the body as bytes.
async function get(base, p, headers = {}) {
  const res = await fetch(`${base}${p}`, { headers: { 'accept-encoding': 'identity', ...headers } });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

test('log download: Range, suffix and open ranges, If-Range, 416; the pieces make the file', async () => {
  const srv = await new Server().start();
  try {
    const run = uuid();
    await publish(srv.base, [{ type: 'run_created', run_id: run, workflow_name: 'ci' }]);
    for (let i = 0; i < 5000; i += 1000) await publish(srv.base, makeLines(run, 1000, i));
    const dl = `/v1/runs/${run}/logs/download`;
    const full = await get(srv.base, dl);
    assert.equal(full.status, 200);
    assert.equal(full.headers.get('accept-ranges'), 'bytes');
    const etag = full.headers.get('etag');
    assert.match(etag, /^"[0-9a-f]{16}"$/);
    const N = full.body.length;
    assert.ok(N > 150000, `${N} bytes`);
    const ranges = [[0, 0], [0, 99], [12345, 12345 + 70000], [N - 10, N - 1], [N - 10, N + 500], [100000, 100000]];
    for (const [a, b] of ranges) {
      const r = await get(srv.base, dl, { range: `bytes=${a}-${b}` });
      const last = Math.min(b, N - 1);
      assert.equal(r.status, 206, `${a}-${b}`);
      assert.equal(r.headers.get('content-range'), `bytes ${a}-${last}/${N}`);
      assert.equal(Number(r.headers.get('content-length')), last - a + 1);
      assert.ok(r.body.equals(full.body.subarray(a, last + 1)), `${a}-${b}`);
      assert.equal(r.headers.get('content-encoding'), null);
    }
    let r = await get(srv.base, dl, { range: 'bytes=-500' });
    assert.equal(r.status, 206);
    assert.ok(r.body.equals(full.body.subarray(N - 500)));
    r = await get(srv.base, dl, { range: `bytes=${N - 1234}-` });
    assert.equal(r.headers.get('content-range'), `bytes ${N - 1234}-${N - 1}/${N}`);
    assert.ok(r.body.equals(full.body.subarray(N - 1234)));
    // pieces of 40,000 bytes, one after another, make the whole file
    const pieces = [];
    for (let a = 0; a < N; a += 40000) pieces.push((await get(srv.base, dl, { range: `bytes=${a}-${a + 39999}` })).body);
    assert.ok(Buffer.concat(pieces).equals(full.body));
    // past the end: 416 with the length
    r = await get(srv.base, dl, { range: `bytes=${N}-` });
    assert.equal(r.status, 416);
    assert.equal(r.headers.get('content-range'), `bytes */${N}`);
    assert.equal(JSON.parse(r.body).error, 'range_not_satisfiable');
    assert.match(r.headers.get('content-type'), /json/);
    // ranges it does not take (several, or malformed) get the whole file, as RFC 9110 allows
    for (const h of ['bytes=0-1,5-6', 'bytes=5-2', 'items=0-5', 'bytes=x-']) {
      r = await get(srv.base, dl, { range: h });
      assert.equal(r.status, 200, h);
      assert.equal(r.body.length, N, h);
    }
    // If-Range: the same tag resumes; once the log has moved on, the whole new file comes
    r = await get(srv.base, dl, { range: 'bytes=100-199', 'if-range': etag });
    assert.equal(r.status, 206);
    await publish(srv.base, makeLines(run, 1, 9000));
    r = await get(srv.base, dl, { range: 'bytes=100-199', 'if-range': etag });
    assert.equal(r.status, 200);
    assert.ok(r.body.length > N);
    assert.notEqual(r.headers.get('etag'), etag);
    // a step's file has its own bytes and ranges
    const step = await get(srv.base, `${dl}?step_id=${S2}`);
    r = await get(srv.base, `${dl}?step_id=${S2}`, { range: 'bytes=1000-1999' });
    assert.ok(r.body.equals(step.body.subarray(1000, 2000)));
    // gzip is for whole files: a range is sent as it is
    r = await get(srv.base, dl, { range: 'bytes=0-9', 'accept-encoding': 'gzip' });
    assert.equal(r.status, 206);
    assert.equal(r.headers.get('content-encoding'), null);
    const gz = await get(srv.base, dl, { 'accept-encoding': 'gzip' });
    assert.notEqual(gz.headers.get('etag'), r.headers.get('etag'));
  } finally { await srv.stop(); srv.cleanup(); }
});
