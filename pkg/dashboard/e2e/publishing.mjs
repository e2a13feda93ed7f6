// End-to-end check of the dashboard's publishing-quality tab in headless Chromium, driven by
// pkg/dashboard/publishing_e2e_test.go (which indexes reports and dead letters of two
// institutions and compares the CSV this script saves with the API's).
//
// Environment:
//   MRHUB_URL            base URL of the hub serving the dashboard at / (required)
//   MRHUB_TOKEN          a bureau token (required)
//   MRHUB_FROM, MRHUB_TO the period to pick (YYYY-MM-DD)
//   MRHUB_EXPECT         JSON file: the API's answer of GET /api/v1/stats/publishing?by=institution
//   MRHUB_OUT            directory for screenshots and the downloaded CSV file
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
const plain = (s) => String(s).replace(/[,\s\u00a0\u202f]/g, '');
const want = (f, v) => {
  if (v === null || v === undefined) return '—';
  if (f === 'within_24h_share') return (Math.round(v * 10000) / 100).toFixed(2) + '%';
  if (f.endsWith('_hours')) return Number(v).toFixed(2);
  return String(v);
};
const raw = (v) => (v === null ? 'null' : String(v));
const FIELDS = ['received', 'indexed', 'dead_lettered', 'new_reports', 'amended', 'withdrawn', 'unmapped',
  'delay_p50_hours', 'delay_p95_hours', 'within_24h_share'];

const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrhub-chromium-'));
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

  step('log in, pick the period');
  await page.goto(base + '/');
  await page.locator('#login').waitFor({ state: 'visible' });
  await page.fill('#token', token);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('body[data-loaded]');
  const loaded = await page.getAttribute('body', 'data-loaded');
  await page.fill('#from', from);
  await page.fill('#to', to);
  await page.click('#period button[type=submit]');
  await page.waitForFunction((n) => document.body.getAttribute('data-loaded') !== n, loaded);
  eq(await page.getAttribute('#tab-rec', 'aria-selected'), 'true', 'the recognition tab is selected first');
  check(await page.locator('#panel-pub').isHidden(), 'the publishing panel is hidden first');

  step('open the publishing tab');
  eq((await page.textContent('#tab-pub')).trim(), '上报质量', 'tab label (zh)');
  await page.click('#tab-pub');
  await page.waitForSelector('body[data-pub-loaded]');
  eq(await page.getAttribute('#tab-pub', 'aria-selected'), 'true', 'publishing tab selected');
  check(await page.locator('#panel-pub').isVisible(), 'publishing panel shown');
  check(await page.locator('#panel-rec').isHidden(), 'recognition panel hidden');

  step('KPIs equal the API totals');
  for (const f of ['received', 'indexed', 'dead_lettered', 'unmapped', 'within_24h_share', 'delay_p50_hours']) {
    eq(plain(await page.textContent('#pub-kpi-' + f)), plain(want(f, expect.totals[f])), `KPI ${f} shown`);
    eq(await page.getAttribute('#pub-kpi-' + f, 'data-value'), raw(expect.totals[f]), `KPI ${f} value`);
  }

  step('institution table: every institution and the total equal the API');
  eq(await page.locator('#pub-body tr.inst').count(), expect.groups.length, 'institution rows');
  const cells = (sel) => page.$$eval(sel + ' td[data-field]', (tds) => tds.map((td) => [td.dataset.field, td.textContent, td.dataset.value]));
  async function checkRow(sel, figs, what) {
    const got = await cells(sel);
    eq(got.length, FIELDS.length, `${what}: figure cells`);
    for (const [f, text, value] of got) {
      eq(plain(text), plain(want(f, figs[f])), `${what} ${f} shown`);
      eq(value, raw(figs[f]), `${what} ${f} value`);
    }
  }
  for (const g of expect.groups) {
    const sel = `#pub-body tr[data-institution="${g.key.institution}"]`;
    eq((await page.textContent(sel + ' th')).trim(), g.key.institution_name, `name of ${g.key.institution} (zh)`);
    await checkRow(sel, g.figures, g.key.institution);
  }
  await checkRow('#pub-foot tr.total', expect.totals, 'total row');

  step('drill-down: each institution\'s refusal codes and unmapped codes');
  let drilled = 0;
  for (const g of expect.groups) {
    const codes = Object.entries(g.figures.dead_lettered_by_code);
    if (codes.length === 0 && g.figures.top_unmapped.length === 0) continue;
    drilled++;
    await page.click(`#pub-body tr[data-institution="${g.key.institution}"] th button`);
    await page.locator('#pub-detail').waitFor({ state: 'visible' });
    eq(await page.getAttribute('#pub-detail', 'data-institution'), g.key.institution, 'detail institution');
    check((await page.textContent('#pub-detail-h')).includes(g.key.institution_name), 'detail heading names the institution');
    eq(await page.locator('#pub-refusal-body tr[data-code]').count(), codes.length, `${g.key.institution} refusal codes`);
    for (const [code, n] of codes) {
      eq(await page.getAttribute(`#pub-refusal-body tr[data-code="${code}"] td.num`, 'data-value'), String(n), `${g.key.institution} refusals ${code}`);
    }
    eq(await page.locator('#pub-unmapped-body tr[data-code]').count(), g.figures.top_unmapped.length, `${g.key.institution} unmapped codes`);
    for (const u of g.figures.top_unmapped) {
      eq(await page.getAttribute(`#pub-unmapped-body tr[data-code="${u.system}|${u.code}"] td.num`, 'data-value'), String(u.reports), `${g.key.institution} unmapped ${u.code}`);
    }
  }
  check(drilled >= 2, `drilled into ${drilled} institutions, want both of the test's`);
  await page.screenshot({ path: path.join(out, 'publishing-zh.png'), fullPage: true });

  step('switch to English: labels, names and the open detail follow');
  await page.click('#lang');
  eq((await page.textContent('#tab-pub')).trim(), 'Publishing quality', 'tab label (en)');
  eq(await page.getAttribute('.tabs', 'aria-label'), 'Statistics', 'tab list label (en)');
  eq((await page.textContent('#pub-head th:nth-child(2)')).trim(), 'Messages received', 'first figure column (en)');
  eq((await page.textContent('#pub-detail h3')).trim(), 'Refusals (dead-letter codes)', 'refusals heading (en)');
  const shown = await page.getAttribute('#pub-detail', 'data-institution');
  const sg = expect.groups.find((g) => g.key.institution === shown);
  check((await page.textContent('#pub-detail-h')).includes(sg.key.institution_name_en || sg.key.institution_name), 'detail heading in English');
  for (const g of expect.groups) {
    eq((await page.textContent(`#pub-body tr[data-institution="${g.key.institution}"] th`)).trim(), g.key.institution_name_en || g.key.institution_name, `name of ${g.key.institution} (en)`);
  }
  await page.screenshot({ path: path.join(out, 'publishing-en.png'), fullPage: true });

  step('CSV download (saved for the Go test to compare with the API\'s CSV)');
  const [d] = await Promise.all([page.waitForEvent('download'), page.click('#pub-csv')]);
  await d.saveAs(path.join(out, 'publishing.csv'));
  check(d.suggestedFilename().startsWith('mrhub-publishing-'), 'download name ' + d.suggestedFilename());

  step('close the detail, back to the recognition tab');
  await page.click('#pub-detail-close');
  check(await page.locator('#pub-detail').isHidden(), 'detail closed');
  await page.click('#tab-rec');
  check(await page.locator('#panel-rec').isVisible(), 'recognition panel shown again');
  check(await page.locator('#panel-pub').isHidden(), 'publishing panel hidden again');

  check(pageErrors.length === 0, 'no page errors: ' + pageErrors.join(' | '));
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
