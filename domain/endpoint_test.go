package domain

import (
	"errors"
	"strings"
	"testing"
)

// An endpoint URL that no attempt could ever reach is refused when the
// subscription is written, not discovered at every failed attempt: a port
// outside 1-65535, or a host name no resolver accepts (an empty label, a
// label that starts or ends with a hyphen, one longer than 63 bytes, a name
// longer than 253).
func TestEndpointURLsNoAttemptCouldReachAreRefused(t *testing.T) {
	long := strings.Repeat("a", 64)
	for _, c := range []struct {
		url  string
		want string // "" when the URL is accepted; else a part of the error
	}{
		{"https://example.com:0/x", "port 0"},
		{"https://example.com:65536/x", "port 65536"},
		{"https://example.com:99999/x", "port 99999"},
		{"https://example.com:1/x", ""},
		{"https://example.com:65535/x", ""},
		{"https://example.com:00443/x", ""},
		{"https://example.com:/x", ""}, // the scheme's port, as clients read it
		{"http://[::1]:0/x", "port 0"},
		{"http://example..com/x", "empty label"},
		{"http://.example.com/x", "empty label"},
		{"http://-bad.example.com/x", "hyphen"},
		{"http://bad-.example.com/x", "hyphen"},
		{"http://" + long + ".example.com/x", "63"},
		{"http://" + strings.Repeat("abcdefghi.", 26) + "com/x", "253"},
		{"http://" + long[:63] + ".example.com/x", ""},
		{"http://example.com./x", ""},   // a fully qualified name
		{"http://exa_mple.com/x", ""},   // underscores are in real names
		{"http://xn--r8jz45g.jp/x", ""}, // an IDN as written on the wire
		{"https://例え.jp/x", ""},         // an IDN as typed: clients convert it
		{"http://a-b.example.com:8080/", ""},
		{"http://localhost/", ""},
		{"http://10.1.2.3/", ""},
		{"http://exa$mple.com/", "character"},
	} {
		err := ValidateEndpointURL(c.url)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v, want it accepted", c.url, err)
		case c.want != "" && err == nil:
			t.Errorf("%s: accepted, want it refused (%s)", c.url, c.want)
		case c.want != "" && (!strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrInvalidArgument)):
			t.Errorf("%s: %v, want an invalid argument that says %q", c.url, err, c.want)
		}
	}
}
