// End-to-end check of the mrhub dashboard in headless Chromium, driven by
// pkg/dashboard/dashboard_e2e_test.go (which starts the hub, seeds decisions and compares the
// files this script saves with the API's own answers).
//
// Environment:
//   MRHUB_URL            base URL of the hub serving the dashboard at / (required)
//   MRHUB_TOKEN          a bureau token (required)
//   MRHUB_BAD_TOKEN      a token the hub rejects with 401 (optional)
//   MRHUB_FORBIDDEN_TOKEN a token of a role that may not read statistics, 403 (optional)
//   MRHUB_FROM, MRHUB_TO the period to pick (YYYY-MM-DD)
//   MRHUB_EXPECT         JSON file: {"institution":…, "community":…, "month":…, "institution,item":…}
//                        (the API's JSON answers for the period)
//   MRHUB_OUT            directory for screenshots and downloaded CSV files
//   CHROMIUM             browser binary (default /usr/bin/chromium)
// Exit status 0 when every check passed; otherwise the failures are printed and it is 1.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';

const env = (k, def) => {
  const v = process.env[k];
  if (v === undefined || v === '') {
    if (def === undefined) throw new Error(`${k} is required`);
    return def;
  }
  return v;
};
const base = env('MRHUB_URL').replace(/\/$/, '');
const token = env('MRHUB_TOKEN');
const badToken = env('MRHUB_BAD_TOKEN', '');
const forbiddenToken = env('MRHUB_FORBIDDEN_TOKEN', '');
const from = env('MRHUB_FROM');
const to = env('MRHUB_TO');
const expect = JSON.parse(fs.readFileSync(env('MRHUB_EXPECT'), 'utf8'));
const out = env('MRHUB_OUT');
const exe = env('CHROMIUM', '/usr/bin/chromium');
fs.mkdirSync(out, { recursive: true });

const failures = [];
let checks = 0;
function check(ok, what) {
  checks++;
  if (!ok) {
    failures.push(what);
    console.error('FAIL ' + what);
  }
}
function eq(got, want, what) {
  check(got === want, `${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}
const step = (s) => console.log('-- ' + s);

// Expected display strings, separators removed (grouping depends on the browser's locale data).
const plain = (s) => String(s).replace(/[,\s\u00a0\u202f]/g, '');
const wantInt = (n) => String(n);
const wantRate = (r) => (r === null || r === undefined ? '—' : (Math.round(r * 10000) / 100).toFixed(2) + '%');
const wantYuan = (c) => (c < 0 ? '-' : '') + '¥' + Math.floor(Math.abs(c) / 100) + '.' + String(Math.abs(c) % 100).padStart(2, '0');
const FIELDS = ['decisions', 'recognized', 'declined_counting', 'declined_not_counting', 'rate', 'reminders', 'retrievals', 'savings_cents'];
const want = (f, v) => (f === 'rate' ? wantRate(v) : f === 'savings_cents' ? wantYuan(v) : wantInt(v));
const rawValue = (v) => (v === null ? 'null' : String(v));

const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrhub-chromium-'));
// Playwright wants the profile directory as launchPersistentContext's argument rather than a
// --user-data-dir flag; it is a fresh temporary directory either way.
const ctx = await chromium.launchPersistentContext(userDir, {
  executablePath: exe,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 800 },
  acceptDownloads: true,
  locale: 'zh-CN',
  timezoneId: 'Asia/Shanghai'
});

let page;
const pageErrors = [];
try {
  page = ctx.pages()[0] || await ctx.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => pageErrors.push('page error: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push('console error: ' + m.text()); });
  page.on('requestfailed', (r) => { if (!r.url().startsWith('blob:')) pageErrors.push('request failed: ' + r.url() + ' ' + (r.failure() || {}).errorText); });

  step('open the dashboard: the login form is shown, in Chinese');
  await page.goto(base + '/');
  await page.locator('#login').waitFor({ state: 'visible' });
  eq(await page.getAttribute('html', 'lang'), 'zh-CN', 'html lang');
  eq(await page.textContent('h1'), '检查检验结果互认 · 统计看板', 'title (zh)');
  check(await page.locator('#app').isHidden(), 'the data are hidden before login');

  // A rejected token shows the reason and the form again (the failing API calls are expected).
  const expectedErrors = () => pageErrors.filter((e) => !/status of 40[13]/.test(e));
  if (badToken) {
    step('a rejected token (401) shows a clear message and the form again');
    await page.fill('#token', badToken);
    await page.click('#login-form button[type=submit]');
    await page.locator('#login-error').waitFor({ state: 'visible' });
    check((await page.textContent('#login-error')).includes('令牌无效'), '401 message: ' + (await page.textContent('#login-error')));
    check(await page.locator('#login').isVisible(), 'login form shown again after 401');
    eq(await page.evaluate(() => sessionStorage.getItem('mrhub.dashboard.token')), null, 'rejected token not kept');
  }
  if (forbiddenToken) {
    step('a token of another role (403) says which role is needed');
    await page.fill('#token', forbiddenToken);
    await page.click('#login-form button[type=submit]');
    await page.waitForFunction(() => document.getElementById('login-error').textContent.includes('无权'));
    check(await page.locator('#login').isVisible(), 'login form shown again after 403');
  }

  step('log in with the bureau token');
  await page.fill('#token', token);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('body[data-loaded]');
  check(await page.locator('#app').isVisible(), 'dashboard shown after login');
  check(await page.locator('#login').isHidden(), 'login form hidden after login');
  eq(await page.evaluate(() => sessionStorage.getItem('mrhub.dashboard.token')), token, 'token kept in sessionStorage');
  const thisYear = new Intl.DateTimeFormat('en', { timeZone: 'Asia/Shanghai', year: 'numeric' }).format(new Date());
  eq(await page.inputValue('#from'), thisYear + '-01-01', 'default period starts on 1 January of this year');
  eq(await page.inputValue('#to'), thisYear + '-12-31', 'default period ends on 31 December of this year');

  step(`pick the period ${from} – ${to}`);
  const loaded = await page.getAttribute('body', 'data-loaded');
  await page.fill('#from', from);
  await page.fill('#to', to);
  await page.click('#period button[type=submit]');
  await page.waitForFunction((n) => document.body.getAttribute('data-loaded') !== n, loaded);

  const inst = expect['institution'];
  const comm = expect['community'];
  const month = expect['month'];
  const items = expect['institution,item'];

  step('KPIs equal the API totals');
  const kpis = { rate: '#kpi-rate', recognized: '#kpi-recognized', decisions: '#kpi-decisions', retrievals: '#kpi-retrievals', reminders: '#kpi-reminders', savings_cents: '#kpi-savings' };
  for (const [f, sel] of Object.entries(kpis)) {
    eq(plain(await page.textContent(sel)), plain(want(f, inst.totals[f])), `KPI ${f} shown`);
    eq(await page.getAttribute(sel, 'data-value'), rawValue(inst.totals[f]), `KPI ${f} value`);
  }

  // cells reads every figure cell of a row: {field: [text, data-value]}.
  const cells = (rowSel) => page.$$eval(rowSel + ' td[data-field]', (tds) => tds.map((td) => [td.dataset.field, td.textContent, td.dataset.value]));
  async function checkRow(rowSel, figures, what) {
    const got = await cells(rowSel);
    eq(got.length, FIELDS.length, `${what}: figure cells`);
    for (const [f, text, value] of got) {
      eq(plain(text), plain(want(f, figures[f])), `${what} ${f} shown`);
      eq(value, rawValue(figures[f]), `${what} ${f} value`);
    }
  }

  step('institution table: every institution, community subtotal and the total equal the API');
  eq(await page.locator('#inst-body tr.inst').count(), inst.groups.length, 'institution rows');
  for (const g of inst.groups) {
    const sel = `#inst-body tr[data-institution="${g.key.institution}"]`;
    eq((await page.textContent(sel + ' th')).trim(), g.key.institution_name, `name of ${g.key.institution} (zh)`);
    await checkRow(sel, g.figures, g.key.institution);
    // grouped under its community: the closest community row above it is its own.
    const under = await page.$eval(sel, (tr) => { let p = tr.previousElementSibling; while (p && !p.classList.contains('community')) p = p.previousElementSibling; return p ? p.dataset.community : null; });
    eq(under, g.key.community || '', `${g.key.institution} grouped under its community`);
  }
  for (const g of comm.groups) {
    await checkRow(`#inst-body tr.community[data-community="${g.key.community || ''}"]`, g.figures, 'community ' + g.key.community);
    eq((await page.textContent(`#inst-body tr.community[data-community="${g.key.community || ''}"] th`)).trim(), g.key.community_name || '未归属医共体', `community name ${g.key.community} (zh)`);
  }
  await checkRow('#inst-foot tr.total', inst.totals, 'total row');

  step('trend chart: a bar per month of the period and a point per month with a rate');
  const months = [];
  for (let y = +from.slice(0, 4), m = +from.slice(5, 7); y < +to.slice(0, 4) || (y === +to.slice(0, 4) && m <= +to.slice(5, 7)); m === 12 ? (y++, m = 1) : m++) months.push(`${y}-${String(m).padStart(2, '0')}`);
  if (months.length <= 36 && inst.totals.decisions > 0) {
    eq(await page.locator('#trend svg rect.bar').count(), months.length, 'bars in the trend chart');
    eq(await page.locator('#trend svg circle.rate-dot').count(), month.groups.filter((g) => g.figures.rate !== null).length, 'rate points in the trend chart');
    const titles = await page.$$eval('#trend svg g.bars g.pt > title', (ts) => ts.map((t) => t.textContent));
    for (const g of month.groups) {
      const title = titles.find((t) => t.startsWith(g.key.month + ' '));
      check(title && plain(title).includes(plain('互认' + g.figures.recognized)) && title.includes(wantRate(g.figures.rate)), `trend ${g.key.month}: ${title}`);
    }
  }

  step('sorting by a column orders the institutions within each community');
  async function orderOf(field) {
    return page.$$eval('#inst-body tr', (trs, f) => {
      const groups = [];
      for (const tr of trs) {
        if (tr.classList.contains('community')) groups.push([]);
        else if (tr.classList.contains('inst')) groups[groups.length - 1].push(Number(tr.querySelector(`td[data-field="${f}"]`).dataset.value));
      }
      return groups;
    }, field);
  }
  const sorted = (a, dir) => a.every((v, i) => i === 0 || (dir === 'desc' ? a[i - 1] >= v : a[i - 1] <= v));
  await page.click('#inst-head button[data-sort="recognized"]');
  eq(await page.getAttribute('#inst-head th:has(button[data-sort="recognized"])', 'aria-sort'), 'descending', 'aria-sort after one click');
  check((await orderOf('recognized')).every((g) => sorted(g, 'desc')), 'recognised descending within communities');
  await page.click('#inst-head button[data-sort="recognized"]');
  check((await orderOf('recognized')).every((g) => sorted(g, 'asc')), 'recognised ascending within communities');
  await page.click('#inst-head button[data-sort="savings_cents"]');
  check((await orderOf('savings_cents')).every((g) => sorted(g, 'desc')), 'savings descending within communities');

  step('drill-down: the busiest institution\'s items and decline reasons');
  const top = [...inst.groups].sort((a, b) => b.figures.decisions - a.figures.decisions)[0];
  let selected = null;
  if (top) {
    selected = top.key.institution;
    await page.click(`#inst-body tr[data-institution="${selected}"] th button`);
    await page.locator('#detail').waitFor({ state: 'visible' });
    eq(await page.getAttribute('#detail', 'data-institution'), selected, 'detail panel institution');
    check((await page.textContent('#detail-h')).includes(top.key.institution_name), 'detail heading names the institution');
    const mine = items.groups.filter((g) => g.key.institution === selected);
    eq(await page.locator('#item-body tr[data-item]').count(), mine.length, 'item rows of the institution');
    for (const g of mine) {
      const sel = `#item-body tr[data-item="${g.key.item}"]`;
      eq((await page.textContent(sel + ' th')).trim(), g.key.item_name, `item ${g.key.item} name (zh)`);
      const got = await cells(sel);
      for (const [f, text, value] of got) {
        eq(plain(text), plain(want(f, g.figures[f])), `item ${g.key.item} ${f} shown`);
        eq(value, rawValue(g.figures[f]), `item ${g.key.item} ${f} value`);
      }
    }
    const reasons = top.figures.declines_by_reason || {};
    const zhNames = { 1: '病情变化', 2: '病情进展快', 3: '重大治疗前', 4: '急诊/抢救', 5: '司法/伤残/病退鉴定', 6: '其他', 98: '无法调阅', 99: '连续监测' };
    for (const code of new Set([...Object.keys(zhNames), ...Object.keys(reasons)])) {
      const sel = `#reason-body tr[data-reason="${code}"]`;
      eq(await page.getAttribute(sel + ' td[data-field="reason"]', 'data-value'), String(reasons[code] || 0), `declines for reason ${code}`);
      if (zhNames[code]) eq((await page.textContent(sel + ' th span')).trim(), zhNames[code], `reason ${code} name (zh)`);
    }
  }

  step('screenshot (zh)');
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(out, 'dashboard-zh.png'), fullPage: true });

  step('switch to English: labels and names change');
  await page.click('#lang');
  eq(await page.getAttribute('html', 'lang'), 'en', 'html lang after the toggle');
  eq(await page.textContent('h1'), 'Exam-result Mutual Recognition · Dashboard', 'title (en)');
  eq((await page.textContent('#inst-head button[data-sort="rate"]')).replace(/[▲▼↕]/g, '').trim(), 'Recognition rate', 'rate column (en)');
  eq((await page.textContent('label[for="from"]')).trim(), 'From', 'period label (en)');
  eq((await page.textContent('#lang')).trim(), '中文', 'toggle offers Chinese');
  for (const g of inst.groups) {
    eq((await page.textContent(`#inst-body tr[data-institution="${g.key.institution}"] th`)).trim(), g.key.institution_name_en || g.key.institution_name, `name of ${g.key.institution} (en)`);
  }
  for (const g of comm.groups) {
    if (g.key.community) eq((await page.textContent(`#inst-body tr.community[data-community="${g.key.community}"] th`)).trim(), g.key.community_name_en || g.key.community_name, `community ${g.key.community} (en)`);
  }
  if (selected) {
    check((await page.textContent('#detail-h')).includes(top.key.institution_name_en || top.key.institution_name), 'detail heading in English');
    eq((await page.textContent('#reason-body tr[data-reason="98"] th span')).trim(), 'Prior report could not be obtained', 'reason 98 (en)');
    const mine = items.groups.filter((g) => g.key.institution === selected);
    for (const g of mine) eq((await page.textContent(`#item-body tr[data-item="${g.key.item}"] th`)).trim(), g.key.item_name_en || g.key.item_name, `item ${g.key.item} (en)`);
  }
  for (const [f, sel] of Object.entries(kpis)) eq(plain(await page.textContent(sel)), plain(want(f, inst.totals[f])), `KPI ${f} shown (en)`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(out, 'dashboard-en.png'), fullPage: true });
  await page.screenshot({ path: path.join(out, 'dashboard-en-viewport.png') });

  step('switch back to Chinese');
  await page.click('#lang');
  eq(await page.getAttribute('html', 'lang'), 'zh-CN', 'html lang after the second toggle');
  eq(await page.textContent('h1'), '检查检验结果互认 · 统计看板', 'title (zh again)');
  eq((await page.textContent('#inst-head button[data-sort="rate"]')).replace(/[▲▼↕]/g, '').trim(), '互认率', 'rate column (zh again)');

  step('CSV downloads (saved for the Go test to compare with the API\'s CSV)');
  async function download(by, file) {
    const [d] = await Promise.all([page.waitForEvent('download'), page.click(`button[data-csv="${by}"]`)]);
    await d.saveAs(path.join(out, file));
    check(d.suggestedFilename().endsWith('.csv'), `${by} download name ${d.suggestedFilename()}`);
  }
  await download('institution', 'institution.csv');
  await download('month', 'month.csv');
  if (selected) {
    await download('institution,item', 'institution-item.csv');
    fs.writeFileSync(path.join(out, 'selected.txt'), selected);
  }

  step('print layout hides the controls');
  await page.emulateMedia({ media: 'print' });
  check(await page.locator('#period button[type=submit]').isHidden(), 'query button hidden in print');
  check(await page.locator('#lang').isHidden(), 'language toggle hidden in print');
  await page.emulateMedia({ media: 'screen' });

  step('sign out: the form again, the token forgotten');
  await page.click('#logout');
  check(await page.locator('#login').isVisible(), 'login form after sign-out');
  eq(await page.evaluate(() => sessionStorage.getItem('mrhub.dashboard.token')), null, 'token removed on sign-out');

  const errs = expectedErrors();
  check(errs.length === 0, 'no page errors: ' + errs.join(' | '));
} catch (e) {
  failures.push('exception: ' + (e && e.stack ? e.stack : e));
  console.error(e);
  if (page) await page.screenshot({ path: path.join(out, 'failure.png'), fullPage: true }).catch(() => {});
} finally {
  await ctx.close();
  fs.rmSync(userDir, { recursive: true, force: true });
}

if (failures.length) {
  console.error(`E2E FAILED: ${failures.length} of ${checks} checks failed`);
  process.exit(1);
}
console.log(`E2E OK: ${checks} checks passed`);
