// Package projections holds hookledger's read models: pure folds over ledger
// events. A projection takes time from the events it folds, never from the
// clock, so rebuilding it from position 0 gives byte-identical views.
//
// It imports the standard library and the module's domain package only (a
// test in domain enforces it).
package projections
