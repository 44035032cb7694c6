package domain

import (
	"strings"
	"testing"
	"time"
)

func TestIsSecretHeader(t *testing.T) {
	for _, c := range []struct {
		name   string
		marked []string
		want   bool
	}{
		{"Authorization", nil, true},
		{"authorization", nil, true},
		{"Proxy-Authorization", nil, true},
		{"Cookie", nil, true},
		{"X-Api-Key", nil, true},
		{"X-Auth-TOKEN", nil, true},
		{"X-Client-Secret", nil, true},
		{"X-Partner", []string{"x-partner"}, true},
		{"X-Partner", nil, false},
		{"X-Tenant", nil, false},
		{"Accept", nil, false},
	} {
		if got := IsSecretHeader(c.name, c.marked); got != c.want {
			t.Errorf("IsSecretHeader(%q, %v) = %v", c.name, c.marked, got)
		}
	}
}

func TestRedactEventData(t *testing.T) {
	data := []byte(`{"subscription_id":"s","headers":{"Authorization":"Bearer t0k","X-P":"p1","X-T":"v"},"secret_headers":["X-P"],"key":{"key_id":"k","secret":"whsec_abc"}}`)
	out, changed := RedactEventData(TypeSubscriptionCreated, data)
	if !changed || strings.Contains(string(out), "t0k") || strings.Contains(string(out), "p1") || strings.Contains(string(out), "whsec_abc") || !strings.Contains(string(out), `"X-T":"v"`) {
		t.Fatalf("created: %s", out)
	}
	out, changed = RedactEventData(TypeSubscriptionUpdated, []byte(`{"headers":{"X-T":"v"}}`))
	if changed || string(out) != `{"headers":{"X-T":"v"}}` {
		t.Fatalf("an update with nothing secret is shown as stored: %s", out)
	}
	if _, changed := RedactEventData(TypeMessagePublished, data); changed {
		t.Fatal("a message's data is not a subscription's")
	}
}

// Given a subscription with a secret header, when a PATCH sends the value
// back as shown, then the stored value is kept; a new value replaces it.
func TestUpdateKeepsRedactedSecretHeaders(t *testing.T) {
	s := Subscription{ID: "s", Version: 1, Status: StatusActive, URL: "https://e.example/",
		Headers: map[string]string{"Authorization": "Bearer real", "X-T": "v"}}
	evs, err := DecideSubscription(s, UpdateSubscription{Headers: map[string]string{"Authorization": RedactedValue, "X-T": "w"}}, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	u := evs[0].(SubscriptionUpdated)
	if u.Headers["Authorization"] != "Bearer real" || u.Headers["X-T"] != "w" {
		t.Fatalf("headers after update: %v", u.Headers)
	}
	evs, _ = DecideSubscription(s, UpdateSubscription{Headers: map[string]string{"Authorization": "Bearer new"}}, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if evs[0].(SubscriptionUpdated).Headers["Authorization"] != "Bearer new" {
		t.Fatal("a new value must replace the stored one")
	}
}

// Given a subscription whose header X-P is not secret, when one PATCH names
// X-P secret and sends its value back as shown ("[redacted]"), then the
// stored value is kept: which headers are secret is the updated list's say.
func TestUpdateReadsSecretHeadersFromTheUpdatedList(t *testing.T) {
	s := Subscription{ID: "s", Version: 1, Status: StatusActive, URL: "https://e.example/",
		Headers: map[string]string{"X-P": "p1"}}
	evs, err := DecideSubscription(s, UpdateSubscription{SecretHeaders: []string{"X-P"}, Headers: map[string]string{"X-P": RedactedValue}},
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if u := evs[0].(SubscriptionUpdated); u.Headers["X-P"] != "p1" || len(u.SecretHeaders) != 1 {
		t.Fatalf("headers %v, secret %v: the value must be kept", u.Headers, u.SecretHeaders)
	}
}

func TestNonCanonicalIPv4HostsRefused(t *testing.T) {
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"http://2130706433/", false},
		{"http://0x7f000001/", false},
		{"http://017700000001/", false},
		{"http://127.1/", false},
		{"http://0127.0.0.1/", false},
		{"http://0x7f.0.0.1/", false},
		{"http://127.0.0.1/", true},
		{"http://10.1.2.3:8080/x", true},
		{"https://example.com/", true},
		{"https://123.example.com/", true},
		{"http://[::1]/", true},
		{"http://user:pass@example.com/", false},
	} {
		err := ValidateEndpointURL(c.url)
		if (err == nil) != c.ok {
			t.Errorf("%s: %v, want ok=%v", c.url, err, c.ok)
		}
	}
}
