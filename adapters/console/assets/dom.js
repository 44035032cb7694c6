// dom.js: the only way the console puts anything on the page. Every value
// from the ledger becomes a text node or an attribute set through
// setAttribute (never innerHTML), so a payload, URL, header or description
// holding markup stays text. Event handlers come from our code only: an "on*"
// attribute whose value is not a function is dropped.

const SVG = "http://www.w3.org/2000/svg";

function put(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) {
      if (typeof v === "function") el.addEventListener(k.slice(2), v);
      continue;
    }
    if (k === "href") {
      // Only links inside the console: a URL from the ledger is shown as
      // text, never followed from here.
      el.setAttribute("href", String(v).startsWith("#/") ? String(v) : "#/");
      continue;
    }
    el.setAttribute(k, v === true ? "" : String(v));
  }
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// h builds an HTML element: h("a", {href: "#/apps"}, "Applications").
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  put(el, attrs);
  append(el, children);
  return el;
}

// s builds an SVG element (charts).
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  put(el, attrs);
  append(el, children);
  return el;
}

// replace empties el and fills it with children.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// when formats an RFC 3339 time for people (local time, with seconds), or "".
// With ms, milliseconds too (a delivery's events are often in one second).
export function when(t, ms) {
  if (!t) return "";
  const d = new Date(t);
  if (isNaN(d)) return String(t);
  return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
    ...(ms ? { fractionalSecondDigits: 3 } : {}) });
}

// at is a time for tables: a <time> element that does not wrap.
export function at(t) {
  return t ? h("time", { datetime: t }, when(t)) : "";
}

// ago says how long ago a time was: "3 s ago", "5 min ago".
export function ago(seconds) {
  if (seconds === undefined || seconds === null) return "";
  if (seconds < 60) return Math.round(seconds) + " s ago";
  if (seconds < 3600) return Math.round(seconds / 60) + " min ago";
  if (seconds < 86400) return (seconds / 3600).toFixed(1) + " h ago";
  return (seconds / 86400).toFixed(1) + " days ago";
}

// field is a labelled input: the label names it for screen readers.
export function field(label, id, input, hint) {
  input.id = id;
  if (!input.name) input.name = id;
  const parts = [h("label", { for: id }, label), input];
  if (hint) {
    const hid = id + "-hint";
    input.setAttribute("aria-describedby", hid);
    parts.push(h("small", { id: hid, class: "hint" }, hint));
  }
  return h("div", { class: "field" }, parts);
}

// badge is a status word with a colour class (never colour alone).
export function badge(status) {
  return h("span", { class: "badge badge-" + String(status || "none").replace(/[^a-z_]/g, "") }, status || "-");
}

// table builds a data table from column headings and rows of cells.
export function table(caption, headings, rows, empty) {
  if (!rows.length) return h("p", { class: "empty" }, empty || "Nothing here yet.");
  return h("table", {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, headings.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))));
}

// dl builds a description list from [term, value] pairs, skipping empty values.
export function dl(pairs) {
  return h("dl", { class: "facts" }, pairs.filter((p) => p[1] !== undefined && p[1] !== null && p[1] !== "")
    .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}
