package config

import (
	"errors"
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

func TestStoreURLPasswordNotEchoed(t *testing.T) {
	_, err := Parse("serve", []string{"--store-url", "http://admin:s3cret@host:2113"}, env(nil))
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error must not echo the password: %v", err)
	}
}
