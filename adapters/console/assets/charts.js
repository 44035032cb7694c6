// charts.js: a subscription's last hour or day as inline SVG, drawn from the
// stats series (5-minute slots the fold keeps). No library: two small charts.

import { h, s } from "./dom.js";

const SLOT_MS = 5 * 60 * 1000;
const W = 1000, H = 180, PAD_L = 52, PAD_B = 22, PAD_T = 10;

// slots fills the window with every slot, the quiet ones empty.
function slots(stats) {
  const by = new Map(stats.series.map((x) => [Date.parse(x.from), x]));
  const out = [];
  const from = Date.parse(stats.from), to = Date.parse(stats.to);
  for (let t = from; t <= to; t += SLOT_MS) {
    out.push(by.get(t) || { from: new Date(t).toISOString(), acknowledged: 0, failed: 0, outcome_unknown: 0, latency_p50_ms: null, latency_p99_ms: null });
  }
  return out;
}

function hhmm(t) {
  return new Date(t).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

function axes(max, unit, xs) {
  const plotH = H - PAD_B - PAD_T;
  const parts = [s("line", { x1: PAD_L, y1: H - PAD_B, x2: W, y2: H - PAD_B, class: "axis" })];
  for (const f of [0, 0.5, 1]) {
    const y = H - PAD_B - f * plotH;
    parts.push(s("line", { x1: PAD_L, y1: y, x2: W, y2: y, class: "grid" }));
    parts.push(s("text", { x: PAD_L - 4, y: y + 4, class: "tick", "text-anchor": "end" }, fmt(max * f) + unit));
  }
  const n = xs.length;
  for (const i of [0, Math.floor(n / 2), n - 1]) {
    if (i < 0 || !xs[i]) continue;
    parts.push(s("text", { x: PAD_L + (i + 0.5) * ((W - PAD_L) / n), y: H - 6, class: "tick", "text-anchor": "middle" }, hhmm(xs[i].from)));
  }
  return parts;
}

function fmt(v) {
  return v >= 10 || v === 0 ? String(Math.round(v)) : v.toFixed(1);
}

function legend(items) {
  return h("ul", { class: "legend" }, items.map(([cls, label]) => h("li", {}, h("span", { class: "swatch " + cls, "aria-hidden": "true" }), label)));
}

// outcomesChart: attempts per minute by outcome, stacked, slot by slot.
export function outcomesChart(stats) {
  const xs = slots(stats);
  const perMin = (n) => n / 5;
  const max = Math.max(1, ...xs.map((x) => perMin(x.acknowledged + x.failed + x.outcome_unknown)));
  const plotH = H - PAD_B - PAD_T, bw = (W - PAD_L) / xs.length;
  const bars = [];
  xs.forEach((x, i) => {
    let y = H - PAD_B;
    for (const [k, cls] of [["acknowledged", "ok"], ["failed", "bad"], ["outcome_unknown", "unknown"]]) {
      const v = perMin(x[k]);
      if (!v) continue;
      const bh = (v / max) * plotH;
      y -= bh;
      bars.push(s("rect", { x: PAD_L + i * bw + 0.5, y, width: Math.max(bw - 1, 0.5), height: bh, class: "bar-" + cls },
        s("title", {}, hhmm(x.from) + ": " + x[k] + " " + k.replace("_", " ") + " in 5 min")));
    }
  });
  const total = xs.reduce((a, x) => a + x.acknowledged + x.failed + x.outcome_unknown, 0);
  return h("figure", { class: "chart" },
    s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `Attempts per minute by outcome, ${total} attempts in the window` }, axes(max, "/min", xs), bars),
    h("figcaption", {}, "Attempts per minute by outcome (5-minute slots)", legend([["ok", "acknowledged"], ["bad", "failed"], ["unknown", "outcome unknown"]])));
}

// latencyChart: p50 and p99 latency per slot (upper bounds of the histogram
// buckets, as the stats answer them).
export function latencyChart(stats) {
  const xs = slots(stats);
  const max = Math.max(1, ...xs.map((x) => x.latency_p99_ms || 0));
  const plotH = H - PAD_B - PAD_T, bw = (W - PAD_L) / xs.length;
  const line = (k, cls) => {
    const pts = [];
    xs.forEach((x, i) => { if (x[k] !== null && x[k] !== undefined) pts.push([PAD_L + (i + 0.5) * bw, H - PAD_B - (x[k] / max) * plotH, x]); });
    return [s("polyline", { points: pts.map((p) => p[0].toFixed(1) + "," + p[1].toFixed(1)).join(" "), class: "line-" + cls }),
      pts.map((p) => s("circle", { cx: p[0].toFixed(1), cy: p[1].toFixed(1), r: 2.5, class: "dot-" + cls }, s("title", {}, hhmm(p[2].from) + ": " + k.replace("latency_", "").replace("_ms", "") + " <= " + p[2][k] + " ms")))];
  };
  return h("figure", { class: "chart" },
    s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Latency p50 and p99 per 5 minutes" }, axes(max, " ms", xs), line("latency_p99_ms", "p99"), line("latency_p50_ms", "p50")),
    h("figcaption", {}, "Latency per 5 minutes", legend([["p50", "p50"], ["p99", "p99"]])));
}
