// A small inline-SVG chart: bars (a count, left axis) and a line (a rate 0–100 %, right axis)
// per period. No library; the SVG is built with DOM calls so the page's CSP needs no inline code.
'use strict';

(function () {
  const NS = 'http://www.w3.org/2000/svg';

  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }

  function text(parent, x, y, s, cls, anchor) {
    const t = el('text', { x: x, y: y, class: cls || '', 'text-anchor': anchor || 'middle' }, parent);
    t.textContent = s;
    return t;
  }

  // niceMax returns a round axis maximum ≥ v with a step giving about 4 ticks.
  function niceScale(v) {
    if (!(v > 0)) return { max: 4, step: 1 };
    const raw = v / 4;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    let step = mag;
    for (const m of [1, 2, 2.5, 5, 10]) {
      if (raw <= m * mag) { step = m * mag; break; }
    }
    step = Math.max(1, Math.round(step));
    return { max: Math.ceil(v / step) * step, step: step };
  }

  // drawTrend renders points [{label, count, rate (0..1 or null), countText, rateText}] into box.
  // o: {title, desc, countName, rateName, fmtCount(n)}.
  function drawTrend(box, points, o) {
    box.textContent = '';
    const W = 1180, H = 240, L = 64, R = 64, T = 20, B = 44;
    const pw = W - L - R, ph = H - T - B;
    const svg = el('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-labelledby': 'trend-t trend-d', class: 'trend-svg', preserveAspectRatio: 'xMidYMid meet' }, box);
    el('title', { id: 'trend-t' }, svg).textContent = o.title;
    el('desc', { id: 'trend-d' }, svg).textContent = o.desc;

    const maxCount = points.reduce((m, p) => Math.max(m, p.count), 0);
    // Headroom above the bars: they stay in the lower ~60 % and the rate line (usually 70–100 %)
    // runs above them instead of through their labels.
    const sc = niceScale(maxCount / 0.6);
    const n = Math.max(points.length, 1);
    const slot = pw / n;
    const barW = Math.min(48, slot * 0.6);
    const yCount = (v) => T + ph - (v / sc.max) * ph;
    const yRate = (r) => T + ph - r * ph;
    const xMid = (i) => L + slot * i + slot / 2;

    const grid = el('g', { class: 'grid' }, svg);
    for (let v = 0; v <= sc.max + 1e-9; v += sc.step) {
      const y = yCount(v);
      el('line', { x1: L, x2: L + pw, y1: y, y2: y }, grid);
      text(svg, L - 8, y + 4, o.fmtCount(v), 'axis', 'end');
    }
    for (let r = 0; r <= 100; r += 25) {
      text(svg, L + pw + 8, yRate(r / 100) + 4, r + '%', 'axis rate-axis', 'start');
    }
    text(svg, 14, T + ph / 2, o.countName, 'axis-name', 'middle').setAttribute('transform', 'rotate(-90 14 ' + (T + ph / 2) + ')');
    text(svg, W - 12, T + ph / 2, o.rateName, 'axis-name rate-axis', 'middle').setAttribute('transform', 'rotate(90 ' + (W - 12) + ' ' + (T + ph / 2) + ')');

    const bars = el('g', { class: 'bars' }, svg);
    points.forEach((p, i) => {
      const y = yCount(p.count);
      const g = el('g', { class: 'pt' }, bars);
      el('title', {}, g).textContent = p.label + ' · ' + o.countName + ' ' + p.countText + ' · ' + o.rateName + ' ' + p.rateText;
      el('rect', { x: xMid(i) - barW / 2, y: y, width: barW, height: Math.max(0, T + ph - y), rx: 2, class: 'bar' }, g);
      // The count sits inside the top of a tall bar, above a short one.
      if (p.count > 0 && slot >= 40) {
        const inside = T + ph - y >= 22;
        text(g, xMid(i), inside ? y + 15 : y - 5, p.countText, inside ? 'bar-label inside' : 'bar-label');
      }
      text(svg, xMid(i), H - B + 18, p.label, 'axis x-axis');
    });
    el('line', { x1: L, x2: L + pw, y1: T + ph, y2: T + ph, class: 'baseline' }, svg);

    // The rate line breaks where a month has no rate (no counting decisions).
    let d = '';
    let pen = false;
    points.forEach((p, i) => {
      if (p.rate === null || p.rate === undefined) { pen = false; return; }
      d += (pen ? 'L' : 'M') + xMid(i).toFixed(1) + ' ' + yRate(p.rate).toFixed(1) + ' ';
      pen = true;
    });
    if (d) el('path', { d: d.trim(), class: 'rate-line' }, svg);
    const dots = el('g', { class: 'dots' }, svg);
    points.forEach((p, i) => {
      if (p.rate === null || p.rate === undefined) return;
      const g = el('g', { class: 'pt' }, dots);
      el('title', {}, g).textContent = p.label + ' · ' + o.rateName + ' ' + p.rateText;
      el('circle', { cx: xMid(i), cy: yRate(p.rate), r: 4.5, class: 'rate-dot' }, g);
      if (slot >= 60) text(g, xMid(i), yRate(p.rate) - 10, p.rateText, 'rate-label');
    });
    return svg;
  }

  window.MRHUB_CHART = { drawTrend: drawTrend };
})();
