// Package storetest is the conformance suite of the event-store port. Every
// store adapter runs it in a few lines:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t testing.TB) domain.EventStore { return openFresh(t) })
//	}
//
// It covers revision semantics, ordering, inclusive reads and exclusive
// subscription starts, paging, catch-up to live with concurrent writers,
// cancellation, a 50-goroutine race on one stream, 1 MiB events, unicode
// stream names, and invalid input refused with typed errors. A store that
// offers multi-stream appends (domain.MultiAppender) also runs their tests:
// all or nothing, consecutive positions in the order of the parts, a race
// on a shared stream, subscribers. One that reads by position
// (domain.PositionReader) runs theirs: every event read at its position is
// $all's, nothing outside the ledger, refused once closed.
package storetest
