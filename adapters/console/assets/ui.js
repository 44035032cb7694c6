// ui.js: pieces every page uses: notices, error boxes, busy buttons, a pager
// over cursor listings, and the "shown once" box for new secrets.

import { h, replace } from "./dom.js";

// notice says something in the page's live region (read by screen readers).
export function notice(text, kind) {
  const el = document.getElementById("notice");
  replace(el, text ? h("p", { class: "notice notice-" + (kind || "info"), role: kind === "error" ? "alert" : "status" }, text) : null);
}

// errorBox renders an API error where the page would have been.
export function errorBox(err) {
  const code = err && err.code ? " (" + err.code + ")" : "";
  return h("div", { class: "error", role: "alert" }, h("strong", {}, "Error" + code + ": "), err && err.message ? err.message : String(err));
}

// act runs fn while button is disabled; errors go to the notice, success
// text (if fn returns a string) too.
export async function act(button, fn) {
  if (button) button.disabled = true;
  try {
    const msg = await fn();
    if (typeof msg === "string") notice(msg, "ok");
  } catch (e) {
    notice(e.message || String(e), "error");
  } finally {
    if (button) button.disabled = false;
  }
}

// form builds a form whose submit runs onSubmit(values) (never a page load).
export function form(label, fields, submitText, onSubmit, extra) {
  const btn = h("button", { type: "submit" }, submitText);
  const f = h("form", { "aria-label": label, class: "form" }, fields, h("div", { class: "actions" }, btn, extra || null));
  f.addEventListener("submit", (e) => {
    e.preventDefault();
    const values = Object.fromEntries(new FormData(f).entries());
    act(btn, () => onSubmit(values, f));
  });
  return f;
}

// shownOnce shows a secret that the server shows only once.
export function shownOnce(label, secret) {
  return h("div", { class: "once", role: "status" },
    h("p", {}, h("strong", {}, label + " "), "(shown once: copy it now, it cannot be shown again)"),
    h("code", { class: "secret", "data-testid": "secret" }, secret));
}

// Pager keeps the cursors of the pages seen, for Previous and Next.
export class Pager {
  constructor(onChange) { this.stack = [""]; this.onChange = onChange; }
  get cursor() { return this.stack[this.stack.length - 1]; }
  reset() { this.stack = [""]; }
  controls(nextCursor) {
    const prev = h("button", { type: "button", class: "secondary", disabled: this.stack.length <= 1 }, "Previous page");
    const next = h("button", { type: "button", class: "secondary", disabled: !nextCursor }, "Next page");
    prev.addEventListener("click", () => { this.stack.pop(); this.onChange(); });
    next.addEventListener("click", () => { this.stack.push(nextCursor); this.onChange(); });
    return h("nav", { class: "pager", "aria-label": "pages" }, prev, h("span", {}, "page " + this.stack.length), next);
  }
}

// toRFC3339 turns a datetime-local value into an RFC 3339 time ("" stays "").
export function toRFC3339(local) {
  if (!local) return "";
  const d = new Date(local);
  return isNaN(d) ? local : d.toISOString();
}

// headersFromText reads "Name: value" lines into an object.
export function headersFromText(text) {
  const out = {};
  for (const line of String(text || "").split("\n")) {
    const t = line.trim();
    if (!t) continue;
    const i = t.indexOf(":");
    if (i <= 0) throw new Error('a header line must be "Name: value": ' + t);
    out[t.slice(0, i).trim()] = t.slice(i + 1).trim();
  }
  return out;
}

export function headersToText(obj) {
  return Object.entries(obj || {}).map(([k, v]) => k + ": " + v).join("\n");
}

export function typesFromText(text) {
  return String(text || "").split(/[\s,]+/).filter(Boolean);
}

// go navigates to a console route (again, if it is the current one).
export function go(hash) {
  carry = true;
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}

// A notice belongs to the page it was said on, except when an action said it
// and then moved to another page (go): "Published ..." shows on the message.
let carry = false;

// clearStaleNotice runs on every navigation.
export function clearStaleNotice() {
  if (!carry) replace(document.getElementById("notice"));
  carry = false;
}
