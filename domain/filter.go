package domain

import "strings"

// Filters is a subscription's list of event-type patterns. A pattern is an
// exact event type ("order.paid"), a prefix wildcard ("order.*": every type
// starting with "order."), or "*" (every type).
type Filters []string

// MaxFilters bounds the patterns of one subscription.
const MaxFilters = 64

// ValidateEventType accepts names of 1-128 characters made of letters, digits,
// '.', '_', '-' and ':', with no empty dot-separated segment.
func ValidateEventType(field, t string) error {
	if t == "" {
		return invalid(field, "empty event type")
	}
	if len(t) > 128 {
		return invalid(field, "event type longer than 128 characters")
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == ':') {
			return invalid(field, "event type %q: character %q is not allowed", t, c)
		}
	}
	for _, seg := range strings.Split(t, ".") {
		if seg == "" {
			return invalid(field, "event type %q has an empty segment", t)
		}
	}
	return nil
}

// Validate checks every pattern; duplicates are refused so a listing shows
// what the user meant.
func (f Filters) Validate() error {
	if len(f) == 0 {
		return invalid("event_types", "at least one event type pattern is required (\"*\" matches every type)")
	}
	if len(f) > MaxFilters {
		return invalid("event_types", "at most %d patterns", MaxFilters)
	}
	seen := make(map[string]struct{}, len(f))
	for _, p := range f {
		if _, dup := seen[p]; dup {
			return invalid("event_types", "pattern %q appears twice", p)
		}
		seen[p] = struct{}{}
		if p == "*" {
			continue
		}
		if prefix, ok := strings.CutSuffix(p, ".*"); ok {
			if err := ValidateEventType("event_types", prefix); err != nil {
				return invalid("event_types", "pattern %q: the part before \".*\" must be an event type", p)
			}
			continue
		}
		if strings.Contains(p, "*") {
			return invalid("event_types", "pattern %q: '*' is only allowed as \"*\" or a final \".*\"", p)
		}
		if err := ValidateEventType("event_types", p); err != nil {
			return err
		}
	}
	return nil
}

// Match returns the first pattern that matches eventType, and whether any did.
func (f Filters) Match(eventType string) (string, bool) {
	for _, p := range f {
		if p == "*" || p == eventType {
			return p, true
		}
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasSuffix(prefix, ".") && strings.HasPrefix(eventType, prefix) {
			return p, true
		}
	}
	return "", false
}
