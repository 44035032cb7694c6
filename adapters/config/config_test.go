package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsAreValid(t *testing.T) {
	c, err := Parse("serve", nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8080" || c.DataDir != "./data" || c.RequestTimeout != 15*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	c, err := Parse("serve", []string{"--listen", "127.0.0.1:9000"}, env(map[string]string{
		"HOOKLEDGER_LISTEN": "127.0.0.1:7000", "HOOKLEDGER_DATA_DIR": "/tmp/x", "HOOKLEDGER_ALLOW_PRIVATE_TARGETS": "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9000" || c.DataDir != "/tmp/x" || !c.AllowPrivateTargets {
		t.Fatalf("got %+v", c)
	}
}

func TestEveryProblemReportedAtOnce(t *testing.T) {
	_, err := Parse("serve", []string{"--listen", "nope", "--log-level", "loud", "--workers", "0", "--store-url", "http://x"}, env(map[string]string{"HOOKLEDGER_REQUEST_TIMEOUT": "soon"}))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"--listen", "--log-level", "--workers", "--store-url", "HOOKLEDGER_REQUEST_TIMEOUT"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %s:\n%s", want, msg)
		}
	}
}

// TestProblemsAreReportedOnce: a value that does not parse, or a bound out
// of range, is one problem, not also the settings it would have bounded.
func TestProblemsAreReportedOnce(t *testing.T) {
	_, err := Parse("serve", []string{"--workers", "-1"}, env(map[string]string{"HOOKLEDGER_REQUEST_TIMEOUT": "abc", "HOOKLEDGER_SEAL_EVERY": "x", "HOOKLEDGER_NO_METRICS": "maybe"}))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %v", err)
	}
	want := []string{
		"--workers -1: want 1 to 4096",
		`HOOKLEDGER_NO_METRICS="maybe": want true or false`,
		`HOOKLEDGER_REQUEST_TIMEOUT="abc": want a duration such as 30s, 5m or 1h`,
		`HOOKLEDGER_SEAL_EVERY="x": want an integer`,
	}
	got := slices.Clone(ce.Problems)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	_, err = Parse("serve", []string{"--request-timeout", "10m"}, env(nil))
	if !errors.As(err, &ce) || len(ce.Problems) != 1 || !strings.HasPrefix(ce.Problems[0], "--request-timeout 10m0s") {
		t.Fatalf("a request timeout over 5m: %v", err)
	}
	// 1ms, a slip for 1m, would fail every attempt as a timeout.
	_, err = Parse("serve", []string{"--request-timeout", "1ms"}, env(nil))
	if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0] != "--request-timeout 1ms: want 100ms to 5m" {
		t.Fatalf("a request timeout of 1ms: %v", err)
	}
	if _, err := Parse("serve", []string{"--request-timeout", "100ms"}, env(nil)); err != nil {
		t.Fatalf("a request timeout of 100ms: %v", err)
	}
}

func TestStoreURLPasswordNotEchoed(t *testing.T) {
	_, err := Parse("serve", []string{"--store-url", "http://admin:s3cret@host:2113"}, env(nil))
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error must not echo the password: %v", err)
	}
}

func TestEventStoreDBSettings(t *testing.T) {
	_, err := Parse("serve", []string{"--store-url", "esdb://127.0.0.1:2113?tls=false", "--store-prefix", "$bad", "--esdb-max-append-size", "10"}, env(nil))
	if err == nil {
		t.Fatal("bad EventStoreDB settings accepted")
	}
	for _, want := range []string{"--store-prefix", "--esdb-max-append-size"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s: %v", want, err)
		}
	}
	c, err := Parse("serve", nil, env(map[string]string{"HOOKLEDGER_STORE_URL": "esdb://u:secret@10.0.0.1:2113?tls=true"}))
	if err != nil {
		t.Fatal(err)
	}
	embedded := Defaults()
	if c.ViewsDir() == embedded.ViewsDir() {
		t.Fatal("an EventStoreDB ledger shares the embedded store's view store")
	}
	other := c
	other.StorePrefix = "other-"
	if other.ViewsDir() == c.ViewsDir() {
		t.Fatal("two prefixes on one server share a view store")
	}
	noCreds := c
	noCreds.StoreURL = "esdb://10.0.0.1:2113?tls=true"
	if noCreds.ViewsDir() != c.ViewsDir() || strings.Contains(c.ViewsDir(), "secret") {
		t.Fatal("the view store must depend on the server and prefix only")
	}
}

// TestCredentialsWithoutTLSRefused: the client drops credentials on a plain
// connection without a word; the configuration says so instead.
func TestCredentialsWithoutTLSRefused(t *testing.T) {
	_, err := Parse("serve", []string{"--store-url", "esdb://admin:changeit@127.0.0.1:2113?tls=false"}, env(nil))
	if err == nil || !strings.Contains(err.Error(), "tls=false") || strings.Contains(err.Error(), "changeit") {
		t.Fatalf("credentials with tls=false: %v", err)
	}
	if _, err := Parse("serve", []string{"--store-url", "esdb://127.0.0.1:2113?tls=false"}, env(nil)); err != nil {
		t.Fatalf("no credentials, no TLS: %v", err)
	}
	if _, err := Parse("serve", []string{"--store-url", "esdb://admin:changeit@127.0.0.1:2113?tls=true"}, env(nil)); err != nil {
		t.Fatalf("credentials over TLS: %v", err)
	}
}

// TestKurrentDBSchemes: the schemes the client accepts are accepted.
func TestKurrentDBSchemes(t *testing.T) {
	for _, u := range []string{"esdb://h:2113?tls=false", "kurrentdb://h:2113?tls=false", "kurrentdb+discover://h:2113", "kdb://h:2113?tls=false", "esdb+discover://h:2113"} {
		if _, err := Parse("serve", []string{"--store-url", u}, env(nil)); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	if _, err := Parse("serve", []string{"--store-url", "postgres://h"}, env(nil)); err == nil {
		t.Error("postgres:// accepted")
	}
}

func TestClusterSettings(t *testing.T) {
	// The embedded store is one process's: a node id on it is refused,
	// with every other cluster problem at once.
	_, err := Parse("serve", []string{"--node-id", "a b", "--partitions", "5000", "--lease-time", "1s"}, env(nil))
	if err == nil {
		t.Fatal("a node id on the embedded store accepted")
	}
	for _, want := range []string{"embedded store", "--node-id \"a b\"", "--partitions 5000", "--lease-time 1s", "--key-store ledger: the embedded store", "--seal-key-file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%s", want, err)
		}
	}
	c, err := Parse("serve", []string{"--store-url", "esdb://127.0.0.1:2113?tls=false", "--node-id", "node-1", "--no-payload-encryption", "--seal-key-file", "/k"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Cluster || c.NodeID != "node-1" || c.LeaseTime != 10*time.Second || c.Partitions != 0 {
		t.Fatalf("a node id makes a cluster node with the default lease: %+v", c)
	}
	if _, err := Parse("serve", []string{"--cluster"}, env(map[string]string{"HOOKLEDGER_STORE_URL": "esdb://h:2113?tls=false"})); err == nil || strings.Contains(err.Error(), "embedded") {
		t.Fatalf("--cluster on EventStoreDB without the seal key and with encryption: %v", err)
	}
}

// TestKeyStoreSettings: the data keys are local to one process, and in the
// ledger (shared) for a cluster, where every node must be given the same
// master key; a cluster cannot keep them locally.
func TestKeyStoreSettings(t *testing.T) {
	const esdb = "esdb://127.0.0.1:2113?tls=false"
	c, err := Parse("serve", nil, env(nil))
	if err != nil || c.KeyStore != KeyStoreLocal {
		t.Fatalf("one process: %q %v", c.KeyStore, err)
	}
	c, err = Parse("serve", []string{"--store-url", esdb, "--node-id", "n1", "--seal-key-file", "/k", "--master-key-file", "/m"}, env(nil))
	if err != nil || c.KeyStore != KeyStoreLedger {
		t.Fatalf("a cluster node: %q %v", c.KeyStore, err)
	}
	c, err = Parse("serve", []string{"--store-url", esdb, "--key-store", "ledger"}, env(map[string]string{"HOOKLEDGER_MASTER_KEY": "x"}))
	if err != nil || c.KeyStore != KeyStoreLedger || c.Cluster {
		t.Fatalf("one process on EventStoreDB with the ledger key store: %+v %v", c, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--store-url", esdb, "--node-id", "n1", "--seal-key-file", "/k"}, "--key-store ledger: give the master key"},
		{[]string{"--store-url", esdb, "--node-id", "n1", "--seal-key-file", "/k", "--key-store", "local"}, "--cluster with --key-store local"},
		{[]string{"--key-store", "ledger", "--master-key-file", "/m"}, "--key-store ledger: the embedded store"},
		{[]string{"--key-store", "vault"}, `--key-store "vault": want local or ledger`},
	} {
		if _, err := Parse("serve", tc.args, env(nil)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
	if _, err := Parse("serve", []string{"--store-url", esdb, "--node-id", "n1", "--seal-key-file", "/k", "--no-payload-encryption"}, env(nil)); err != nil {
		t.Errorf("a cluster without payload encryption needs no master key: %v", err)
	}
}

// TestAShortRequestTimeoutShortensTheDefaultConnectTimeout: --request-timeout
// alone below the connect timeout's default takes the connect timeout down
// with it; a connect timeout given (flag or environment) is kept, and
// refused when longer than the request's.
func TestAShortRequestTimeoutShortensTheDefaultConnectTimeout(t *testing.T) {
	c, err := Parse("serve", []string{"--request-timeout", "2s"}, env(nil))
	if err != nil || c.RequestTimeout != 2*time.Second || c.ConnectTimeout != 2*time.Second {
		t.Fatalf("--request-timeout 2s alone: %v %v %v", c.RequestTimeout, c.ConnectTimeout, err)
	}
	c, err = Parse("serve", nil, env(map[string]string{"HOOKLEDGER_REQUEST_TIMEOUT": "3s"}))
	if err != nil || c.ConnectTimeout != 3*time.Second {
		t.Fatalf("HOOKLEDGER_REQUEST_TIMEOUT=3s alone: %v %v", c.ConnectTimeout, err)
	}
	c, err = Parse("serve", []string{"--request-timeout", "2s", "--connect-timeout", "1s"}, env(nil))
	if err != nil || c.ConnectTimeout != time.Second {
		t.Fatalf("both given: %v %v", c.ConnectTimeout, err)
	}
	c, err = Parse("serve", []string{"--request-timeout", "30s"}, env(nil))
	if err != nil || c.ConnectTimeout != 5*time.Second {
		t.Fatalf("a longer request timeout keeps the connect default: %v %v", c.ConnectTimeout, err)
	}
	for _, tc := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"--request-timeout", "2s", "--connect-timeout", "3s"}, nil},
		{[]string{"--request-timeout", "2s"}, map[string]string{"HOOKLEDGER_CONNECT_TIMEOUT": "5s"}},
	} {
		if _, err := Parse("serve", tc.args, env(tc.env)); err == nil || !strings.Contains(err.Error(), "--connect-timeout") {
			t.Errorf("%v %v: a connect timeout given longer than the request's must be refused, got %v", tc.args, tc.env, err)
		}
	}
}
