// smsgate dashboard: plain JavaScript, no framework, nothing from outside
// the daemon. Everything it shows comes from the HTTP API with the user's
// token; it follows /api/v1/events (Server-Sent Events read with fetch(),
// because EventSource cannot send an Authorization header) and resumes with
// Last-Event-ID after an outage. Data from the gateway is only ever put in
// the page as text (textContent), never as HTML.
'use strict';
(() => {
  const KEY = 'smsgate.token';
  const SVGNS = 'http://www.w3.org/2000/svg';
  const MAX_ROWS = 200;
  const MAX_EVENTS = 60;
  const $ = (s) => document.querySelector(s);

  const st = {
    token: null,
    who: null,
    lastEvent: null,
    outbox: new Map(),
    inbox: new Map(),
    fresh: new Set(),
    status: null,
    series: null,
    down: null, // when the daemon stopped answering
    stream: null, // AbortController of the event stream
    campaigns: true, // the daemon has /api/v1/campaigns
    timers: {},
  };

  // --- small DOM helpers ---------------------------------------------------

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function td(text, cls) { return el('td', cls, text); }
  function badge(word) { return el('span', 'badge ' + String(word || '').replace(/[^a-z_]/g, ''), word || '—'); }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function fmtTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    const today = new Date().toDateString() === d.toDateString();
    return today ? d.toLocaleTimeString([], { hour12: false })
      : d.toLocaleDateString() + ' ' + d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });
  }
  function hhmm(d) { return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false }); }
  function fmtUptime(s) {
    s = Number(s) || 0;
    const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : `${m}m ${s % 60}s`;
  }
  function later(name, ms, fn) {
    if (st.timers[name]) return;
    st.timers[name] = setTimeout(() => { st.timers[name] = null; fn(); }, ms);
  }

  // --- the API -------------------------------------------------------------

  class Unreachable extends Error {}
  class HttpError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || ('HTTP ' + status));
      this.status = status;
    }
  }

  async function api(path, opts = {}, tries = 3) {
    const headers = Object.assign({ Authorization: 'Bearer ' + st.token, Accept: 'application/json' }, opts.headers || {});
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), opts.timeout || 20000);
    let r;
    try {
      r = await fetch(path, { method: opts.method || 'GET', body: opts.body, headers, signal: ctl.signal, cache: 'no-store' });
    } catch (e) {
      throw new Unreachable(String(e && e.message || e));
    } finally {
      clearTimeout(timer);
    }
    if (r.status === 429 && tries > 1) {
      const wait = Math.min(10, Number(r.headers.get('retry-after')) || 1);
      await new Promise((res) => setTimeout(res, wait * 1000));
      return api(path, opts, tries - 1);
    }
    const body = r.status === 204 ? null : await r.json().catch(() => null);
    if (!r.ok) {
      if (r.status === 401) signedOut('The gateway refused this token: ' + ((body && body.detail) || 'unauthorized'));
      throw new HttpError(r.status, body);
    }
    return body;
  }

  // Every failed call ends here: a lost daemon shows the banner, anything
  // else is logged and left to the next refresh.
  function failed(e) {
    if (e instanceof Unreachable) unreachable();
    else if (!(e instanceof HttpError && e.status === 401)) console.warn('smsgate:', e);
  }

  // --- connection state ----------------------------------------------------

  function banner(text) {
    const b = $('#banner');
    b.textContent = text || '';
    b.hidden = !text;
  }
  function setLive(on) {
    const p = $('#live');
    p.textContent = on ? 'live' : 'offline';
    p.className = 'pill ' + (on ? 'on' : 'off');
  }

  function unreachable() {
    if (!st.token) return;
    if (st.down === null) {
      st.down = new Date();
      if (st.stream) st.stream.abort();
      st.stream = null;
      setLive(false);
      probe(1000);
    }
    banner(`Cannot reach the smsgate daemon at ${location.host} (since ${hhmm(st.down)}). ` +
      'Retrying every few seconds; this page recovers by itself when it is back.');
  }

  // Asks /health/live (no token) until the daemon answers, then reloads.
  function probe(delay) {
    setTimeout(async () => {
      let ok = false;
      try {
        const r = await fetch('/health/live', { cache: 'no-store' });
        ok = r.ok;
      } catch (_) { ok = false; }
      if (!ok) { unreachable(); probe(Math.min(delay * 2, 5000)); return; }
      st.down = null;
      banner('');
      st.campaigns = true;
      start();
    }, delay);
  }

  function signedOut(why) {
    st.token = null;
    if (st.stream) st.stream.abort();
    st.stream = null;
    localStorage.removeItem(KEY);
    $('#app').hidden = true;
    $('#forget').hidden = true;
    $('#who').textContent = '';
    $('#login').hidden = false;
    const e = $('#login-error');
    e.textContent = why || '';
    e.hidden = !why;
    setLive(false);
  }

  // --- the event stream ----------------------------------------------------

  async function follow() {
    if (st.stream) st.stream.abort();
    const ctl = new AbortController();
    st.stream = ctl;
    const headers = { Authorization: 'Bearer ' + st.token, Accept: 'text/event-stream' };
    if (st.lastEvent !== null) headers['Last-Event-ID'] = String(st.lastEvent);
    let r;
    try {
      r = await fetch('/api/v1/events', { headers, signal: ctl.signal, cache: 'no-store' });
    } catch (e) {
      if (!ctl.signal.aborted) unreachable();
      return;
    }
    if (!r.ok || !r.body) {
      if (r.status === 401) signedOut('The gateway refused this token.');
      else setTimeout(() => { if (st.stream === ctl) follow(); }, 3000);
      return;
    }
    setLive(true);
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    // The server sends a keep-alive every 15 s; silence for 40 s is a dead link.
    let quiet;
    const arm = () => { clearTimeout(quiet); quiet = setTimeout(() => ctl.abort(), 40000); };
    arm();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        arm();
        buf += dec.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          dispatch(block);
        }
      }
    } catch (_) { /* aborted or broken: decided below */ }
    clearTimeout(quiet);
    if (st.stream !== ctl) return; // replaced or stopped on purpose
    st.stream = null;
    setLive(false);
    // The stream ended: the daemon stopped, or the link broke. Find out.
    try {
      const h = await fetch('/health/live', { cache: 'no-store' });
      if (h.ok) { setTimeout(follow, 1000); return; }
    } catch (_) { /* fall through */ }
    unreachable();
  }

  function dispatch(block) {
    let id = null;
    const data = [];
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? '' : line.slice(i + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'id') id = value;
      else if (field === 'data') data.push(value);
    }
    if (id !== null && /^\d+$/.test(id)) st.lastEvent = Number(id);
    if (!data.length) return;
    let ev;
    try { ev = JSON.parse(data.join('\n')); } catch (_) { return; }
    onEvent(ev);
  }

  const MESSAGE_EVENTS = new Set(['queued', 'sent', 'delivered', 'failed', 'expired', 'cancelled']);

  function onEvent(ev) {
    const d = ev.data || {};
    if (MESSAGE_EVENTS.has(ev.type) && d.id !== undefined) {
      st.outbox.set(d.id, d);
      st.fresh.add('o' + d.id);
      trim(st.outbox);
      later('outbox', 150, renderOutbox);
      if (d.campaign !== undefined && d.campaign !== null) later('campaigns', 2000, loadCampaigns);
    } else if (ev.type === 'part_sent' || ev.type === 'part_failed') {
      const m = st.outbox.get(d.id);
      if (m && m.state === 'queued') { m.state = 'sending'; later('outbox', 150, renderOutbox); }
    } else if (ev.type === 'received' && d.id !== undefined) {
      st.inbox.set(d.id, d);
      st.fresh.add('i' + d.id);
      trim(st.inbox);
      later('inbox', 150, renderInbox);
    }
    addEvent(ev);
    later('status', 700, loadStatus);
    if (ev.type === 'part_sent' || ev.type === 'delivered' || ev.type === 'received') later('series', 4000, loadSeries);
  }

  function trim(map) {
    if (map.size <= MAX_ROWS) return;
    const keys = [...map.keys()].sort((a, b) => a - b);
    for (const k of keys.slice(0, map.size - MAX_ROWS)) map.delete(k);
  }

  function eventSummary(ev) {
    const d = ev.data || {};
    switch (ev.type) {
      case 'queued': case 'sent': case 'delivered': case 'failed': case 'expired': case 'cancelled':
        return `#${d.id} to ${d.to || ''}${d.modem ? ' via ' + d.modem : ''}${d.error ? ': ' + d.error : ''}`;
      case 'part_sent': case 'part_failed':
        return `#${d.id} part ${d.seq}/${d.parts}${d.modem ? ' via ' + d.modem : ''}${d.error ? ': ' + d.error : ''}`;
      case 'received':
        return `from ${d.from || '?'} on ${d.modem || '?'}: ${d.text || ''}`;
      case 'report':
        return `status ${d.status !== undefined ? d.status : ''}${d.id ? ' for #' + d.id : ''}`;
      default:
        return d.modem || d.name || '';
    }
  }

  function addEvent(ev) {
    const list = $('#events');
    const li = el('li');
    const t = el('time', null, new Date(ev.at || Date.now()).toLocaleTimeString([], { hour12: false }));
    li.append(t, badge(ev.type), el('span', 'text', eventSummary(ev)));
    list.prepend(li);
    while (list.children.length > MAX_EVENTS) list.lastChild.remove();
  }

  // --- loading -------------------------------------------------------------

  async function start() {
    try {
      st.who = await api('/api/v1/whoami');
    } catch (e) {
      if (e instanceof Unreachable) unreachable();
      else if (!(e instanceof HttpError && e.status === 401)) banner('The gateway did not answer as expected: ' + e.message);
      return;
    }
    localStorage.setItem(KEY, st.token);
    $('#login').hidden = true;
    $('#app').hidden = false;
    $('#forget').hidden = false;
    const scopes = st.who.scopes || [];
    $('#who').textContent = `token ${st.who.name} · ${scopes.join(', ')}`;
    const canSend = scopes.includes('send') || scopes.includes('admin');
    const card = $('#send-card');
    if (card && !canSend) card.remove();
    else if (card) card.hidden = false;
    // The status first: its last event id is where the stream starts, so
    // nothing between the lists and the stream is missed. After an outage
    // the stream resumes where it stopped instead, replaying what happened.
    await loadStatus();
    if (st.lastEvent === null && st.status && st.status.events) st.lastEvent = st.status.events.last_id;
    follow();
    await Promise.all([loadOutbox(), loadInbox(), loadSeries(), loadWebhooks(), loadCampaigns()]);
  }

  async function loadStatus() {
    try {
      st.status = await api('/api/v1/status');
      renderStatus();
    } catch (e) { failed(e); }
  }
  async function loadOutbox() {
    try {
      const page = await api('/api/v1/messages?limit=100');
      for (const m of page.items || []) if (!st.outbox.has(m.id)) st.outbox.set(m.id, m);
      renderOutbox();
    } catch (e) { failed(e); }
  }
  async function loadInbox() {
    try {
      const page = await api('/api/v1/inbox?limit=100&before=9007199254740991');
      for (const m of page.items || []) if (!st.inbox.has(m.id)) st.inbox.set(m.id, m);
      renderInbox();
    } catch (e) { failed(e); }
  }
  async function loadSeries() {
    const [since, step] = $('#window').value.split(',');
    try {
      st.series = await api(`/api/v1/stats/series?since=${since}&step=${step}`);
      renderCharts();
    } catch (e) { failed(e); }
  }
  async function loadWebhooks() {
    try {
      const list = await api('/api/v1/webhooks');
      renderWebhooks(list.items || []);
    } catch (e) { failed(e); }
  }
  async function loadCampaigns() {
    if (!st.campaigns) return;
    try {
      const list = await api('/api/v1/campaigns');
      renderCampaigns(Array.isArray(list) ? list : (list.items || list.campaigns || []));
    } catch (e) {
      if (e instanceof HttpError && (e.status === 404 || e.status === 405)) {
        st.campaigns = false; // this daemon has no campaigns
        $('#campaigns-card').hidden = true;
      } else failed(e);
    }
  }

  // --- rendering -----------------------------------------------------------

  const QUEUE = [['queued', 'queued'], ['sending', 'sending'], ['sent', 'sent'], ['delivered', 'delivered'],
    ['failed', 'failed'], ['expired', 'expired'], ['cancelled', 'cancelled'], ['skipped', 'skipped'],
    ['inbox', 'received']];

  function renderStatus() {
    const s = st.status || {};
    const q = s.queue || {};
    const tiles = clear($('#queue'));
    for (const [k, label] of QUEUE) {
      if (q[k] === undefined && k === 'skipped') continue; // a daemon without opt-out
      const t = el('div', 'tile ' + k);
      t.id = 'q-' + k;
      t.append(el('b', null, q[k] !== undefined ? q[k] : '—'), el('span', null, label));
      tiles.append(t);
    }
    const d = s.daemon || {};
    $('#daemon').textContent = `smsgate ${d.version || ''} · up ${fmtUptime(d.uptime_s)}`;
    const body = clear($('#modems tbody'));
    const modems = s.modems || [];
    if (!modems.length) {
      const tr = el('tr');
      const c = td('no modems configured', 'empty');
      c.colSpan = 8;
      tr.append(c);
      body.append(tr);
    }
    for (const m of modems) {
      const tr = el('tr');
      tr.dataset.modem = m.name;
      const name = td(m.name);
      const model = [m.manufacturer, m.model].filter(Boolean).join(' ');
      if (model) { name.append(el('br'), el('small', 'muted', model)); }
      const state = td();
      state.append(badge(m.state));
      if (m.text_mode) state.append(' ', el('small', 'muted', 'text mode'));
      if (m.failed_reason) state.append(el('br'), el('small', 'error', m.failed_reason));
      tr.append(name, state, signalCell(m.signal), td([m.operator, m.registration].filter(Boolean).join(' · ') || '—'),
        td(m.sent || 0, 'num'), td(m.received || 0, 'num'), td(m.errors || 0, 'num'),
        td(m.last_error || '', 'text'));
      body.append(tr);
    }
  }

  function signalCell(rssi) {
    const c = td(null, 'signal');
    if (rssi === null || rssi === undefined || rssi === 99) { c.textContent = 'unknown'; c.className = 'signal muted'; return c; }
    const level = rssi >= 20 ? 4 : rssi >= 15 ? 3 : rssi >= 10 ? 2 : rssi >= 2 ? 1 : 0;
    const bars = el('span', 'bars');
    bars.title = `CSQ ${rssi}`;
    for (let i = 1; i <= 4; i++) bars.append(el('i', 'h' + i + (i <= level ? ' on' : '')));
    c.append(bars, `${-113 + 2 * rssi} dBm`);
    return c;
  }

  function matches(q, fields) {
    if (!q) return true;
    const hay = fields.map((f) => String(f === undefined || f === null ? '' : f)).join(' ').toLowerCase();
    return q.toLowerCase().split(/\s+/).every((w) => hay.includes(w));
  }

  function emptyRow(body, cols, text) {
    const tr = el('tr');
    const c = td(text, 'empty');
    c.colSpan = cols;
    tr.append(c);
    body.append(tr);
  }

  function renderOutbox() {
    const q = $('#outbox-search').value.trim();
    const body = clear($('#outbox tbody'));
    const rows = [...st.outbox.values()].sort((a, b) => b.id - a.id)
      .filter((m) => matches(q, [m.id, m.to, m.text, m.state, m.modem, m.error]));
    for (const m of rows.slice(0, 100)) {
      const tr = el('tr');
      tr.dataset.id = m.id;
      if (st.fresh.has('o' + m.id)) tr.className = 'fresh';
      const text = td(m.text, 'text');
      text.title = m.text + (m.error ? '\n' + m.error : '');
      const state = td();
      state.append(badge(m.state));
      const parts = (m.parts || []).length;
      if (parts > 1) state.append(' ', el('small', 'muted', parts + ' parts'));
      tr.append(td(m.id, 'num'), td(m.to), text, state, td(m.modem || ''), td(fmtTime(m.created_at), 'time'));
      body.append(tr);
    }
    if (!rows.length) emptyRow(body, 6, q ? 'nothing matches' : 'no messages yet');
    st.fresh.forEach((k) => { if (k[0] === 'o') st.fresh.delete(k); });
  }

  function renderInbox() {
    const q = $('#inbox-search').value.trim();
    const body = clear($('#inbox tbody'));
    const rows = [...st.inbox.values()].sort((a, b) => b.id - a.id)
      .filter((m) => matches(q, [m.id, m.from, m.text, m.modem]));
    for (const m of rows.slice(0, 100)) {
      const tr = el('tr');
      tr.dataset.id = m.id;
      if (st.fresh.has('i' + m.id)) tr.className = 'fresh';
      const text = td(m.text, 'text');
      text.title = m.text;
      if (!m.complete) text.prepend(el('small', 'error', 'incomplete · '));
      tr.append(td(m.id, 'num'), td(m.from), text, td(m.modem), td(fmtTime(m.received_at), 'time'));
      body.append(tr);
    }
    if (!rows.length) emptyRow(body, 5, q ? 'nothing matches' : 'nothing received yet');
    st.fresh.forEach((k) => { if (k[0] === 'i') st.fresh.delete(k); });
  }

  function renderWebhooks(items) {
    const body = clear($('#webhooks tbody'));
    for (const w of items) {
      const tr = el('tr');
      const state = td();
      state.append(badge(w.disabled ? 'disabled' : 'enabled'));
      if (w.disabled_reason) state.append(' ', el('small', 'muted', w.disabled_reason));
      tr.append(td(w.url, 'text'), td((w.events || []).length ? w.events.join(', ') : 'all events'), state,
        td(w.pending !== undefined ? w.pending : '', 'num'));
      body.append(tr);
    }
    if (!items.length) emptyRow(body, 4, 'no webhook endpoints');
  }

  const CAMPAIGN_PARTS = ['delivered', 'sent', 'failed', 'expired', 'cancelled', 'skipped'];

  function renderCampaigns(items) {
    $('#campaigns-card').hidden = false;
    const box = clear($('#campaigns'));
    if (!items.length) { box.append(el('p', 'muted', 'no campaigns')); return; }
    for (const c of items) {
      const div = el('div', 'camp');
      const head = el('div', 'head');
      head.append(el('b', null, c.name || ('campaign ' + c.id)), badge(c.state));
      const total = Number(c.total) || 0;
      const done = CAMPAIGN_PARTS.reduce((n, k) => n + (Number(c[k]) || 0), 0);
      head.append(el('span', 'muted', `${done} of ${total} processed` +
        (c.delivery_rate !== undefined && c.delivery_rate !== null ? ` · ${Math.round(c.delivery_rate * 100)}% delivered` : '')));
      const bar = el('div', 'progress');
      bar.title = CAMPAIGN_PARTS.concat(['queued']).map((k) => `${k} ${Number(c[k]) || 0}`).join(', ');
      for (const k of CAMPAIGN_PARTS) {
        const n = Number(c[k]) || 0;
        if (!n || !total) continue;
        const seg = el('i', 'p-' + k);
        seg.style.width = (100 * n / total) + '%';
        bar.append(seg);
      }
      div.append(head, bar);
      box.append(div);
    }
  }

  // --- charts (SVG, drawn here) -------------------------------------------

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  function frame(box, times, yMax, yFmt, label) {
    const W = Math.max(280, box.clientWidth || 600), H = 190;
    const M = { l: 40, r: 10, t: 10, b: 22 };
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label });
    const x = (i) => M.l + (times.length <= 1 ? 0 : i * (W - M.l - M.r) / (times.length - 1));
    const y = (v) => H - M.b - (v / yMax) * (H - M.t - M.b);
    for (let k = 0; k <= 4; k++) {
      const v = yMax * k / 4;
      root.append(svg('line', { class: 'grid', x1: M.l, x2: W - M.r, y1: y(v), y2: y(v) }));
      root.append(svg('text', { class: 'axis', x: M.l - 5, y: y(v) + 3, 'text-anchor': 'end' }, yFmt(v)));
    }
    const ticks = Math.min(6, times.length);
    for (let k = 0; k < ticks; k++) {
      const i = Math.round(k * (times.length - 1) / Math.max(1, ticks - 1));
      root.append(svg('text', { class: 'axis', x: x(i), y: H - 6, 'text-anchor': k === 0 ? 'start' : k === ticks - 1 ? 'end' : 'middle' },
        hhmm(new Date(times[i]))));
    }
    return { root, x, y, W, H, M };
  }

  function renderCharts() {
    const s = st.series;
    if (!s) return;
    const times = s.times || [];
    const perMin = (s.step_s || 60) / 60;
    // Parts per minute per SIM.
    const box = clear($('#chart-ppm'));
    box.dataset.step = s.step_s;
    const legend = clear($('#legend-ppm'));
    const sims = s.sims || [];
    const values = sims.map((x) => x.parts.map((n) => n / perMin));
    const max = niceMax(Math.max(0, ...values.flat()));
    const f = frame(box, times, max, (v) => (v >= 10 || v === 0 ? v.toFixed(0) : v.toFixed(1)), 'parts per minute per SIM');
    sims.forEach((sim, k) => {
      const cls = 'c' + (k % 8);
      const pts = values[k].map((v, i) => `${f.x(i).toFixed(1)},${f.y(v).toFixed(1)}`);
      const line = svg('path', { class: 'line ' + cls, d: 'M' + pts.join('L') });
      line.append(svg('title', {}, `${sim.modem || sim.sim}: ${sim.parts.reduce((a, b) => a + b, 0)} parts`));
      const area = svg('path', { class: 'area ' + cls, d: `M${f.x(0)},${f.y(0)}L${pts.join('L')}L${f.x(times.length - 1)},${f.y(0)}Z` });
      f.root.append(area, line);
      const item = el('span');
      item.append(el('i', cls), `${sim.modem || sim.sim}${sim.modem && sim.modem !== sim.sim ? ' (' + sim.sim + ')' : ''}`);
      legend.append(item);
    });
    if (!sims.length) f.root.append(svg('text', { class: 'none', x: f.W / 2, y: f.H / 2, 'text-anchor': 'middle' }, 'nothing sent in this window'));
    box.append(f.root);

    // Delivery rate per bucket.
    const rbox = clear($('#chart-rate'));
    const g = frame(rbox, times, 1, (v) => Math.round(v * 100) + '%', 'delivery rate');
    const slot = (g.W - g.M.l - g.M.r) / Math.max(1, times.length);
    let any = false;
    (s.delivery_rate || []).forEach((r, i) => {
      if (r === null || r === undefined) return;
      any = true;
      const w = Math.max(2, slot * 0.7);
      const cx = g.x(i);
      const top = g.y(r);
      const bar = svg('rect', { class: 'bar' + (r < 0.6 ? ' bad' : r < 0.9 ? ' low' : ''),
        x: Math.max(g.M.l, Math.min(cx - w / 2, g.W - g.M.r - w)), y: top, width: w, height: Math.max(1, g.y(0) - top) });
      bar.append(svg('title', {}, `${hhmm(new Date(times[i]))}: ${Math.round(r * 100)}% of ${s.sent_with_report[i]} delivered`));
      g.root.append(bar);
    });
    if (!any) g.root.append(svg('text', { class: 'none', x: g.W / 2, y: g.H / 2, 'text-anchor': 'middle' }, 'no message with a report in this window'));
    rbox.append(g.root);
  }

  // --- sending -------------------------------------------------------------

  const GSM7 = '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
  const GSM7EXT = '^{}\\[~]|€\f';

  function countParts(text) {
    let septets = 0, gsm = true;
    for (const ch of text) {
      if (GSM7.includes(ch)) septets += 1;
      else if (GSM7EXT.includes(ch)) septets += 2;
      else { gsm = false; break; }
    }
    if (gsm) return { parts: septets <= 160 ? 1 : Math.ceil(septets / 153), n: septets, enc: 'GSM-7' };
    const units = [...text].reduce((n, ch) => n + (ch.codePointAt(0) > 0xffff ? 2 : 1), 0);
    return { parts: units <= 70 ? 1 : Math.ceil(units / 67), n: units, enc: 'UCS-2' };
  }

  function randomKey() {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  }

  async function send(ev) {
    ev.preventDefault();
    const form = ev.target;
    const out = $('#send-result');
    const numbers = form.to.value.split(/[\s,;]+/).filter(Boolean);
    const body = { to: numbers.length === 1 ? numbers[0] : numbers, text: form.text.value,
      report: form.report.checked, priority: form.priority.value };
    const button = form.querySelector('button');
    button.disabled = true;
    out.className = 'muted';
    out.textContent = 'Sending…';
    try {
      const r = await api('/api/v1/messages', { method: 'POST', body: JSON.stringify(body),
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': randomKey() } });
      const ids = r.messages ? r.messages.map((m) => '#' + m.id).join(', ') : `#${r.id} (${r.parts} part${r.parts === 1 ? '' : 's'})`;
      out.textContent = 'Queued ' + ids;
      form.text.value = '';
      updateCount();
    } catch (e) {
      out.className = 'error';
      out.textContent = e instanceof Unreachable ? 'The daemon is unreachable; nothing was sent.' : 'Refused: ' + e.message;
      failed(e);
    } finally {
      button.disabled = false;
    }
  }

  function updateCount() {
    const form = $('#send-form');
    if (!form) return;
    const c = countParts(form.text.value);
    $('#count').textContent = form.text.value ? `${c.n} ${c.enc === 'GSM-7' ? 'characters' : 'UCS-2 units'} · ${c.parts} part${c.parts === 1 ? '' : 's'} (${c.enc})` : '';
  }

  // --- start-up ------------------------------------------------------------

  function init() {
    $('#login-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const t = $('#token').value.trim();
      if (!t) return;
      st.token = t;
      $('#login-error').hidden = true;
      start();
    });
    $('#forget').addEventListener('click', () => {
      localStorage.removeItem(KEY);
      location.reload();
    });
    $('#outbox-search').addEventListener('input', renderOutbox);
    $('#inbox-search').addEventListener('input', renderInbox);
    $('#window').addEventListener('change', loadSeries);
    const form = $('#send-form');
    form.addEventListener('submit', send);
    form.text.addEventListener('input', updateCount);
    let resize;
    window.addEventListener('resize', () => { clearTimeout(resize); resize = setTimeout(renderCharts, 200); });
    // Refreshes the stream does not cover: the charts, webhooks' backlog,
    // campaigns' progress, modem signal and uptime.
    setInterval(() => { if (st.token && st.down === null) { loadSeries(); loadWebhooks(); loadCampaigns(); } }, 30000);
    setInterval(() => { if (st.token && st.down === null) loadStatus(); }, 10000);
    st.token = localStorage.getItem(KEY);
    if (st.token) start();
    else signedOut('');
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
