// app.js: the console's shell: sign-in, navigation and the router. Routes are
// in the URL's fragment (#/apps/app_1/deliveries?status=failed): never a
// secret there, and the server serves one page.

import { h, replace } from "./dom.js";
import { call, session, whenUnauthorized } from "./api.js";
import { clearStaleNotice, errorBox, go, notice } from "./ui.js";
import { applicationsPage, applicationPage, subscriptionPage } from "./pages/applications.js";
import { deliveriesPage, deliveryPage } from "./pages/deliveries.js";
import { messagesPage, messagePage } from "./pages/messages.js";
import { auditPage } from "./pages/audit.js";
import { keysPage } from "./pages/keys.js";

const main = () => document.getElementById("main");

const routes = [
  [/^\/signin$/, signInPage],
  [/^\/apps$/, applicationsPage],
  [/^\/apps\/([^/]+)$/, applicationPage],
  [/^\/apps\/([^/]+)\/subscriptions\/([^/]+)$/, subscriptionPage],
  [/^\/apps\/([^/]+)\/deliveries$/, deliveriesPage],
  [/^\/apps\/([^/]+)\/messages$/, messagesPage],
  [/^\/apps\/([^/]+)\/messages\/([^/]+)$/, messagePage],
  [/^\/deliveries\/([^/]+)$/, deliveryPage],
  [/^\/audit$/, auditPage],
  [/^\/keys$/, keysPage],
];

// home is where a key lands after signing in.
function home() {
  const me = session.me();
  if (!me) return "#/signin";
  return me.role === "application" ? "#/apps/" + encodeURIComponent(me.application) : "#/apps";
}

let seq = 0;

async function route() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query] = raw.split("?");
  const params = new URLSearchParams(query || "");
  if (!session.key() && path !== "/signin") {
    location.replace("#/signin");
    return;
  }
  if (path === "/" || path === "") {
    location.replace(home());
    return;
  }
  shell();
  clearStaleNotice();
  const my = ++seq;
  const target = main();
  for (const [re, page] of routes) {
    const m = path.match(re);
    if (!m) continue;
    const args = m.slice(1).map(decodeURIComponent);
    try {
      replace(target, h("p", { class: "loading" }, "Loading…"));
      const content = await page(args, params, { stale: () => my !== seq });
      if (my !== seq) return; // the user went elsewhere meanwhile
      replace(target, content);
    } catch (e) {
      if (my === seq) replace(target, errorBox(e));
    }
    const h1 = target.querySelector("h1");
    if (h1) h1.setAttribute("tabindex", "-1");
    if (document.activeElement === document.body || !target.contains(document.activeElement)) (h1 || target).focus({ preventScroll: true });
    return;
  }
  replace(target, h("h1", {}, "Not found"), h("p", {}, "No page at ", h("code", {}, path), ". ", h("a", { href: home() }, "Go home")));
}

// shell draws the navigation for the signed-in key's role.
function shell() {
  const me = session.me();
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  if (!me) {
    replace(nav);
    replace(who);
    return;
  }
  const links = [];
  if (me.role === "application") {
    const a = "#/apps/" + encodeURIComponent(me.application);
    links.push(h("a", { href: a }, "Subscriptions"), h("a", { href: a + "/messages" }, "Messages"), h("a", { href: a + "/deliveries" }, "Deliveries"));
  } else {
    links.push(h("a", { href: "#/apps" }, "Applications"), h("a", { href: "#/audit" }, "Audit"));
    if (me.role === "admin") links.push(h("a", { href: "#/keys" }, "API keys"));
  }
  replace(nav, links);
  const out = h("button", { type: "button", class: "secondary", id: "signout" }, "Sign out");
  out.addEventListener("click", signOut);
  replace(who, h("span", { class: "me", "data-testid": "me" }, (me.name || me.id) + " (" + me.role + (me.application ? ", " + me.application : "") + ")"), out);
}

function signOut() {
  session.clear();
  shell();
  notice("Signed out.", "info");
  go("#/signin");
}

async function signInPage() {
  session.clear();
  shell();
  const input = h("input", { type: "password", autocomplete: "off", spellcheck: "false", required: true, id: "key", name: "key" });
  const err = h("div", { id: "signin-error", "aria-live": "assertive" });
  const btn = h("button", { type: "submit" }, "Sign in");
  const f = h("form", { class: "form signin", "aria-label": "Sign in" },
    h("div", { class: "field" }, h("label", { for: "key" }, "API key"), input,
      h("small", { class: "hint", id: "key-hint" }, "An admin, auditor or application key. It is kept for this tab only and sent to this server only.")),
    h("div", { class: "actions" }, btn), err);
  input.setAttribute("aria-describedby", "key-hint");
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    btn.disabled = true;
    replace(err);
    const key = input.value.trim();
    try {
      const me = await call("GET", "/v1/me", undefined, key);
      session.save(key, me);
      notice("Signed in as " + (me.name || me.id) + " (" + me.role + ").", "ok");
      go(home());
    } catch (e2) {
      const text = e2.status === 401 ? "That key was refused: it is unknown or revoked." :
        e2.status === 429 ? "Too many failed sign-ins from here; wait a moment and try again." : e2.message;
      replace(err, h("p", { class: "error", role: "alert" }, text));
    } finally {
      btn.disabled = false;
    }
  });
  setTimeout(() => input.focus(), 0);
  return h("section", { class: "narrow" }, h("h1", {}, "Sign in"), f);
}

whenUnauthorized(() => {
  session.clear();
  notice("Your key was refused (revoked?): sign in again.", "error");
  go("#/signin");
});

window.addEventListener("hashchange", route);
route(); // a module runs once the document is parsed
