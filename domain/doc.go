// Package domain is hookledger's pure model: the ledger events and their codec,
// the commands and the decide/evolve functions of each aggregate (application,
// subscription, message, delivery), the retry policy, Standard Webhooks signing,
// event-type filters, the domain errors, and the ports the core needs (the event
// store).
//
// It imports the standard library only (a test in this package enforces it).
// Nothing here reads the clock, generates ids or draws random numbers: time, ids
// and randomness come in as arguments, so every decision is reproducible from
// the ledger alone.
package domain
