package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/app"
	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/adapters/config"
	"github.com/hookledger/hookledger/adapters/eventstoredb"
	"github.com/hookledger/hookledger/adapters/eventstoredb/esdbtest"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/keystore"
	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/adapters/receiver"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// runLedger runs a ledger (pipeline and sealer) on store until stop is
// called; stop waits for the final seal.
func runLedger(t *testing.T, cfg config.Config, store domain.EventStore, key ed25519.PrivateKey) (*app.Ledger, func()) {
	t.Helper()
	l, err := app.Build(cfg, store, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Stopped in serve's order: the pipeline first, then the sealer, so that
	// the pipeline's last events are sealed too.
	pipeCtx, stopPipe := context.WithCancel(context.Background())
	sealCtx, stopSeal := context.WithCancel(context.Background())
	pipeDone, sealDone := make(chan error, 1), make(chan error, 1)
	go func() { pipeDone <- l.Pipeline.Run(pipeCtx) }()
	sealer := &audit.Sealer{Store: store, Key: key, Every: 7, Interval: 50 * time.Millisecond, NewEventID: ids.NewEventID, Log: zerolog.Nop()}
	go func() { sealDone <- sealer.Run(sealCtx) }()
	for !l.Pipeline.Ready() {
		time.Sleep(5 * time.Millisecond)
	}
	return l, func() {
		stopPipe()
		<-pipeDone
		stopSeal()
		<-sealDone
		l.Sender.Close()
	}
}

// firstPayload opens the first message of the ledger with keys.
func firstPayload(t *testing.T, store domain.EventStore, keys domain.PayloadCipher) string {
	t.Helper()
	for from := domain.Position(1); ; {
		recs, err := store.ReadAll(context.Background(), from, 256)
		if err != nil || len(recs) == 0 {
			t.Fatalf("no message in the ledger: %v", err)
		}
		for _, r := range recs {
			if r.Type == domain.TypeMessagePublished {
				ev, err := domain.DecodeEvent(r)
				if err != nil {
					t.Fatal(err)
				}
				body, err := domain.OpenPayload(context.Background(), keys, ev.(domain.MessagePublished))
				if err != nil {
					t.Fatalf("open the first payload: %v", err)
				}
				return string(body)
			}
		}
		from = recs[len(recs)-1].Position + 1
	}
}

func publishAndWait(t *testing.T, l *app.Ledger, recv *receiver.Receiver, app string, n int) {
	t.Helper()
	md := domain.Metadata{Actor: "test"}
	base := l.Pipeline.Stats().Acknowledged.Load()
	for i := 0; i < n; i++ {
		cmd := domain.PublishMessage{MessageID: ids.New(domain.PrefixMessage), ApplicationID: app, EventType: "order.paid", Payload: []byte(fmt.Sprintf(`{"i":%d}`, i))}
		if _, _, err := l.Commands.PublishNew(context.Background(), cmd, md); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for l.Pipeline.Stats().Acknowledged.Load()-base < int64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged", l.Pipeline.Stats().Acknowledged.Load()-base, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func allEvents(t *testing.T, s domain.EventStore) []domain.RecordedEvent {
	t.Helper()
	var out []domain.RecordedEvent
	from := domain.Position(0)
	for {
		page, err := s.ReadAll(context.Background(), from, 500)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if len(page) < 500 {
			return out
		}
		from = page[len(page)-1].Position + 1
	}
}

func sameLedger(t *testing.T, a, b []domain.RecordedEvent) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d events vs %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || x.Stream != y.Stream || x.Revision != y.Revision || x.Type != y.Type || !bytes.Equal(x.Data, y.Data) || !bytes.Equal(x.Metadata, y.Metadata) {
			t.Fatalf("event %d differs:\n%+v\n%+v", i, x, y)
		}
	}
}

func verified(t *testing.T, s domain.EventStore, pub ed25519.PublicKey, what string) audit.Report {
	t.Helper()
	rep, err := audit.Verify(context.Background(), s, pub, nil)
	if err != nil {
		t.Fatalf("%s: verify: %v", what, err)
	}
	if !rep.OK || rep.Seals == 0 || rep.Sealed == 0 {
		t.Fatalf("%s: verify %+v", what, rep)
	}
	return rep
}

// TestCopyEmbeddedToEventStoreDBAndBack: a sealed ledger made by the real
// pipeline is copied into EventStoreDB (the emulator, through the official
// client), verifies there, serves there (a new message is delivered through
// the EventStoreDB store), and is copied back into a new embedded store where
// it verifies again. Re-running a copy resumes; merging ledgers is refused.
func TestCopyEmbeddedToEventStoreDBAndBack(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two ledgers; skipped under -short")
	}
	_, key, _ := ed25519.GenerateKey(nil)
	pub := key.Public().(ed25519.PublicKey)
	recv := receiver.New()
	hook := httptest.NewServer(recv)
	defer hook.Close()
	ctx := context.Background()
	md := domain.Metadata{Actor: "test"}

	// 1. An embedded ledger with deliveries and seals.
	dir1 := t.TempDir()
	cfg := config.Defaults()
	cfg.DataDir, cfg.AllowPrivateTargets = dir1, true
	store1, err := pebblestore.Open(dir1, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l1, stop1 := runLedger(t, cfg, store1, key)
	if _, _, err := l1.Commands.CreateApplication(ctx, domain.CreateApplication{ApplicationID: "app_c", Name: "c"}, md); err != nil {
		t.Fatal(err)
	}
	secret := ids.NewSecret()
	if _, _, err := l1.Commands.CreateSubscription(ctx, domain.CreateSubscription{SubscriptionID: "sub_c", ApplicationID: "app_c", URL: hook.URL + "/sub_c", EventTypes: []string{"*"}, Secret: secret}, md); err != nil {
		t.Fatal(err)
	}
	recv.Add("sub_c", secret)
	publishAndWait(t, l1, recv, "app_c", 25)
	stop1()
	l1.Keys.Close() // as a stopped server leaves it
	embedded := allEvents(t, store1)
	verified(t, store1, pub, "source")
	store1.Close()

	// 2. Copy into EventStoreDB.
	emu := startEmulator(t)
	var out, errb bytes.Buffer
	if rc := copyCmd(ctx, []string{"--from", dir1, "--to", emu.URL()}, &out, &errb); rc != 0 {
		t.Fatalf("copy to esdb: rc %d: %s", rc, errb.String())
	}
	if !strings.Contains(out.String(), fmt.Sprintf("copied %d events (0 already there)", len(embedded))) ||
		!strings.Contains(out.String(), "copied 1 data keys and 0 tombstones of erased ones (0 already there) into the ledger's key store") {
		t.Fatalf("copy said: %s", out.String())
	}
	es, err := eventstoredb.Open(eventstoredb.Options{URL: emu.URL(), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	sameLedger(t, embedded, allEvents(t, es))
	verified(t, es, pub, "EventStoreDB copy")
	// The ledger, and beside it its key store: the master key's id, the
	// one data key and its listing in its application's index.
	if emu.Events() != len(embedded)+3 {
		t.Fatalf("the server holds %d events, want the ledger's %d and the key store's 3", emu.Events(), len(embedded))
	}

	// 3. Serve on EventStoreDB: the views rebuild from the copy and a new
	// message goes out through the EventStoreDB store.
	cfg2 := config.Defaults()
	cfg2.DataDir, cfg2.AllowPrivateTargets, cfg2.StoreURL = t.TempDir(), true, emu.URL()
	// Its payloads open with the keys copied into the ledger's key store.
	cfg2.KeyStore, cfg2.MasterKeyFile = config.KeyStoreLedger, filepath.Join(dir1, "master.key")
	l2, stop2 := runLedger(t, cfg2, es, key)
	if got := firstPayload(t, es, l2.Keys); got != `{"i":0}` {
		t.Fatalf("the first payload, on EventStoreDB with the copied keys: %q", got)
	}
	var acked int
	l2.Pipeline.Read(func(v *projections.Views) {
		v.Records().WalkDeliveries(func(d *projections.DeliveryView) error {
			if d.Status == domain.DeliveryStatusAcknowledged {
				acked++
			}
			return nil
		})
	})
	if acked != 25 {
		t.Fatalf("views on EventStoreDB: %d acknowledged deliveries, want 25", acked)
	}
	publishAndWait(t, l2, recv, "app_c", 3)
	stop2()
	onESDB := allEvents(t, es)
	// The sealer went on sealing on the copy (its last seal names positions
	// of the source store) and sealed the new events at the stop.
	if rep := verified(t, es, pub, "EventStoreDB after serving"); rep.Unsealed != 0 {
		t.Fatalf("EventStoreDB after serving: %d events left unsealed: the sealer did not continue on the copy", rep.Unsealed)
	}
	es.Close()
	// The auditor's command reads the EventStoreDB ledger too.
	if rc := verifyCmd(ctx, []string{"--store-url", emu.URL(), "--public-key", audit.EncodePublicKey(pub)}); rc != 0 {
		t.Fatalf("hookledger verify --store-url: rc %d", rc)
	}

	// 4. And back into a new embedded store.
	dir2 := t.TempDir() + "/back"
	out.Reset()
	if rc := copyCmd(ctx, []string{"--from", emu.URL(), "--to", dir2}, &out, &errb); rc != 0 {
		t.Fatalf("copy back: rc %d: %s", rc, errb.String())
	}
	store2, err := pebblestore.Open(dir2, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sameLedger(t, onESDB, allEvents(t, store2))
	verified(t, store2, pub, "copied back")
	if !strings.Contains(out.String(), "copied 1 data keys") {
		t.Fatalf("copy back said: %s", out.String())
	}
	master, err := os.ReadFile(filepath.Join(dir1, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	mk, _ := keystore.ParseMasterKey(string(master))
	keys2, err := keystore.Open(filepath.Join(dir2, "keys"), mk, keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := firstPayload(t, store2, keys2); got != `{"i":0}` {
		t.Fatalf("the first payload, copied back with its keys: %q", got)
	}
	keys2.Close()
	store2.Close()

	// 5. Again: nothing to do. 6. A different ledger is not merged.
	out.Reset()
	if rc := copyCmd(ctx, []string{"--from", emu.URL(), "--to", dir2}, &out, &errb); rc != 0 || !strings.Contains(out.String(), fmt.Sprintf("copied 0 events (%d already there)", len(onESDB))) {
		t.Fatalf("re-run: rc %d: %s %s", rc, out.String(), errb.String())
	}
	errb.Reset()
	if rc := copyCmd(ctx, []string{"--from", dir1, "--to", dir2}, &out, &errb); rc != 1 || !strings.Contains(errb.String(), "not a copy") {
		t.Fatalf("merging a longer ledger into a shorter one's copy: rc %d: %s", rc, errb.String())
	}
	if rc := copyCmd(ctx, []string{"--from", dir1}, &out, &errb); rc != 2 {
		t.Fatalf("missing --to: rc %d", rc)
	}
}

// TestServeOnEventStoreDB: `hookledger serve --store-url` runs the ledger on
// EventStoreDB (the emulator, reached by the real binary over loopback).
func TestServeOnEventStoreDB(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped under -short")
	}
	emu := startEmulator(t)
	addr := freePort(t)
	const key = "esdb-serve-admin-key-0123456789"
	srv := exec.Command(binary(t), "serve", "--store-url", emu.URL(), "--data-dir", t.TempDir(), "--listen", addr, "--log-level", "warn")
	srv.Env = append(os.Environ(), "HOOKLEDGER_ADMIN_KEY="+key)
	var srvLog bytes.Buffer
	srv.Stdout, srv.Stderr = &srvLog, &srvLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	api := apiClient{t: t, base: "http://" + addr, key: key}
	api.waitReady(30*time.Second, &srvLog)
	before := emu.Events()
	api.call("POST", "/v1/applications", map[string]any{"id": "app_es", "name": "on esdb"})
	if emu.Events() <= before {
		t.Fatalf("creating an application wrote nothing to EventStoreDB (%d events)", emu.Events())
	}
	if got := api.call("GET", "/v1/applications/app_es", nil)["name"]; got != "on esdb" {
		t.Fatalf("read back %v", got)
	}
}

// TestServeWhileEventStoreDBIsDown: started while its EventStoreDB is down,
// serve answers 503 store_unavailable to a key it cannot check yet (never
// 401), keeps its log calm, and serves once the store is reached, with the
// bootstrap key created then.
func TestServeWhileEventStoreDBIsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped under -short")
	}
	t.Run("KeysInTheDataDirectory", func(t *testing.T) { serveWhileEventStoreDBIsDown(t, false) })
	// The data keys in the ledger, as a cluster keeps them: the master key
	// is checked at their first use, and payloads encrypt once it is up.
	t.Run("KeysInTheLedger", func(t *testing.T) { serveWhileEventStoreDBIsDown(t, true) })
}

func serveWhileEventStoreDBIsDown(t *testing.T, ledgerKeys bool) {
	emu := startEmulator(t)
	emu.Stop()
	addr := freePort(t)
	const key = "esdb-down-admin-key-0123456789"
	args := []string{"serve", "--store-url", emu.URL(), "--data-dir", t.TempDir(), "--listen", addr, "--log-format", "json"}
	if ledgerKeys {
		master := filepath.Join(t.TempDir(), "master.key")
		if err := os.WriteFile(master, []byte(keystore.NewMasterKey()), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--key-store", "ledger", "--master-key-file", master)
	}
	srv := exec.Command(binary(t), args...)
	srv.Env = append(os.Environ(), "HOOKLEDGER_ADMIN_KEY="+key)
	var srvLog syncBuffer
	srv.Stdout, srv.Stderr = &srvLog, &srvLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	status := func() (int, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/keys", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, ""
		}
		defer res.Body.Close()
		var p struct {
			Code string `json:"code"`
		}
		json.NewDecoder(res.Body).Decode(&p)
		return res.StatusCode, p.Code
	}
	deadline := time.Now().Add(30 * time.Second)
	seen503 := 0
	for seen503 < 5 {
		code, pcode := status()
		switch {
		case code == 503 && pcode == "store_unavailable":
			seen503++
		case code == 401:
			t.Fatalf("the bootstrap key was answered 401 while the store was down: %s", srvLog.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("never answered 503 store_unavailable (last %d %s): %s", code, pcode, srvLog.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // long enough for a flood of reconnect lines
	if err := emu.Restart(); err != nil {
		t.Fatal(err)
	}
	for {
		if code, _ := status(); code == 200 {
			break
		}
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatalf("never served after the store came back: %s", srvLog.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	lines := 0
	for _, l := range strings.Split(srvLog.String(), "\n") {
		if l != "" && !strings.Contains(l, `"message":"request"`) { // the test's own polling
			lines++
		}
	}
	if lines > 25 {
		t.Fatalf("%d log lines while the store was down for a few seconds:\n%s", lines, srvLog.String())
	}
	if ledgerKeys {
		api := apiClient{t: t, base: "http://" + addr, key: key}
		api.call("POST", "/v1/applications", map[string]any{"id": "app_d", "name": "d"})
		msg := api.call("POST", "/v1/applications/app_d/messages", map[string]any{"event_type": "a.b", "payload": map[string]any{"n": 3}})["id"].(string)
		got := api.call("GET", "/v1/applications/app_d/messages/"+msg, nil)
		if p, _ := got["payload"].(map[string]any); p["n"] != float64(3) || got["encrypted"] != true {
			t.Fatalf("a payload published once the store is up: %v", got)
		}
	}
}

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestServeRefusesAUserWhoCannotReadAll: serve stops at start-up, naming
// the ACL, when its EventStoreDB user cannot read $all (it could append,
// but the pipeline would never catch up).
func TestServeRefusesAUserWhoCannotReadAll(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped under -short")
	}
	emu, err := esdbtest.Start(esdbtest.Options{TLS: true, TLSDir: t.TempDir(), Users: map[string]string{"admin": "changeit", "writer": "w-pass"}})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Stop()
	out, code := runCLI(t, "serve", "--store-url", emu.URLAs("writer", "w-pass"), "--data-dir", t.TempDir(), "--listen", freePort(t))
	if code == 0 || !strings.Contains(out, "$admins") || strings.Contains(out, "w-pass") {
		t.Fatalf("serve as a user without $all: %d %s", code, out)
	}
}

// A copy's source must be a ledger: a mistyped --from was created, empty,
// and "copied" with exit 0. It is refused before the destination is made
// (a source a running server holds: TestAuditorCLI).
func TestCopyRefusesASourceThatIsNoLedger(t *testing.T) {
	base := t.TempDir()
	empty := filepath.Join(base, "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, want string }{
		{filepath.Join(base, "mistyped"), "no such file or directory"},
		{empty, "no ledger in this data directory"},
	} {
		to := filepath.Join(base, "copy-of-"+filepath.Base(c.from))
		var stdout, stderr bytes.Buffer
		code := copyCmd(context.Background(), []string{"--from", c.from, "--to", to, "--quiet"}, &stdout, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), "--from: ") || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("copy from %s: exit %d: %s%s, want exit 1 and %q", c.from, code, stdout.String(), stderr.String(), c.want)
		}
		if _, err := os.Stat(c.from); c.from == filepath.Join(base, "mistyped") && err == nil {
			t.Errorf("the mistyped source %s was created", c.from)
		}
		if _, err := os.Stat(to); err == nil {
			t.Errorf("the destination %s was created for a refused source", to)
		}
	}
}
