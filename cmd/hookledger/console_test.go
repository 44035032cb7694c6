package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hookledger/hookledger/domain"
)

// flakyReceiver acknowledges /ok at once and fails each delivery's first
// attempt at /flaky with a 500 (then acknowledges), so a timeline shows both.
func flakyReceiver(t *testing.T) *httptest.Server {
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/flaky" {
			mu.Lock()
			first := !seen[r.Header.Get("webhook-id")]
			seen[r.Header.Get("webhook-id")] = true
			mu.Unlock()
			if first {
				w.WriteHeader(500)
				w.Write([]byte("try again"))
				return
			}
		}
		w.Write([]byte("thanks"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// waitStatus waits until the API shows the delivery (scheduled by the
// fan-out a moment after the publish) in status.
func waitStatus(t *testing.T, api apiClient, dlv, status string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for {
		req, _ := http.NewRequest("GET", api.base+"/v1/deliveries/"+dlv, nil)
		req.Header.Set("Authorization", "Bearer "+api.key)
		if res, err := http.DefaultClient.Do(req); err == nil {
			var d struct{ Status string }
			json.NewDecoder(res.Body).Decode(&d)
			res.Body.Close()
			if last = d.Status; last == status {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s never %s (last %q)", dlv, status, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestConsoleFollowsADeliveryEndToEnd is what a new user does: sign in with
// the admin key, create an application and a subscription in the console,
// publish over the API, open the delivery's timeline (each event's type and
// ledger position as the API has them, the failed attempt's status), then
// verify the ledger from the audit page.
func TestConsoleFollowsADeliveryEndToEnd(t *testing.T) {
	b := newBrowser(t)
	recv := flakyReceiver(t)
	_, api, _ := startServer(t, t.TempDir(), "--allow-private-targets")
	base := api.base

	// The root sends people to the console; a wrong key is refused clearly.
	res, err := http.Get(base + "/")
	if err != nil || res.Request.URL.Path != "/console/" || res.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET / should land on the console with a CSP: %v %v", err, res)
	}
	b.open(base, "/signin", "#key")
	b.fill("#key", "hlk_wrong")
	b.do("submit a wrong key", submit("#key"))
	b.waitText("#signin-error", "unknown or revoked")
	b.shot("signin-refused")

	b.signIn(base, api.key)
	if who := b.text("[data-testid=me]"); !strings.Contains(who, "admin") {
		t.Fatalf("signed in as %q", who)
	}

	// An application and a subscription, through the UI.
	b.open(base, "/apps", "#app-name")
	b.fill("#app-name", "Shop")
	b.fill("#app-id", "app_shop")
	b.click("form[aria-label='New application'] button[type=submit]")
	b.waitText("h1", "Shop")
	b.fill("#sub-url", recv.URL+"/ok")
	b.fill("#sub-types", "order.*")
	b.fill("#sub-description", "payments team")
	const given = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // a receiver started beforehand knows it
	b.fill("#sub-secret", given)
	b.click("form[aria-label='New subscription'] button[type=submit]")
	if secret := b.text("[data-testid=secret]"); secret != given {
		t.Fatalf("the new subscription's secret is not the one given, shown once: %q", secret)
	}
	b.shot("subscription-created")
	subs := api.call("GET", "/v1/applications/app_shop/subscriptions", nil)["items"].([]any)
	if len(subs) != 1 || subs[0].(map[string]any)["url"] != recv.URL+"/ok" || subs[0].(map[string]any)["description"] != "payments team" {
		t.Fatalf("the console created %v", subs)
	}
	subID := subs[0].(map[string]any)["id"].(string)
	// A second subscription (API) whose endpoint fails once, retried at once.
	api.call("POST", "/v1/applications/app_shop/subscriptions", map[string]any{"id": "sub_flaky", "url": recv.URL + "/flaky",
		"event_types": []string{"order.paid"}, "retry_schedule_ms": []int{0, 200, 200}})

	// Publish over the API, follow it in the console.
	msg := api.call("POST", "/v1/applications/app_shop/messages", map[string]any{"event_type": "order.paid", "payload": map[string]any{"order": "ord_1", "amount": 4200}})["id"].(string)
	okDlv, flakyDlv := domain.DeliveryIDFor(msg, subID), domain.DeliveryIDFor(msg, "sub_flaky")
	waitStatus(t, api, okDlv, "acknowledged")
	waitStatus(t, api, flakyDlv, "acknowledged")

	b.open(base, "/apps/app_shop/deliveries", "table")
	b.waitText("table", flakyDlv)
	b.waitText("table", "acknowledged")
	b.shot("deliveries")
	// Paged: one per page; Next and Previous walk the cursor.
	rows := `[...document.querySelectorAll("tbody tr td:first-child")].map(td => td.innerText)`
	b.open(base, "/apps/app_shop/deliveries?limit=1", "table")
	first := eval[[]string](b, rows)
	b.click(".pager button:last-child") // Next page
	b.waitText(".pager", "page 2")
	second := eval[[]string](b, rows)
	if len(first) != 1 || len(second) != 1 || first[0] == second[0] ||
		(first[0] != flakyDlv && first[0] != okDlv) || (second[0] != flakyDlv && second[0] != okDlv) {
		t.Fatalf("pages of one: %v then %v, want %s and %s", first, second, flakyDlv, okDlv)
	}
	b.click(".pager button:first-child")
	b.waitText(".pager", "page 1")
	if again := eval[[]string](b, rows); len(again) != 1 || again[0] != first[0] {
		t.Fatalf("Previous page shows %v, not %v", again, first)
	}
	// The two deliveries come from one message's fan-out, appended
	// concurrently: either may be the newer, so the flaky one may be on page 2.
	if first[0] != flakyDlv {
		b.click(".pager button:last-child")
		b.waitText(".pager", "page 2")
	}
	b.click("a[href='#/deliveries/" + flakyDlv + "']")
	b.do("the timeline", waitVisible(".timeline li[data-type='delivery.attempt_acknowledged']"))
	b.shot("delivery-timeline")
	type shown struct {
		Type     string `json:"type"`
		Position string `json:"position"`
		Text     string `json:"text"`
	}
	got := eval[[]shown](b, `[...document.querySelectorAll(".timeline li")].map(li => ({type: li.dataset.type, position: li.dataset.position, text: li.innerText}))`)
	want := api.call("GET", "/v1/deliveries/"+flakyDlv+"/timeline", nil)["items"].([]any)
	if len(got) != len(want) {
		t.Fatalf("the console shows %d events, the ledger has %d: %v", len(got), len(want), got)
	}
	var sawFailed bool
	for i, w := range want {
		ev := w.(map[string]any)
		pos := jsonNumber(ev["position"])
		if got[i].Type != ev["type"] || got[i].Position != pos || !strings.Contains(got[i].Text, "position "+pos) {
			t.Fatalf("event %d: console %+v, ledger %v", i, got[i], ev)
		}
		if got[i].Type == "delivery.attempt_failed" {
			sawFailed = true
			if !strings.Contains(got[i].Text, "500") || !strings.Contains(got[i].Text, "try again") {
				t.Fatalf("the failed attempt does not show its status and response: %q", got[i].Text)
			}
		}
		if got[i].Type == "delivery.attempt_acknowledged" && (!strings.Contains(got[i].Text, "200") || !strings.Contains(got[i].Text, "ms")) {
			t.Fatalf("the acknowledged attempt does not show its status and latency: %q", got[i].Text)
		}
	}
	if !sawFailed {
		t.Fatalf("no failed attempt on the flaky delivery's timeline: %v", got)
	}
	if n := eval[[]string](b, unlabelledFields); len(n) > 0 {
		t.Fatalf("the delivery page has fields without a label: %v", n)
	}
	b.fill("#redeliver-reason", "customer asked")
	b.click("form[aria-label='Redeliver'] button[type=submit]")
	b.do("the redelivery on the timeline", waitVisible(".timeline li[data-type='delivery.redelivery_requested']"))
	b.waitText(".timeline li[data-type='delivery.redelivery_requested']", "customer asked")

	// The message, its payload and explain.
	b.open(base, "/apps/app_shop/messages/"+msg, "[data-testid=payload]")
	if p := b.text("[data-testid=payload]"); !strings.Contains(p, `"amount": 4200`) {
		t.Fatalf("payload shown as %q", p)
	}
	b.do("explain", setValue("#explain-sub", subID), submit("#explain-sub"))
	b.waitText(".explain-result", "matched")
	b.shot("message-explain")

	// The subscription page: health and charts; edit, pause, resume, rotate.
	b.open(base, "/apps/app_shop/subscriptions/sub_flaky", "figure.chart svg rect")
	b.waitText("main", "last acknowledged")
	b.shot("subscription")
	b.fill("#edit-types", "order.paid, invoice.*")
	b.fill("#edit-description", "edited in the console")
	b.click("form[aria-label='Edit subscription'] button[type=submit]")
	b.waitText("#notice", "Saved")
	edited := api.call("GET", "/v1/applications/app_shop/subscriptions/sub_flaky", nil)
	if types := fmt.Sprint(edited["event_types"]); types != "[order.paid invoice.*]" || edited["description"] != "edited in the console" {
		t.Fatalf("the edit made %v", edited)
	}
	b.click("main .actions button:not([type=submit])") // Pause
	b.waitText(".facts", "paused")
	if st := api.call("GET", "/v1/applications/app_shop/subscriptions/sub_flaky", nil)["status"]; st != "paused" {
		t.Fatalf("after Pause the subscription is %v", st)
	}
	b.click("main .actions button:not([type=submit])") // Resume
	b.waitText(".facts", "active")
	oldKey := edited["current_key_id"]
	b.click("main .actions button.secondary") // Rotate secret
	if s := b.text("[data-testid=secret]"); !strings.HasPrefix(s, "whsec_") {
		t.Fatalf("the rotated secret is not shown: %q", s)
	}
	if k := api.call("GET", "/v1/applications/app_shop/subscriptions/sub_flaky", nil)["current_key_id"]; k == oldKey {
		t.Fatalf("rotate kept key %v", k)
	}
	// A change made elsewhere after the page was drawn: the console's edit,
	// decided on what it showed, is refused rather than overwriting it, and
	// the page shows the subscription as it is now.
	api.call("PATCH", "/v1/applications/app_shop/subscriptions/sub_flaky", map[string]any{"description": "changed by the API"})
	b.fill("#edit-description", "a stale edit")
	b.click("form[aria-label='Edit subscription'] button[type=submit]")
	b.waitText("#notice", "changed since the page showed it")
	if d := api.call("GET", "/v1/applications/app_shop/subscriptions/sub_flaky", nil)["description"]; d != "changed by the API" {
		t.Fatalf("the console's stale edit overwrote the other change: description %v", d)
	}
	if v := eval[string](b, `document.querySelector("#edit-description").value`); v != "changed by the API" {
		t.Fatalf("after the refusal the form shows %q, not the subscription as it is now", v)
	}
	b.click("form[aria-label='Edit subscription'] button[type=submit]") // saved again, on what is shown now
	b.waitText("#notice", "Saved")
	// As it stood at the message's position: before the edit.
	b.fill("#asof-pos", jsonNumber(api.call("GET", "/v1/applications/app_shop/messages/"+msg, nil)["position"]))
	b.do("as of", submit("#asof-pos"))
	b.waitText(".asof-result", "order.paid")
	if txt := b.text(".asof-result"); strings.Contains(txt, "invoice.*") || strings.Contains(txt, "edited in the console") {
		t.Fatalf("as of the message's position the subscription shows the later edit: %q", txt)
	}

	// Audit: status and a verification that passes.
	b.open(base, "/audit", "[data-testid=public-key]")
	b.click("#verify")
	b.waitText("#verify-result", "Verified")
	b.waitText("#verify-result", "Erasures verified") // none yet, none destroyed
	b.shot("audit-verified")
	b.do("export one application", setValue("#export-scope", "application"))
	b.fill("#export-id", "app_shop")
	b.click("form[aria-label='Export'] button[type=submit]")
	b.waitText("#notice", "hookledger-export-app_shop.ndjson")
	b.waitText("#copies-taken", "an export of application app_shop")
	// A period: the bounds reach the server, which refuses an empty one.
	b.do("a period's start", setValue("#export-since", "2026-03-02T10:00:01"))
	b.do("a period's end before it", setValue("#export-until", "2026-03-01T10:00:01"))
	b.click("form[aria-label='Export'] button[type=submit]")
	b.waitText("#notice", "until must be after since")
	b.do("a period's end after it", setValue("#export-until", "2026-03-03T10:00:01"))
	b.click("form[aria-label='Export'] button[type=submit]")
	b.waitText("#notice", "of the events recorded since 2026-03-0")
	// The copies taken, newest first: the bounded export above the whole one.
	b.waitText("#copies-taken tbody tr:first-child", "recorded since 2026-03-0")
	if rows := b.text("#copies-taken tbody"); !strings.Contains(rows, "an export of application app_shop (") {
		t.Fatalf("the first export is not among the copies taken: %q", rows)
	}

	// API keys (admin): a key with an expiry, shown once and listed, then
	// revoked; the only admin key cannot be revoked from here either.
	b.open(base, "/keys", "form[aria-label='New API key']")
	expires := time.Now().AddDate(1, 0, 0)
	expires = time.Date(expires.Year(), expires.Month(), expires.Day(), 10, 0, 7, 0, time.Local)
	b.do("an auditor key", setValue("#key-role", "auditor"))
	b.fill("#key-name", "auditor for Q3")
	b.do("its expiry", setValue("#key-expires", expires.Format("2006-01-02T15:04:05")))
	b.click("form[aria-label='New API key'] button[type=submit]")
	b.waitText("#notice", "created, until")
	newKey := b.text("[data-testid=secret]")
	auditor := apiClient{t: t, base: api.base, key: newKey}
	me := auditor.call("GET", "/v1/me", nil)
	if me["role"] != "auditor" || me["name"] != "auditor for Q3" || me["expires_at"] == nil {
		t.Fatalf("the key the console created: %v", me)
	}
	if got, _ := time.Parse(time.RFC3339, me["expires_at"].(string)); !got.Equal(expires) {
		t.Fatalf("the key expires at %v, the console was given %v", got, expires)
	}
	b.waitText("table", "auditor for Q3")
	b.click("[data-revoke='" + me["id"].(string) + "']")
	b.waitText("#notice", "revoked")
	if status, _ := auditor.raw("GET", "/v1/me", nil); status != 401 {
		t.Fatalf("the key revoked in the console still authenticates: %d", status)
	}
	adminID := api.call("GET", "/v1/me", nil)["id"].(string)
	b.click("[data-revoke='" + adminID + "']")
	b.waitText("#notice", "only active admin key")
	b.shot("keys")

	// Retention and erasure from the application page (admin); then the
	// message page says the payload is erased instead of showing it.
	b.open(base, "/apps/app_shop", "#retention-days")
	b.fill("#retention-days", "30")
	b.click("form[aria-label='Payload retention'] button[type=submit]")
	b.waitText("#notice", "kept 30 days")
	if d := api.call("GET", "/v1/applications/app_shop", nil)["payload_retention_days"]; d != 30.0 {
		t.Fatalf("retention after the console set it: %v", d)
	}
	// Saved again on what the page shows: fine; after a change through
	// the API, refused, and the other change kept.
	b.fill("#retention-days", "31")
	b.click("form[aria-label='Payload retention'] button[type=submit]")
	b.waitText("#notice", "kept 31 days")
	api.call("PATCH", "/v1/applications/app_shop", map[string]any{"name": "Shop, renamed by the API"})
	b.fill("#retention-days", "32")
	b.click("form[aria-label='Payload retention'] button[type=submit]")
	b.waitText("#notice", "changed since the page showed it")
	if a := api.call("GET", "/v1/applications/app_shop", nil); a["payload_retention_days"] != 31.0 || a["name"] != "Shop, renamed by the API" {
		t.Fatalf("the console's stale change of the application: %v", a)
	}
	b.open(base, "/apps/app_shop", "#retention-days")
	b.fill("#erase-reason", "the shop closed")
	b.click("#erase-confirm")
	b.click("form[aria-label='Erase payloads'] button[type=submit]")
	era := b.text("[data-testid=erasure-id]")
	if got := api.call("GET", "/v1/applications/app_shop/erasures/"+era, nil); got["status"] != "completed" || got["scope"] != "application" {
		t.Fatalf("the console's erasure: %v", got)
	}
	b.shot("erasure")
	b.open(base, "/apps/app_shop/messages/"+msg, "[data-testid=payload-erased]")
	if txt := b.text("[data-testid=payload-erased]"); !strings.Contains(txt, era) {
		t.Fatalf("the erased message shows %q", txt)
	}
	if n := eval[int](b, `document.querySelectorAll("[data-testid=payload]").length`); n != 0 {
		t.Fatal("an erased message still shows a payload block")
	}
	// The key store agrees with the erasure: its keys are destroyed.
	b.open(base, "/audit", "#verify")
	b.click("#verify")
	b.waitText("[data-testid=erasures-ok]", "Erasures verified")
	if txt := b.text("[data-testid=erasures-ok]"); !strings.Contains(txt, "Completed erasures\n1") && !strings.Contains(txt, "Completed erasures1") && !strings.Contains(txt, "Completed erasures 1") {
		t.Fatalf("the audit page's erasures after one: %q", txt)
	}

	// Offboarding: the application deleted from its page; the page says
	// so and offers no more writes; its subscriptions are deleted.
	b.open(base, "/apps/app_shop", "#delete-reason")
	b.fill("#delete-reason", "the shop closed")
	b.click("#delete-confirm")
	b.click("form[aria-label='Delete application'] button[type=submit]")
	b.waitText("#notice", "deleted")
	b.waitText("[data-testid=app-deleted]", "the shop closed")
	if got := api.call("GET", "/v1/applications/app_shop", nil); got["deleted_reason"] != "the shop closed" {
		t.Fatalf("the console's deletion: %v", got)
	}
	if n := eval[int](b, `document.querySelectorAll("#sub-url, #retention-days, #delete-reason").length`); n != 0 {
		t.Fatal("a deleted application's page still offers forms that would be refused")
	}
	if st := api.call("GET", "/v1/applications/app_shop/subscriptions?limit=10", nil)["items"].([]any); len(st) != 0 {
		t.Fatalf("subscriptions left after the deletion: %v", st)
	}
	b.open(base, "/apps", "#show-deleted")
	if strings.Contains(b.text("main"), "app_shop") {
		t.Fatal("the deleted application is listed with the others")
	}
	b.click("#show-deleted")
	b.waitText("main table", "app_shop")
	b.clean()
}

// jsonNumber prints a JSON number (a position) as an integer.
func jsonNumber(v any) string {
	f, _ := v.(float64)
	return fmt.Sprintf("%.0f", f)
}

// submit submits the form of the field sel as pressing Enter in it does
// (chromedp.Submit calls form.submit(), which skips the submit event the
// console listens to, as no person's action can).
func submit(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf("document.querySelector(%q).form.requestSubmit()", sel))
}
func waitVisible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(sel))
}
func setValue(sel, v string) chromedp.Action[chromedp.Void] {
	return chromedp.SetValue(chromedp.CSS(sel), v)
}

// inert is what the page must not hold after rendering hostile values: no
// element a payload could have injected, no handler attribute, and no script
// but the console's own.
const inert = `document.querySelectorAll("img, iframe, object, embed, [onerror], [onmouseover], [onclick], [onload]").length === 0 &&
	[...document.scripts].every(s => s.src.endsWith("/console/app.js"))`

// unlabelledFields lists the page's form fields that no label names.
const unlabelledFields = `[...document.querySelectorAll("input, select, textarea")]
	.filter(el => el.labels.length === 0 && !el.getAttribute("aria-label")).map(el => el.id || el.name || el.outerHTML)`

// TestConsoleRolesAndInertPayloads: an application key sees its own
// application only, an auditor changes nothing, a revoked key is sent back
// to sign-in, sign-out forgets the key; values holding markup (an
// application name, a description, a header, a payload) are shown as text
// and never run.
func TestConsoleRolesAndInertPayloads(t *testing.T) {
	b := newBrowser(t)
	_, api, _ := startServer(t, t.TempDir(), "--allow-private-targets")
	base := api.base
	const xssName = `<script>alert("app name")</script>`
	const xssDesc = `<img src=x onerror=alert("description")>`
	const xssHeader = `" onmouseover="alert('header')" x="`
	api.call("POST", "/v1/applications", map[string]any{"id": "app_a", "name": "Shop A"})
	api.call("POST", "/v1/applications", map[string]any{"id": "app_b", "name": xssName})
	api.call("POST", "/v1/applications/app_b/subscriptions", map[string]any{"id": "sub_b", "url": "http://127.0.0.1:9/hook?x='onmouseover='alert(1)",
		"event_types": []string{"*"}, "description": xssDesc, "headers": map[string]string{"X-Note": xssHeader}, "retry_schedule_ms": []int{0}})
	api.call("POST", "/v1/applications/app_a/subscriptions", map[string]any{"id": "sub_a", "url": "http://127.0.0.1:9/a", "event_types": []string{"*"}, "retry_schedule_ms": []int{0}})
	msgB := api.call("POST", "/v1/applications/app_b/messages", map[string]any{"event_type": "order.paid",
		"payload": map[string]any{"html": "<script>alert('payload')</script>", "attr": `" onmouseover="alert('attr')`}})["id"].(string)
	api.call("POST", "/v1/applications/app_a/messages", map[string]any{"event_type": "order.paid", "payload": map[string]any{"n": 1}})
	dlvB := domain.DeliveryIDFor(msgB, "sub_b")
	waitStatus(t, api, dlvB, "exhausted") // nothing listens on port 9

	// Admin: every page that shows app_b's hostile values.
	b.signIn(base, api.key)
	for _, page := range []struct{ route, sel, want string }{
		{"/apps", "table", xssName},
		{"/apps/app_b", "table", "sub_b"},
		{"/apps/app_b/subscriptions/sub_b", ".facts", "X-Note: " + xssHeader},
		{"/apps/app_b/messages/" + msgB, "[data-testid=payload]", "<script>alert('payload')</script>"},
		{"/deliveries/" + dlvB, ".timeline", "exhausted"},
	} {
		b.open(base, page.route, page.sel)
		b.waitText("main", page.want)
		if !eval[bool](b, inert) {
			b.shot("not-inert")
			t.Fatalf("%s: hostile values were turned into elements or handlers", page.route)
		}
		if unlabelled := eval[[]string](b, unlabelledFields); len(unlabelled) > 0 {
			t.Fatalf("%s: fields without a label: %v", page.route, unlabelled)
		}
	}
	b.open(base, "/apps/app_b/subscriptions/sub_b", ".facts")
	if txt := b.text(".facts"); !strings.Contains(txt, xssDesc) {
		t.Fatalf("the description is not shown as text: %q", txt)
	}
	b.shot("inert-values")

	// An application key: its application only.
	appKey := api.call("POST", "/v1/keys", map[string]any{"role": "application", "application": "app_a", "name": "shop-a"})["key"].(string)
	b.click("#signout")
	b.do("signed out", waitVisible("#key"))
	if n := eval[int](b, "sessionStorage.length"); n != 0 {
		t.Fatalf("sign-out left %d items in sessionStorage", n)
	}
	b.open(base, "/apps", "#key") // signed out: every page asks for a key
	// By keyboard alone: the key field has the focus, Enter signs in.
	if focused := eval[string](b, "document.activeElement.id"); focused != "key" {
		t.Fatalf("the sign-in page puts the focus on %q, not the key field", focused)
	}
	b.do("sign in by keyboard", chromedp.KeyEvent(appKey+"\r"), waitVisible("[data-testid=me]"))
	b.waitText("h1", "Shop A")
	if nav := b.text("#nav"); strings.Contains(nav, "Audit") || strings.Contains(nav, "Applications") {
		t.Fatalf("an application key is offered %q", nav)
	}
	b.open(base, "/apps/app_b", ".error")
	b.waitText(".error", "not_found")
	b.open(base, "/apps/app_b/subscriptions/sub_b", ".error")
	b.open(base, "/deliveries/"+dlvB, ".error")
	b.open(base, "/audit", ".error")
	b.waitText(".error", "forbidden")
	b.open(base, "/apps/app_a/deliveries", "table")
	if txt := b.text("main"); strings.Contains(txt, "sub_b") || strings.Contains(txt, "app_b") {
		t.Fatalf("app_a's key sees app_b: %q", txt)
	}
	b.shot("application-key")

	// An auditor reads everything and is offered no change.
	audKey := api.call("POST", "/v1/keys", map[string]any{"role": "auditor", "name": "compliance"})["key"].(string)
	b.click("#signout")
	b.signIn(base, audKey)
	b.open(base, "/apps/app_b/subscriptions/sub_b", ".facts")
	b.waitText("main", "Health")
	if n := eval[int](b, `document.querySelectorAll("main form[aria-label='Edit subscription'], main button:not([type=submit])").length`); n != 0 {
		t.Fatalf("an auditor is offered %d controls that change things", n)
	}
	b.open(base, "/apps", "table")
	if n := eval[int](b, `document.querySelectorAll("#app-name").length`); n != 0 {
		t.Fatal("an auditor is offered to create an application")
	}
	b.open(base, "/audit", "[data-testid=public-key]")

	// A key revoked while signed in: the next page sends the user back.
	temp := api.call("POST", "/v1/keys", map[string]any{"role": "application", "application": "app_a", "name": "temp"})
	b.click("#signout")
	b.signIn(base, temp["key"].(string))
	api.call("DELETE", "/v1/keys/"+temp["id"].(string), nil)
	b.open(base, "/apps/app_a/messages", "#key")
	b.waitText("#notice", "refused")
	b.shot("revoked-key")
	b.clean()
}

// TestConsolePagesAMessageOfManyDeliveries: a message fanned out to more
// subscriptions than its page lists says so, and links to its deliveries
// alone, paged like any listing.
func TestConsolePagesAMessageOfManyDeliveries(t *testing.T) {
	b := newBrowser(t)
	recv := flakyReceiver(t)
	_, api, _ := startServer(t, t.TempDir(), "--allow-private-targets")
	base := api.base
	api.call("POST", "/v1/applications", map[string]any{"id": "app_fan", "name": "Fan-out"})
	const subs = 103
	for i := range subs {
		api.call("POST", "/v1/applications/app_fan/subscriptions", map[string]any{"id": fmt.Sprintf("sub_%03d", i), "url": recv.URL + "/ok", "event_types": []string{"order.paid"}})
	}
	api.call("POST", "/v1/applications/app_fan/messages", map[string]any{"event_type": "order.paid", "payload": map[string]any{"n": 0}})
	msg := api.call("POST", "/v1/applications/app_fan/messages", map[string]any{"event_type": "order.paid", "payload": map[string]any{"n": 1}})["id"].(string)
	deadline := time.Now().Add(20 * time.Second)
	for api.call("GET", "/v1/applications/app_fan/messages/"+msg, nil)["delivery_count"] != float64(subs) {
		if time.Now().After(deadline) {
			t.Fatal("the message was not fanned out")
		}
		time.Sleep(20 * time.Millisecond)
	}

	b.signIn(base, api.key)
	b.open(base, "/apps/app_fan/messages/"+msg, "[data-testid=more-deliveries]")
	if hint := b.text("[data-testid=more-deliveries]"); !strings.Contains(hint, "The first 100 of 103 deliveries") {
		t.Fatalf("the message page says %q", hint)
	}
	if n := eval[int](b, `document.querySelectorAll("tbody tr").length`); n != 100 {
		t.Fatalf("%d deliveries listed on the message's page", n)
	}
	b.click("[data-testid=more-deliveries] a")
	b.waitText("[data-testid=of-message]", msg)
	b.waitText("table", "Deliveries, newest first")
	ids := eval[[]string](b, `[...document.querySelectorAll("tbody tr td:first-child")].map(td => td.innerText)`)
	if len(ids) != 50 {
		t.Fatalf("%d deliveries on the first page, want 50", len(ids))
	}
	for _, id := range ids {
		if d := api.call("GET", "/v1/deliveries/"+id, nil); d["message_id"] != msg {
			t.Fatalf("delivery %s of message %v listed among message %s's", id, d["message_id"], msg)
		}
	}
}
