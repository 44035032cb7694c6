// Package storekit holds the pieces every event-store adapter shares: the
// catch-up subscription loop and the broadcast that wakes it. Keeping them in
// one place means every store gives the same no-gap, no-duplicate guarantee
// the same way. It also holds the reading side's ring of pages for long
// scans of $all (PageRing), shared by the rebuild, verify and export.
package storekit
