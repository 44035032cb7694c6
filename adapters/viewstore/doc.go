// Package viewstore keeps hookledger's views on disk: a Pebble database of
// its own, separate from the ledger, that the pipeline's fold writes in
// batches. Each batch carries the checkpoint (the position of the last event
// it covers), so after a crash the store is exactly the fold up to its
// checkpoint and catching up from there repairs the rest.
//
// The view store is a cache of the ledger: it is never backed up, and
// `hookledger rebuild` makes a fresh one from position 0. For the same
// reason it keeps no write-ahead log: a batch is durable once Pebble has
// written its memtable out to a table (Sync, at a clean stop, writes them
// all), and a crash loses only whole batches, the last ones: the store opens
// at an older checkpoint, and the ledger replays what it lost.
//
// Keys (one byte of kind, then the fields; positions and times big-endian
// so that byte order is their order):
//
//	_meta              format and checkpoint, events folded
//	a<id> s<id> k<id> t<name>   applications, subscriptions, API keys, event types (JSON)
//	m<id> d<id>        message and delivery records, binary (codec.go; a
//	                   delivery's value starts with its open flag and due time)
//	xa<app>0<pos>      deliveries of an application by scheduled position
//	xs<sub>0<pos>      deliveries of a subscription by scheduled position
//	xm<app>0<pos>      messages of an application by position
//	q<sub>0<due><id>   open deliveries of a subscription by due time (value: 1 open, 2 attempting)
//	p<sub>0<msgpos><id>  open deliveries of a subscription in publish order (FIFO heads)
//	w<id>              deliveries with an attempt started and no outcome (crash recovery)
//	z<sub>0<slot>      a subscription's outcomes and latencies per 5 minutes (JSON)
//	f<key>             pipeline state kept with the checkpoint (pending fan-outs)
//
// A serving store's flushes and compactions write tables of one kind each
// (the x kinds by their two bytes; kindSpan says why).
package viewstore
