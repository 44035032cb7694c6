package domain

// What an endpoint may be: its URL, custom headers and retry schedule, as a
// subscription's commands check them.

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ValidateEndpointURL accepts absolute http(s) URLs with a host, no user
// credentials and no fragment, up to 2048 characters, whose port (when
// given) is 1-65535 and whose host is an IP address or a name a resolver
// accepts (validHostName). Whether the host is an allowed target is checked
// by the sender's network guard, not here.
func ValidateEndpointURL(raw string) error {
	if raw == "" {
		return invalid("url", "a URL is required")
	}
	if len(raw) > 2048 {
		return invalid("url", "longer than 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return invalid("url", "not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return invalid("url", "must be an absolute http or https URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return invalid("url", "must have a host")
	}
	if u.User != nil {
		return invalid("url", "credentials in the URL are not allowed: send them as a header (e.g. Authorization), which is stored redacted")
	}
	if nonCanonicalIPv4(u.Hostname()) {
		return invalid("url", "the host %q is an IPv4 address in a non-standard form (decimal, octal, hex or shortened): write it as a.b.c.d", u.Hostname())
	}
	if p := u.Port(); p != "" {
		// url.Parse checks only that the port is digits: 0 or 99999 would
		// fail every attempt with "invalid port".
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return invalid("url", "port %s is not a TCP port: give one from 1 to 65535, or none for the scheme's own", p)
		}
	}
	if h := u.Hostname(); !strings.Contains(h, ":") {
		if why := invalidHostName(h); why != "" {
			return invalid("url", "the host %q is not a name any resolver accepts: %s", h, why)
		}
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return invalid("url", "a fragment is not allowed")
	}
	return nil
}

// invalidHostName says what makes host (a name or an IPv4 address, not an
// IPv6 literal) one that no attempt could resolve, or "" when it is fine: the
// rules Go's own resolver applies (RFC 1035 as it is used, underscores
// included), so that a subscription is refused when written rather than
// failing every attempt with "no such host". A label with non-ASCII letters
// (an internationalized name as typed) is only checked for being there:
// HTTP clients convert it to its xn-- form before resolving it.
func invalidHostName(host string) string {
	name := strings.TrimSuffix(host, ".") // a fully qualified name
	if len(name) > 253 {
		return "longer than 253 characters"
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" {
			return "it has an empty label (two dots in a row, or a dot first)"
		}
		if len(label) > 63 && isASCII(label) {
			return "a label is longer than 63 characters"
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "a label starts or ends with a hyphen"
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c >= 0x80) {
				return fmt.Sprintf("the character %q is not allowed in a host name", c)
			}
		}
	}
	return ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// nonCanonicalIPv4 reports whether host is a number, or dotted numbers, that
// some resolvers (inet_aton) read as an IPv4 address although it is not the
// dotted-decimal form: 2130706433, 0x7f000001, 017700000001, 127.1,
// 0127.0.0.1. Such hosts hide an address from checks that parse a.b.c.d,
// so they are refused outright.
func nonCanonicalIPv4(host string) bool {
	if host == "" || strings.Contains(host, ":") {
		return false
	}
	parts := strings.Split(strings.TrimSuffix(host, "."), ".")
	canonical := len(parts) == 4
	for _, p := range parts {
		lp := strings.ToLower(p)
		switch {
		case p == "":
			return false
		case strings.HasPrefix(lp, "0x"):
			if strings.Trim(lp[2:], "0123456789abcdef") != "" {
				return false
			}
			canonical = false
		case strings.Trim(p, "0123456789") == "":
			if (len(p) > 1 && p[0] == '0') || len(p) > 3 {
				canonical = false
			} else if n, _ := strconv.Atoi(p); n > 255 {
				canonical = false
			}
		default:
			return false // a name
		}
	}
	return !canonical
}

// reservedHeaders are set by the sender, or say how the message itself is
// framed and sent (RFC 9110's control and connection headers), and cannot
// be set by a subscription: a Content-Encoding: gzip on a plain JSON body
// made the endpoint inflate what was never compressed, an Expect it did
// not know got a 417, a Trailer announced trailers never sent.
var reservedHeaders = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Host": true, "Connection": true,
	"Transfer-Encoding": true, "Webhook-Id": true, "Webhook-Timestamp": true,
	"Webhook-Signature": true, "User-Agent": true, "Te": true, "Upgrade": true,
	"Content-Encoding": true, "Expect": true, "Trailer": true, "Keep-Alive": true,
	"Proxy-Connection": true,
}

// ReservedHeader says whether a header (its canonical name) is the
// sender's alone. The sender skips such a header in a subscription's custom
// headers too: one stored before its name was reserved is never sent.
func ReservedHeader(canonical string) bool { return reservedHeaders[canonical] }

// ValidateHeaders checks a subscription's custom headers.
func ValidateHeaders(h map[string]string) error {
	if len(h) > 32 {
		return invalid("headers", "at most 32 custom headers")
	}
	for k, v := range h {
		if k == "" || len(k) > 128 {
			return invalid("headers", "header names must be 1-128 characters")
		}
		for i := 0; i < len(k); i++ {
			c := k[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
				return invalid("headers", "header name %q is not a valid token", k)
			}
		}
		if reservedHeaders[http.CanonicalHeaderKey(k)] {
			return invalid("headers", "header %q is set by hookledger and cannot be overridden", k)
		}
		if len(v) > 4096 || strings.ContainsAny(v, "\r\n\x00") {
			return invalid("headers", "header %q: values must be at most 4096 characters with no line breaks", k)
		}
	}
	return nil
}

// ValidateRetrySchedule checks a per-subscription schedule: 1 to 20 delays in
// milliseconds, each at most 7 days. Element 0 is the delay before the first
// attempt (usually 0), element k the delay after the k-th failed attempt; the
// length is the number of attempts (RetryPolicy).
func ValidateRetrySchedule(ms []int64) error {
	if ms == nil {
		return nil
	}
	if len(ms) == 0 || len(ms) > 20 {
		return invalid("retry_schedule_ms", "between 1 and 20 delays")
	}
	for _, d := range ms {
		if d < 0 || d > int64(7*24*time.Hour/time.Millisecond) {
			return invalid("retry_schedule_ms", "each delay must be between 0 and 7 days")
		}
	}
	return nil
}
