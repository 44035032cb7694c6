// applications.js: applications, their subscriptions, and one subscription
// (health, charts, edit, pause/resume, secret rotation, as it stood then).

import { at, badge, dl, field, h, replace, table, when } from "../dom.js";
import { del, enc, get, patch, post, qs, revisionTag, session } from "../api.js";
import { outcomesChart, latencyChart } from "../charts.js";
import { Pager, act, errorBox, form, go, headersFromText, headersToText, notice, shownOnce, toRFC3339, typesFromText } from "../ui.js";

const appPath = (app) => "/v1/applications/" + enc(app);
const subHash = (app, sub) => "#/apps/" + enc(app) + "/subscriptions/" + enc(sub);

export async function applicationsPage() {
  const list = h("div", {});
  const pager = new Pager(load);
  // The deleted applications are listed apart: their history stays.
  const deleted = h("input", { type: "checkbox", id: "show-deleted" });
  deleted.addEventListener("change", () => { pager.reset(); load(); });
  async function load() {
    try {
      const gone = deleted.checked;
      const page = await get("/v1/applications" + qs({ cursor: pager.cursor, deleted: gone ? "true" : "" }));
      replace(list, table(gone ? "Deleted applications" : "Applications", ["Id", "Name", gone ? "Deleted" : "Created"],
        page.items.map((a) => [h("a", { href: "#/apps/" + enc(a.id) }, a.id), a.name, at(gone ? a.deleted_at : a.created_at)]),
        gone ? "No deleted applications." : "No applications yet."), pager.controls(page.next_cursor));
    } catch (e) {
      replace(list, errorBox(e));
    }
  }
  await load();
  const parts = [h("h1", {}, "Applications"),
    h("div", { class: "field inline" }, deleted, h("label", { for: "show-deleted" }, "Show the deleted applications instead")), list];
  if (session.isAdmin()) {
    parts.push(h("h2", {}, "New application"), form("New application", [
      field("Name", "app-name", h("input", { required: true, maxlength: 256 })),
      field("Id (optional)", "app-id", h("input", { pattern: "[A-Za-z0-9_-]{1,64}" }), "letters, digits, _ and -; drawn when empty"),
    ], "Create application", async (v) => {
      const a = await post("/v1/applications", { name: v["app-name"], ...(v["app-id"] ? { id: v["app-id"] } : {}) });
      go("#/apps/" + enc(a.id));
      return "Application " + a.id + " created.";
    }));
  }
  return h("section", {}, parts);
}

function tabs(app, current) {
  const base = "#/apps/" + enc(app);
  const t = [["Subscriptions", base], ["Messages", base + "/messages"], ["Deliveries", base + "/deliveries"]];
  return h("nav", { class: "tabs", "aria-label": "application" },
    t.map(([label, href]) => h("a", { href, "aria-current": label === current ? "page" : false }, label)));
}
export { tabs };

// health sums a subscription up in a few words, for lists and its page.
function health(s) {
  if (s.status === "disabled") return "disabled (" + (s.disabled_reason || "?") + ")" + (s.disabled_detail ? ": " + s.disabled_detail : "");
  if (s.status === "paused") return "paused" + (s.paused_reason ? ": " + s.paused_reason : "");
  if (s.failing_since) return "failing since " + when(s.failing_since);
  if (s.last_acknowledged_at) return "healthy: last acknowledged " + when(s.last_acknowledged_at);
  return "no attempts yet";
}

export async function applicationPage([app]) {
  const a = await get(appPath(app));
  const list = h("div", {});
  const pager = new Pager(load);
  async function load() {
    try {
      const page = await get(appPath(app) + "/subscriptions" + qs({ cursor: pager.cursor }));
      replace(list, table("Subscriptions of " + a.name, ["Id", "URL", "Event types", "Status", "Health"],
        page.items.map((s) => [h("a", { href: subHash(app, s.id) }, s.id), h("code", {}, s.url), (s.event_types || []).join(", "), badge(s.status), health(s)]),
        "No subscriptions yet."), pager.controls(page.next_cursor));
    } catch (e) {
      replace(list, errorBox(e));
    }
  }
  await load();
  const parts = [h("h1", {}, a.name, " ", h("small", {}, a.id))];
  if (a.deleted_at) {
    // Its history stays readable and its payloads erasable; nothing else
    // can be written to it, so no form offers to.
    parts.push(h("p", { class: "notice notice-info", "data-testid": "app-deleted" }, "Deleted " + when(a.deleted_at) +
      (a.deleted_reason ? ": " + a.deleted_reason : "") + ". Its history can be read and its payloads erased; nothing more is published to it."));
  }
  parts.push(tabs(app, "Subscriptions"), list);
  if (session.canWrite() && !a.deleted_at) {
    const secretBox = h("div", {});
    parts.push(h("h2", {}, "New subscription"), form("New subscription", [
      field("Endpoint URL", "sub-url", h("input", { type: "url", required: true, placeholder: "https://example.com/webhooks" })),
      field("Event types", "sub-types", h("input", { required: true, placeholder: "order.paid, invoice.*" }), 'exact types, "prefix.*" or "*", separated by commas'),
      field("Description", "sub-description", h("input", { maxlength: 1024 })),
      field("Headers", "sub-headers", h("textarea", { rows: 2, placeholder: "X-Team: payments" }), "one \"Name: value\" per line, sent with every attempt"),
      field("Signing secret (optional)", "sub-secret", h("input", { type: "password", autocomplete: "off", placeholder: "whsec_…" }), "drawn for you when empty, and shown once"),
    ], "Create subscription", async (v) => {
      const body = { url: v["sub-url"], event_types: typesFromText(v["sub-types"]) };
      if (v["sub-secret"]) body.secret = v["sub-secret"].trim();
      if (v["sub-description"]) body.description = v["sub-description"];
      const hdrs = headersFromText(v["sub-headers"]);
      if (Object.keys(hdrs).length) body.headers = hdrs;
      const s = await post(appPath(app) + "/subscriptions", body);
      await load();
      replace(secretBox, h("p", {}, "Created ", h("a", { href: subHash(app, s.id) }, s.id), "."), s.secret ? shownOnce("Signing secret", s.secret) : null);
      return "Subscription " + s.id + " created.";
    }), secretBox);
  }
  if (session.isAdmin()) parts.push(erasureControls(app, a));
  if (session.isAdmin() && !a.deleted_at && app !== "app_hookledger") parts.push(deleteControls(app, a));
  return h("section", {}, parts);
}

// asShown makes a change of the application on the revision the page
// shows (If-Match): one made since by someone else is not overwritten.
async function asShown(a, send) {
  try {
    const r = await send(revisionTag(a));
    if (r) a.revision = r.revision;
    return r;
  } catch (e) {
    if (e.status !== 412) throw e;
    throw new Error("The application was changed since the page showed it: nothing was saved. Reload the page to see it as it is now.");
  }
}

// deleteControls: an admin offboards the application (its subscriptions
// deleted, its keys revoked, its history kept).
function deleteControls(app, a) {
  return h("div", {}, h("h2", {}, "Delete the application"),
    form("Delete application", [
      field("Reason (kept in the ledger)", "delete-reason", h("input", { maxlength: 512 })),
      h("div", { class: "field inline" }, h("input", { type: "checkbox", id: "delete-confirm", name: "delete-confirm", required: true }),
        h("label", { for: "delete-confirm" }, "Delete its subscriptions and revoke its keys; nothing more can be published to it (its history stays)")),
    ], "Delete application", async (v) => {
      const reason = (v["delete-reason"] || "").trim();
      await asShown(a, (tag) => del(appPath(app), reason ? { reason } : undefined, tag));
      go("#/apps/" + enc(app));
      return "Application " + app + " deleted.";
    }));
}

// erasureControls: an admin erases payloads for ever (crypto-shredding) and
// sets the retention. docs/audit.md "Erasure" says what it guarantees.
function erasureControls(app, a) {
  const result = h("div", { class: "erase-result", "aria-live": "polite" });
  const scope = h("select", {}, [["application", "every payload of the application"], ["messages", "these messages"],
    ["subject", "one subject's messages"], ["published_before", "published before a time"]].map(([v, l]) => h("option", { value: v }, l)));
  const erase = form("Erase payloads", [
    h("div", { class: "row" },
      field("What", "erase-scope", scope),
      field("Message ids", "erase-messages", h("input", { placeholder: "msg_…, msg_…" }), "for these messages"),
      field("Subject", "erase-subject", h("input", {}), "for one subject"),
      field("Published before", "erase-before", h("input", { type: "datetime-local", step: 1 }), "whole UTC days before it")),
    field("Reason (kept in the ledger)", "erase-reason", h("input", { required: true, maxlength: 512 })),
    h("div", { class: "field inline" }, h("input", { type: "checkbox", id: "erase-confirm", name: "erase-confirm", required: true }),
      h("label", { for: "erase-confirm" }, "I understand the payloads can never be read again (the ledger still proves they existed)")),
  ], "Erase", async (v) => {
    const body = { scope: v["erase-scope"], reason: v["erase-reason"] };
    if (body.scope === "messages") body.message_ids = typesFromText(v["erase-messages"]);
    if (body.scope === "subject") body.subject = v["erase-subject"].trim();
    if (body.scope === "published_before") body.before = toRFC3339(v["erase-before"]);
    const r = await post(appPath(app) + "/erasures", body);
    replace(result, dl([["Erasure", h("code", { "data-testid": "erasure-id" }, r.id)], ["Status", r.status],
      ["Data keys destroyed", String((r.keys_destroyed || []).length)], ["Deliveries cancelled", r.deliveries_cancelled === undefined ? "" : String(r.deliveries_cancelled)],
      ["Effective before", when(r.effective_before)]]));
    return "Erasure " + r.id + " " + r.status + ".";
  });
  const retention = form("Payload retention", [
    field("Keep payloads for (days, 0: until erased)", "retention-days", h("input", { type: "number", min: 0, max: 36500, value: String(a.payload_retention_days || 0) })),
  ], "Save retention", async (v) => {
    const r = await asShown(a, (tag) => patch(appPath(app), { payload_retention_days: Number(v["retention-days"]) }, tag));
    return "Payloads of " + app + " are " + (r.payload_retention_days ? "kept " + r.payload_retention_days + " days" : "kept until erased") + ".";
  });
  return h("div", {}, h("h2", {}, "Erasure and retention"),
    h("p", { class: "hint" }, "Payloads are stored encrypted; erasing destroys their keys. Verify and exports keep working."),
    erase, result, a.deleted_at ? null : retention);
}

function subscriptionFacts(s) {
  return dl([
    ["Id", h("code", {}, s.id)],
    ["URL", h("code", {}, s.url)],
    ["Event types", (s.event_types || []).join(", ")],
    ["Description", s.description],
    ["Status", badge(s.status)],
    ["Headers", Object.keys(s.headers || {}).length ? h("pre", {}, headersToText(s.headers)) : ""],
    ["Signing", (s.signing || "v1") + (s.current_key_id ? ", key " + s.current_key_id : "")],
    ["Ordering", s.ordering],
    ["Revision", String(s.revision)],
    ["Created", when(s.created_at)],
    ["As of position", s.as_of_position ? String(s.as_of_position) : ""],
  ]);
}
export { subscriptionFacts };

export async function subscriptionPage([app, sub]) {
  const base = appPath(app) + "/subscriptions/" + enc(sub);
  let s = await get(base);
  const facts = h("div", {}, subscriptionFacts(s));
  const healthBox = h("div", {});
  const charts = h("div", { class: "charts" });
  const actions = h("div", { class: "actions" });
  const secretBox = h("div", {});
  const editBox = h("div", {});

  function drawHealth() {
    replace(healthBox, dl([
      ["Now", h("span", { "data-testid": "health" }, health(s))],
      ["Failing since", when(s.failing_since)],
      ["Last acknowledged", when(s.last_acknowledged_at)],
    ]));
  }
  async function drawCharts(window) {
    try {
      const st = await get(base + "/stats" + qs({ window }));
      const pick = h("select", { id: "chart-window", "aria-label": "chart window" },
        [["1h", "last hour"], ["24h", "last day"]].map(([v, l]) => h("option", { value: v, selected: v === window }, l)));
      pick.addEventListener("change", () => drawCharts(pick.value));
      replace(charts, h("div", { class: "field inline" }, h("label", { for: "chart-window" }, "Window"), pick),
        dl([["Attempts", String(st.attempts.total)], ["Success rate", st.success_rate === null ? "-" : (st.success_rate * 100).toFixed(1) + " %"],
          ["Latency p50 / p99", st.latency_ms.p50 === null ? "-" : "<= " + st.latency_ms.p50 + " ms / <= " + st.latency_ms.p99 + " ms"],
          ["Pending", String(st.pending)]]),
        outcomesChart(st), latencyChart(st));
    } catch (e) {
      replace(charts, errorBox(e));
    }
  }
  function refresh(next) {
    s = next;
    replace(facts, subscriptionFacts(s));
    drawHealth();
    drawActions();
  }
  // change makes a change on the subscription as shown (If-Match its
  // revision): if it was changed since, by someone else or by the ledger
  // (disabled after failures), nothing is overwritten; the page shows it
  // as it is now, to decide again.
  async function change(path, body, send) {
    try {
      return await send(path, body, revisionTag(s));
    } catch (e) {
      if (e.status !== 412) throw e;
      refresh(await get(base));
      drawEdit();
      throw new Error("This subscription was changed since the page showed it: nothing was saved. " +
        "It is shown again as it is now; make your change again if it still applies.");
    }
  }
  function drawActions() {
    replace(actions);
    if (!session.canWrite()) return;
    const paused = s.status === "paused" || s.status === "disabled";
    const toggle = h("button", { type: "button" }, paused ? "Resume" : "Pause");
    toggle.addEventListener("click", () => act(toggle, async () => {
      refresh(await change(base + (paused ? "/resume" : "/pause"), {}, post));
      return "Subscription " + (paused ? "resumed." : "paused.");
    }));
    const rotate = h("button", { type: "button", class: "secondary" }, "Rotate secret");
    rotate.addEventListener("click", () => act(rotate, async () => {
      const r = await change(base + "/rotate-secret", {}, post);
      replace(secretBox, r.secret ? shownOnce("New signing secret", r.secret) : h("p", {}, "Rotated: new key " + (r.current_key_id || "")));
      refresh(r);
      return "Secret rotated; the old one keeps signing for the grace period.";
    }));
    replace(actions, toggle, rotate);
  }
  function drawEdit() {
    if (!session.canWrite()) return;
    replace(editBox, h("h2", {}, "Edit"), form("Edit subscription", [
      field("Endpoint URL", "edit-url", h("input", { type: "url", required: true, value: s.url })),
      field("Event types", "edit-types", h("input", { required: true, value: (s.event_types || []).join(", ") })),
      field("Description", "edit-description", h("input", { maxlength: 1024, value: s.description || "" })),
      field("Headers", "edit-headers", h("textarea", { rows: 3 }, headersToText(s.headers)), "one \"Name: value\" per line; a [redacted] credential is kept as it is"),
    ], "Save changes", async (v) => {
      const body = { url: v["edit-url"], event_types: typesFromText(v["edit-types"]), description: v["edit-description"] };
      const hdrs = headersFromText(v["edit-headers"]);
      const redacted = Object.values(hdrs).some((x) => x === "[redacted]");
      if (!redacted) body.headers = hdrs; // sending "[redacted]" back would overwrite the credential
      refresh(await change(base, body, patch));
      return "Saved." + (redacted ? " Headers left unchanged (they hold a redacted credential)." : "");
    }));
  }
  drawHealth();
  drawActions();
  drawEdit();
  await drawCharts("1h");
  const asOf = pointInTime(app, sub);
  return h("section", {},
    h("h1", {}, "Subscription ", h("code", {}, sub)),
    h("p", {}, h("a", { href: "#/apps/" + enc(app) }, "← " + app), " · ",
      h("a", { href: "#/apps/" + enc(app) + "/deliveries?subscription_id=" + enc(sub) }, "Its deliveries")),
    facts, actions, secretBox,
    h("h2", {}, "Health"), healthBox,
    h("h2", {}, "Deliveries over time"), charts,
    editBox,
    h("h2", {}, "As it stood"), asOf);
}

// pointInTime shows a subscription as it stood at a time or position.
export function pointInTime(app, sub, opts) {
  const out = h("div", { class: "asof-result" });
  const fields = [];
  if (opts && opts.pickSubscription) {
    fields.push(field("Application", "asof-app", h("input", { required: true, value: app || "" })),
      field("Subscription", "asof-sub", h("input", { required: true, value: sub || "" })));
  }
  fields.push(field("Time", "asof-time", h("input", { type: "datetime-local", step: 1 }), "local time"),
    field("or ledger position", "asof-pos", h("input", { inputmode: "numeric", pattern: "[0-9]*" })));
  return h("div", {}, form("Point in time", fields, "Show as it stood", async (v) => {
    const a = v["asof-app"] || app, sb = v["asof-sub"] || sub;
    const at = v["asof-pos"] || toRFC3339(v["asof-time"]);
    if (!at) throw new Error("give a time or a ledger position");
    const then = await get(appPath(a) + "/subscriptions/" + enc(sb) + qs({ as_of: at }));
    replace(out, h("h3", {}, "As of " + (v["asof-pos"] ? "position " + at : when(at))), subscriptionFacts(then));
    notice("");
  }), out);
}
