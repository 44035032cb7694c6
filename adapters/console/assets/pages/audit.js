// audit.js: for admins and auditors: where the ledger and its seals stand,
// verify with progress, verifiable exports, and a subscription as it stood.

import { ago, at, dl, field, h, replace, table, when } from "../dom.js";
import { download, get, qs, stream } from "../api.js";
import { act, errorBox, form, notice, toRFC3339 } from "../ui.js";
import { pointInTime } from "./applications.js";

export async function auditPage() {
  const statusBox = h("div", {});
  let ledgerHead = 1; // the progress bar's end: where the ledger stood when the page loaded
  async function loadStatus() {
    try {
      const st = await get("/v1/audit/status");
      ledgerHead = Math.max(st.head, 1);
      const seal = st.last_seal;
      replace(statusBox, dl([
        ["Ledger head", h("span", { "data-testid": "head" }, String(st.head))],
        ["Last seal", seal ? "#" + seal.index + ", covering positions " + seal.from_position + "–" + seal.to_position + " (" + seal.count + " events)" : "none yet"],
        ["Sealed", seal ? when(seal.sealed_at) + " (" + ago(seal.age_seconds) + ")" : ""],
        ["Not yet sealed", seal ? (st.head > seal.position ? "the events after position " + seal.position + " (the next seal will cover them)" : "none (the seal is the newest event)") : "every event"],
        ["Chain hash", seal ? h("code", { class: "wrap" }, seal.chain_hash) : ""],
        ["Seal key", h("code", {}, st.key_id)],
        ["Public key (ed25519)", h("code", { class: "wrap", "data-testid": "public-key" }, st.public_key)],
      ]));
    } catch (e) {
      replace(statusBox, errorBox(e));
    }
  }
  await loadStatus();

  const progress = h("progress", { max: 1, value: 0, "aria-label": "verification progress" });
  const verifyOut = h("div", { id: "verify-result", "aria-live": "polite" });
  const verifyBtn = h("button", { type: "button", id: "verify" }, "Verify the ledger");
  const withErasures = h("input", { type: "checkbox", id: "verify-erasures", checked: true });
  verifyBtn.addEventListener("click", () => act(verifyBtn, async () => {
    replace(verifyOut, progress, h("span", { class: "progress-text" }, " starting…"));
    let final = null;
    await stream("/v1/audit/verify" + qs({ erasures: withErasures.checked ? "true" : "" }), (line) => {
      if (line.kind === "progress") {
        // line.head is the position verified so far; the ledger may grow meanwhile
        progress.max = Math.max(ledgerHead, line.head || 1);
        progress.value = line.head || 0;
        replace(verifyOut, progress, h("span", { class: "progress-text" }, " " + line.events + " events, " + line.seals + " seals checked"));
      } else {
        final = line;
      }
    });
    if (!final) throw new Error("the verification ended without a result");
    if (final.kind === "error") throw new Error("verification could not run: " + final.error);
    replace(verifyOut, verdict(final), final.erasures ? erasureVerdict(final.erasures) : null);
    await loadStatus();
    if (!final.ok) return "The ledger does NOT verify.";
    if (final.erasures && !final.erasures.ok) return "The ledger verifies; the key store does NOT agree with its erasures.";
    return "The ledger verifies.";
  }));

  const exportScope = h("select", {}, [["all", "the whole ledger"], ["application", "one application"], ["subscription", "one subscription"]].map(([v, l]) => h("option", { value: v }, l)));
  const exportForm = form("Export", [h("div", { class: "row" },
    field("Scope", "export-scope", exportScope),
    field("Application or subscription id", "export-id", h("input", { placeholder: "app_… or sub_…" }))),
  h("div", { class: "row" },
    field("Recorded since", "export-since", h("input", { type: "datetime-local", step: 1 }), "an audit period's start (your time zone); empty: from the first event"),
    field("before", "export-until", h("input", { type: "datetime-local", step: 1 }), "its end; empty: up to now"),
    field("From position", "export-from", h("input", { type: "number", min: 1, step: 1, placeholder: "1" }), "an earlier export's head + 1: only what was recorded since"))],
  "Download export", async (v) => {
    const scope = v["export-scope"];
    if (scope !== "all" && !v["export-id"]) throw new Error("give the " + scope + "'s id");
    const bounds = { since: toRFC3339(v["export-since"]), until: toRFC3339(v["export-until"]), from: v["export-from"] };
    const q = qs({ ...(scope === "all" ? {} : { [scope]: v["export-id"].trim() }), ...bounds });
    const name = "hookledger-export" + (scope === "all" ? "" : "-" + v["export-id"].trim()) + ".ndjson";
    const bytes = await download("/v1/audit/export" + q, name);
    await loadTaken();
    const period = [bounds.since && "recorded since " + bounds.since, bounds.until && "before " + bounds.until, bounds.from && "from position " + bounds.from].filter(Boolean).join(", ");
    return "Export" + (period ? " of the events " + period : "") + " saved as " + name + " (" + bytes + " bytes). Verify it offline: hookledger verify --export FILE --public-key KEY.";
  });

  const taken = h("div", { id: "copies-taken" });
  async function loadTaken() {
    try {
      const page = await get("/v1/ledger/streams/ledger-access?direction=backward&limit=20");
      const recent = page.items;
      replace(taken, table("Copies taken", ["When", "By", "What", "Ledger head", "Complete"],
        recent.map((e) => [at(e.recorded_at), e.actor_name || e.actor || "", copyTaken(e), String(e.data.head), e.data.complete ? "yes" : "no, cut short"]),
        "None yet."), page.next_cursor ? h("p", { class: "hint" }, "The newest 20: hookledger history ledger-access lists them all.") : null);
    } catch (e) {
      if (e.status === 404) replace(taken, h("p", { class: "empty" }, "None yet."));
      else replace(taken, errorBox(e));
    }
  }
  await loadTaken();

  return h("section", {},
    h("h1", {}, "Audit"),
    h("h2", {}, "Ledger and seals"), statusBox,
    h("h2", {}, "Verify"), h("p", { class: "hint" }, "Replays the ledger and recomputes the hash chain against every seal: a changed, removed or reordered event is reported with its position."),
    h("div", { class: "actions" }, verifyBtn, h("label", { for: "verify-erasures" }, withErasures, " and the key store against the erasures")), verifyOut,
    h("h2", {}, "Export"), h("p", { class: "hint" }, "A signed NDJSON export, verifiable offline with the public key above: the whole history, or the events of one period."), exportForm,
    h("h2", {}, "Point in time"), h("p", { class: "hint" }, "A subscription as it stood at a time or a ledger position."), pointInTime("", "", { pickSubscription: true }),
    h("h2", {}, "Copies taken"), h("p", { class: "hint" }, "Every export and backup taken through the API is recorded in the ledger (ledger-access): who took which data, and when."), taken);
}

// copyTaken says what a ledger-access record took.
function copyTaken(e) {
  if (e.type === "ledger.backed_up") return "a backup (" + e.data.files + " files)";
  const d = e.data;
  const scope = d.subject ? "subject " + d.subject + (d.application ? " in " + d.application : "") :
    d.application ? "application " + d.application : d.subscription ? "subscription " + d.subscription : "the whole ledger";
  const bounds = [d.from && "from position " + d.from, d.to && "to " + d.to, d.since && "recorded since " + d.since, d.until && "before " + d.until].filter(Boolean);
  return "an export of " + scope + (bounds.length ? ", " + bounds.join(", ") : "") + " (" + d.events + " events)";
}

// erasureVerdict says whether the key store agrees with the ledger's
// erasures: every key an erasure names destroyed, no key destroyed without
// one.
function erasureVerdict(r) {
  const facts = dl([
    ["Completed erasures", String(r.erasures)],
    ["Keys they name", String(r.keys_named)],
    ["Destroyed keys in the key store", String(r.tombstones)],
  ]);
  if (r.ok) return h("div", { class: "verdict verdict-ok", "data-testid": "erasures-ok" }, h("p", {}, h("strong", {}, "Erasures verified: "), "every key an erasure names is destroyed, and no key was destroyed without one."), facts);
  return h("div", { class: "verdict verdict-bad", role: "alert", "data-testid": "erasures-failed" },
    h("p", {}, h("strong", {}, "Erasures not verified: "), (r.problems || []).length + " problem(s)"),
    h("ul", {}, (r.problems || []).map((p) => h("li", {}, h("code", {}, p.kind), " " + p.detail))), facts);
}

function verdict(r) {
  const facts = dl([
    ["Events checked", String(r.events)],
    ["Seals checked", String(r.seals)],
    ["Head", String(r.head)],
    ["Last seal", r.last_seal ? "position " + r.last_seal.position : ""],
    ["Unsealed tail", r.unsealed ? r.unsealed + " events after the last seal" : ""],
  ]);
  if (r.ok) return h("div", { class: "verdict verdict-ok", "data-testid": "verify-ok" }, h("p", {}, h("strong", {}, "Verified: "), "every event matches the seals."), facts);
  const p = r.problem || {};
  return h("div", { class: "verdict verdict-bad", role: "alert", "data-testid": "verify-failed" },
    h("p", {}, h("strong", {}, "Not verified: "), (p.kind || "problem") + (p.position ? " at position " + p.position : "") + (p.detail ? " — " + p.detail : "")), facts);
}
