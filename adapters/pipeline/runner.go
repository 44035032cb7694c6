package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/clock"
	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/adapters/storekit"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// Sender makes one attempt (adapters/sender in production, scripted in tests).
type Sender interface {
	Send(ctx context.Context, r sender.Request) domain.AttemptResult
}

// Options configure a Runner. Store, Commands and Sender are required.
type Options struct {
	Store    domain.EventStore
	Commands *domain.Commands
	Sender   Sender
	Clock    clock.Clock    // default: real clock
	Random   func() float64 // jitter source in [0,1) (default math/rand/v2)
	Log      zerolog.Logger

	Workers         int           // concurrent attempts in total (default 64)
	PerSubscription int           // concurrent attempts per subscription (default 16)
	FanoutWorkers   int           // concurrent `delivery.scheduled` appends (default 64)
	FailureWindow   time.Duration // disable a subscription failing this long (default 5 days)
	ShutdownGrace   time.Duration // in-flight attempts may finish this long at shutdown (default 10 s)

	SnapshotPath     string        // "" = no snapshots
	SnapshotEvery    int           // events between snapshots (default 100,000)
	SnapshotInterval time.Duration // time between snapshots (default 30 s)

	WorkerName string // actor of delivery events (default "delivery-worker")

	Observer Observer // told of attempts, schedules and retries (default: nobody)
}

// Runner runs projections, fan-out and the delivery process.
type Runner struct {
	opts  Options
	log   zerolog.Logger
	clock clock.Clock

	mu         sync.RWMutex
	views      *projections.Views
	queue      dueQueue
	inflight   map[string]uint64   // delivery id -> view version to reach before it may be dispatched again
	parked     map[string][]string // subscription id -> due deliveries held while paused/disabled
	waiting    map[string][]string // subscription id -> due deliveries held by the per-subscription limit
	running    map[string]int      // subscription id -> attempts in flight
	active     int
	fanPending map[domain.Position]*fanoutJob
	sinceSnap  int

	startHead domain.Position
	caughtUp  chan struct{}
	caughtMu  sync.Once
	applied   storekit.Notifier
	wake      chan struct{}
	jobs      chan job
	fanCh     chan fanItem
	stopping  atomic.Bool
	snapMu    sync.Mutex

	payloads payloadCache
	stats    Stats
}

// Stats are counters for logs and benchmarks.
type Stats struct {
	Attempts     atomic.Int64
	Acknowledged atomic.Int64
	Failed       atomic.Int64
	Scheduled    atomic.Int64
}

type job struct {
	delivery projections.DeliveryView
	sub      projections.SubscriptionView
	cancel   bool
}

type fanItem struct {
	job *fanoutJob
	cmd domain.ScheduleDelivery
}

// New checks the options and builds a Runner. Run starts it.
func New(opts Options) (*Runner, error) {
	if opts.Store == nil || opts.Commands == nil || opts.Sender == nil {
		return nil, errors.New("pipeline: Store, Commands and Sender are required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Random == nil {
		opts.Random = rand.Float64
	}
	if opts.Workers <= 0 {
		opts.Workers = 64
	}
	if opts.PerSubscription <= 0 {
		opts.PerSubscription = 16
	}
	if opts.FanoutWorkers <= 0 {
		opts.FanoutWorkers = 64
	}
	if opts.FailureWindow <= 0 {
		opts.FailureWindow = 5 * 24 * time.Hour
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = 10 * time.Second
	}
	if opts.SnapshotEvery <= 0 {
		opts.SnapshotEvery = 100_000
	}
	if opts.SnapshotInterval <= 0 {
		opts.SnapshotInterval = 30 * time.Second
	}
	if opts.WorkerName == "" {
		opts.WorkerName = "delivery-worker"
	}
	if opts.Observer == nil {
		opts.Observer = noObserver{}
	}
	return &Runner{
		opts: opts, log: opts.Log.With().Str("component", "pipeline").Logger(), clock: opts.Clock,
		views: projections.New(), inflight: map[string]uint64{}, parked: map[string][]string{},
		waiting: map[string][]string{}, running: map[string]int{}, fanPending: map[domain.Position]*fanoutJob{},
		caughtUp: make(chan struct{}), wake: make(chan struct{}, 1),
		jobs: make(chan job, opts.Workers), fanCh: make(chan fanItem, 4*opts.FanoutWorkers),
		payloads: payloadCache{m: map[string][]byte{}},
	}, nil
}

// Read runs fn with the views locked for reading. fn must not keep references
// past its return.
func (r *Runner) Read(fn func(v *projections.Views)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	fn(r.views)
}

// Ready reports whether the views caught up with the ledger as it was at start-up.
func (r *Runner) Ready() bool {
	select {
	case <-r.caughtUp:
		return true
	default:
		return false
	}
}

// Checkpoint is the position of the last event folded into the views.
func (r *Runner) Checkpoint() domain.Position {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.views.Checkpoint
}

// WaitFor blocks until the views have folded position pos (read-your-writes).
func (r *Runner) WaitFor(ctx context.Context, pos domain.Position) error {
	for {
		ch := r.applied.Wait()
		if r.Checkpoint() >= pos {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Stats returns the runner's counters.
func (r *Runner) Stats() *Stats { return &r.stats }

func (r *Runner) kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run starts the pipeline and blocks until ctx ends (graceful shutdown) or
// the ledger subscription fails.
func (r *Runner) Run(ctx context.Context) error {
	var restartFanout []*fanoutJob
	if r.opts.SnapshotPath != "" {
		v, fan, err := readSnapshot(r.opts.SnapshotPath)
		switch {
		case err != nil:
			r.log.Warn().Err(err).Msg("snapshot unreadable: rebuilding the views from position 0")
		case v != nil:
			r.mu.Lock()
			r.views, restartFanout = v, fan
			r.mu.Unlock()
			r.log.Info().Uint64("checkpoint", uint64(v.Checkpoint)).Int("unfinished_fanouts", len(fan)).Msg("views loaded from snapshot")
		}
	}
	head, err := r.opts.Store.Head(ctx)
	if err != nil {
		return fmt.Errorf("pipeline: read the ledger head: %w", err)
	}
	if cp := r.Checkpoint(); cp > head {
		// The views were folded from events the store no longer has: serving
		// them would show what the ledger cannot prove, and new events would
		// land below the checkpoint and never be folded.
		return &domain.TruncatedError{Head: head, Known: cp, Source: "the views snapshot " + r.opts.SnapshotPath}
	}
	r.startHead = head
	if r.Checkpoint() >= head {
		r.markCaughtUp()
	}

	background := context.Background()
	subCtx, cancelSub := context.WithCancel(background)
	fanCtx, cancelFan := context.WithCancel(background)
	dispatchCtx, cancelDispatch := context.WithCancel(background)
	hardCtx, cancelHard := context.WithCancel(background)
	defer cancelSub()
	defer cancelFan()
	defer cancelDispatch()
	defer cancelHard()

	var fanWG sync.WaitGroup
	for i := 0; i < r.opts.FanoutWorkers; i++ {
		fanWG.Add(1)
		go func() { defer fanWG.Done(); r.fanoutWorker(fanCtx) }()
	}
	r.mu.Lock()
	for _, j := range restartFanout {
		j.remaining = len(j.Schedules)
		r.fanPending[j.Position] = j
	}
	r.mu.Unlock()
	go func() {
		for _, j := range restartFanout {
			for _, c := range j.Schedules {
				select {
				case r.fanCh <- fanItem{job: j, cmd: c}:
				case <-fanCtx.Done():
					return
				}
			}
		}
	}()

	subErr := make(chan error, 1)
	from := r.Checkpoint()
	go func() {
		subErr <- r.opts.Store.SubscribeAll(subCtx, from, func(rec domain.RecordedEvent) error {
			return r.handle(fanCtx, rec)
		})
	}()

	r.log.Info().Uint64("from", uint64(from)).Uint64("head", uint64(head)).Msg("catching up with the ledger")
	select {
	case <-r.caughtUp:
	case err := <-subErr:
		return fmt.Errorf("pipeline: ledger subscription ended during catch-up: %w", err)
	case <-ctx.Done():
		cancelSub()
		<-subErr
		return nil
	}
	r.log.Info().Uint64("checkpoint", uint64(r.Checkpoint())).Msg("views caught up")
	r.recoverOpenAttempts()
	r.rebuildQueue()

	var workWG sync.WaitGroup
	for i := 0; i < r.opts.Workers; i++ {
		workWG.Add(1)
		go func() {
			defer workWG.Done()
			for j := range r.jobs {
				r.work(hardCtx, j)
			}
		}()
	}
	dispatchDone := make(chan struct{})
	go func() { defer close(dispatchDone); r.dispatch(dispatchCtx) }()
	snapDone := make(chan struct{})
	go func() { defer close(snapDone); r.snapshotLoop(dispatchCtx) }()

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-subErr:
		runErr = fmt.Errorf("pipeline: ledger subscription ended: %w", err)
		subErr <- err
	}

	// Shutdown: stop taking work, let in-flight attempts finish (up to the
	// grace period, after which they are recorded as outcome unknown), then
	// stop folding, stop fan-out, and write a last snapshot.
	r.log.Info().Msg("pipeline stopping: no new attempts")
	r.stopping.Store(true)
	cancelDispatch()
	<-dispatchDone
	<-snapDone
	close(r.jobs)
	grace := time.AfterFunc(r.opts.ShutdownGrace, func() {
		r.log.Warn().Dur("grace", r.opts.ShutdownGrace).Msg("in-flight attempts interrupted: recording them as outcome unknown")
		cancelHard()
	})
	workWG.Wait()
	grace.Stop()
	cancelSub()
	<-subErr
	cancelFan()
	fanWG.Wait()
	if err := r.writeSnapshot(); err != nil {
		r.log.Error().Err(err).Msg("final snapshot failed (the next start replays more)")
	}
	r.log.Info().Uint64("checkpoint", uint64(r.Checkpoint())).Msg("pipeline stopped")
	return runErr
}

func (r *Runner) markCaughtUp() { r.caughtMu.Do(func() { close(r.caughtUp) }) }

// handle folds one ledger event and reacts to it.
func (r *Runner) handle(fanCtx context.Context, rec domain.RecordedEvent) error {
	ev, _, err := domain.Decode(rec)
	if err != nil {
		return fmt.Errorf("fold position %d: %w", rec.Position, err)
	}
	var fan *fanoutJob
	r.mu.Lock()
	r.views.ApplyDecoded(rec, ev)
	switch e := ev.(type) {
	case domain.MessagePublished:
		if cmds := Match(r.views, e, rec.Position); len(cmds) > 0 {
			fan = &fanoutJob{MessageID: e.MessageID, Position: rec.Position, CausationID: rec.ID, Schedules: cmds, remaining: len(cmds)}
			r.fanPending[rec.Position] = fan
			// The attempts follow shortly: keep the body the fold just
			// decoded rather than read the message stream again per attempt.
			r.payloads.put(e.MessageID, e.Payload)
		}
	case domain.SubscriptionResumed:
		r.unparkLocked(e.SubscriptionID)
	case domain.SubscriptionDeleted:
		r.unparkLocked(e.SubscriptionID)
	case domain.DeliveryScheduled:
		r.requeueLocked(e.DeliveryID)
		if r.Ready() {
			r.opts.Observer.DeliveryScheduled()
		}
	default:
		if id := deliveryID(ev); id != "" {
			r.requeueLocked(id)
		}
	}
	r.sinceSnap++
	snap := r.sinceSnap >= r.opts.SnapshotEvery
	r.mu.Unlock()
	if rec.Position >= r.startHead {
		r.markCaughtUp()
	}
	r.applied.Broadcast()
	if fan != nil {
		for _, c := range fan.Schedules {
			select {
			case r.fanCh <- fanItem{job: fan, cmd: c}:
			case <-fanCtx.Done():
				return fanCtx.Err()
			}
		}
	}
	r.kick()
	if snap {
		if err := r.writeSnapshot(); err != nil {
			r.log.Error().Err(err).Msg("snapshot failed")
		}
	}
	return nil
}

// Match returns the schedules for a message: every active or paused
// subscription of the message's application whose filters match, as the views
// stand. A paused subscription's deliveries are scheduled and wait (parked) for
// the resume, so pausing loses nothing; a disabled subscription (gone, failing,
// or disabled by an operator) gets no new deliveries. Called with
// views folded up to the message's own position, it matches against the
// subscriptions as they stood there.
func Match(v *projections.Views, m domain.MessagePublished, pos domain.Position) []domain.ScheduleDelivery {
	var out []domain.ScheduleDelivery
	for _, sv := range v.SubscriptionsOf(m.ApplicationID) {
		if sv.Status != domain.StatusActive && sv.Status != domain.StatusPaused {
			continue
		}
		pattern, ok := sv.EventTypes.Match(m.EventType)
		if !ok {
			continue
		}
		out = append(out, domain.ScheduleDelivery{
			MessageID: m.MessageID, SubscriptionID: sv.ID, ApplicationID: m.ApplicationID, EventType: m.EventType,
			SubscriptionRevision: sv.Revision(), MatchedPattern: pattern, MessagePosition: pos,
			FirstDelay: domain.PolicyFromMS(sv.RetryScheduleMS).Schedule[0],
		})
	}
	return out
}

func deliveryID(ev domain.Event) string {
	switch e := ev.(type) {
	case domain.AttemptStarted:
		return e.DeliveryID
	case domain.AttemptAcknowledged:
		return e.DeliveryID
	case domain.AttemptFailed:
		return e.DeliveryID
	case domain.AttemptOutcomeUnknown:
		return e.DeliveryID
	case domain.RetryScheduled:
		return e.DeliveryID
	case domain.DeliveryExhausted:
		return e.DeliveryID
	case domain.RedeliveryRequested:
		return e.DeliveryID
	case domain.DeliveryCancelled:
		return e.DeliveryID
	}
	return ""
}

func dispatchable(s domain.DeliveryStatus) bool {
	return s == domain.DeliveryStatusPending || s == domain.DeliveryStatusFailed
}

// requeueLocked queues a delivery whose state changed, unless a worker still
// owns it and the view has not yet seen that worker's events.
func (r *Runner) requeueLocked(id string) {
	d := r.views.Deliveries[id]
	if d == nil {
		return
	}
	if need, ok := r.inflight[id]; ok {
		if d.Version < need {
			return
		}
		delete(r.inflight, id)
	}
	if dispatchable(d.Status) {
		r.queue.push(dueEntry{due: d.NextDueAt, id: id, version: d.Version})
	}
}

func (r *Runner) unparkLocked(sub string) {
	ids := r.parked[sub]
	delete(r.parked, sub)
	for _, id := range ids {
		r.requeueLocked(id)
	}
}

func (r *Runner) rebuildQueue() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queue = r.queue[:0]
	r.parked = map[string][]string{}
	for id, d := range r.views.Deliveries {
		if dispatchable(d.Status) {
			if _, busy := r.inflight[id]; !busy {
				r.queue.push(dueEntry{due: d.NextDueAt, id: id, version: d.Version})
			}
		}
	}
	r.kick()
}

// dispatch hands due deliveries to workers until ctx ends.
func (r *Runner) dispatch(ctx context.Context) {
	for {
		r.mu.Lock()
		now := r.clock.Now()
		for r.queue.Len() > 0 && r.active < r.opts.Workers {
			top := r.queue[0]
			if top.due.After(now) {
				break
			}
			r.queue.pop()
			d := r.views.Deliveries[top.id]
			if d == nil || d.Version != top.version || !dispatchable(d.Status) {
				continue
			}
			if _, busy := r.inflight[top.id]; busy {
				continue
			}
			sv := r.views.Subscriptions[d.SubscriptionID]
			if sv == nil {
				continue
			}
			j := job{delivery: *d, sub: *sv}
			switch sv.Status {
			case domain.StatusDeleted:
				j.cancel = true
			case domain.StatusPaused, domain.StatusDisabled:
				r.parked[sv.ID] = append(r.parked[sv.ID], d.ID)
				continue
			}
			if !j.cancel && r.running[sv.ID] >= r.opts.PerSubscription {
				r.waiting[sv.ID] = append(r.waiting[sv.ID], d.ID)
				continue
			}
			r.inflight[d.ID] = d.Version + 1
			r.running[sv.ID]++
			r.active++
			r.jobs <- j // never blocks: capacity is Workers and active < Workers
		}
		var timer <-chan time.Time
		if r.queue.Len() > 0 && r.active < r.opts.Workers {
			timer = r.clock.After(r.queue[0].due.Sub(now))
		}
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-timer:
		}
	}
}

// finish releases a worker's slots and lets a held delivery of the same
// subscription through.
func (r *Runner) finish(j job) {
	r.mu.Lock()
	sub := j.sub.ID
	r.running[sub]--
	if r.running[sub] <= 0 {
		delete(r.running, sub)
	}
	r.active--
	if w := r.waiting[sub]; len(w) > 0 {
		id := w[0]
		if len(w) == 1 {
			delete(r.waiting, sub)
		} else {
			r.waiting[sub] = w[1:]
		}
		r.requeueLocked(id)
	}
	r.mu.Unlock()
	r.kick()
}

// release forgets a dispatch that appended nothing, so the delivery can be
// taken again once due (after a short pause, to not spin on a failing store).
func (r *Runner) release(id string, retryIn time.Duration) {
	r.mu.Lock()
	delete(r.inflight, id)
	if d := r.views.Deliveries[id]; d != nil && dispatchable(d.Status) {
		r.queue.push(dueEntry{due: r.clock.Now().Add(retryIn), id: id, version: d.Version})
	}
	r.mu.Unlock()
	r.kick()
}

func (r *Runner) md(d projections.DeliveryView, causation string) domain.Metadata {
	return domain.Metadata{Actor: r.opts.WorkerName, CorrelationID: d.MessageID, CausationID: causation}
}

// appendDelivery appends events decided on d, retrying transient store errors
// a few times. A wrong-revision error is returned at once: someone else moved
// the delivery.
func (r *Runner) appendDelivery(d projections.DeliveryView, events []domain.Event, causation string) ([]string, error) {
	var err error
	for try := 0; try < 5; try++ {
		var ids []string
		_, ids, err = r.opts.Commands.AppendDecided(context.Background(), domain.DeliveryStream(d.ID), d.Revision(), true, events, r.md(d, causation))
		if err == nil || errors.Is(err, domain.ErrWrongRevision) || errors.Is(err, domain.ErrInvalidArgument) || errors.Is(err, domain.ErrClosed) {
			return ids, err
		}
		time.Sleep(time.Duration(50<<try) * time.Millisecond)
	}
	return nil, err
}

func evolveAll(d projections.DeliveryView, events []domain.Event, ids []string) projections.DeliveryView {
	for i, e := range events {
		d.Delivery = domain.EvolveDelivery(d.Delivery, e)
		d.LastEventID = ids[i]
	}
	return d
}

// work makes one attempt of one delivery. hard ends in-flight sends when the
// shutdown grace period is over.
func (r *Runner) work(hard context.Context, j job) {
	defer r.finish(j)
	d := j.delivery
	log := r.log.With().Str("delivery_id", d.ID).Str("subscription_id", d.SubscriptionID).Logger()
	if r.stopping.Load() {
		r.release(d.ID, 0)
		return
	}
	now := r.clock.Now()
	if j.cancel {
		evs, err := domain.DecideDelivery(d.Delivery, domain.CancelDelivery{Reason: "subscription deleted"}, now)
		if err == nil && len(evs) > 0 {
			_, err = r.appendDelivery(d, evs, d.LastEventID)
		}
		if err != nil && !errors.Is(err, domain.ErrWrongRevision) {
			log.Error().Err(err).Msg("cancel failed")
			r.release(d.ID, time.Second)
		}
		return
	}
	evs, err := domain.DecideDelivery(d.Delivery, domain.StartAttempt{Worker: r.opts.WorkerName}, now)
	if err != nil {
		log.Warn().Err(err).Msg("cannot start an attempt")
		r.release(d.ID, time.Second)
		return
	}
	ids, err := r.appendDelivery(d, evs, d.LastEventID)
	if errors.Is(err, domain.ErrWrongRevision) {
		return // another owner, or the view is behind: wait for the newer event
	}
	if err != nil {
		log.Error().Err(err).Msg("attempt start not recorded")
		r.release(d.ID, time.Second)
		return
	}
	r.stats.Attempts.Add(1)
	d = evolveAll(d, evs, ids)
	attempt := d.OpenAttempt

	var result domain.AttemptResult
	payload, perr := r.payload(context.Background(), d.MessageID)
	keys := j.sub.ValidKeys(now)
	secrets := make([]string, len(keys))
	keyIDs := make([]string, len(keys))
	for i, k := range keys {
		secrets[i], keyIDs[i] = k.Secret, k.KeyID
	}
	signer, serr := domain.NewSigner(secrets...)
	switch {
	case perr != nil:
		result = domain.AttemptResult{ErrorClass: domain.ErrorClassInternal, Error: "payload unavailable: " + perr.Error()}
	case serr != nil || len(keys) == 0:
		result = domain.AttemptResult{ErrorClass: domain.ErrorClassInternal, Error: "no valid signing key"}
	default:
		result = r.opts.Sender.Send(hard, sender.Request{
			URL: j.sub.URL, MessageID: d.MessageID, Body: payload, Headers: j.sub.Headers, Signer: signer, Timestamp: now,
		})
	}
	result.Attempt, result.KeyIDs = attempt, keyIDs
	var cmd any = domain.RecordOutcome{Result: result, Policy: domain.PolicyFromMS(j.sub.RetryScheduleMS), Random: r.opts.Random()}
	if hard.Err() != nil && result.ErrorClass != "" {
		// The shutdown cut the attempt short: the endpoint may or may not have
		// the message. Say so, and retry it at the next start.
		cmd = domain.CloseUnknownAttempt{Attempt: attempt, Reason: "shutdown interrupted the attempt"}
	}
	evs, err = domain.DecideDelivery(d.Delivery, cmd, r.clock.Now())
	if err != nil {
		log.Error().Err(err).Msg("cannot record the outcome")
		return
	}
	if _, err := r.appendDelivery(d, evs, d.LastEventID); err != nil {
		// Left open: the next start closes it as outcome unknown.
		log.Error().Err(err).Msg("attempt outcome not recorded")
		return
	}
	r.opts.Observer.AttemptFinished(result.ErrorClass, result.Latency)
	for _, e := range evs {
		if _, ok := e.(domain.RetryScheduled); ok {
			r.opts.Observer.RetryScheduled()
		}
	}
	if result.ErrorClass == "" {
		r.stats.Acknowledged.Add(1)
		return
	}
	r.stats.Failed.Add(1)
	log.Debug().Str("error_class", result.ErrorClass).Int("status", result.StatusCode).Int("attempt", attempt).Msg("attempt failed")
	r.checkHealth(j.sub.ID, d, result, r.clock.Now())
}

// checkHealth disables a subscription that answered 410 Gone, or whose
// attempts have all failed for the failure window.
func (r *Runner) checkHealth(subID string, d projections.DeliveryView, result domain.AttemptResult, now time.Time) {
	var reason, detail string
	if result.ErrorClass == domain.ErrorClassGone {
		reason, detail = domain.DisabledGone, "the endpoint answered 410 Gone"
	} else {
		r.mu.RLock()
		var since time.Time
		if sv := r.views.Subscriptions[subID]; sv != nil {
			since = sv.FailingSince
		}
		r.mu.RUnlock()
		if since.IsZero() || now.Sub(since) < r.opts.FailureWindow {
			return
		}
		reason, detail = domain.DisabledFailing, fmt.Sprintf("every attempt failed since %s (window %s)", since.UTC().Format(time.RFC3339), r.opts.FailureWindow)
	}
	_, out, err := r.opts.Commands.ChangeSubscription(context.Background(), "", subID, domain.DisableSubscription{Reason: reason, Detail: detail},
		domain.Metadata{Actor: r.opts.WorkerName, CorrelationID: d.MessageID, CausationID: d.LastEventID})
	if err != nil {
		r.log.Error().Err(err).Str("subscription_id", subID).Msg("could not disable the subscription")
		return
	}
	if len(out.Events) > 0 {
		r.log.Warn().Str("subscription_id", subID).Str("reason", reason).Str("detail", detail).Msg("subscription disabled; its pending deliveries wait and can be recovered")
	}
}

// recoverOpenAttempts closes every attempt that started before this process
// and has no outcome: the previous process died during it.
func (r *Runner) recoverOpenAttempts() {
	r.mu.Lock()
	var open []projections.DeliveryView
	for id, d := range r.views.Deliveries {
		if d.Status == domain.DeliveryStatusAttempting {
			open = append(open, *d)
			r.inflight[id] = d.Version + 1
		}
	}
	r.mu.Unlock()
	sort.Slice(open, func(i, j int) bool { return open[i].ID < open[j].ID })
	for _, d := range open {
		evs, err := domain.DecideDelivery(d.Delivery, domain.CloseUnknownAttempt{Attempt: d.OpenAttempt, Reason: "the process stopped before the outcome was recorded"}, r.clock.Now())
		if err == nil {
			_, err = r.appendDelivery(d, evs, d.LastEventID)
		}
		if err != nil {
			r.log.Error().Err(err).Str("delivery_id", d.ID).Msg("could not close an interrupted attempt")
			continue
		}
	}
	if len(open) > 0 {
		r.log.Warn().Int("attempts", len(open)).Msg("closed attempts interrupted by the last stop as outcome unknown; they are retried")
	}
}

// fanoutWorker appends the scheduled deliveries decided by handle.
func (r *Runner) fanoutWorker(ctx context.Context) {
	for {
		var it fanItem
		select {
		case <-ctx.Done():
			return
		case it = <-r.fanCh:
		}
		for try := 0; ; try++ {
			evs, err := domain.DecideDelivery(domain.Delivery{}, it.cmd, r.clock.Now())
			if err == nil {
				_, _, err = r.opts.Commands.AppendDecided(context.Background(), domain.DeliveryStream(evs[0].(domain.DeliveryScheduled).DeliveryID), 0, false, evs,
					domain.Metadata{Actor: "fanout", CorrelationID: it.job.MessageID, CausationID: it.job.CausationID})
			}
			if err == nil {
				r.stats.Scheduled.Add(1)
				break
			}
			if errors.Is(err, domain.ErrWrongRevision) {
				break // already scheduled: a replay after a restart
			}
			if errors.Is(err, domain.ErrInvalidArgument) || try >= 5 || ctx.Err() != nil {
				// Left in the pending fan-out set: the next start retries it.
				r.log.Error().Err(err).Str("message_id", it.cmd.MessageID).Str("subscription_id", it.cmd.SubscriptionID).Msg("delivery not scheduled")
				goto next
			}
			time.Sleep(time.Duration(50<<try) * time.Millisecond)
		}
		r.mu.Lock()
		it.job.remaining--
		if it.job.remaining <= 0 {
			delete(r.fanPending, it.job.Position)
		}
		r.mu.Unlock()
	next:
	}
}

func (r *Runner) snapshotLoop(ctx context.Context) {
	if r.opts.SnapshotPath == "" {
		return
	}
	t := time.NewTicker(r.opts.SnapshotInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.writeSnapshot(); err != nil {
				r.log.Error().Err(err).Msg("snapshot failed")
			}
		}
	}
}

func (r *Runner) writeSnapshot() error {
	if r.opts.SnapshotPath == "" {
		return nil
	}
	r.snapMu.Lock()
	defer r.snapMu.Unlock()
	var checkpoint domain.Position
	n, err := writeFileAtomic(r.opts.SnapshotPath, func(w io.Writer) error {
		// The views are locked while they are encoded (into the page cache);
		// the fsync happens after the lock is released.
		r.mu.Lock()
		defer r.mu.Unlock()
		checkpoint = r.views.Checkpoint
		r.sinceSnap = 0
		return encodeSnapshot(w, r.views, r.fanPending)
	})
	if err != nil {
		return err
	}
	r.log.Debug().Uint64("checkpoint", uint64(checkpoint)).Int64("bytes", n).Msg("views snapshot written")
	return nil
}

// payload returns a message's body, from a small cache (fan-out sends one
// message to many subscriptions) or the message stream.
func (r *Runner) payload(ctx context.Context, msgID string) ([]byte, error) {
	if b, ok := r.payloads.get(msgID); ok {
		return b, nil
	}
	recs, err := r.opts.Store.ReadStream(ctx, domain.MessageStream(msgID), 0, domain.Forward, 1)
	if err != nil {
		return nil, err
	}
	ev, _, err := domain.Decode(recs[0])
	if err != nil {
		return nil, err
	}
	m, ok := ev.(domain.MessagePublished)
	if !ok {
		return nil, fmt.Errorf("message stream %s starts with %s", msgID, recs[0].Type)
	}
	r.payloads.put(msgID, m.Payload)
	return m.Payload, nil
}

// payloadCache is a bounded map, emptied when full: simple, and enough for the
// fan-out locality it serves.
type payloadCache struct {
	mu    sync.Mutex
	m     map[string][]byte
	bytes int
}

const payloadCacheBytes = 16 << 20

func (c *payloadCache) get(id string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.m[id]
	return b, ok
}

func (c *payloadCache) put(id string, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bytes+len(b) > payloadCacheBytes {
		c.m, c.bytes = map[string][]byte{}, 0
	}
	c.m[id] = b
	c.bytes += len(b)
}
