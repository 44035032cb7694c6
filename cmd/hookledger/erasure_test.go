package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/eventstoredb"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/keystore"
	"github.com/hookledger/hookledger/domain"
)

// filesContaining lists the files under dir whose bytes contain b.
func filesContaining(t *testing.T, dir string, b []byte) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		if raw, _ := os.ReadFile(p); bytes.Contains(raw, b) {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// exportedMessages counts an export's message events whose data holds the
// marker in the clear, and those whose payload is sealed.
func exportedMessages(t *testing.T, export []byte, marker string) (plain, sealed int) {
	t.Helper()
	for _, line := range bytes.Split(export, []byte("\n")) {
		var ev struct {
			Kind, Type string
			Data       []byte
		}
		if json.Unmarshal(line, &ev) != nil || ev.Kind != "event" || ev.Type != domain.TypeMessagePublished {
			continue
		}
		if bytes.Contains(ev.Data, []byte(marker)) {
			plain++
		}
		if bytes.Contains(ev.Data, []byte(`"payload_sealed"`)) {
			sealed++
		}
	}
	return plain, sealed
}

// erasureEnv is a served ledger with one acknowledging and one failing
// subscription (whose deliveries stay pending, waiting for a retry an hour
// away).
type erasureEnv struct {
	t   *testing.T
	dir string
	srv *exec.Cmd
	api apiClient
	pub string
}

func newErasureEnv(t *testing.T, scope string) *erasureEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the binary; skipped under -short")
	}
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(ok.Close)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	t.Cleanup(down.Close)
	dir := t.TempDir()
	srv, api, _ := startServer(t, dir, "--allow-private-targets", "--erasure-scope", scope)
	e := &erasureEnv{t: t, dir: dir, srv: srv, api: api}
	e.pub = api.call("GET", "/v1/audit/public-key", nil)["public_key"].(string)
	api.call("POST", "/v1/applications", map[string]any{"id": "app_e", "name": "E"})
	api.call("POST", "/v1/applications/app_e/subscriptions", map[string]any{"id": "sub_ok", "url": ok.URL, "event_types": []string{"*"}})
	api.call("POST", "/v1/applications/app_e/subscriptions", map[string]any{"id": "sub_down", "url": down.URL, "event_types": []string{"*"},
		"retry_schedule_ms": []int{0, 3600000}})
	return e
}

// publish publishes a payload carrying marker, and waits until sub_ok has it
// and sub_down's delivery waits for its retry.
func (e *erasureEnv) publish(marker, subject string) string {
	e.t.Helper()
	body := map[string]any{"event_type": "customer.updated", "payload": map[string]any{"email": marker + "@example.com", "note": marker}}
	if subject != "" {
		body["subject"] = subject
	}
	id := e.api.call("POST", "/v1/applications/app_e/messages", body)["id"].(string)
	waitStatus(e.t, e.api, domain.DeliveryIDFor(id, "sub_ok"), "acknowledged")
	waitStatus(e.t, e.api, domain.DeliveryIDFor(id, "sub_down"), "failed")
	return id
}

func (e *erasureEnv) payload(msg string) map[string]any {
	e.t.Helper()
	m := e.api.call("GET", "/v1/applications/app_e/messages/"+msg, nil)
	p, _ := m["payload"].(map[string]any)
	return p
}

// assertErased checks that msg's payload is gone, named by erasure, and that
// its pending delivery was cancelled saying why.
func (e *erasureEnv) assertErased(msg, erasure string) {
	e.t.Helper()
	if p := e.payload(msg); p["erased"] != true || p["erasure_id"] != erasure {
		e.t.Fatalf("message %s after erasure %s: payload %v", msg, erasure, p)
	}
	tl := e.api.call("GET", "/v1/deliveries/"+domain.DeliveryIDFor(msg, "sub_down")+"/timeline", nil)["items"].([]any)
	last := tl[len(tl)-1].(map[string]any)
	if last["type"] != domain.TypeDeliveryCancelled || !strings.Contains(fmt.Sprint(last["data"]), "payload erased by "+erasure) {
		e.t.Fatalf("the pending delivery of %s was not cancelled for the erasure: %v", msg, last)
	}
}

func (e *erasureEnv) erase(body map[string]any) map[string]any {
	e.t.Helper()
	status, out := e.api.raw("POST", "/v1/applications/app_e/erasures", body)
	if status != http.StatusCreated || out["status"] != "completed" {
		e.t.Fatalf("erase %v: %d %v", body, status, out)
	}
	return out
}

// export fetches an export through the API (query: its scope).
func (e *erasureEnv) export(query string) []byte {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.api.base+"/v1/audit/export?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+e.api.key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("export %s: %d %s", query, res.StatusCode, raw)
	}
	return raw
}

// verifyOK checks the whole ledger against its seals through the API.
func (e *erasureEnv) verifyOK() {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.api.base+"/v1/audit/verify", nil)
	req.Header.Set("Authorization", "Bearer "+e.api.key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	lines := bytes.Split(bytes.TrimSpace(raw), []byte("\n"))
	var last map[string]any
	json.Unmarshal(lines[len(lines)-1], &last)
	if last["kind"] != "result" || last["ok"] != true {
		e.t.Fatalf("verify after erasure: %s", raw)
	}
}

// TestErasureByApplicationAndTimeKeepsTheLedgerVerifiable: payloads are
// encrypted at rest (their bytes are in no file of the data directory);
// erasing by time and then the whole application makes them unreadable,
// cancels the deliveries still pending for them, leaves verify passing on
// the ledger and on an export made before, and new messages readable; the
// data keys' master key is required and a wrong one is refused clearly,
// while verify works without any.
func TestErasureByApplicationAndTimeKeepsTheLedgerVerifiable(t *testing.T) {
	e := newErasureEnv(t, "application")
	marker := "erasure-marker-" + ids.New("")
	m1 := e.publish(marker, "cus_1")
	if p := e.payload(m1); p["note"] != marker {
		t.Fatalf("the payload does not read back: %v", p)
	}
	if got := e.api.call("GET", "/v1/applications/app_e/messages/"+m1, nil); got["encrypted"] != true || got["subject"] != "cus_1" {
		t.Fatalf("message %v", got)
	}
	// Payloads keyed by application: a subject's share their keys, so an
	// erasure of the subject cannot be done (it was "completed" with
	// nothing destroyed and the payload readable).
	if status, out := e.api.raw("POST", "/v1/applications/app_e/erasures", map[string]any{"scope": "subject", "subject": "cus_1", "reason": "art. 17"}); status != 422 || out["code"] != "not_erasable" || out["field"] != "subject" {
		t.Fatalf("a subject erasure under application scope: %d %v", status, out)
	}
	if p := e.payload(m1); p["note"] != marker {
		t.Fatalf("the refused subject erasure changed the payload: %v", p)
	}
	// Encrypted at rest: the marker is in no file; the message id is (the
	// scan reads what the ledger wrote).
	if where := filesContaining(t, e.dir, []byte(marker)); len(where) > 0 {
		t.Fatalf("the plain payload is on disk in %v", where)
	}
	if where := filesContaining(t, e.dir, []byte(m1)); len(where) == 0 {
		t.Fatal("the message id is in no file: the scan proves nothing")
	}
	exportBefore := filepath.Join(t.TempDir(), "before.ndjson")
	raw := e.export("application=app_e")
	os.WriteFile(exportBefore, raw, 0o600)
	if plain, sealed := exportedMessages(t, raw, marker); plain > 0 || sealed != 1 {
		t.Fatalf("the export holds %d plain payloads and %d sealed ones, want 0 and 1", plain, sealed)
	}

	// Messages one by one: their key is the application's (of the day): refused, nothing done.
	if status, out := e.api.raw("POST", "/v1/applications/app_e/erasures", map[string]any{"scope": "messages", "message_ids": []string{m1}, "reason": "art. 17"}); status != 422 || out["code"] != "not_erasable" {
		t.Fatalf("erasing one message of a shared key: %d %v", status, out)
	}
	if status, out := e.api.raw("POST", "/v1/applications/app_e/erasures", map[string]any{"scope": "application"}); status != 422 || out["field"] != "reason" {
		t.Fatalf("an erasure without a reason: %d %v", status, out)
	}
	auditor := e.api.call("POST", "/v1/keys", map[string]any{"role": "auditor"})["key"].(string)
	if status, _ := (apiClient{t: t, base: e.api.base, key: auditor}).raw("POST", "/v1/applications/app_e/erasures", map[string]any{"scope": "application", "reason": "r"}); status != 403 {
		t.Fatalf("an auditor erased: %d", status)
	}

	// Published before a time that is still today: no whole day before it, nothing erased.
	early := e.erase(map[string]any{"scope": "published_before", "before": time.Now().UTC().Format(time.RFC3339), "reason": "retention test"})
	if keys := early["keys_destroyed"].([]any); len(keys) != 0 || e.payload(m1)["note"] != marker {
		t.Fatalf("an erasure before today erased today's messages: %v", early)
	}
	// Before tomorrow: today's key goes, and the erasure says it reached
	// the moment it chose the keys, not tomorrow (what is published later
	// today gets a new key, below).
	tomorrow := time.Now().UTC().Add(24 * time.Hour)
	asked := time.Now()
	era := e.erase(map[string]any{"id": "era_tomorrow", "scope": "published_before", "before": tomorrow.Format(time.RFC3339), "reason": "retention test"})
	effective, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(era["effective_before"]))
	completed, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(era["completed_at"]))
	if keys := era["keys_destroyed"].([]any); len(keys) != 1 || effective.Before(asked) || effective.After(completed) {
		t.Fatalf("erasure before tomorrow: %v (effective_before between the call and its completion)", era)
	}
	e.assertErased(m1, "era_tomorrow")
	// The same erasure again changes nothing and says so.
	if status, out := e.api.raw("POST", "/v1/applications/app_e/erasures", map[string]any{"id": "era_tomorrow", "scope": "published_before",
		"before": tomorrow.Format(time.RFC3339), "reason": "retention test"}); status != 200 || out["resumed"] != true {
		t.Fatalf("the erasure again: %d %v", status, out)
	}
	if got := e.api.call("GET", "/v1/applications/app_e/erasures/era_tomorrow", nil); got["status"] != "completed" || got["actor"] == "" {
		t.Fatalf("GET erasure: %v", got)
	}

	// A message after the erasure is readable (a new key), until the
	// application is erased.
	m2 := e.publish(marker+"-2", "")
	if e.payload(m2)["note"] != marker+"-2" {
		t.Fatal("a message published after an erasure is not readable")
	}
	if published, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(e.api.call("GET", "/v1/applications/app_e/messages/"+m2, nil)["published_at"])); !published.After(effective) {
		t.Fatalf("a readable message published at %s, before the erasure's effective_before %s", published, effective)
	}
	all := e.erase(map[string]any{"scope": "application", "reason": "the customer left"})
	e.assertErased(m2, all["id"].(string))
	e.assertErased(m1, "era_tomorrow") // still named by the first erasure
	e.verifyOK()

	// Stopped: verify and the export made before still pass, without keys.
	e.srv.Process.Signal(os.Interrupt)
	e.srv.Wait()
	if out, code := runCLI(t, "verify", "--data-dir", e.dir, "--public-key", e.pub); code != 0 || !strings.HasPrefix(out, "OK:") {
		t.Fatalf("verify after erasure: %d %s", code, out)
	}
	if out, code := runCLI(t, "verify", "--export", exportBefore, "--public-key", e.pub); code != 0 || !strings.HasPrefix(out, "OK:") {
		t.Fatalf("the export made before the erasure: %d %s", code, out)
	}
	if where := filesContaining(t, e.dir, []byte(marker)); len(where) > 0 {
		t.Fatalf("the erased payload's bytes are in %v", where)
	}
	if out, code := runCLI(t, "history", m1, "--data-dir", e.dir); code != 0 || !strings.Contains(out, "[payload erased by era_tomorrow]") {
		t.Fatalf("history of an erased message: %d %s", code, out)
	}
	// An export made after: the erased messages are marked, and it verifies.
	exportAfter := filepath.Join(t.TempDir(), "after.ndjson")
	if out, code := runCLI(t, "export", "--data-dir", e.dir, "--application", "app_e", "--out", exportAfter, "--quiet"); code != 0 {
		t.Fatalf("export after the erasure: %s", out)
	}
	after, _ := os.ReadFile(exportAfter)
	marks := map[string]string{}
	for _, line := range bytes.Split(after, []byte("\n")) {
		var ev struct {
			Kind, Stream string
			Payload      *struct {
				Erased    bool   `json:"erased"`
				ErasureID string `json:"erasure_id"`
			}
		}
		if json.Unmarshal(line, &ev) == nil && ev.Payload != nil && ev.Payload.Erased {
			marks[ev.Stream] = ev.Payload.ErasureID
		}
	}
	if marks[domain.MessageStream(m1)] != "era_tomorrow" || marks[domain.MessageStream(m2)] != all["id"] || len(marks) != 2 {
		t.Fatalf("the export after the erasure marks %v", marks)
	}
	if out, code := runCLI(t, "verify", "--export", exportAfter, "--public-key", e.pub); code != 0 || !strings.HasPrefix(out, "OK:") {
		t.Fatalf("the export made after the erasure: %d %s", code, out)
	}
	// For spreadsheets: the same, as CSV, with the actors named.
	csvFile := filepath.Join(t.TempDir(), "app.csv")
	exportOut, code := runCLI(t, "export", "--data-dir", e.dir, "--application", "app_e", "--format", "csv", "--quiet", "--out", csvFile)
	raw, _ = os.ReadFile(csvFile)
	csvOut := string(raw) + exportOut
	rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if code != 0 || err != nil || len(rows) < 3 || rows[0][6] != "actor_name" || rows[0][7] != "payload_erased_by" {
		t.Fatalf("export --format csv: %d %v\n%s", code, err, csvOut)
	}
	erasedRows := 0
	for _, r := range rows[1:] {
		if r[3] == domain.TypeMessagePublished && r[7] != "" {
			erasedRows++
		}
		if r[3] == domain.TypeErasureRequested && !strings.HasSuffix(r[6], "(admin)") {
			t.Fatalf("the erasure's actor is not named: %v", r)
		}
	}
	if erasedRows != 2 {
		t.Fatalf("%d erased messages in the CSV export, want 2:\n%s", erasedRows, csvOut)
	}
	// The CSV proves nothing; verify says so rather than that it cannot
	// parse it.
	if out, code := runCLI(t, "verify", "--export", csvFile, "--public-key", e.pub); code != 1 || !strings.Contains(out, "the CSV form of an export") {
		t.Fatalf("verify of the CSV export: %d %s", code, out)
	}
	// An --out that cannot be written is refused before the ledger is read.
	for _, bad := range []string{t.TempDir(), filepath.Join(t.TempDir(), "missing", "app.ndjson")} {
		if out, code := runCLI(t, "export", "--data-dir", e.dir, "--quiet", "--out", bad); code != 2 || !strings.Contains(out, "--out "+bad) {
			t.Fatalf("export --out %s: %d %s", bad, code, out)
		}
	}
	csvOut, code = runCLI(t, "history", "erasure-era_tomorrow", "--data-dir", e.dir, "--format", "csv")
	if rows, err := csv.NewReader(strings.NewReader(csvOut)).ReadAll(); code != 0 || err != nil || len(rows) != 3 || !strings.HasSuffix(rows[1][6], "(admin)") {
		t.Fatalf("history --format csv: %d %v\n%s", code, err, csvOut)
	}

	// A wrong master key is refused, naming both keys; the right one serves.
	srv := exec.Command(binary(t), "serve", "--data-dir", e.dir, "--listen", freePort(t))
	srv.Env = append(os.Environ(), "HOOKLEDGER_ADMIN_KEY=integrity-test-admin-key-0123456789", "HOOKLEDGER_MASTER_KEY="+"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	out, err := srv.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "wrong master key") || !strings.Contains(string(out), "mk_") {
		t.Fatalf("serve with a wrong master key: %v\n%s", err, out)
	}
	os.Rename(filepath.Join(e.dir, "master.key"), filepath.Join(e.dir, "master.key.lost"))
	srv = exec.Command(binary(t), "serve", "--data-dir", e.dir, "--listen", freePort(t))
	srv.Env = append(os.Environ(), "HOOKLEDGER_ADMIN_KEY=integrity-test-admin-key-0123456789")
	out, err = srv.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no master key is given") {
		t.Fatalf("serve with the master key lost: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "master.key")); err == nil {
		t.Fatal("a lost master key was replaced by a new one")
	}
	if out, code := runCLI(t, "verify", "--data-dir", e.dir, "--public-key", e.pub); code != 0 {
		t.Fatalf("verify with the master key lost: %d %s", code, out)
	}
}

// TestErasureByMessageAndSubject: with a key per message, messages are
// erased one by one; with a key per subject, a subject's messages are, and
// another subject's stay readable.
func TestErasureByMessageAndSubject(t *testing.T) {
	t.Run("message", func(t *testing.T) {
		e := newErasureEnv(t, "message")
		a, b := e.publish("marker-a", ""), e.publish("marker-b", "")
		status, out := e.api.raw("POST", "/v1/applications/app_e/erasures", map[string]any{"scope": "messages", "message_ids": []string{a, "msg_none"}, "reason": "r"})
		if status != 422 || out["code"] != "not_erasable" || !strings.Contains(fmt.Sprint(out["detail"]), "msg_none") {
			t.Fatalf("an unknown message among those to erase: %d %v", status, out)
		}
		era := e.erase(map[string]any{"scope": "messages", "message_ids": []string{a}, "reason": "art. 17 request 42"})
		e.assertErased(a, era["id"].(string))
		if e.payload(b)["note"] != "marker-b" {
			t.Fatal("erasing one message erased another")
		}
		e.verifyOK()
	})
	t.Run("subject", func(t *testing.T) {
		e := newErasureEnv(t, "subject")
		a, b := e.publish("marker-a", "cus_a"), e.publish("marker-b", "cus_b")
		era := e.erase(map[string]any{"scope": "subject", "subject": "cus_a", "reason": "art. 17"})
		if len(era["keys_destroyed"].([]any)) != 1 {
			t.Fatalf("subject erasure %v", era)
		}
		e.assertErased(a, era["id"].(string))
		if e.payload(b)["note"] != "marker-b" {
			t.Fatal("erasing one subject erased another's")
		}
		e.verifyOK()

		// The subject's evidence: its message, the deliveries and attempts,
		// the erasure; nothing of another subject; verifiable offline.
		raw := e.export("subject=cus_a")
		streams := map[string]int{}
		for _, line := range bytes.Split(raw, []byte("\n")) {
			var ev struct{ Kind, Stream, Type string }
			if json.Unmarshal(line, &ev) == nil && ev.Kind == "event" {
				streams[ev.Stream]++
			}
		}
		want := []string{domain.MessageStream(a), domain.DeliveryStream(domain.DeliveryIDFor(a, "sub_ok")), domain.DeliveryStream(domain.DeliveryIDFor(a, "sub_down")), domain.ErasureStream(era["id"].(string))}
		for _, w := range want {
			if streams[w] == 0 {
				t.Errorf("the subject export lacks %s: %v", w, streams)
			}
		}
		if len(streams) != len(want) || streams[domain.MessageStream(b)] > 0 || streams[domain.ErasureStream(era["id"].(string))] != 2 {
			t.Fatalf("the subject export holds %v, want exactly %v (the erasure's two events)", streams, want)
		}
		f := filepath.Join(t.TempDir(), "subject.ndjson")
		os.WriteFile(f, raw, 0o600)
		if out, code := runCLI(t, "verify", "--export", f, "--public-key", e.pub); code != 0 || !strings.HasPrefix(out, "OK:") {
			t.Fatalf("the subject export does not verify offline: %d %s", code, out)
		}
		if status, _ := e.api.raw("GET", "/v1/audit/export?subject=cus_a&subscription=sub_ok", nil); status != 400 {
			t.Fatalf("subject and subscription together: %d", status)
		}
	})
}

// TestRotateMasterKey: keys rotate-master re-wraps the data keys under a new
// master key without touching the ledger: the payloads read back with the
// new key, the old one is refused, verify still passes.
func TestRotateMasterKey(t *testing.T) {
	e := newErasureEnv(t, "application")
	m := e.publish("rotate-marker", "")
	next := filepath.Join(t.TempDir(), "next.key")
	// With the server running: refused, saying why, and no key drawn (a
	// key file left behind would refuse the next --generate).
	if out, code := runCLI(t, "keys", "rotate-master", "--data-dir", e.dir, "--new-master-key-file", next, "--generate"); code == 0 || !strings.Contains(out, "stop the server first") {
		t.Fatalf("rotate-master beside a running server: %d %s", code, out)
	}
	if _, err := os.Stat(next); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused rotation left a new key file: %v", err)
	}
	e.srv.Process.Signal(os.Interrupt)
	e.srv.Wait()
	out, code := runCLI(t, "keys", "rotate-master", "--data-dir", e.dir, "--new-master-key-file", next, "--generate")
	if code != 0 || !strings.Contains(out, "re-wrapped 1 data keys") {
		t.Fatalf("rotate-master: %d %s", code, out)
	}
	drawn, _ := os.ReadFile(next)
	if out, code := runCLI(t, "keys", "rotate-master", "--data-dir", e.dir, "--new-master-key-file", next, "--generate"); code == 0 {
		t.Fatalf("rotate-master --generate again: %s", out)
	}
	if again, _ := os.ReadFile(next); !bytes.Equal(again, drawn) {
		t.Fatal("rotate-master overwrote an existing key file")
	}
	// Run again without --generate (say, the first run's answer was lost):
	// it is done already, and says so.
	if out, code := runCLI(t, "keys", "rotate-master", "--data-dir", e.dir, "--new-master-key-file", next); code != 0 || !strings.Contains(out, "already wrapped") {
		t.Fatalf("rotate-master once more to the same key: %d %s", code, out)
	}
	if out, code := runCLI(t, "verify", "--data-dir", e.dir, "--public-key", e.pub); code != 0 {
		t.Fatalf("verify after the rotation: %d %s", code, out)
	}
	srv := exec.Command(binary(t), "serve", "--data-dir", e.dir, "--listen", freePort(t)) // the old master.key
	srv.Env = append(os.Environ(), "HOOKLEDGER_ADMIN_KEY=integrity-test-admin-key-0123456789")
	if out, err := srv.CombinedOutput(); err == nil || !strings.Contains(string(out), "wrong master key") {
		t.Fatalf("serve with the old master key: %v\n%s", err, out)
	}
	_, api, _ := startServer(t, e.dir, "--master-key-file", next)
	p, _ := api.call("GET", "/v1/applications/app_e/messages/"+m, nil)["payload"].(map[string]any)
	if p["note"] != "rotate-marker" {
		t.Fatalf("the payload after the rotation: %v", p)
	}
	assertRotationRecorded(t, api, "local")
}

// TestRotateTheLedgerKeyStoresMasterKey: a ledger on EventStoreDB with its
// keys in it (--key-store ledger) rotates its master key with the server
// stopped: the payloads read back with the new key, the old one is refused.
func TestRotateTheLedgerKeyStoresMasterKey(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary; skipped under -short")
	}
	emu := startEmulator(t)
	dir := t.TempDir()
	m1, next := filepath.Join(dir, "m1.key"), filepath.Join(dir, "m2.key")
	if err := os.WriteFile(m1, []byte(keystore.NewMasterKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	store := []string{"--store-url", emu.URL(), "--key-store", "ledger"}
	srv, api, _ := startServer(t, dir, append(store, "--master-key-file", m1)...)
	api.call("POST", "/v1/applications", map[string]any{"id": "app_r", "name": "r"})
	msg := api.call("POST", "/v1/applications/app_r/messages", map[string]any{"event_type": "a.b", "payload": map[string]any{"note": "rotate-marker"}})["id"].(string)
	srv.Process.Signal(os.Interrupt)
	srv.Wait()

	// A cluster whose node renewed its leases a moment ago: refused.
	busy, err := eventstoredb.Open(eventstoredb.Options{URL: emu.URL(), Prefix: "busy-", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	renewal, _ := domain.Encode(ids.NewEventID(), domain.LeaseRenewed{NodeID: "n1", ExpiresAt: time.Now().Add(10 * time.Second), RenewedAt: time.Now()}, domain.Metadata{Actor: "n1"})
	if _, err := busy.Append(context.Background(), domain.ClusterStream, domain.Any, renewal); err != nil {
		t.Fatal(err)
	}
	busy.Close()
	if out, code := runCLI(t, "keys", "rotate-master", "--store-url", emu.URL(), "--store-prefix", "busy-", "--master-key-file", m1, "--new-master-key-file", next, "--generate"); code == 0 || !strings.Contains(out, "stop every node first") {
		t.Fatalf("rotate-master beside a live cluster: %d %s", code, out)
	}
	if _, err := os.Stat(next); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused rotation left a new key file: %v", err)
	}
	rotate := []string{"keys", "rotate-master", "--store-url", emu.URL(), "--master-key-file", m1, "--new-master-key-file", next}
	if out, code := runCLI(t, append(rotate, "--generate")...); code != 0 || !strings.Contains(out, "re-wrapped 1 data keys: the ledger's key store is now wrapped by master key") {
		t.Fatalf("rotate-master --store-url: %d %s", code, out)
	}
	if out, code := runCLI(t, rotate...); code != 0 || !strings.Contains(out, "already wrapped") {
		t.Fatalf("rotate-master --store-url once more: %d %s", code, out)
	}
	old := exec.Command(binary(t), append([]string{"serve", "--data-dir", dir, "--listen", freePort(t), "--master-key-file", m1}, store...)...)
	old.Env = append(os.Environ(), "HOOKLEDGER_ADMIN_KEY=integrity-test-admin-key-0123456789")
	if out, err := old.CombinedOutput(); err == nil || !strings.Contains(string(out), "wrong master key") {
		t.Fatalf("serve with the old master key: %v\n%s", err, out)
	}
	_, api, _ = startServer(t, dir, append(store, "--master-key-file", next)...)
	if p, _ := api.call("GET", "/v1/applications/app_r/messages/"+msg, nil)["payload"].(map[string]any); p["note"] != "rotate-marker" {
		t.Fatalf("the payload after the rotation: %v", p)
	}
	assertRotationRecorded(t, api, "ledger")
}

// assertRotationRecorded: one rotation in the ledger's key-store stream, by
// the local operator, from one master key to another.
func assertRotationRecorded(t *testing.T, api apiClient, keyStore string) {
	t.Helper()
	items, _ := api.call("GET", "/v1/ledger/streams/"+domain.KeyStoreStream, nil)["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("the key-store stream: %v", items)
	}
	ev := items[0].(map[string]any)
	d, _ := ev["data"].(map[string]any)
	if ev["type"] != domain.TypeMasterKeyRotated || ev["actor"] != "local-operator" || d["key_store"] != keyStore ||
		d["keys_rewrapped"] != 1.0 || d["from_master_id"] == d["to_master_id"] || !strings.HasPrefix(d["to_master_id"].(string), "mk_") {
		t.Fatalf("the rotation's record: %v", ev)
	}
}

// TestVerifyErasuresHoldsTheKeyStoreToTheLedger: `verify --erasures`, with
// the server stopped, finds every key an erasure named destroyed; a key
// destroyed behind the ledger's back (the key store's files at hand) fails
// it, naming the key.
func TestVerifyErasuresHoldsTheKeyStoreToTheLedger(t *testing.T) {
	e := newErasureEnv(t, "message")
	gone := e.publish("erased", "")
	kept := e.publish("kept", "")
	er := e.erase(map[string]any{"scope": "messages", "message_ids": []string{gone}, "reason": "r"})
	e.srv.Process.Signal(os.Interrupt)
	e.srv.Wait()
	out, code := runCLI(t, "verify", "--data-dir", e.dir, "--public-key", e.pub, "--erasures")
	if code != 0 || !strings.Contains(out, "erasures OK: 1 completed erasures name 1 keys, each destroyed in the key store; its 1 tombstones are each an erasure of the ledger") {
		t.Fatalf("verify --erasures: %d %s", code, out)
	}
	// The kept message's key destroyed outside any erasure.
	master, err := os.ReadFile(filepath.Join(e.dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	mk, _ := keystore.ParseMasterKey(string(master))
	ks, err := keystore.Open(filepath.Join(e.dir, "keys"), mk, keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	live, err := ks.Keys("app_e/")
	if err != nil || len(live) == 0 {
		t.Fatalf("live keys: %v %v", live, err)
	}
	var keptKey string
	for _, k := range live {
		if strings.HasSuffix(strings.Split(k, "#")[0], "/"+kept) {
			keptKey = k
		}
	}
	if err := ks.Destroy([]string{keptKey}, "era_behind_the_ledger"); err != nil {
		t.Fatal(err)
	}
	ks.Close()
	out, code = runCLI(t, "verify", "--data-dir", e.dir, "--public-key", e.pub, "--erasures", "--json")
	var rep struct {
		OK       bool `json:"ok"`
		Erasures struct {
			OK       bool `json:"ok"`
			Problems []struct {
				Kind  string `json:"kind"`
				KeyID string `json:"key_id"`
			} `json:"problems"`
		} `json:"erasures"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || !rep.OK || rep.Erasures.OK || len(rep.Erasures.Problems) != 1 ||
		rep.Erasures.Problems[0].Kind != "key_destroyed_unrecorded" || rep.Erasures.Problems[0].KeyID != keptKey {
		t.Fatalf("verify --erasures after a key destroyed outside an erasure: %d %s (%v)", code, out, er["id"])
	}
}
