package domain

import (
	"encoding/json"
	"net/http"
	"strings"
)

// RedactedValue replaces a secret outside the ledger itself.
const RedactedValue = "[redacted]"

// alwaysSecretHeaders carry credentials by definition.
var alwaysSecretHeaders = map[string]bool{"Authorization": true, "Proxy-Authorization": true, "Cookie": true}

// IsSecretHeader says whether a custom header's value is a credential to
// redact: Authorization, Proxy-Authorization and Cookie, any header the
// subscription marks secret, and any name containing "token", "key" or
// "secret" (case-insensitive).
func IsSecretHeader(name string, marked []string) bool {
	canon := http.CanonicalHeaderKey(name)
	if alwaysSecretHeaders[canon] {
		return true
	}
	for _, m := range marked {
		if http.CanonicalHeaderKey(m) == canon {
			return true
		}
	}
	lower := strings.ToLower(name)
	return strings.Contains(lower, "token") || strings.Contains(lower, "key") || strings.Contains(lower, "secret")
}

// RedactHeaders returns a copy of h with every secret value replaced by
// RedactedValue; the names stay, so a reader knows the header is sent.
func RedactHeaders(h map[string]string, marked []string) map[string]string {
	if h == nil {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, v := range h {
		if IsSecretHeader(k, marked) {
			v = RedactedValue
		}
		out[k] = v
	}
	return out
}

// ValidateSecretHeaders checks the names a subscription marks secret.
func ValidateSecretHeaders(names []string) error {
	if len(names) > 32 {
		return invalid("secret_headers", "at most 32 names")
	}
	for _, n := range names {
		if n == "" || len(n) > 128 {
			return invalid("secret_headers", "names must be 1-128 characters")
		}
	}
	return nil
}

// RedactEventData returns the data of a ledger event as shown to anyone
// outside the ledger (API, exports, CLI, logs): signing secrets, secret
// header values and client-certificate keys replaced by RedactedValue.
// changed is false when the event carries no secret and its data is shown
// as stored.
func RedactEventData(eventType string, data []byte) (out []byte, changed bool) {
	switch eventType {
	case TypeSubscriptionCreated, TypeSubscriptionSecretRotated, TypeSubscriptionUpdated:
	default:
		return data, false
	}
	var m map[string]any
	if json.Unmarshal(data, &m) != nil {
		return []byte("null"), true
	}
	if k, ok := m["key"].(map[string]any); ok {
		if _, has := k["secret"]; has {
			k["secret"] = RedactedValue
			changed = true
		}
	}
	if cc, ok := m["client_certificate"].(map[string]any); ok {
		if _, has := cc["key_pem"]; has {
			cc["key_pem"] = RedactedValue
			changed = true
		}
	}
	if h, ok := m["headers"].(map[string]any); ok {
		var marked []string
		if sh, ok := m["secret_headers"].([]any); ok {
			for _, n := range sh {
				if s, ok := n.(string); ok {
					marked = append(marked, s)
				}
			}
		}
		for name := range h {
			if IsSecretHeader(name, marked) {
				h[name] = RedactedValue
				changed = true
			}
		}
	}
	if !changed {
		return data, false
	}
	b, _ := json.Marshal(m)
	return b, true
}
