package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/erasure"
	"github.com/hookledger/hookledger/adapters/httpapi"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/keystore"
	"github.com/hookledger/hookledger/adapters/memstore"
	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/domain"
)

// env is a running ledger (in-memory store, real pipeline) behind the API.
type env struct {
	t      testing.TB
	api    *httpapi.Server
	srv    *httptest.Server
	store  domain.EventStore
	cmds   *domain.Commands
	runner *pipeline.Runner
	admin  string
	deps   httpapi.Deps // what the API was built with
}

const adminKey = "test-admin-key-0123456789abcdef"

func newEnv(t testing.TB, opts ...func(*httpapi.Deps)) *env {
	t.Helper()
	store := memstore.New()
	// Payloads encrypted, one data key per message (so every erasure scope
	// works), as serve runs by default (with a key per application and day).
	master, _ := keystore.ParseMasterKey(keystore.NewMasterKey())
	keys, err := keystore.Open(t.TempDir(), master, keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cmds := &domain.Commands{Store: store, Now: time.Now, NewEventID: ids.NewEventID, Cipher: keys, ErasureScope: domain.ScopeMessage}
	r, err := pipeline.New(pipeline.Options{Store: store, Commands: cmds, Cipher: keys,
		Sender: sender.New(sender.Options{AllowPrivate: true, Timeout: 2 * time.Second}), Log: zerolog.Nop(), Workers: 64, PerSubscription: 64})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; store.Close(); keys.Close() })
	for !r.Ready() {
		time.Sleep(time.Millisecond)
	}
	hash := domain.HashAPIKey(adminKey)
	_, out, err := cmds.CreateAPIKey(ctx, domain.CreateAPIKey{KeyID: domain.KeyIDForHash(hash), Role: domain.RoleAdmin, Hash: hash}, domain.Metadata{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	r.WaitFor(ctx, out.Result.Position)
	// The auth throttle is wide open here: the auth matrix fails on purpose
	// many times from one address. TestAuthFailuresAreThrottled narrows it.
	d := httpapi.Deps{Store: store, Commands: cmds, Views: r, Log: zerolog.Nop(), AllowPrivateTargets: true,
		AuthFailuresPerSecond: 1e6, AuthFailureBurst: 1 << 20, Cipher: keys,
		Eraser: &erasure.Eraser{Store: store, Commands: cmds, Keys: keys, Log: zerolog.Nop(), Open: erasure.OpenFromViews(r.Read)}}
	for _, o := range opts {
		o(&d)
	}
	api := httpapi.New(d)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &env{t: t, api: api, srv: srv, store: store, cmds: cmds, runner: r, admin: adminKey, deps: d}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json() map[string]any {
	var m map[string]any
	json.Unmarshal(r.body, &m)
	return m
}

func (r resp) str(k string) string { s, _ := r.json()[k].(string); return s }

func (r resp) items() []map[string]any {
	var p struct {
		Items []map[string]any `json:"items"`
	}
	json.Unmarshal(r.body, &p)
	return p.Items
}

// do sends a request. body may be nil, a string (sent as is) or a value (JSON).
func (e *env) do(method, path, key string, body any) resp {
	e.t.Helper()
	var b []byte
	switch v := body.(type) {
	case nil:
		return e.doWith(method, path, key, nil, nil)
	case string:
		b = []byte(v)
	default:
		b, _ = json.Marshal(v)
	}
	return e.doWith(method, path, key, b, map[string]string{"Content-Type": "application/json"})
}

func (e *env) must(want int, method, path, key string, body any) resp {
	e.t.Helper()
	r := e.do(method, path, key, body)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r
}

// key creates an API key through the API and returns it.
func (e *env) key(role, app string) string {
	e.t.Helper()
	r := e.must(201, "POST", "/v1/keys", e.admin, map[string]any{"role": role, "application": app})
	return r.str("key")
}

// doWith sends body (nil: none) with the key and the given headers, and
// answers what came back as it came (a client that sets Accept-Encoding
// itself gets the answer compressed, if it was).
func (e *env) doWith(method, path, key string, body []byte, headers map[string]string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// doRaw sends a body with a chosen content type.
func (e *env) doRaw(method, path, key, contentType, body string) resp {
	e.t.Helper()
	return e.doWith(method, path, key, []byte(body), map[string]string{"Content-Type": contentType})
}
