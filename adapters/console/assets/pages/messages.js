// messages.js: messages by event type and time, publishing a test message,
// and one message: its payload, its deliveries, and why it was or was not
// delivered to a subscription (explain, from the state at its position).

import { at, badge, dl, field, h, replace, table, when } from "../dom.js";
import { enc, get, post, qs, session } from "../api.js";
import { Pager, errorBox, form, go, toRFC3339 } from "../ui.js";
import { subscriptionFacts, tabs } from "./applications.js";
import { localValue, pageSize } from "./deliveries.js";

export async function messagesPage([app], params) {
  const f = { event_type: params.get("event_type") || "", since: params.get("since") || "", until: params.get("until") || "", limit: params.get("limit") || "50" };
  const base = "/v1/applications/" + enc(app) + "/messages";
  const filters = form("Search messages", [h("div", { class: "row" },
    field("Event type", "m-type", h("input", { value: f.event_type, placeholder: "order.* or order.paid" })),
    field("Published since", "m-since", h("input", { type: "datetime-local", step: 1, value: localValue(f.since) })),
    field("until", "m-until", h("input", { type: "datetime-local", step: 1, value: localValue(f.until) })),
    pageSize("m-limit", f.limit))],
  "Search", async (v) => {
    go("#/apps/" + enc(app) + "/messages" + qs({ event_type: v["m-type"].trim(), since: toRFC3339(v["m-since"]), until: toRFC3339(v["m-until"]),
      limit: v["m-limit"] === "50" ? "" : v["m-limit"] }));
  });
  const list = h("div", {});
  const pager = new Pager(load);
  async function load() {
    try {
      const page = await get(base + qs({ ...f, cursor: pager.cursor }));
      replace(list, table("Messages, newest first", ["Message", "Event type", "Published", "Position"],
        page.items.map((m) => [h("a", { href: "#/apps/" + enc(app) + "/messages/" + enc(m.id) }, m.id), m.event_type, at(m.published_at), String(m.position)]),
        "No messages match."), pager.controls(page.next_cursor));
    } catch (e) {
      replace(list, errorBox(e));
    }
  }
  await load();
  const parts = [h("h1", {}, "Messages"), tabs(app, "Messages"), filters, list];
  if (session.canWrite()) {
    parts.push(h("h2", {}, "Publish a message"), form("Publish a message", [
      field("Event type", "pub-type", h("input", { required: true, placeholder: "order.paid" })),
      field("Payload (a JSON object)", "pub-payload", h("textarea", { rows: 4, required: true }, '{"id": "ord_1", "amount": 4200}')),
    ], "Publish", async (v) => {
      let payload;
      try { payload = JSON.parse(v["pub-payload"]); } catch (e) { throw new Error("the payload is not JSON: " + e.message); }
      const r = await post(base, { event_type: v["pub-type"].trim(), payload });
      go("#/apps/" + enc(app) + "/messages/" + enc(r.id));
      return "Published " + r.id + " at position " + r.position + ".";
    }));
  }
  return h("section", {}, parts);
}

export async function messagePage([app, id]) {
  const base = "/v1/applications/" + enc(app);
  const [m, subs] = await Promise.all([get(base + "/messages/" + enc(id)), get(base + "/subscriptions" + qs({ limit: 1000 }))]);
  const deliveries = table("Deliveries of this message", ["Delivery", "Subscription", "Status", "Attempts"],
    (m.deliveries || []).map((d) => [h("a", { href: "#/deliveries/" + enc(d.id) }, d.id), d.subscription_id, badge(d.status), String(d.attempts)]),
    "Not scheduled to any subscription.");
  const result = h("div", { class: "explain-result" });
  const pick = h("select", { required: true }, subs.items.map((s) => h("option", { value: s.id }, s.id + " — " + s.url)));
  const explain = subs.items.length ? form("Explain", [field("Subscription", "explain-sub", pick)], "Explain", async (v) => {
    const ex = await get(base + "/messages/" + enc(id) + "/explain" + qs({ subscription_id: v["explain-sub"] }));
    replace(result, explained(ex));
  }) : h("p", {}, "No subscription to explain against.");
  return h("section", {},
    h("h1", {}, "Message ", h("code", {}, id)),
    h("p", {}, h("a", { href: "#/apps/" + enc(app) + "/messages" }, "← messages of " + app)),
    dl([["Event type", m.event_type], ["Published", when(m.published_at)], ["Position", String(m.position)], ["Subject", m.subject],
      ["Payload hash", h("code", {}, m.payload_hash)], ["Idempotency key", m.idempotency_key],
      ["At rest", m.encrypted ? "encrypted (erasable)" : "in the clear"]]),
    h("h2", {}, "Payload"),
    m.payload_erased
      ? h("p", { class: "erased", "data-testid": "payload-erased" }, h("strong", {}, "Erased"), " by ", h("code", {}, m.payload_erased.erasure_id), " on " + when(m.payload_erased.erased_at),
        ": its data key was destroyed, so no one can read it any more. The ledger still proves it was published, delivered and erased (payload hash above).")
      : h("pre", { class: "payload", "data-testid": "payload" }, JSON.stringify(m.payload, null, 2)),
    h("h2", {}, "Deliveries"), deliveries,
    m.more_deliveries ? h("p", { class: "hint", "data-testid": "more-deliveries" }, "The first " + (m.deliveries || []).length + " of " + m.delivery_count + " deliveries, in the order they were scheduled: ",
      h("a", { href: "#/apps/" + enc(app) + "/deliveries" + qs({ message_id: id }) }, "all of them, page by page")) : null,
    h("h2", {}, "Explain"), h("p", { class: "hint" }, "Why it was or was not delivered to a subscription, from the subscription as it stood at the message's position."),
    explain, result);
}

function explained(ex) {
  const verdict = ex.decision === "scheduled" ? "Scheduled" : "Not scheduled";
  return h("div", { class: "explain" },
    h("p", { class: "verdict verdict-" + ex.decision }, h("strong", {}, verdict), " — ", ex.reason.replace(/_/g, " "), ex.detail ? ": " + ex.detail : ""),
    dl([["Matched pattern", ex.matched_pattern], ["Delivery", ex.delivery ? h("a", { href: "#/deliveries/" + enc(ex.delivery.id) }, ex.delivery.id) : ""],
      ["Delivery status", ex.delivery ? badge(ex.delivery.status) : ""]]),
    ex.subscription_as_of ? [h("h3", {}, "The subscription at the message's position"), subscriptionFacts(ex.subscription_as_of)] : null,
    ex.timeline && ex.timeline.length ? [h("h3", {}, "What became of it"), h("ol", { class: "timeline compact" },
      ex.timeline.map((t) => h("li", {}, h("strong", {}, t.type), " at position " + t.position + ", " + when(t.at),
        t.status_code ? ", status " + t.status_code : "", t.error_class ? ", " + t.error_class : "", t.detail ? " — " + t.detail : "")))] : null);
}
