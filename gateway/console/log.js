// flowgate web console: a run's log as people read CI logs. Terminal colours and styles (SGR:
// 16, 256 and 24-bit colours, bold, dim, italic, underline, strike, inverse; carried from one line
// to the next of the same step), OSC 8 hyperlinks (http and https only), collapsible sections
// (GitHub's ::group::/::endgroup::, GitLab's section_start/section_end), line numbers with
// permalinks (#L123), a timestamps toggle, and a follow that pauses while the reader is scrolled
// up. Text from the log only ever becomes text nodes; links are built from a parsed URL.
'use strict';

(() => {
  const ESC = '\x1b';
  const BASE16 = 16;

  // The xterm 256-colour palette past the first 16 (those are CSS classes f0…f15 / b0…b15).
  function rgb256(i) {
    if (i < 232) {
      const levels = [0, 95, 135, 175, 215, 255];
      const n = i - 16;
      return `rgb(${levels[Math.floor(n / 36)]}, ${levels[Math.floor(n / 6) % 6]}, ${levels[n % 6]})`;
    }
    const g = 8 + (i - 232) * 10;
    return `rgb(${g}, ${g}, ${g})`;
  }
  const byte = (v) => Math.max(0, Math.min(255, Number(v) || 0));

  // A colour from an extended SGR parameter list (38/48 then 5;n or 2;r;g;b), or undefined.
  function extended(p) {
    if (Number(p[0]) === 5 && p.length >= 2) {
      const n = Number(p[1]);
      if (!(n >= 0 && n <= 255)) return undefined;
      return n < BASE16 ? n : rgb256(n);
    }
    if (Number(p[0]) === 2 && p.length >= 4) return `rgb(${byte(p[1])}, ${byte(p[2])}, ${byte(p[3])})`;
    return undefined;
  }

  const fresh = () => ({ fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, strike: false, inverse: false, link: null });

  // Applies one SGR sequence's parameters (the text between ESC [ and m) to state.
  function sgr(state, params) {
    const groups = params === '' ? ['0'] : params.split(';');
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i];
      if (g.includes(':')) { // 38:5:n, 38:2::r:g:b (colon sub-parameters)
        const sub = g.split(':');
        const code = Number(sub[0]);
        if (code === 38 || code === 48) {
          const rest = sub.slice(1);
          if (Number(rest[0]) === 2 && rest.length >= 5) rest.splice(1, 1); // a colour space id
          const c = extended(rest);
          if (c !== undefined) state[code === 38 ? 'fg' : 'bg'] = c;
        } else if (code === 4) state.underline = Number(sub[1]) !== 0;
        continue;
      }
      const n = g === '' ? 0 : Number(g);
      if (n === 0) Object.assign(state, fresh(), { link: state.link });
      else if (n === 1) state.bold = true;
      else if (n === 2) state.dim = true;
      else if (n === 3) state.italic = true;
      else if (n === 4) state.underline = true;
      else if (n === 7) state.inverse = true;
      else if (n === 9) state.strike = true;
      else if (n === 22) { state.bold = false; state.dim = false; }
      else if (n === 23) state.italic = false;
      else if (n === 24) state.underline = false;
      else if (n === 27) state.inverse = false;
      else if (n === 29) state.strike = false;
      else if (n >= 30 && n <= 37) state.fg = n - 30;
      else if (n === 39) state.fg = null;
      else if (n >= 40 && n <= 47) state.bg = n - 40;
      else if (n === 49) state.bg = null;
      else if (n >= 90 && n <= 97) state.fg = n - 90 + 8;
      else if (n >= 100 && n <= 107) state.bg = n - 100 + 8;
      else if (n === 38 || n === 48) {
        const kind = Number(groups[i + 1]);
        const take = kind === 5 ? 2 : kind === 2 ? 4 : 1;
        const c = extended(groups.slice(i + 1, i + 1 + take));
        if (c !== undefined) state[n === 38 ? 'fg' : 'bg'] = c;
        i += take;
      }
    }
  }

  // An http(s) URL as a string, or null for anything else (javascript:, data:, relative…).
  function safeUrl(s) {
    try {
      const u = new URL(s);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
    } catch { return null; }
  }

  // Splits a line into runs of text with the style in force; state carries over to the next
  // line. A carriage return starts the visible text again (a progress bar's last frame stays).
  function parse(text, state) {
    const runs = [];
    let buf = '';
    const flush = () => { if (buf) runs.push({ text: buf, style: { ...state } }); buf = ''; };
    let i = 0;
    if (text.endsWith('\r')) text = text.slice(0, -1);
    while (i < text.length) {
      const c = text[i];
      if (c === '\r') { buf = ''; runs.length = 0; i++; continue; }
      if (c !== ESC) { buf += c; i++; continue; }
      const kind = text[i + 1];
      if (kind === '[') { // CSI: parameters, intermediates, a final byte
        let j = i + 2;
        while (j < text.length && text.charCodeAt(j) >= 0x30 && text.charCodeAt(j) <= 0x3f) j++;
        const params = text.slice(i + 2, j);
        while (j < text.length && text.charCodeAt(j) >= 0x20 && text.charCodeAt(j) <= 0x2f) j++;
        if (j < text.length && text[j] === 'm' && /^[0-9;:]*$/.test(params)) { flush(); sgr(state, params); }
        i = j + 1;
      } else if (kind === ']') { // OSC, ended by BEL or ESC \
        let j = i + 2;
        while (j < text.length && text[j] !== '\x07' && !(text[j] === ESC && text[j + 1] === '\\')) j++;
        const body = text.slice(i + 2, j);
        i = j + (text[j] === ESC ? 2 : 1);
        const m = body.match(/^8;[^;]*;(.*)$/s);
        if (m) { flush(); state.link = m[1] ? safeUrl(m[1]) : null; }
      } else { // another escape: intermediates and a final byte
        let j = i + 1;
        while (j < text.length && text.charCodeAt(j) >= 0x20 && text.charCodeAt(j) <= 0x2f) j++;
        i = j + 1;
      }
    }
    flush();
    return runs;
  }

  // The nodes for a line's runs: spans with classes (16 colours, styles) or CSSOM colours.
  function render(runs) {
    const out = [];
    for (const r of runs) {
      const s = r.style;
      let fg = s.fg; let bg = s.bg;
      if (s.inverse) { [fg, bg] = [bg, fg]; if (fg === null) fg = 'inv-fg'; if (bg === null) bg = 'inv-bg'; }
      const cls = [];
      const css = {};
      if (typeof fg === 'number') cls.push(`f${fg}`); else if (fg === 'inv-fg') cls.push('finv'); else if (fg) css.color = fg;
      if (typeof bg === 'number') cls.push(`b${bg}`); else if (bg === 'inv-bg') cls.push('binv'); else if (bg) css.backgroundColor = bg;
      if (s.bold) cls.push('ab');
      if (s.dim) cls.push('ad');
      if (s.italic) cls.push('ai');
      if (s.underline) cls.push('au');
      if (s.strike) cls.push('as');
      let node;
      if (!cls.length && !css.color && !css.backgroundColor && !s.link) node = document.createTextNode(r.text);
      else {
        node = document.createElement(s.link ? 'a' : 'span');
        if (s.link) { node.href = s.link; node.rel = 'noopener noreferrer nofollow'; node.target = '_blank'; }
        if (cls.length) node.className = cls.join(' ');
        Object.assign(node.style, css);
        node.textContent = r.text;
      }
      out.push(node);
    }
    return out;
  }

  // What a line means for sections: {start: name, header, open} or {end: name}, else null.
  // Markers are looked for in the text without escape sequences.
  function section(runs) {
    const t = runs.map((r) => r.text).join('');
    let m = t.match(/^::group::(.*)$/s);
    if (m) return { start: m[1].trim() || 'group', header: m[1].trim() || 'group', open: false, kind: 'group' };
    if (/^::endgroup::\s*$/.test(t)) return { end: null, kind: 'group' };
    return null;
  }
  // GitLab writes section markers before a carriage return: looked for in the raw line.
  function gitlabSection(text) {
    const plain = text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
    let m = plain.match(/^section_start:\d+:([A-Za-z0-9_.-]+)(\[[^\]]*\])?\r?(.*)$/s);
    if (m) return { start: m[1], header: m[3].replace(/\r/g, '').trim() || m[1], open: /collapsed=false/.test(m[2] || ''), kind: 'gitlab' };
    m = plain.match(/^section_end:\d+:([A-Za-z0-9_.-]+)\r?\s*$/);
    if (m) return { end: m[1], kind: 'gitlab' };
    return null;
  }

  const pad = (n, w) => String(n).padStart(w, '0');
  function clock(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return '';
    return `${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}.${pad(d.getMilliseconds(), 3)}`;
  }

  // One run's log on the page. el: the scrolling container. opts.max: lines kept.
  class LogView {
    constructor(el, opts) {
      this.el = el;
      this.max = opts.max;
      this.short = opts.short;
      this.link = opts.link || ((n) => `#L${n}`); // a line's permalink
      this.onFollow = opts.onFollow || (() => {});
      this.rows = []; // the line elements, oldest first
      this.bySeq = new Map();
      this.number = 0; // line numbers given so far
      this.steps = new Map(); // step_id -> {state, open: [{el, body, name}]}
      this.follow = true;
      this.unseen = 0;
      el.addEventListener('scroll', () => {
        const bottom = this.atBottom();
        if (bottom !== this.follow) { this.follow = bottom; if (bottom) this.unseen = 0; this.onFollow(); }
      });
    }

    atBottom() { return this.el.scrollTop + this.el.clientHeight >= this.el.scrollHeight - 8; }
    toBottom() { this.el.scrollTop = this.el.scrollHeight; this.follow = true; this.unseen = 0; this.onFollow(); }

    step(id) {
      let s = this.steps.get(id);
      if (!s) { s = { state: fresh(), open: [] }; this.steps.set(id, s); }
      return s;
    }

    // Adds a stored or live line ({seq, step_id, step_name, stream, line, at}).
    append(l) {
      const st = this.step(l.step_id || '');
      const raw = String(l.line ?? '');
      const gl = gitlabSection(raw);
      const runs = gl ? [] : parse(raw, st.state);
      const mark = gl || section(runs);
      if (mark && 'end' in mark) { // closes the innermost open section of its kind (and name)
        for (let k = st.open.length - 1; k >= 0; k--) {
          const o = st.open[k];
          if (o.kind === mark.kind && (mark.end === null || o.name === mark.end)) { st.open.length = k; break; }
        }
        return null;
      }
      const num = ++this.number;
      const row = document.createElement('div');
      row.className = `ln ${['stdout', 'stderr', 'system'].includes(l.stream) ? l.stream : 'stdout'}`;
      row.dataset.seq = String(l.seq);
      row.dataset.line = String(num);
      row.id = `L${num}`;
      const a = document.createElement('a');
      a.className = 'num';
      a.textContent = String(num);
      a.href = this.link(num);
      a.addEventListener('click', (e) => { e.preventDefault(); this.onPermalink(num); });
      const ts = document.createElement('span');
      ts.className = 'ts';
      ts.textContent = clock(l.at);
      ts.title = l.at || '';
      const stepEl = document.createElement('span');
      stepEl.className = 'step';
      stepEl.title = l.step_name || '';
      stepEl.textContent = l.step_name || this.short(l.step_id);
      const streamEl = document.createElement('span');
      streamEl.className = 'stream';
      streamEl.textContent = l.stream;
      const text = document.createElement('span');
      text.className = 'text';
      const parent = st.open.length ? st.open[st.open.length - 1].body : this.el;
      if (mark) { // a section's header: a toggle, then its name; its lines go inside
        const sec = document.createElement('div');
        sec.className = mark.open ? 'sec' : 'sec collapsed';
        const tog = document.createElement('button');
        tog.type = 'button';
        tog.className = 'tog';
        tog.setAttribute('aria-label', 'toggle section');
        tog.addEventListener('click', () => sec.classList.toggle('collapsed'));
        text.append(tog, document.createTextNode(mark.header));
        row.classList.add('sec-head');
        const body = document.createElement('div');
        body.className = 'sec-body';
        row.append(a, ts, stepEl, streamEl, text);
        sec.append(row, body);
        parent.append(sec);
        st.open.push({ el: sec, body, name: mark.start, kind: mark.kind });
      } else {
        text.append(...render(runs));
        row.append(a, ts, stepEl, streamEl, text);
        parent.append(row);
      }
      this.rows.push(row);
      this.bySeq.set(l.seq, row);
      if (this.rows.length > this.max) {
        const old = this.rows.shift();
        this.bySeq.delete(Number(old.dataset.seq));
        if (old.classList.contains('sec-head')) { // its lines stay, shown, without a header
          old.parentElement.classList.remove('collapsed');
          old.parentElement.classList.add('headless');
        }
        old.remove();
      }
      if (this.follow) this.el.scrollTop = this.el.scrollHeight;
      else { this.unseen++; this.onFollow(); }
      return row;
    }

    // Opens the sections around row and brings it to the middle of the view.
    reveal(row) {
      for (let p = row.parentElement; p && p !== this.el; p = p.parentElement) if (p.classList.contains('sec')) p.classList.remove('collapsed');
      const top = row.offsetTop - this.el.offsetTop - this.el.clientHeight / 2;
      this.el.scrollTop = Math.max(0, top);
      this.follow = this.atBottom();
      this.onFollow();
    }

    onPermalink() {}
  }

  window.FlowgateLog = { LogView, parse, render, safeUrl };
})();
