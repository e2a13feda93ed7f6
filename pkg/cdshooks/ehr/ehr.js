// The page that plays a hospital's ordering screen: it calls the hub's CDS Hooks services as an
// EHR would (order-select when an order is added, order-sign when the orders are signed), shows
// the cards, and sends the clinician's answer to the feedback endpoint.
'use strict';

const T = {
  zh: {
    title: '模拟 HIS 开单（CDS Hooks）', dashboard: '互认统计看板', token: '医院或医生令牌（his / clinician）', user: '医生', dept: '科室',
    patient: '患者', pick: '选择患者', name: '姓名', nid: '身份证号', orders: '本次开单', item: '检查检验项目', add: '开单', sign: '签署全部',
    cards: '互认提醒', other: '其他（手工输入）', none: '没有可互认的既往结果。', asking: '正在查询互认结果…', needToken: '请先填写令牌。',
    needPatient: '请先选择患者或填写身份证号。', override: '不互认', reason: '不互认原因', comment: '说明', accepted: '已互认，开单已撤销（决定 %s）',
    overridden: '已记录不互认（决定 %s）', dismissed: '已关闭提醒', failed: '失败：', cancelled: '已撤销', remove: '删除', lang: 'English', shown: '%d 条互认提醒',
  },
  en: {
    title: 'Simulated EHR ordering (CDS Hooks)', dashboard: 'Recognition dashboard', token: 'Hospital or clinician token (his / clinician)', user: 'Clinician', dept: 'Department',
    patient: 'Patient', pick: 'Pick a patient', name: 'Name', nid: 'Resident ID', orders: 'Orders of this visit', item: 'Test or examination', add: 'Order', sign: 'Sign all',
    cards: 'Recognition cards', other: 'Other (type in)', none: 'No recognisable prior result.', asking: 'Asking the hub…', needToken: 'Enter a token first.',
    needPatient: 'Pick a patient or enter a resident ID first.', override: 'Decline', reason: 'Decline reason', comment: 'Comment', accepted: 'Recognised, order cancelled (decision %s)',
    overridden: 'Decline recorded (decision %s)', dismissed: 'Card dismissed', failed: 'Failed: ', cancelled: 'cancelled', remove: 'Remove', lang: '中文', shown: '%d recognition card(s)',
  },
};
// Synthetic patients of the demo region (never real people): the README tour's patient first.
const PATIENTS = [{ name: '王小明', nid: '33029919860314101X' }]; // more from /ehr/patients.json
const RESIDENT_ID = 'http://mrhub.example/sid/resident-id';

let lang = localStorage.getItem('mrhub-ehr-lang') || 'zh';
let catalog = { items: [], item_system: '' };
let orders = []; // {id, item, status}
let seq = 0;
const $ = (id) => document.getElementById(id);
const t = (k, ...a) => a.reduce((s, x) => s.replace('%s', x).replace('%d', x), T[lang][k]);

function applyLang() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  document.querySelectorAll('[data-t]').forEach((el) => { el.textContent = t(el.dataset.t); });
  $('lang').textContent = t('lang');
  fillItems();
  fillPatients();
  renderOrders();
}

function fillItems() {
  const sel = $('item');
  const cur = sel.value;
  sel.replaceChildren(...catalog.items.map((it) => new Option(`${it.code} ${lang === 'en' ? it.name_en : it.name}`, it.code)));
  if (cur) sel.value = cur;
}

function fillPatients() {
  const sel = $('patient');
  const cur = sel.value;
  sel.replaceChildren(...PATIENTS.map((p, i) => new Option(p.name, String(i))), new Option(t('other'), 'other'));
  sel.value = cur || '0';
  if (!cur) pickPatient();
}

function pickPatient() {
  const p = PATIENTS[Number($('patient').value)];
  if (p) { $('pname').value = p.name; $('pnid').value = p.nid; }
}

function itemOf(code) { return catalog.items.find((it) => it.code === code); }
function itemName(code) { const it = itemOf(code); return it ? (lang === 'en' ? it.name_en : it.name) : code; }

function renderOrders() {
  $('orders').replaceChildren(...orders.map((o) => {
    const li = document.createElement('li');
    li.dataset.id = o.id;
    li.className = o.status;
    li.textContent = `ServiceRequest/${o.id} · ${o.item} ${itemName(o.item)}` + (o.status === 'cancelled' ? ` (${t('cancelled')})` : '');
    if (o.status === 'draft') {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = t('remove');
      b.addEventListener('click', () => { orders = orders.filter((x) => x !== o); renderOrders(); });
      li.append(' ', b);
    }
    return li;
  }));
}

function status(msg, error) {
  $('status').textContent = msg;
  $('status').className = error ? 'error' : '';
}

// uuid is a random UUID (crypto.randomUUID needs a secure context; a hub reached over plain HTTP
// by name is not one).
function uuid() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function serviceRequest(o) {
  const it = itemOf(o.item);
  const coding = [{ system: catalog.item_system, code: it.code, display: it.name }];
  if (it.system && it.std_code) coding.push({ system: it.system, code: it.std_code });
  return { resourceType: 'ServiceRequest', id: o.id, status: 'draft', intent: 'order', code: { coding, text: it.name }, subject: { reference: 'Patient/ehr-patient' } };
}

function hookRequest(hook, selections) {
  const drafts = orders.filter((o) => o.status === 'draft');
  const context = { userId: $('user').value.trim(), patientId: 'ehr-patient', draftOrders: { resourceType: 'Bundle', type: 'collection', entry: drafts.map((o) => ({ resource: serviceRequest(o) })) } };
  if (selections) context.selections = selections;
  const patient = { resourceType: 'Patient', id: 'ehr-patient', identifier: [{ system: RESIDENT_ID, value: $('pnid').value.trim() }], name: [{ text: $('pname').value.trim() }] };
  const prefetch = { patient };
  const dept = $('dept').value.trim();
  if (dept) prefetch.user = { resourceType: 'PractitionerRole', id: 'ehr-role', specialty: [{ text: dept }] };
  return { hook, hookInstance: uuid(), context, prefetch };
}

async function post(path, body) {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + $('token').value.trim(), 'Accept-Language': lang === 'en' ? 'en' : 'zh-CN' },
    body: JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error((json.error && json.error.message) || res.status + ' ' + res.statusText);
  return json;
}

let lastService = '';
async function callHook(hook, selections) {
  if (!$('token').value.trim()) return status(t('needToken'), true);
  if (!$('pnid').value.trim()) return status(t('needPatient'), true);
  const service = hook === 'order-select' ? 'mrhub-recognition-select' : 'mrhub-recognition-sign';
  status(t('asking'));
  try {
    const resp = await post('/cds-services/' + service, hookRequest(hook, selections));
    lastService = service;
    renderCards(resp.cards); // a new call replaces the cards of the previous one
    status(resp.cards.length ? t('shown', resp.cards.length) : t('none'));
  } catch (e) {
    status(t('failed') + e.message, true);
  }
}

// renderDetail turns the card's Markdown (bold, lists, tables, paragraphs) into DOM nodes; all
// text goes in through textContent, never as HTML.
function inline(parent, text) {
  const unescape = (s) => s.replace(/\\(.)/g, '$1').replace(/&lt;/g, '<').replace(/&gt;/g, '>');
  text.split(/(?<!\\)\*\*/).forEach((part, i) => {
    if (i % 2) { const b = document.createElement('strong'); b.textContent = unescape(part); parent.append(b); } else parent.append(unescape(part));
  });
}
function renderDetail(md) {
  const box = document.createElement('div');
  box.className = 'detail';
  let list = null;
  let table = null;
  for (const line of md.split('\n')) {
    if (line.startsWith('|')) {
      list = null;
      if (/^\|[-|\s]+\|$/.test(line)) continue;
      const cells = line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim());
      const head = !table;
      if (head) { table = document.createElement('table'); box.append(table); }
      const tr = table.insertRow();
      cells.forEach((c) => { const td = document.createElement(head ? 'th' : 'td'); inline(td, c); tr.append(td); });
      continue;
    }
    table = null;
    if (line.startsWith('- ')) {
      if (!list) { list = document.createElement('ul'); box.append(list); }
      const li = document.createElement('li');
      inline(li, line.slice(2));
      list.append(li);
      continue;
    }
    list = null;
    if (line.trim()) { const p = document.createElement('p'); inline(p, line); box.append(p); }
  }
  return box;
}

function renderCards(cards) {
  $('cards').replaceChildren(...cards.map((card) => {
    const div = document.createElement('div');
    div.className = 'card ' + card.indicator;
    div.dataset.uuid = card.uuid;
    const sum = document.createElement('div');
    sum.className = 'summary';
    sum.textContent = card.summary;
    div.append(sum, renderDetail(card.detail || ''));
    const actions = document.createElement('div');
    actions.className = 'actions';
    const outcome = document.createElement('span');
    outcome.className = 'outcome';
    for (const s of card.suggestions || []) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'accept';
      b.textContent = s.label;
      b.addEventListener('click', () => feedback(card, div, outcome, { outcome: 'accepted', acceptedSuggestions: [{ id: s.uuid }] }, s));
      actions.append(b);
    }
    const reason = document.createElement('select');
    reason.className = 'reason';
    reason.title = t('reason');
    reason.append(...(card.overrideReasons || []).map((r) => new Option(`${r.code} ${r.display}`, r.code)));
    const comment = document.createElement('input');
    comment.className = 'comment';
    comment.placeholder = t('comment');
    const ob = document.createElement('button');
    ob.type = 'button';
    ob.className = 'override';
    ob.textContent = t('override');
    ob.addEventListener('click', () => {
      const r = card.overrideReasons.find((x) => x.code === reason.value);
      feedback(card, div, outcome, { outcome: 'overridden', overrideReason: { reason: { code: r.code, system: r.system, display: r.display }, userComment: comment.value } });
    });
    actions.append(reason, comment, ob, outcome);
    div.append(actions);
    for (const l of card.links || []) {
      const a = document.createElement('a');
      a.href = l.url;
      a.textContent = l.label;
      a.rel = 'noreferrer';
      a.target = '_blank';
      div.append(a);
    }
    return div;
  }));
}

async function feedback(card, div, outcome, fb, suggestion) {
  try {
    const resp = await post('/cds-services/' + lastService + '/feedback', { feedback: [{ card: card.uuid, outcomeTimestamp: new Date().toISOString(), ...fb }] });
    const r = resp.feedback[0];
    if (suggestion) {
      for (const a of suggestion.actions || []) {
        if (a.type !== 'delete') continue;
        const id = (a.resourceId || '').replace(/^ServiceRequest\//, '');
        orders.filter((o) => o.id === id).forEach((o) => { o.status = 'cancelled'; });
      }
      renderOrders();
    }
    outcome.textContent = r.result === 'dismissed' ? t('dismissed') : t(fb.outcome === 'accepted' ? 'accepted' : 'overridden', r.decision);
    div.querySelectorAll('button, select, input').forEach((el) => { el.disabled = true; });
    div.dataset.outcome = fb.outcome;
  } catch (e) {
    outcome.textContent = t('failed') + e.message;
  }
}

async function init() {
  $('token').value = sessionStorage.getItem('mrhub-ehr-token') || '';
  $('token').addEventListener('change', () => sessionStorage.setItem('mrhub-ehr-token', $('token').value.trim()));
  $('patient').addEventListener('change', pickPatient);
  $('lang').addEventListener('click', () => { lang = lang === 'zh' ? 'en' : 'zh'; localStorage.setItem('mrhub-ehr-lang', lang); applyLang(); });
  $('add').addEventListener('click', () => {
    const code = $('item').value;
    if (!code) return;
    const o = { id: 'sr-' + Date.now().toString(36) + '-' + (++seq), item: code, status: 'draft' };
    orders.push(o);
    renderOrders();
    callHook('order-select', ['ServiceRequest/' + o.id]);
  });
  $('sign').addEventListener('click', () => callHook('order-sign'));
  try {
    const res = await fetch('/ehr/catalog.json');
    catalog = await res.json();
    const pres = await fetch('/ehr/patients.json'); // the demo's simulated patients
    for (const p of await pres.json()) if (!PATIENTS.some((x) => x.nid === p.nid)) PATIENTS.push(p);
  } catch (e) {
    status(t('failed') + e.message, true);
  }
  applyLang();
}

init();
