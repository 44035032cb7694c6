// Package pipeline runs hookledger's delivery flow next to the store:
//
//   - one catch-up subscription to $all folds every event into the views
//     (projections.Views), from the last snapshot's checkpoint;
//   - fan-out: a published message is matched, at its own position, against
//     the subscriptions as they stood there; each match appends
//     `delivery.scheduled` expecting no stream (so replays schedule nothing
//     twice);
//   - a dispatcher takes due deliveries in due-time order with bounded total
//     and per-subscription concurrency, and parks those whose subscription is
//     paused or disabled (they stay pending, visible and recoverable);
//   - workers append `attempt started` at the delivery's expected revision (a
//     lost race means another owner: skip), send the signed POST, and append
//     the outcome and the next step; a delivery due at once whose
//     subscription has a slot free has its attempt started by the fan-out,
//     in the write that schedules it, and goes straight to a worker;
//   - at start-up, an attempt started with no outcome is closed as outcome
//     unknown and retried (at-least-once: nothing is silently lost);
//   - in a cluster (Options.Ownership), only the partitions this node holds
//     are fanned out and dispatched; a takeover closes the former owner's
//     open attempts, and an attempt of an older epoch is fenced off;
//   - views are snapshotted with their checkpoint, so a restart catches up
//     from there instead of replaying everything.
//
// It is application logic over ports (the event store, the sender, the
// clock, the observer), not an adapter of one. One concern per file:
// runner.go (options, the runner, read-your-writes), run.go (start and
// shutdown), fold.go (the fold and matching), fanout.go, startnow.go (an
// attempt started in the write that schedules its delivery), dispatch.go
// and duequeue.go (the due queue, parking, limits), fifo.go, ratelimit.go,
// worker.go (attempts, health, recovery), payloads.go (the bounded payload
// cache), viewstore.go (commits and saved fan-outs), operational.go,
// observe.go (what metrics read), rebuild.go, partitions.go (a cluster
// node's share of the work).
package pipeline
