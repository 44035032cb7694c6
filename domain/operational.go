package domain

import "strings"

// SystemApplicationID is the built-in application whose messages are
// hookledger's own operational events. Operators subscribe to it
// (POST /v1/operational-subscriptions); its messages are signed, retried and
// ledgered like any other. No tenant can be created under this id.
const SystemApplicationID = "app_hookledger"

// Operational event types, published to SystemApplicationID.
const (
	OpSubscriptionDisabled = "hookledger.subscription.disabled"
	OpSubscriptionEnabled  = "hookledger.subscription.enabled"
	OpDeliveryExhausted    = "hookledger.delivery.exhausted"
	OpSealFailed           = "hookledger.seal.failed"
)

// operationalTypes are the operational event types, in the order the docs
// list them.
var operationalTypes = []string{OpSubscriptionDisabled, OpSubscriptionEnabled, OpDeliveryExhausted, OpSealFailed}

// validateOperationalFilters refuses a pattern of an operational
// subscription that matches none of the operational event types: such a
// subscription would be accepted and never receive anything, an alert that
// silently never fires ("subscription.disabled" for
// "hookledger.subscription.disabled").
func validateOperationalFilters(f Filters) error {
	for _, p := range f {
		matched := false
		for _, t := range operationalTypes {
			if _, ok := (Filters{p}).Match(t); ok {
				matched = true
				break
			}
		}
		if !matched {
			return invalid("event_types", "pattern %q matches no operational event type; they are %s (or \"hookledger.*\" for all)", p, strings.Join(operationalTypes, ", "))
		}
	}
	return nil
}

// OperationalIdempotencyKey is the idempotency key of the operational
// message announcing the ledger event eventID: announcing it twice (a
// restart, a replay of the fold) lands on the same message.
func OperationalIdempotencyKey(eventID string) string { return "op:" + eventID }
