package domain

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

// OperationalIdempotencyKey is the idempotency key of the operational
// message announcing the ledger event eventID: announcing it twice (a
// restart, a replay of the fold) lands on the same message.
func OperationalIdempotencyKey(eventID string) string { return "op:" + eventID }
