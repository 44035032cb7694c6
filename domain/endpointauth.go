package domain

import (
	"encoding/base64"
	"net/http"
	"strings"
)

// Endpoint credential types.
const (
	AuthBasic  = "basic"
	AuthBearer = "bearer"
	AuthNone   = "none" // removes the credential (updates only)
)

// EndpointAuth is a credential hookledger presents to an endpoint, given as
// first-class fields rather than a hand-built header. It is recorded as the
// subscription's Authorization header: that is what is sent, Authorization is
// always a secret header (redacted in views, exports and every ledger read
// outside the store), and no second copy of the credential exists.
type EndpointAuth struct {
	Type     string `json:"type"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Token    string `json:"token,omitempty"`
}

// headerValue is the Authorization value, or "" for AuthNone.
func (a EndpointAuth) headerValue() (string, error) {
	clean := func(field, v string, max int) error {
		if len(v) > max || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return invalid(field, "at most %d characters, no control characters", max)
		}
		return nil
	}
	switch a.Type {
	case AuthBasic:
		if a.Token != "" {
			return "", invalid("auth.token", "not used by basic authentication")
		}
		if a.Username == "" || strings.Contains(a.Username, ":") {
			return "", invalid("auth.username", "required, and must not contain ':' (RFC 7617)")
		}
		if err := clean("auth.username", a.Username, 1024); err != nil {
			return "", err
		}
		if err := clean("auth.password", a.Password, 1024); err != nil {
			return "", err
		}
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(a.Username+":"+a.Password)), nil
	case AuthBearer:
		if a.Username != "" || a.Password != "" {
			return "", invalid("auth.username", "not used by bearer authentication")
		}
		if a.Token == "" || strings.ContainsAny(a.Token, " \t") {
			return "", invalid("auth.token", "required, with no spaces")
		}
		if err := clean("auth.token", a.Token, 4000); err != nil {
			return "", err
		}
		return "Bearer " + a.Token, nil
	case AuthNone:
		if a.Username != "" || a.Password != "" || a.Token != "" {
			return "", invalid("auth", "type none takes no credentials")
		}
		return "", nil
	default:
		return "", invalid("auth.type", "must be %q or %q (or %q to remove)", AuthBasic, AuthBearer, AuthNone)
	}
}

// withAuth returns headers with the credential set as Authorization (or
// removed, for AuthNone). The same request may not also give an
// Authorization header: which one wins would be a guess.
func withAuth(base, given map[string]string, a EndpointAuth) (map[string]string, error) {
	for k := range given {
		if http.CanonicalHeaderKey(k) == "Authorization" {
			return nil, invalid("auth", "give the credential either as auth or as an Authorization header, not both")
		}
	}
	v, err := a.headerValue()
	if err != nil {
		return nil, err
	}
	hs := make(map[string]string, len(base)+1)
	for k, val := range base {
		if http.CanonicalHeaderKey(k) != "Authorization" {
			hs[k] = val
		}
	}
	if v != "" {
		hs["Authorization"] = v
	}
	return hs, nil
}
