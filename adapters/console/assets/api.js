// api.js: the console's one door to the server: the same /v1 API every
// client uses, with the key in the Authorization header. The key lives in
// sessionStorage: it is gone when the tab closes, it is never in a URL, and
// no cookie carries it, so no other site can make the browser use it.

const KEY = "hookledger.key";
const ME = "hookledger.me";

export const session = {
  key() { return sessionStorage.getItem(KEY); },
  me() {
    try { return JSON.parse(sessionStorage.getItem(ME) || "null"); } catch { return null; }
  },
  save(key, me) { sessionStorage.setItem(KEY, key); sessionStorage.setItem(ME, JSON.stringify(me)); },
  clear() { sessionStorage.removeItem(KEY); sessionStorage.removeItem(ME); },
  // Roles: what the signed-in key may do (the server checks it again).
  isOperator() { const m = this.me(); return !!m && (m.role === "admin" || m.role === "auditor"); },
  canWrite() { const m = this.me(); return !!m && m.role !== "auditor"; },
  isAdmin() { const m = this.me(); return !!m && m.role === "admin"; },
};

// ApiError is a problem+json answer (or a network failure) for people.
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || ("HTTP " + status));
    this.status = status;
    this.code = problem && problem.code;
    this.field = problem && problem.field;
  }
}

let onUnauthorized = () => {};
export function whenUnauthorized(fn) { onUnauthorized = fn; }

async function send(method, path, body, key, accept, ifMatch) {
  const headers = { Authorization: "Bearer " + (key || session.key() || "") };
  if (accept) headers.Accept = accept;
  if (ifMatch) headers["If-Match"] = ifMatch;
  const init = { method, headers, cache: "no-store", credentials: "omit", redirect: "error" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, { detail: "the server cannot be reached (" + e.message + ")" });
  }
  if (!res.ok) {
    let problem = null;
    try { problem = await res.json(); } catch { /* not JSON */ }
    const err = new ApiError(res.status, problem);
    if (res.status === 401 && !key) onUnauthorized(err);
    throw err;
  }
  return res;
}

// call sends one request and answers its JSON (null for 204). ifMatch,
// when given, makes a change conditional on the revision it was decided on
// (the server answers 412 if that is no longer the resource's).
export async function call(method, path, body, key, ifMatch) {
  const res = await send(method, path, body, key, undefined, ifMatch);
  if (res.status === 204) return null;
  return res.json();
}

export const get = (path) => call("GET", path);
export const post = (path, body, ifMatch) => call("POST", path, body === undefined ? {} : body, undefined, ifMatch);
export const patch = (path, body, ifMatch) => call("PATCH", path, body, undefined, ifMatch);
export const del = (path, body, ifMatch) => call("DELETE", path, body, undefined, ifMatch);

// revisionTag is the ETag of a subscription (an application, an event type)
// as read (its revision), for If-Match.
export const revisionTag = (s) => '"' + s.revision + '"';

// stream reads an NDJSON answer line by line (verify's progress).
export async function stream(path, onLine) {
  const res = await send("GET", path, undefined, undefined, "application/x-ndjson");
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line) onLine(JSON.parse(line));
    }
    if (done) break;
  }
  if (buf.trim()) onLine(JSON.parse(buf));
}

// download fetches an answer with the key and saves it as a file: a plain
// link could not send the key without putting it in the URL.
export async function download(path, filename) {
  const res = await send("GET", path);
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return blob.size;
}

// qs builds a query string from the non-empty values of obj.
export function qs(obj) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
  const s = p.toString();
  return s ? "?" + s : "";
}

export const enc = encodeURIComponent;
