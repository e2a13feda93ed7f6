// The publishing-quality tab of the bureau's dashboard: what each institution publishes, how much
// is refused and why (dead-letter codes), how late reports arrive after they are issued, and which
// local codes map to no catalogue item, with drill-down from an institution to its refusal codes
// and unmapped codes. Reads only GET /api/v1/stats/publishing; every figure shown is the API's,
// formatted, never recomputed. The token, the period and the language are those of app.js.
'use strict';

(function () {
  const I18N = window.MRHUB_I18N;
  const TOKEN_KEY = 'mrhub.dashboard.token';
  const API = '/api/v1/stats/publishing';

  // Columns of the institution table: field of the API's figures and label key.
  const COLS = [
    { f: 'received', k: 'pubReceived' },
    { f: 'indexed', k: 'pubIndexed' },
    { f: 'dead_lettered', k: 'pubDead' },
    { f: 'new_reports', k: 'pubNew' },
    { f: 'amended', k: 'pubAmended' },
    { f: 'withdrawn', k: 'pubWithdrawn' },
    { f: 'unmapped', k: 'pubUnmapped' },
    { f: 'delay_p50_hours', k: 'pubP50' },
    { f: 'delay_p95_hours', k: 'pubP95' },
    { f: 'within_24h_share', k: 'pubWithin24h' }
  ];

  const state = { data: null, selected: '', period: '', seq: 0 };
  const $ = (id) => document.getElementById(id);
  const lang = () => (document.documentElement.lang === 'en' ? 'en' : 'zh');
  const t = (k) => (I18N[lang()][k] !== undefined ? I18N[lang()][k] : k);

  function fmt(f, v) {
    if (v === null || v === undefined) return '—';
    if (f === 'within_24h_share') return (Math.round(v * 10000) / 100).toFixed(2) + '%';
    if (f.endsWith('_hours')) return Number(v).toFixed(2);
    return Number(v).toLocaleString(t('locale'), { maximumFractionDigits: 0 });
  }
  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) {
      const v = attrs[k];
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of kids) if (c !== null && c !== undefined) e.append(c);
    return e;
  }
  function cell(f, figs) {
    const v = figs[f];
    return h('td', { class: 'num', 'data-field': f, 'data-value': v === null ? 'null' : v, text: fmt(f, v) });
  }
  function instName(key) {
    if (!key.institution) return t('pubUnknownSource');
    const zh = key.institution_name;
    const en = key.institution_name_en;
    return (lang() === 'en' ? en || zh : zh || en) || key.institution;
  }

  function period() {
    return { from: $('from').value, to: $('to').value };
  }
  function showError(msg) {
    const box = $('pub-error');
    box.textContent = msg || '';
    box.hidden = !msg;
  }

  async function fetchStats(csv) {
    const p = period();
    const q = new URLSearchParams({ from: p.from, to: p.to, by: 'institution' });
    if (csv) q.set('format', 'csv');
    let res;
    try {
      res = await fetch(API + '?' + q.toString(), {
        headers: { Authorization: 'Bearer ' + (sessionStorage.getItem(TOKEN_KEY) || ''), Accept: csv ? 'text/csv' : 'application/json' },
        cache: 'no-store',
        credentials: 'omit'
      });
    } catch (e) {
      throw new Error(t('errNetwork'));
    }
    if (!res.ok) {
      let msg = res.status + ' ' + res.statusText;
      try {
        const e = (await res.json()).error;
        if (e) msg = (e.code ? e.code + ': ' : '') + (e.message || '');
      } catch (e) { /* not JSON */ }
      if (res.status === 401) throw new Error(t('err401') + ' (' + msg + ')');
      if (res.status === 403) throw new Error(t('err403') + ' (' + msg + ')');
      throw new Error(t('errServer') + ' (' + msg + ')');
    }
    return csv ? res.arrayBuffer() : res.json();
  }

  async function load() {
    const seq = ++state.seq;
    const p = period();
    state.period = p.from + '|' + p.to;
    showError('');
    document.body.setAttribute('aria-busy', 'true');
    try {
      const data = await fetchStats(false);
      if (seq !== state.seq) return;
      state.data = data;
      if (state.selected && !data.groups.some((g) => g.key.institution === state.selected)) state.selected = '';
      render();
      document.body.setAttribute('data-pub-loaded', String(seq));
    } catch (e) {
      if (seq === state.seq) showError(e.message || String(e));
    } finally {
      if (seq === state.seq) document.body.removeAttribute('aria-busy');
    }
  }

  function render() {
    const d = state.data;
    if (!d) return;
    renderKPIs(d.totals);
    renderTable(d);
    renderDetail();
  }

  function renderKPIs(tot) {
    const box = $('pub-kpis');
    box.textContent = '';
    const kpi = (f, k, note, accent) => h('div', { class: 'kpi' + (accent ? ' accent' : '') },
      h('div', { class: 'kpi-label', text: t(k) }),
      h('div', { class: 'kpi-value', id: 'pub-kpi-' + f, 'data-field': f, 'data-value': tot[f] === null ? 'null' : tot[f], text: fmt(f, tot[f]) }),
      note ? h('div', { class: 'kpi-note' }, note) : null);
    box.append(
      kpi('received', 'pubReceived', h('span', {}, t('pubIndexed') + ' ', h('span', { id: 'pub-kpi-indexed', 'data-field': 'indexed', 'data-value': tot.indexed, text: fmt('indexed', tot.indexed) })), true),
      kpi('dead_lettered', 'pubDead', null, false),
      kpi('unmapped', 'pubUnmapped', null, false),
      kpi('within_24h_share', 'pubWithin24h', h('span', {}, t('pubP50') + ' ',
        h('span', { id: 'pub-kpi-delay_p50_hours', 'data-field': 'delay_p50_hours', 'data-value': tot.delay_p50_hours === null ? 'null' : tot.delay_p50_hours, text: fmt('delay_p50_hours', tot.delay_p50_hours) })), false));
  }

  function renderTable(d) {
    const head = $('pub-head');
    head.textContent = '';
    head.append(h('th', { scope: 'col', text: t('institution') }));
    for (const c of COLS) head.append(h('th', { scope: 'col', class: 'num', text: t(c.k) }));
    const body = $('pub-body');
    body.textContent = '';
    if (d.groups.length === 0) {
      body.append(h('tr', {}, h('td', { colspan: COLS.length + 1, class: 'empty', text: t('empty') })));
    }
    const rows = d.groups.slice().sort((a, b) => b.figures.received - a.figures.received ||
      String(a.key.institution).localeCompare(String(b.key.institution)));
    for (const g of rows) {
      const code = g.key.institution;
      const btn = h('button', {
        type: 'button',
        class: 'link',
        'aria-expanded': String(state.selected === code),
        'aria-controls': 'pub-detail',
        onclick: () => select(code)
      }, instName(g.key));
      const tr = h('tr', { class: 'inst' + (state.selected === code ? ' selected' : ''), 'data-institution': code }, h('th', { scope: 'row' }, btn));
      for (const c of COLS) tr.append(cell(c.f, g.figures));
      body.append(tr);
    }
    const foot = $('pub-foot');
    foot.textContent = '';
    const tr = h('tr', { class: 'total' }, h('th', { scope: 'row', text: t('total') }));
    for (const c of COLS) tr.append(cell(c.f, d.totals));
    foot.append(tr);
  }

  function select(code) {
    state.selected = code;
    render();
    const d = $('pub-detail');
    d.scrollIntoView({ block: 'start' });
    d.focus();
  }

  function renderDetail() {
    const panel = $('pub-detail');
    const g = state.data && state.data.groups.find((x) => x.key.institution === state.selected);
    if (!state.selected || !g) {
      panel.hidden = true;
      return;
    }
    panel.hidden = false;
    panel.setAttribute('data-institution', state.selected);
    $('pub-detail-h').textContent = t('pubDetailTitle') + t('detailSep') + instName(g.key);
    const rb = $('pub-refusal-body');
    rb.textContent = '';
    const codes = Object.keys(g.figures.dead_lettered_by_code || {}).sort((a, b) =>
      g.figures.dead_lettered_by_code[b] - g.figures.dead_lettered_by_code[a] || a.localeCompare(b));
    if (codes.length === 0) rb.append(h('tr', {}, h('td', { colspan: 2, class: 'empty', text: t('pubNoRefusals') })));
    for (const c of codes) {
      const n = g.figures.dead_lettered_by_code[c];
      rb.append(h('tr', { 'data-code': c }, h('td', { class: 'code', text: c }),
        h('td', { class: 'num', 'data-value': n, text: fmt('n', n) })));
    }
    const ub = $('pub-unmapped-body');
    ub.textContent = '';
    const um = g.figures.top_unmapped || [];
    if (um.length === 0) ub.append(h('tr', {}, h('td', { colspan: 3, class: 'empty', text: t('pubNoUnmapped') })));
    for (const u of um) {
      ub.append(h('tr', { 'data-code': u.system + '|' + u.code }, h('td', { class: 'code', text: u.system || '—' }),
        h('td', { class: 'code', text: u.code }), h('td', { class: 'num', 'data-value': u.reports, text: fmt('n', u.reports) })));
    }
  }

  async function downloadCSV(btn) {
    btn.disabled = true;
    showError('');
    try {
      const buf = await fetchStats(true);
      const p = period();
      const file = 'mrhub-publishing-institution-' + p.from + '_' + p.to + '.csv';
      const url = URL.createObjectURL(new Blob([buf], { type: 'text/csv;charset=utf-8' }));
      const a = h('a', { href: url, download: file, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) {
      showError(e.message || String(e));
    } finally {
      btn.disabled = false;
    }
  }

  // ---- tabs ----
  function show(tab) {
    const pub = tab === 'pub';
    $('tab-rec').setAttribute('aria-selected', String(!pub));
    $('tab-pub').setAttribute('aria-selected', String(pub));
    $('tab-rec').tabIndex = pub ? -1 : 0;
    $('tab-pub').tabIndex = pub ? 0 : -1;
    $('panel-rec').hidden = pub;
    $('panel-pub').hidden = !pub;
    const p = period();
    if (pub && (!state.data || state.period !== p.from + '|' + p.to)) load();
  }
  function labelTabs() {
    const list = document.querySelector('.tabs');
    list.setAttribute('aria-label', t(list.getAttribute('data-i18n-label')));
  }

  function init() {
    for (const id of ['tab-rec', 'tab-pub']) {
      $(id).addEventListener('click', () => show(id === 'tab-pub' ? 'pub' : 'rec'));
      $(id).addEventListener('keydown', (ev) => {
        if (ev.key !== 'ArrowLeft' && ev.key !== 'ArrowRight') return;
        const next = id === 'tab-pub' ? 'tab-rec' : 'tab-pub';
        show(next === 'tab-pub' ? 'pub' : 'rec');
        $(next).focus();
      });
    }
    $('pub-detail-close').addEventListener('click', () => {
      const code = state.selected;
      state.selected = '';
      render();
      const b = document.querySelector('#pub-body tr[data-institution="' + CSS.escape(code) + '"] button');
      if (b) b.focus();
    });
    $('pub-csv').addEventListener('click', () => downloadCSV($('pub-csv')));
    // A new period: reload when this tab is shown.
    $('period').addEventListener('submit', () => {
      if (!$('panel-pub').hidden) load();
    });
    // app.js switches the language on <html lang>: labels and names follow it.
    new MutationObserver(() => {
      labelTabs();
      render();
    }).observe(document.documentElement, { attributes: true, attributeFilter: ['lang'] });
    labelTabs();
  }

  document.addEventListener('DOMContentLoaded', init);
})();
