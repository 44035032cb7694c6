// keys.js: for admins: the API keys (who holds access, until when), a new
// key shown once, and revocation.

import { at, badge, field, h, replace, table, when } from "../dom.js";
import { del, enc, get, post, qs, session } from "../api.js";
import { Pager, act, errorBox, form, shownOnce, toRFC3339 } from "../ui.js";

// state words a key by what it can do now.
function state(k) {
  if (k.revoked) return "revoked";
  if (k.expired) return "expired";
  return "active";
}

export async function keysPage() {
  const list = h("div", {});
  const pager = new Pager(load);
  const me = session.me() || {};
  async function load() {
    try {
      const page = await get("/v1/keys" + qs({ cursor: pager.cursor }));
      replace(list, table("API keys", ["Key", "Role", "Created", "Expires", "State", ""],
        page.items.map((k) => [h("div", {}, h("div", {}, k.name || "(no name)"), h("code", { class: "id" }, k.id)),
          k.role + (k.application ? " of " + k.application : ""), at(k.created_at),
          k.expires_at ? at(k.expires_at) : "never", badge(state(k)), revokeButton(k)]),
        "No keys."), pager.controls(page.next_cursor));
    } catch (e) {
      replace(list, errorBox(e));
    }
  }
  function revokeButton(k) {
    if (k.revoked) return "";
    const b = h("button", { type: "button", class: "secondary", "data-revoke": k.id }, k.id === me.id ? "Revoke (this key)" : "Revoke");
    b.addEventListener("click", () => act(b, async () => {
      await del("/v1/keys/" + enc(k.id));
      await load();
      return "Key " + k.id + " revoked: it no longer authenticates.";
    }));
    return b;
  }
  await load();

  const created = h("div", { "aria-live": "polite" });
  const role = h("select", {}, [["auditor", "auditor: reads everything, changes nothing"], ["application", "application: one application's own"],
    ["admin", "admin: everything"]].map(([v, l]) => h("option", { value: v }, l)));
  const create = form("New API key", [
    h("div", { class: "row" },
      field("Role", "key-role", role),
      field("Application", "key-application", h("input", { placeholder: "app_…" }), "for an application key"),
      field("Name", "key-name", h("input", { maxlength: 256 }), "who or what holds it")),
    field("Expires", "key-expires", h("input", { type: "datetime-local", step: 1 }), "your time zone; empty: until revoked (an audit period's end, a rotation date)"),
  ], "Create key", async (v) => {
    const body = { role: v["key-role"] };
    if (v["key-application"]) body.application = v["key-application"].trim();
    if (v["key-name"]) body.name = v["key-name"].trim();
    if (v["key-expires"]) body.expires_at = toRFC3339(v["key-expires"]);
    const k = await post("/v1/keys", body);
    replace(created, shownOnce("API key " + k.id, k.key));
    await load();
    return "Key " + k.id + " created" + (k.expires_at ? ", until " + when(k.expires_at) : "") + ".";
  });

  return h("section", {},
    h("h1", {}, "API keys"),
    h("p", { class: "hint" }, "Only the hash of a key is kept: a key is shown once, when created. Each key, its expiry and its revocation are recorded in the ledger."),
    list,
    h("h2", {}, "New key"), create, created);
}
