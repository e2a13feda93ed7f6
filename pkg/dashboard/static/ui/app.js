// The bureau's recognition dashboard: token login, period, KPIs, monthly trend, institutions by
// medical community with sorting and drill-down, CSV downloads. Reads only
// GET /api/v1/stats/recognition; every figure shown is the API's, formatted, never recomputed.
'use strict';

(function () {
  const I18N = window.MRHUB_I18N;
  const REASONS = window.MRHUB_REASONS;
  const TOKEN_KEY = 'mrhub.dashboard.token';
  const LANG_KEY = 'mrhub.dashboard.lang';
  const API = '/api/v1/stats/recognition';

  // Columns of the institution and item tables: field of FIGURES and label key.
  const FIG_COLS = [
    { f: 'decisions', k: 'decisions' },
    { f: 'recognized', k: 'recognized' },
    { f: 'declined_counting', k: 'declinedCounting' },
    { f: 'declined_not_counting', k: 'declinedNotCounting' },
    { f: 'rate', k: 'rate' },
    { f: 'reminders', k: 'reminders' },
    { f: 'retrievals', k: 'retrievals' },
    { f: 'savings_cents', k: 'savings' }
  ];
  const ITEM_COLS = FIG_COLS.filter((c) => c.f !== 'reminders' && c.f !== 'retrievals');

  const state = {
    lang: 'zh',
    token: '',
    from: '',
    to: '',
    data: null, // {inst, comm, month}: API responses for the period shown
    items: null, // by=institution,item response, fetched on the first drill-down
    sort: { key: 'decisions', dir: 'desc' },
    selected: '', // institution code shown in the detail panel
    status: null, // {key, suffix} of the status line
    seq: 0 // load generation, so a late answer for an older period is dropped
  };

  const $ = (id) => document.getElementById(id);
  const t = (k) => (I18N[state.lang][k] !== undefined ? I18N[state.lang][k] : k);

  // ---- formatting: exact figures of the API, only presented ----
  function fmtInt(n) {
    if (n === null || n === undefined) return '—';
    return Number(n).toLocaleString(t('locale'), { maximumFractionDigits: 0 });
  }
  function fmtRate(r) {
    if (r === null || r === undefined) return '—';
    return (Math.round(r * 10000) / 100).toFixed(2) + '%';
  }
  function fmtYuan(cents) {
    if (cents === null || cents === undefined) return '—';
    const c = Math.round(Number(cents));
    const abs = Math.abs(c);
    const yuan = Math.floor(abs / 100).toLocaleString(t('locale'), { maximumFractionDigits: 0 });
    return (c < 0 ? '-' : '') + '¥' + yuan + '.' + String(abs % 100).padStart(2, '0');
  }
  function fmtField(f, v) {
    if (f === 'rate') return fmtRate(v);
    if (f === 'savings_cents') return fmtYuan(v);
    return fmtInt(v);
  }
  // name picks the localised name of key's dimension (institution, community, item, district).
  function name(key, dim) {
    const zh = key[dim + '_name'];
    const en = key[dim + '_name_en'];
    if (state.lang === 'en') return en || zh || key[dim] || '';
    return zh || en || key[dim] || '';
  }

  // ---- DOM helpers (textContent only: nothing from the API is parsed as HTML) ----
  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const k in attrs) {
        const v = attrs[k];
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = v;
        else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of kids) if (c !== null && c !== undefined) e.append(c);
    return e;
  }
  function figCell(f, figs) {
    const v = figs ? figs[f] : undefined;
    return h('td', { class: 'num', 'data-field': f, 'data-value': v === null ? 'null' : v, text: fmtField(f, v) });
  }

  // ---- language ----
  function applyLang() {
    document.documentElement.lang = t('htmlLang');
    document.title = t('title');
    for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = t(e.getAttribute('data-i18n'));
    const b = $('lang');
    b.textContent = t('switchTo');
    b.setAttribute('lang', state.lang === 'zh' ? 'en' : 'zh-CN');
    $('lang').setAttribute('data-lang', state.lang);
    renderStatus();
    if (state.data) render();
  }

  // ---- API ----
  class AuthError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }
  async function api(by, csv) {
    const q = new URLSearchParams({ from: state.from, to: state.to, by: by });
    if (csv) q.set('format', 'csv');
    let res;
    try {
      res = await fetch(API + '?' + q.toString(), {
        headers: { Authorization: 'Bearer ' + state.token, Accept: csv ? 'text/csv' : 'application/json' },
        cache: 'no-store',
        credentials: 'omit'
      });
    } catch (e) {
      throw new Error(t('errNetwork'));
    }
    if (res.status === 401 || res.status === 403) {
      let msg = '';
      try { msg = ((await res.json()).error || {}).message || ''; } catch (e) { /* not JSON */ }
      throw new AuthError(res.status, msg);
    }
    if (!res.ok) {
      let msg = res.status + ' ' + res.statusText;
      try {
        const e = (await res.json()).error;
        if (e) msg = (e.code ? e.code + ': ' : '') + (e.message || '');
      } catch (e) { /* not JSON */ }
      throw new Error(t('errServer') + ' (' + msg + ')');
    }
    return csv ? res.arrayBuffer() : res.json();
  }

  function showLogin(message) {
    state.token = '';
    state.data = null;
    state.items = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $('app').hidden = true;
    $('logout').hidden = true;
    $('login').hidden = false;
    const err = $('login-error');
    err.hidden = !message;
    err.textContent = message || '';
    $('token').value = '';
    $('token').focus();
  }
  function showApp() {
    $('login').hidden = true;
    $('app').hidden = false;
    $('logout').hidden = false;
  }
  function fail(e) {
    if (e instanceof AuthError) {
      showLogin(t(e.status === 401 ? 'err401' : 'err403') + (e.message ? ' (' + e.message + ')' : ''));
      return;
    }
    const box = $('error');
    box.textContent = e.message || String(e);
    box.hidden = false;
    setStatus(null);
  }
  // setStatus shows a status message by label key (so it follows the language) and a suffix.
  function setStatus(key, suffix) {
    state.status = key ? { key: key, suffix: suffix || '' } : null;
    renderStatus();
  }
  function renderStatus() {
    const s = state.status;
    $('status').textContent = s ? t(s.key) + (s.suffix ? ' ' + s.suffix : '') : '';
  }

  async function load() {
    const seq = ++state.seq;
    $('error').hidden = true;
    if (state.from > state.to) {
      fail(new Error(t('errPeriod')));
      return;
    }
    setStatus('loading');
    document.body.setAttribute('aria-busy', 'true');
    try {
      const [inst, comm, month] = await Promise.all([api('institution'), api('community'), api('month')]);
      if (seq !== state.seq) return;
      state.data = { inst: inst, comm: comm, month: month };
      state.items = null;
      if (state.selected && !inst.groups.some((g) => g.key.institution === state.selected)) state.selected = '';
      showApp();
      render();
      if (state.selected) await showDetail(state.selected, false);
      setStatus('loaded', new Date().toTimeString().slice(0, 8));
      document.body.setAttribute('data-loaded', String(seq));
    } catch (e) {
      if (seq === state.seq) fail(e);
    } finally {
      if (seq === state.seq) document.body.removeAttribute('aria-busy');
    }
  }

  // ---- rendering ----
  function render() {
    const d = state.data;
    $('period-label').textContent = d.inst.from + ' – ' + d.inst.to;
    renderKPIs(d.inst.totals);
    renderTrend(d.month);
    renderInstitutions(d.inst, d.comm);
    if (state.selected) renderDetail();
  }

  function renderKPIs(tot) {
    const set = (id, f) => {
      const e = $(id);
      e.textContent = fmtField(f, tot[f]);
      e.setAttribute('data-value', tot[f] === null ? 'null' : tot[f]);
    };
    set('kpi-rate', 'rate');
    set('kpi-recognized', 'recognized');
    set('kpi-decisions', 'decisions');
    set('kpi-retrievals', 'retrievals');
    set('kpi-reminders', 'reminders');
    set('kpi-savings', 'savings_cents');
  }

  function monthsBetween(from, to) {
    const out = [];
    let y = Number(from.slice(0, 4));
    let m = Number(from.slice(5, 7));
    const ey = Number(to.slice(0, 4));
    const em = Number(to.slice(5, 7));
    while ((y < ey || (y === ey && m <= em)) && out.length <= 120) {
      out.push(y + '-' + String(m).padStart(2, '0'));
      if (++m > 12) { m = 1; y++; }
    }
    return out;
  }

  function renderTrend(resp) {
    const byMonth = new Map(resp.groups.map((g) => [g.key.month, g.figures]));
    let months = monthsBetween(resp.from, resp.to);
    if (months.length > 36) months = Array.from(byMonth.keys()).sort();
    const box = $('trend');
    if (resp.totals.decisions === 0 || months.length === 0) {
      box.textContent = '';
      box.append(h('p', { class: 'empty', text: t('trendEmpty') }));
      return;
    }
    const points = months.map((m) => {
      const f = byMonth.get(m);
      const count = f ? f.recognized : 0;
      const rate = f ? f.rate : null;
      return { label: m, count: count, rate: rate, countText: fmtInt(count), rateText: fmtRate(rate) };
    });
    window.MRHUB_CHART.drawTrend(box, points, {
      title: t('trendTitle'),
      desc: t('trendAria') + '. ' + points.map((p) => p.label + ': ' + p.countText + ', ' + p.rateText).join('; '),
      countName: t('recognized'),
      rateName: t('rate'),
      fmtCount: fmtInt
    });
  }

  function sortHeader(col, labelKey, sortKey, numeric) {
    const active = state.sort.key === sortKey;
    const dir = active ? state.sort.dir : 'none';
    const btn = h('button', {
      type: 'button',
      class: 'sort',
      'data-sort': sortKey,
      onclick: () => {
        if (state.sort.key === sortKey) state.sort.dir = state.sort.dir === 'asc' ? 'desc' : 'asc';
        else state.sort = { key: sortKey, dir: numeric ? 'desc' : 'asc' };
        renderInstitutions(state.data.inst, state.data.comm);
        const again = document.querySelector('#inst-head button[data-sort="' + sortKey + '"]');
        if (again) again.focus();
      }
    }, t(labelKey), h('span', { class: 'arrow', 'aria-hidden': 'true', text: dir === 'asc' ? '▲' : dir === 'desc' ? '▼' : '↕' }));
    return h('th', {
      scope: 'col',
      class: numeric ? 'num' : '',
      'aria-sort': active ? (dir === 'asc' ? 'ascending' : 'descending') : 'none'
    }, btn);
  }

  function compare(a, b) {
    const k = state.sort.key;
    let r;
    if (k === 'name') {
      r = name(a.key, 'institution').localeCompare(name(b.key, 'institution'), t('locale'));
    } else {
      // null rates sort below every number whatever the direction.
      const x = a.figures[k];
      const y = b.figures[k];
      if (x === null && y === null) r = 0;
      else if (x === null) return 1;
      else if (y === null) return -1;
      else r = x - y;
    }
    if (r === 0) r = String(a.key.institution).localeCompare(String(b.key.institution));
    return state.sort.dir === 'asc' ? r : -r;
  }

  function renderInstitutions(inst, comm) {
    const head = $('inst-head');
    head.textContent = '';
    head.append(sortHeader(null, 'institution', 'name', false));
    for (const c of FIG_COLS) head.append(sortHeader(null, c.k, c.f, true));

    const commFigs = new Map(comm.groups.map((g) => [g.key.community || '', g]));
    const groups = new Map();
    for (const g of inst.groups) {
      const c = g.key.community || '';
      if (!groups.has(c)) groups.set(c, { key: g.key, rows: [] });
      groups.get(c).rows.push(g);
    }
    const order = Array.from(groups.keys()).sort((a, b) => (a === '') - (b === '') || a.localeCompare(b));
    const body = $('inst-body');
    body.textContent = '';
    if (inst.groups.length === 0) {
      body.append(h('tr', {}, h('td', { colspan: FIG_COLS.length + 1, class: 'empty', text: t('empty') })));
    }
    for (const c of order) {
      const grp = groups.get(c);
      const cg = commFigs.get(c);
      const label = c ? name((cg && cg.key) || grp.key, 'community') : t('noCommunity');
      const tr = h('tr', { class: 'community', 'data-community': c },
        h('th', { scope: 'rowgroup', text: label }));
      for (const col of FIG_COLS) tr.append(cg ? figCell(col.f, cg.figures) : h('td', {}));
      body.append(tr);
      grp.rows.sort(compare);
      for (const g of grp.rows) {
        const code = g.key.institution;
        const btn = h('button', {
          type: 'button',
          class: 'link',
          'aria-expanded': String(state.selected === code),
          'aria-controls': 'detail',
          onclick: () => showDetail(code, true)
        }, name(g.key, 'institution'));
        const row = h('tr', { class: 'inst' + (state.selected === code ? ' selected' : ''), 'data-institution': code },
          h('th', { scope: 'row' }, btn));
        for (const col of FIG_COLS) row.append(figCell(col.f, g.figures));
        body.append(row);
      }
    }
    const foot = $('inst-foot');
    foot.textContent = '';
    const tr = h('tr', { class: 'total' }, h('th', { scope: 'row', text: t('total') }));
    for (const col of FIG_COLS) tr.append(figCell(col.f, inst.totals));
    foot.append(tr);
  }

  async function showDetail(code, focus) {
    state.selected = code;
    try {
      if (!state.items) {
        const seq = state.seq;
        const items = await api('institution,item');
        if (seq !== state.seq) return;
        state.items = items;
      }
    } catch (e) {
      fail(e);
      return;
    }
    renderInstitutions(state.data.inst, state.data.comm);
    renderDetail();
    const d = $('detail');
    if (focus) {
      d.scrollIntoView({ block: 'start' });
      d.focus();
    }
  }

  function renderDetail() {
    const code = state.selected;
    const g = state.data.inst.groups.find((x) => x.key.institution === code);
    const panel = $('detail');
    if (!g || !state.items) {
      panel.hidden = true;
      return;
    }
    panel.hidden = false;
    panel.setAttribute('data-institution', code);
    $('detail-h').textContent = t('detailTitle') + t('detailSep') + name(g.key, 'institution');

    const head = $('item-head');
    head.textContent = '';
    head.append(h('th', { scope: 'col', text: t('itemCode') }), h('th', { scope: 'col', text: t('item') }));
    for (const c of ITEM_COLS) head.append(h('th', { scope: 'col', class: 'num', text: t(c.k) }));
    const body = $('item-body');
    body.textContent = '';
    const rows = state.items.groups.filter((x) => x.key.institution === code);
    rows.sort((a, b) => b.figures.decisions - a.figures.decisions || String(a.key.item).localeCompare(String(b.key.item)));
    if (rows.length === 0) body.append(h('tr', {}, h('td', { colspan: ITEM_COLS.length + 2, class: 'empty', text: t('empty') })));
    for (const r of rows) {
      const tr = h('tr', { 'data-item': r.key.item }, h('td', { class: 'code', text: r.key.item }), h('th', { scope: 'row', text: name(r.key, 'item') }));
      for (const c of ITEM_COLS) tr.append(figCell(c.f, r.figures));
      body.append(tr);
    }

    const byReason = g.figures.declines_by_reason || {};
    const codes = Object.keys(REASONS);
    for (const k of Object.keys(byReason)) if (!codes.includes(k)) codes.push(k);
    codes.sort((a, b) => Number(a) - Number(b));
    const max = codes.reduce((m, k) => Math.max(m, byReason[k] || 0), 0);
    const rb = $('reason-body');
    rb.textContent = '';
    for (const k of codes) {
      const n = byReason[k] || 0;
      const meta = REASONS[k];
      const label = meta ? meta[state.lang] : t('reasonUnknown') + ' ' + k;
      const meter = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
      meter.setAttribute('viewBox', '0 0 100 10');
      meter.setAttribute('class', 'meter' + (meta && !meta.counts ? ' not-counting' : ''));
      meter.setAttribute('aria-hidden', 'true');
      meter.setAttribute('preserveAspectRatio', 'none');
      const rect = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
      rect.setAttribute('width', max > 0 ? (100 * n) / max : 0);
      rect.setAttribute('height', 10);
      meter.append(rect);
      const countTd = h('td', { class: 'num', 'data-field': 'reason', 'data-value': n, text: fmtInt(n) });
      rb.append(h('tr', { 'data-reason': k, class: n === 0 ? 'zero' : '' },
        h('td', { class: 'code', text: k }),
        h('th', { scope: 'row' }, h('span', { text: label }), meter),
        countTd,
        h('td', { text: meta ? t(meta.counts ? 'yes' : 'no') : '—' })));
    }
  }

  // ---- CSV downloads: the API's CSV as it comes (the drill-down keeps the header and the
  // selected institution's rows) ----
  function csvRecords(s) {
    // Splits RFC 4180 text into records, keeping each record's raw text with its line ending.
    const out = [];
    let start = 0;
    let fields = [];
    let field = '';
    let quoted = false;
    for (let i = 0; i < s.length; i++) {
      const ch = s[i];
      if (quoted) {
        if (ch === '"') {
          if (s[i + 1] === '"') { field += '"'; i++; } else quoted = false;
        } else field += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === ',') { fields.push(field); field = ''; }
      else if (ch === '\n') {
        fields.push(field.replace(/\r$/, ''));
        out.push({ raw: s.slice(start, i + 1), fields: fields });
        start = i + 1;
        fields = [];
        field = '';
      } else field += ch;
    }
    if (start < s.length) {
      fields.push(field);
      out.push({ raw: s.slice(start), fields: fields });
    }
    return out;
  }

  async function downloadCSV(by, btn) {
    $('error').hidden = true;
    btn.disabled = true;
    try {
      const buf = await api(by, true);
      let blob;
      let file = 'mrhub-recognition-' + by.replace(/,/g, '-') + '-' + state.from + '_' + state.to;
      if (by === 'institution,item' && state.selected) {
        const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(buf);
        const recs = csvRecords(text);
        const keep = recs.filter((r, i) => i === 0 || r.fields.includes(state.selected));
        blob = new Blob([keep.map((r) => r.raw).join('')], { type: 'text/csv;charset=utf-8' });
        file += '-' + state.selected;
      } else {
        blob = new Blob([buf], { type: 'text/csv;charset=utf-8' });
      }
      const url = URL.createObjectURL(blob);
      const a = h('a', { href: url, download: file + '.csv', hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      setStatus('downloaded', file + '.csv');
    } catch (e) {
      fail(e);
    } finally {
      btn.disabled = false;
    }
  }

  // ---- start ----
  function init() {
    const saved = localStorage.getItem(LANG_KEY);
    state.lang = saved === 'en' ? 'en' : 'zh';
    const now = new Date();
    state.from = now.getFullYear() + '-01-01';
    state.to = now.getFullYear() + '-12-31';
    const hp = new URLSearchParams(location.hash.slice(1));
    const dateRe = /^\d{4}-\d{2}-\d{2}$/;
    if (dateRe.test(hp.get('from') || '')) state.from = hp.get('from');
    if (dateRe.test(hp.get('to') || '')) state.to = hp.get('to');
    $('from').value = state.from;
    $('to').value = state.to;
    applyLang();

    $('lang').addEventListener('click', () => {
      state.lang = state.lang === 'zh' ? 'en' : 'zh';
      localStorage.setItem(LANG_KEY, state.lang);
      applyLang();
      if (!$('login-error').hidden) $('login-error').hidden = true;
    });
    $('logout').addEventListener('click', () => showLogin(''));
    $('login-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const tok = $('token').value.trim();
      if (!tok) return;
      state.token = tok;
      sessionStorage.setItem(TOKEN_KEY, tok);
      $('login-error').hidden = true;
      load();
    });
    $('period').addEventListener('submit', (ev) => {
      ev.preventDefault();
      state.from = $('from').value;
      state.to = $('to').value;
      history.replaceState(null, '', '#from=' + state.from + '&to=' + state.to);
      load();
    });
    $('detail-close').addEventListener('click', () => {
      const code = state.selected;
      state.selected = '';
      $('detail').hidden = true;
      renderInstitutions(state.data.inst, state.data.comm);
      const b = document.querySelector('tr[data-institution="' + CSS.escape(code) + '"] button');
      if (b) b.focus();
    });
    for (const b of document.querySelectorAll('button[data-csv]')) {
      b.addEventListener('click', () => downloadCSV(b.getAttribute('data-csv'), b));
    }

    state.token = sessionStorage.getItem(TOKEN_KEY) || '';
    if (state.token) {
      showApp();
      load();
    } else {
      showLogin('');
    }
  }

  document.addEventListener('DOMContentLoaded', init);
})();
