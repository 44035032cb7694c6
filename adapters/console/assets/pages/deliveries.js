// deliveries.js: deliveries filtered and paged, and one delivery's timeline:
// every ledger event of it, in order, with its position and recording time.

import { at, badge, dl, field, h, replace, table, when } from "../dom.js";
import { enc, get, post, qs, session } from "../api.js";
import { Pager, act, errorBox, form, go, toRFC3339 } from "../ui.js";
import { tabs } from "./applications.js";

const STATUSES = ["", "pending", "acknowledged", "failed", "exhausted", "cancelled"];
export const PAGE_SIZES = ["20", "50", "100", "200"];

// pageSize is a select of how many rows a page holds.
export function pageSize(id, current) {
  return field("Per page", id, h("select", {}, PAGE_SIZES.map((n) => h("option", { value: n, selected: n === current }, n))));
}

// localValue turns an RFC 3339 time into a datetime-local value.
export function localValue(t) {
  if (!t) return "";
  const d = new Date(t);
  if (isNaN(d)) return "";
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export async function deliveriesPage([app], params) {
  const f = { subscription_id: params.get("subscription_id") || "", status: params.get("status") || "", event_type: params.get("event_type") || "",
    since: params.get("since") || "", until: params.get("until") || "", limit: params.get("limit") || "50", message_id: params.get("message_id") || "" };
  const subs = await get("/v1/applications/" + enc(app) + "/subscriptions" + qs({ limit: 1000 }));
  const subSelect = h("select", {}, h("option", { value: "" }, "any subscription"),
    subs.items.map((s) => h("option", { value: s.id, selected: s.id === f.subscription_id }, s.id + " — " + s.url)));
  const statusSelect = h("select", {}, STATUSES.map((x) => h("option", { value: x, selected: x === f.status }, x || "any status")));
  const filters = form("Filter deliveries", [
    h("div", { class: "row" },
      field("Subscription", "f-sub", subSelect),
      field("Status", "f-status", statusSelect),
      field("Event type", "f-type", h("input", { value: f.event_type, placeholder: "order.* or order.paid" })),
      field("Scheduled since", "f-since", h("input", { type: "datetime-local", step: 1, value: localValue(f.since) })),
      field("until", "f-until", h("input", { type: "datetime-local", step: 1, value: localValue(f.until) })),
      pageSize("f-limit", f.limit)),
  ], "Apply filters", async (v) => {
    go("#/apps/" + enc(app) + "/deliveries" + qs({ message_id: f.message_id, subscription_id: v["f-sub"], status: v["f-status"], event_type: v["f-type"].trim(),
      since: toRFC3339(v["f-since"]), until: toRFC3339(v["f-until"]), limit: v["f-limit"] === "50" ? "" : v["f-limit"] }));
  });
  const list = h("div", {});
  const pager = new Pager(load);
  async function load() {
    try {
      const page = await get("/v1/applications/" + enc(app) + "/deliveries" + qs({ ...f, cursor: pager.cursor }));
      replace(list, table("Deliveries, newest first", ["Delivery", "Event type", "Subscription", "Status", "Attempts", "Last status", "Scheduled"],
        page.items.map((d) => [h("a", { href: "#/deliveries/" + enc(d.id) }, d.id), d.event_type,
          h("a", { href: "#/apps/" + enc(app) + "/subscriptions/" + enc(d.subscription_id) }, d.subscription_id),
          [badge(d.status), d.waiting_reason ? h("small", {}, " " + d.waiting_reason.replace(/_/g, " ")) : null],
          String(d.attempts), d.last_status_code ? String(d.last_status_code) : (d.last_error_class || ""), at(d.scheduled_at)]),
        "No deliveries match."), pager.controls(page.next_cursor));
    } catch (e) {
      replace(list, errorBox(e));
    }
  }
  await load();
  const ofMessage = f.message_id ? h("p", { class: "hint", "data-testid": "of-message" }, "Of message ",
    h("a", { href: "#/apps/" + enc(app) + "/messages/" + enc(f.message_id) }, f.message_id), " only · ",
    h("a", { href: "#/apps/" + enc(app) + "/deliveries" }, "all messages")) : null;
  return h("section", {}, h("h1", {}, "Deliveries"), tabs(app, "Deliveries"), ofMessage, filters, list);
}

// describe turns one timeline event into the facts a person wants from it.
function describe(ev) {
  const d = ev.data || {};
  const ms = (us) => (us === undefined ? "" : (us / 1000).toFixed(1) + " ms");
  switch (ev.type) {
    case "delivery.scheduled":
      return [["Matched", d.matched_pattern], ["Subscription revision", d.subscription_revision !== undefined ? String(d.subscription_revision) : ""], ["Due", when(d.due_at)], ["Scheduled by", d.scheduled_by]];
    case "delivery.attempt_started":
      return [["Attempt", String(d.attempt)], ["Worker", d.worker]];
    case "delivery.attempt_acknowledged":
      return [["Attempt", String(d.attempt)], ["Status code", String(d.status_code)], ["Latency", ms(d.latency_us)], ["Signing key ids", (d.key_ids || []).join(", ")], excerpt(d)];
    case "delivery.attempt_failed":
      return [["Attempt", String(d.attempt)], ["Status code", d.status_code ? String(d.status_code) : ""], ["Error class", d.error_class], ["Error", d.error], ["Latency", ms(d.latency_us)], ["Retry-After", d.retry_after_ms ? d.retry_after_ms + " ms" : ""], ["Signing key ids", (d.key_ids || []).join(", ")], excerpt(d)];
    case "delivery.attempt_outcome_unknown":
      return [["Attempt", String(d.attempt)], ["Reason", d.reason]];
    case "delivery.retry_scheduled":
      return [["Next attempt", String(d.next_attempt)], ["Due", when(d.due_at)], ["Reason", d.reason], ["Retry-After honoured", d.retry_after_honoured ? "yes" : ""]];
    case "delivery.exhausted":
      return [["Attempts", String(d.attempts)], ["Reason", d.reason]];
    case "delivery.redelivery_requested":
      return [["By", d.by], ["Reason", d.reason], ["Due", when(d.due_at)]];
    case "delivery.cancelled":
      return [["Reason", d.reason]];
    default:
      return [];
  }
}

// excerpt is what the endpoint answered, or that it was erased with its message.
function excerpt(d) {
  if (d.response_excerpt_erased_by) return ["Response excerpt", "erased by " + d.response_excerpt_erased_by];
  return ["Response excerpt", d.response_excerpt ? h("pre", {}, d.response_excerpt) : ""];
}

function kind(type) {
  if (type.endsWith("acknowledged")) return "ok";
  if (type.endsWith("failed") || type.endsWith("exhausted")) return "bad";
  if (type.endsWith("outcome_unknown") || type.endsWith("cancelled")) return "unknown";
  return "info";
}

export async function deliveryPage([id]) {
  const box = h("div", {});
  async function load() {
    const [d, tl] = await Promise.all([get("/v1/deliveries/" + enc(id)), get("/v1/deliveries/" + enc(id) + "/timeline")]);
    const items = tl.items.map((ev) => h("li", { class: "event event-" + kind(ev.type), "data-type": ev.type, "data-position": ev.position },
      h("div", { class: "event-head" }, h("strong", {}, ev.type.replace("delivery.", "").replace(/_/g, " ")),
        h("span", { class: "pos" }, "position " + ev.position), h("time", { datetime: ev.recorded_at || ev.created }, when(ev.recorded_at || ev.created, true))),
      dl([["Actor", ev.actor_name && ev.actor_name !== ev.actor ? ev.actor_name + " — " + ev.actor : ev.actor], ...describe(ev)])));
    replace(box,
      h("p", {}, h("a", { href: "#/apps/" + enc(d.application_id) + "/deliveries" }, "← deliveries of " + d.application_id), " · message ",
        h("a", { href: "#/apps/" + enc(d.application_id) + "/messages/" + enc(d.message_id) }, d.message_id)),
      dl([["Status", badge(d.status)], ["Event type", d.event_type],
        ["Subscription", h("a", { href: "#/apps/" + enc(d.application_id) + "/subscriptions/" + enc(d.subscription_id) }, d.subscription_id)],
        ["Attempts", String(d.attempts)], ["Next due", d.status === "pending" || d.status === "failed" ? when(d.next_due_at) : ""],
        ["Waiting because", d.waiting_reason ? d.waiting_reason.replace(/_/g, " ") + (d.held_behind ? " (behind " + d.held_behind + ")" : "") : ""],
        ["Finished", when(d.finished_at)]]),
      redeliver(d, load),
      h("h2", {}, "Timeline"),
      h("ol", { class: "timeline", "aria-label": "ledger events of the delivery" }, items));
  }
  await load();
  return h("section", {}, h("h1", {}, "Delivery ", h("code", {}, id)), box);
}

function redeliver(d, reload) {
  if (!session.canWrite()) return null;
  const reason = h("input", { maxlength: 512, placeholder: "why (recorded in the ledger)" });
  const f = form("Redeliver", [field("Reason", "redeliver-reason", reason)], "Redeliver now", async (v) => {
    await post("/v1/deliveries/" + enc(d.id) + "/redeliver", v["redeliver-reason"] ? { reason: v["redeliver-reason"] } : {});
    await reload();
    return "Redelivery requested: a new attempt is due now.";
  });
  f.classList.add("inline-form");
  return f;
}
