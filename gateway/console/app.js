// flowgate web console: runs, a run's status, steps and live log tail, and the approvals queue.
// Plain JavaScript on the public API only: it loads a view (which carries last_seq, the cursor of
// the snapshot it was read from), then streams from that cursor. EventSource reconnects by itself
// with Last-Event-ID, so a server restart loses and repeats nothing; when the browser gives up
// (an error status), the stream is reopened from the last id seen. Text from events is only ever
// set as textContent.
'use strict';

(() => {
  const TOKEN_KEY = 'flowgate.token';
  const MAX_LOG_LINES = 20000; // the oldest lines leave the page past this
  const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
  const main = document.getElementById('main');
  const token = () => sessionStorage.getItem(TOKEN_KEY);

  // --- small helpers ---------------------------------------------------------------------------

  // h('td', {class: 'x'}, 'text', child…): an element; strings become text nodes.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, v);
    for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
    return el;
  }
  const badge = (status) => h('span', { class: `badge ${status || 'unknown'}` }, (status || 'unknown').replace('_', ' '));
  const short = (id) => (id ? id.slice(0, 8) : '');
  const cost = (c) => (c === null || c === undefined ? '—' : `$${c}`);
  function duration(ms) {
    if (ms === null || ms === undefined) return '—';
    if (ms < 1000) return `${ms} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
    return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
  }
  function ago(iso) {
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return '';
    const s = Math.max(0, Math.round((Date.now() - t) / 1000));
    if (s < 60) return `${s}s ago`;
    if (s < 3600) return `${Math.floor(s / 60)}m ago`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
    return `${Math.floor(s / 86400)}d ago`;
  }
  function age(ms) {
    const s = Math.floor(ms / 1000);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  }

  class AuthNeeded extends Error {}

  async function api(path) {
    const headers = { accept: 'application/json' };
    if (token()) headers.authorization = `Bearer ${token()}`;
    const res = await fetch(path, { headers, cache: 'no-store' });
    if (res.status === 401) throw new AuthNeeded('sign in');
    const body = await res.json().catch(() => null);
    if (!res.ok) throw new Error(body && body.message ? `${body.error}: ${body.message}` : `HTTP ${res.status}`);
    return body;
  }

  // --- live streams ----------------------------------------------------------------------------

  const streams = new Set();
  function showConn() {
    const el = document.getElementById('conn');
    const all = [...streams];
    const live = all.length > 0 && all.every((s) => s.open);
    el.className = live ? 'conn live' : 'conn';
    el.textContent = all.length === 0 ? 'idle' : live ? 'live' : 'reconnecting';
  }

  // Events of `types` on `path` after `cursor`, each handed once, in order, to onEvent.
  class Live {
    constructor(path, cursor, types, onEvent) {
      Object.assign(this, { path, cursor, types, onEvent, open: false, closed: false });
      streams.add(this);
      this.connect();
    }

    connect() {
      const q = new URLSearchParams({ types: this.types.join(','), last_event_id: String(this.cursor) });
      if (token()) q.set('access_token', token());
      const es = new EventSource(`${this.path}?${q}`);
      this.es = es;
      es.onopen = () => { this.open = true; showConn(); };
      es.onerror = () => {
        this.open = false;
        showConn();
        // CONNECTING: the browser retries with Last-Event-ID. CLOSED: it gave up; start again.
        if (es.readyState === EventSource.CLOSED && !this.closed) this.timer = setTimeout(() => this.connect(), 1000);
      };
      const take = (e) => {
        const seq = Number(e.lastEventId);
        if (!(seq > this.cursor)) return; // seen already
        this.cursor = seq;
        this.onEvent(e.type, seq, JSON.parse(e.data));
      };
      for (const t of this.types) es.addEventListener(t, take);
      es.addEventListener('gap', (e) => { this.cursor = Math.max(this.cursor, Number(e.lastEventId)); });
      es.addEventListener('auth_expired', () => { this.close(); sessionStorage.removeItem(TOKEN_KEY); route(); });
    }

    close() {
      this.closed = true;
      clearTimeout(this.timer);
      if (this.es) this.es.close();
      streams.delete(this);
      showConn();
    }
  }

  // --- the approvals queue, kept for the whole page (the header shows its count) ----------------

  const queue = { items: new Map(), live: null, error: null, listeners: new Set(), started: false };
  const qkey = (run, step) => `${run}/${step}`;
  function queueChanged() {
    const n = queue.items.size;
    document.getElementById('approval-count').textContent = n ? String(n) : '';
    for (const fn of queue.listeners) fn();
  }
  function dropRun(run, step) {
    for (const [k, a] of queue.items) if (a.run_id === run && (!step || a.step_id === step)) queue.items.delete(k);
  }
  async function startQueue() {
    if (queue.started) return;
    queue.started = true;
    try {
      let after = 0;
      let data;
      do { // every pending approval, a page at a time
        data = await api(`/v1/approvals?status=pending&limit=1000&after=${after}`);
        for (const a of data.approvals) queue.items.set(qkey(a.run_id, a.step_id), a);
        after = data.next_after;
      } while (after !== null);
      queue.live = new Live('/v1/stream', data.last_seq,
        ['approval_requested', 'approval_granted', 'approval_rejected', 'run_status_changed', 'run_failed'],
        (type, seq, ev) => {
          if (type === 'approval_requested') {
            const a = { run_id: ev.run_id, step_id: ev.step_id, message: ev.message, requested_at: ev.at, requested_seq: seq, workflow_name: null };
            queue.items.set(qkey(ev.run_id, ev.step_id), a);
            // The event does not name the workflow; the run view does.
            api(`/v1/runs/${ev.run_id}`).then((r) => { a.workflow_name = r.workflow_name; queueChanged(); }).catch(() => {});
          } else if (type === 'approval_granted' || type === 'approval_rejected') {
            dropRun(ev.run_id, ev.step_id);
          } else if (type === 'run_failed' || TERMINAL.has(ev.to)) {
            dropRun(ev.run_id, null); // the run ended: nothing left to decide
          }
          queueChanged();
        });
    } catch (e) {
      queue.started = false;
      queue.error = e;
      if (e instanceof AuthNeeded) throw e;
    }
    queueChanged();
  }

  // --- views ---------------------------------------------------------------------------------

  let current = null; // {close()} of the view on screen

  function runRow(r) {
    return h('tr', { class: 'run', 'data-run': r.run_id },
      h('td', { class: 'id' }, h('a', { href: `#/runs/${r.run_id}` }, short(r.run_id))),
      h('td', {}, r.workflow_name || '—'),
      h('td', { class: 'status' }, badge(r.status)),
      h('td', { class: 'num' }, r.step_count ?? ''),
      h('td', { class: 'num' }, cost(r.cost_usd)),
      h('td', { class: 'num' }, duration(r.duration_ms)),
      h('td', { class: 'num' }, r.pending_approval_count ? String(r.pending_approval_count) : ''),
      h('td', { title: r.updated_at || '' }, ago(r.updated_at)));
  }

  async function runsView() {
    // ?status=… in the hash narrows the list (the select below sets it)
    const want = new URLSearchParams(location.hash.split('?')[1] || '').get('status') || '';
    const base = `/v1/runs?limit=100${want ? `&status=${encodeURIComponent(want)}` : ''}`;
    const data = await api(base);
    const body = h('tbody', {});
    const rows = new Map();
    const put = (r, atEnd) => {
      const tr = runRow(r);
      tr.addEventListener('click', (e) => { if (e.target.tagName !== 'A') location.hash = `#/runs/${r.run_id}`; });
      const old = rows.get(r.run_id);
      if (old) old.replaceWith(tr); else if (atEnd) body.append(tr); else body.prepend(tr);
      rows.set(r.run_id, tr);
      return tr;
    };
    const shows = (status) => !want || want.split(',').includes(status);
    for (const r of data.runs) put(r, true);
    const empty = h('div', { class: 'empty-state' }, want ? 'No runs with this status.' : 'No runs yet. Publish events to POST /v1/events.');
    const filter = h('select', { id: 'status-filter', 'aria-label': 'status' },
      ['', 'pending', 'running', 'awaiting_approval', 'retrying', 'completed', 'failed', 'cancelled'].map((s) => {
        const o = h('option', { value: s }, s ? s.replace('_', ' ') : 'every status');
        if (s === want) o.selected = true;
        return o;
      }));
    filter.addEventListener('change', () => { location.hash = filter.value ? `#/runs?status=${filter.value}` : '#/runs'; });
    // Older runs, a page at a time.
    let next = data.next_after;
    const more = h('button', { class: 'more', type: 'button' }, 'Older runs');
    more.hidden = next === null;
    more.addEventListener('click', async () => {
      const page = await api(`${base}&after=${next}`);
      for (const r of page.runs) put(r, true);
      next = page.next_after;
      more.hidden = next === null;
    });
    main.replaceChildren(h('div', { class: 'title-bar' }, h('h1', {}, 'Runs'), filter),
      h('div', { class: 'sub' }, 'Newest first; statuses change as events arrive.'),
      h('table', {}, h('thead', {}, h('tr', {}, ['Run', 'Workflow', 'Status', 'Steps', 'Cost', 'Duration', 'Approvals', 'Updated'].map((t) => h('th', {}, t)))), body),
      data.runs.length ? '' : empty, more);
    // A status event changes the badge at once; anything else refreshes the row from its view.
    const pending = new Map();
    const refresh = (run) => {
      clearTimeout(pending.get(run));
      pending.set(run, setTimeout(async () => {
        pending.delete(run);
        try {
          const r = await api(`/v1/runs/${run}`);
          if (shows(r.status)) put(r); else { rows.get(run)?.remove(); rows.delete(run); }
        } catch { /* next event */ }
      }, 150));
    };
    const live = new Live('/v1/stream', data.last_seq,
      ['run_created', 'run_status_changed', 'run_failed', 'step_completed', 'step_failed', 'approval_requested', 'approval_granted', 'approval_rejected'],
      (type, seq, ev) => {
        empty.remove();
        const tr = rows.get(ev.run_id);
        if (type === 'run_status_changed' && tr) {
          const b = badge(ev.to);
          b.classList.add('flash');
          tr.querySelector('td.status').replaceChildren(b);
        } else if (type === 'run_created' && !tr && shows('pending')) {
          put({ run_id: ev.run_id, workflow_name: ev.workflow_name, status: 'pending', updated_at: ev.at, step_count: 0 });
        }
        if (rows.has(ev.run_id) || (type === 'run_status_changed' && shows(ev.to))) refresh(ev.run_id);
      });
    return { close: () => live.close() };
  }

  function stepsTable(steps) {
    if (!steps.length) return h('div', { class: 'empty-state' }, 'No steps yet.');
    return h('table', {}, h('thead', {}, h('tr', {}, ['Step', 'Kind', 'Status', 'Duration', 'Cost', 'Error'].map((t) => h('th', {}, t)))),
      h('tbody', {}, steps.map((s) => h('tr', { 'data-step': s.step_id },
        h('td', {}, s.name || h('span', { class: 'mono' }, short(s.step_id))), h('td', {}, s.kind || ''),
        h('td', {}, badge(s.status)), h('td', { class: 'num' }, duration(s.duration_ms)),
        h('td', { class: 'num' }, cost(s.cost_usd)), h('td', { class: 'error' }, s.error || '')))));
  }

  function runHeader(run) {
    const hist = run.status_history.length
      ? h('ol', { class: 'history' }, run.status_history.map((x) => h('li', { 'data-seq': x.seq }, badge(x.to), h('time', { title: x.at || '' }, ago(x.at)))))
      : h('div', { class: 'sub' }, 'No status change yet.');
    const approvals = run.pending_approvals.map((a) => h('div', { class: 'approval' },
      h('div', { class: 'msg' }, a.message || '(no message)'), h('div', { class: 'age' }, age(a.age_ms || 0)),
      h('div', { class: 'meta' }, `step ${short(a.step_id)} · waiting since ${a.requested_at || '?'}`)));
    return h('section', { id: 'run-head' },
      h('h1', {}, run.workflow_name || 'Run', ' ', badge(run.status)),
      h('div', { class: 'sub mono' }, run.run_id),
      h('div', { class: 'facts' },
        h('div', {}, h('span', {}, 'Cost'), cost(run.cost_usd)), h('div', {}, h('span', {}, 'Duration'), duration(run.duration_ms)),
        h('div', {}, h('span', {}, 'Created'), run.created_at || '—'), h('div', {}, h('span', {}, 'Error'), run.error || '—')),
      h('h2', {}, 'Status history'), hist,
      approvals.length ? [h('h2', {}, 'Waiting for approval'), h('div', { class: 'approvals' }, approvals)] : '',
      h('h2', {}, 'Steps'), stepsTable(run.steps));
  }

  // The log toolbar: search (substring or regex, a stream), previous/next match, timestamps,
  // follow, download. Matches come from the server's search with their seqs.
  function logTools(id, view) {
    const input = h('input', { type: 'search', id: 'log-search', placeholder: 'Search the log', 'aria-label': 'search the log' });
    const regex = h('input', { type: 'checkbox', id: 'log-regex' });
    const stream = h('select', { id: 'log-stream', 'aria-label': 'stream' },
      ['', 'stdout', 'stderr', 'system'].map((s) => h('option', { value: s }, s || 'every stream')));
    const prev = h('button', { type: 'button', id: 'log-prev', title: 'previous match (Shift+Enter)' }, '↑');
    const next = h('button', { type: 'button', id: 'log-next', title: 'next match (Enter)' }, '↓');
    const found = h('span', { id: 'log-found', class: 'found' }, '');
    const stamps = h('input', { type: 'checkbox', id: 'log-ts' });
    stamps.checked = localStorage.getItem('flowgate.timestamps') === '1';
    const follow = h('button', { type: 'button', id: 'log-follow', class: 'follow' }, 'Following');
    const q = new URLSearchParams();
    if (token()) q.set('access_token', token());
    const download = h('a', { id: 'log-download', href: `/v1/runs/${encodeURIComponent(id)}/logs/download${q.size ? `?${q}` : ''}` }, 'Download');
    const bar = h('div', { class: 'log-tools' }, input, h('label', {}, regex, ' regex'), stream, prev, next, found,
      h('span', { class: 'spacer' }), h('label', {}, stamps, ' timestamps'), follow, download);
    const showStamps = () => { view.el.classList.toggle('show-ts', stamps.checked); localStorage.setItem('flowgate.timestamps', stamps.checked ? '1' : '0'); };
    stamps.addEventListener('change', showStamps);
    showStamps();
    view.onFollow = () => {
      follow.textContent = view.follow ? 'Following' : `Paused${view.unseen ? ` · ${view.unseen} new` : ''} ↓`;
      follow.classList.toggle('paused', !view.follow);
    };
    follow.addEventListener('click', () => view.toBottom());

    const search = { seqs: [], at: -1, gen: 0, needle: '', regex: null };
    const clear = () => {
      for (const el of view.el.querySelectorAll('.ln.hit')) el.classList.remove('hit', 'current');
      for (const m of view.el.querySelectorAll('mark')) m.replaceWith(...m.childNodes);
    };
    const markRow = (row) => {
      row.classList.add('hit');
      const t = row.querySelector('.text');
      if (!search.needle || search.regex) return;
      const walker = document.createTreeWalker(t, NodeFilter.SHOW_TEXT);
      const texts = [];
      for (let n = walker.nextNode(); n; n = walker.nextNode()) texts.push(n);
      const low = search.needle.toLowerCase();
      for (const n of texts) { // each occurrence inside one text node gets a <mark>
        let at = n.data.toLowerCase().indexOf(low);
        let node = n;
        while (at >= 0) {
          const hit = node.splitText(at);
          node = hit.splitText(low.length);
          hit.replaceWith(h('mark', {}, hit.data));
          at = node.data.toLowerCase().indexOf(low);
        }
      }
    };
    const show = () => {
      found.classList.remove('error');
      found.textContent = search.seqs.length ? `${search.at + 1} / ${search.seqs.length}` : (input.value || stream.value ? 'no match' : '');
    };
    const go = (delta) => {
      if (!search.seqs.length) return;
      search.at = (search.at + delta + search.seqs.length) % search.seqs.length;
      for (const el of view.el.querySelectorAll('.ln.current')) el.classList.remove('current');
      const row = view.bySeq.get(search.seqs[search.at]);
      if (row) { row.classList.add('current'); view.reveal(row); }
      show();
    };
    const run = async () => {
      const gen = ++search.gen;
      clear();
      search.seqs = []; search.at = -1;
      search.needle = input.value; search.regex = regex.checked && input.value ? input.value : null;
      if (!input.value && !stream.value) { show(); return; }
      const p = new URLSearchParams({ limit: '1000' });
      if (input.value) p.set(regex.checked ? 'regex' : 'q', input.value);
      if (stream.value) p.set('stream', stream.value);
      found.textContent = 'searching…';
      try {
        for (let after = 0; search.seqs.length < 10000;) {
          p.set('after', String(after));
          const page = await api(`/v1/runs/${encodeURIComponent(id)}/logs?${p}`);
          if (gen !== search.gen) return;
          for (const l of page.lines) {
            search.seqs.push(l.seq);
            const row = view.bySeq.get(l.seq);
            if (row) markRow(row);
          }
          if (page.next_after >= page.last_seq || page.next_after <= after) break;
          after = page.next_after;
        }
      } catch (e) {
        if (gen !== search.gen) return;
        found.textContent = e.message;
        found.classList.add('error');
        return;
      }
      go(1);
    };
    let timer = null;
    input.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(run, 300); });
    input.addEventListener('keydown', (e) => {
      if (e.key !== 'Enter') return;
      e.preventDefault();
      clearTimeout(timer);
      if (search.needle !== input.value || (search.regex !== null) !== (regex.checked && !!input.value)) run();
      else go(e.shiftKey ? -1 : 1);
    });
    regex.addEventListener('change', run);
    stream.addEventListener('change', run);
    prev.addEventListener('click', () => go(-1));
    next.addEventListener('click', () => go(1));
    // a live line that matches joins the matches
    const live = (l, row) => {
      if (!row || (!input.value && !stream.value) || search.seqs.length === 0 && found.textContent === 'searching…') return;
      if (stream.value && l.stream !== stream.value) return;
      const t = row.querySelector('.text').textContent;
      if (input.value) {
        if (regex.checked) { try { if (!new RegExp(input.value, 'i').test(t)) return; } catch { return; } }
        else if (!t.toLowerCase().includes(input.value.toLowerCase())) return;
      }
      search.seqs.push(l.seq);
      markRow(row);
      show();
    };
    return { bar, live, close: () => { clearTimeout(timer); search.gen++; } };
  }

  async function runView(id, lineWanted) {
    const run = await api(`/v1/runs/${encodeURIComponent(id)}`);
    let head = runHeader(run);
    const log = h('div', { class: 'log', id: 'log', tabindex: '0' });
    const count = h('label', {}, '');
    const view = new window.FlowgateLog.LogView(log, { max: MAX_LOG_LINES, short, link: (n) => `#/runs/${encodeURIComponent(id)}/L${n}` });
    const tools = logTools(id, view);
    const target = (n) => {
      for (const el of log.querySelectorAll('.ln.target')) el.classList.remove('target');
      const row = document.getElementById(`L${n}`);
      if (row) { row.classList.add('target'); view.reveal(row); }
    };
    view.onPermalink = (n) => { history.replaceState(null, '', view.link(n)); target(n); };
    main.replaceChildren(h('a', { href: '#/runs' }, '← Runs'), head,
      h('div', { class: 'tail-bar' }, h('h2', {}, 'Log'), count), tools.bar, log);
    let lastLog = 0;
    const append = (l) => {
      if (!(l.seq > lastLog)) return; // shown already
      lastLog = l.seq;
      const row = view.append(l);
      tools.live(l, row);
      count.textContent = `${view.number} line${view.number === 1 ? '' : 's'}`;
    };
    // History: every stored line, a page at a time.
    for (let after = 0; ;) {
      const page = await api(`/v1/runs/${encodeURIComponent(id)}/logs?after=${after}&limit=1000`);
      page.lines.forEach(append);
      if (page.lines.length < 1000) break;
      after = page.next_after;
    }
    if (!view.number) count.textContent = 'no lines yet';
    view.toBottom();
    if (lineWanted) target(lineWanted);
    // Live, from the run view's snapshot: status and step events refresh the header.
    let timer = null;
    const live = new Live(`/v1/runs/${encodeURIComponent(id)}/stream`, run.last_seq,
      ['log_line', 'run_status_changed', 'run_failed', 'step_completed', 'step_failed', 'approval_requested', 'approval_granted', 'approval_rejected'],
      (type, seq, ev) => {
        if (type === 'log_line') { append({ seq, ...ev }); return; }
        clearTimeout(timer);
        timer = setTimeout(async () => {
          try { const next = runHeader(await api(`/v1/runs/${encodeURIComponent(id)}`)); head.replaceWith(next); head = next; } catch { /* next event */ }
        }, 100);
      });
    return { id, target, close: () => { clearTimeout(timer); tools.close(); live.close(); } };
  }

  async function approvalsView() {
    await startQueue();
    const list = h('div', { class: 'approvals', id: 'approvals' });
    const draw = () => {
      const items = [...queue.items.values()].sort((a, b) => a.requested_seq - b.requested_seq);
      if (queue.error) { list.replaceChildren(h('div', { class: 'empty-state error' }, String(queue.error.message))); return; }
      if (!items.length) { list.replaceChildren(h('div', { class: 'empty-state' }, 'Nothing is waiting for approval.')); return; }
      list.replaceChildren(...items.map((a) => h('div', { class: 'approval', 'data-run': a.run_id, 'data-step': a.step_id },
        h('div', { class: 'msg' }, a.message || '(no message)'),
        h('div', { class: 'age', 'data-at': a.requested_at || '' }, a.requested_at ? age(Date.now() - Date.parse(a.requested_at)) : ''),
        h('div', { class: 'meta' }, h('a', { href: `#/runs/${a.run_id}` }, `${a.workflow_name || 'run'} ${short(a.run_id)}`),
          ` · step ${a.step_name || short(a.step_id)}`))));
    };
    draw();
    queue.listeners.add(draw);
    const tick = setInterval(() => {
      for (const el of list.querySelectorAll('.age[data-at]')) el.textContent = age(Date.now() - Date.parse(el.dataset.at));
    }, 1000);
    main.replaceChildren(h('h1', {}, 'Approvals'), h('div', { class: 'sub' }, 'Waiting for a decision, oldest first. New requests appear as they happen.'), list);
    return { close: () => { queue.listeners.delete(draw); clearInterval(tick); } };
  }

  function login() {
    const form = document.getElementById('login').content.firstElementChild.cloneNode(true);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, form.elements.token.value.trim());
      route();
    });
    main.replaceChildren(form);
  }

  // --- routing -------------------------------------------------------------------------------

  async function route() {
    const hash = location.hash || '#/runs';
    const m = hash.match(/^#\/runs\/([^/?#]+)(?:\/L(\d+)|#L(\d+))?$/);
    const lineWanted = m ? Number(m[2] || m[3]) || 0 : 0;
    // a permalink on the run already shown: no reload, the line is brought into view
    if (m && current && current.id === decodeURIComponent(m[1])) { if (lineWanted) current.target(lineWanted); return; }
    const name = m ? 'run' : hash.startsWith('#/approvals') ? 'approvals' : 'runs';
    for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.nav === (name === 'run' ? 'runs' : name));
    if (current) { current.close(); current = null; }
    const seq = ++route.n;
    try {
      startQueue().catch(() => {}); // the header count, whatever the page
      const view = await (name === 'run' ? runView(decodeURIComponent(m[1]), lineWanted) : name === 'approvals' ? approvalsView() : runsView());
      if (seq !== route.n) view.close(); else current = view; // navigated away meanwhile
    } catch (e) {
      if (seq !== route.n) return;
      if (e instanceof AuthNeeded) login();
      else main.replaceChildren(h('div', { class: 'empty-state error' }, e.message));
    }
  }
  route.n = 0;

  window.addEventListener('hashchange', route);
  route();
})();
