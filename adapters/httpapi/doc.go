// Package httpapi is hookledger's HTTP API on gin: JSON over HTTP, every route
// under /v1 behind `Authorization: Bearer <key>`, errors as
// application/problem+json (RFC 9457) with a stable `code` (mapped from domain
// errors in one place: problem.go). docs/openapi.yaml describes every route;
// a test checks the document against the router.
//
// Writes go through domain.Commands and wait (briefly) until the views have
// folded them, so a client reads its own writes. Reads come from the views, or
// from the store where the ledger itself is asked for (timelines, raw events).
package httpapi
