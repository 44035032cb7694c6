// Package metrics is hookledger's Prometheus instrumentation: one registry
// per process, the collectors of docs/operations.md ("Metrics"), and the
// small observer interfaces the store, the pipeline and the HTTP API call.
// It is an adapter: the packages it observes own their observer ports and
// never import it.
//
// Cardinality: no label carries a message, delivery or subscription id.
// Labels are the route template, method, status, outcome class and disable
// reason: all bounded sets.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hookledger/hookledger/domain"
)

const ns = "hookledger"

// Metrics holds the process's collectors.
type Metrics struct {
	reg *prometheus.Registry

	attempts       *prometheus.CounterVec
	attemptLatency *prometheus.HistogramVec
	scheduled      prometheus.Counter
	retries        prometheus.Counter

	appends       prometheus.Counter
	appendErrors  prometheus.Counter
	eventsApp     prometheus.Counter
	appendLatency prometheus.Histogram
	commitBatch   prometheus.Histogram
	commitSync    prometheus.Histogram

	requests       *prometheus.CounterVec
	requestLatency *prometheus.HistogramVec
	authFailures   prometheus.Counter
}

// New builds the registry with the Go runtime and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	latency := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	m := &Metrics{
		reg: reg,
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "delivery_attempts_total",
			Help: "Delivery attempts by outcome: acknowledged, or the failure's error class (http_status, gone, throttled, redirect, timeout, connection_refused, connection_reset, dns, tls, blocked_target, network, internal)."},
			[]string{"outcome"}),
		attemptLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "delivery_attempt_duration_seconds",
			Help: "Time from sending an attempt to its answer (or failure), by result (acknowledged, failed).", Buckets: latency},
			[]string{"result"}),
		scheduled: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "deliveries_scheduled_total",
			Help: "Deliveries scheduled (fan-out and replays)."}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "delivery_retries_scheduled_total",
			Help: "Retries scheduled after a failed attempt."}),
		appends: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "ledger_appends_total",
			Help: "Appends to the ledger (each one stream, one or more events)."}),
		appendErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "ledger_append_errors_total",
			Help: "Appends refused or failed (wrong expected revision included)."}),
		eventsApp: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "ledger_events_appended_total",
			Help: "Events appended to the ledger."}),
		appendLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "ledger_append_duration_seconds",
			Help: "Time for an append to be durable (queueing, group commit and sync).", Buckets: latency}),
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "ledger_commit_batch_events",
			Help: "Events per group commit (embedded store).", Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096}}),
		commitSync: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "ledger_commit_sync_duration_seconds",
			Help: "Time from writing one group commit to the log until it is synced, the sync ahead of it included (embedded store).", Buckets: latency}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "http_requests_total",
			Help: "HTTP requests by route template, method and status."}, []string{"route", "method", "status"}),
		requestLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "http_request_duration_seconds",
			Help: "HTTP request latency by route template and method.", Buckets: latency}, []string{"route", "method"}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "http_auth_failures_total",
			Help: "Requests refused for a missing, unknown or revoked API key."}),
	}
	reg.MustRegister(m.attempts, m.attemptLatency, m.scheduled, m.retries, m.appends, m.appendErrors, m.eventsApp,
		m.appendLatency, m.commitBatch, m.commitSync, m.requests, m.requestLatency, m.authFailures)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the process's registry (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// AttemptFinished records one attempt's outcome ("" for acknowledged, else
// the error class) and how long it took.
func (m *Metrics) AttemptFinished(errorClass string, took time.Duration) {
	outcome, result := "acknowledged", "acknowledged"
	if errorClass != "" {
		outcome, result = errorClass, "failed"
	}
	m.attempts.WithLabelValues(outcome).Inc()
	m.attemptLatency.WithLabelValues(result).Observe(took.Seconds())
}

// DeliveryScheduled counts a scheduled delivery.
func (m *Metrics) DeliveryScheduled() { m.scheduled.Inc() }

// RetryScheduled counts a retry.
func (m *Metrics) RetryScheduled() { m.retries.Inc() }

// Committed records one group commit of the embedded store.
func (m *Metrics) Committed(events int, took time.Duration) {
	m.commitBatch.Observe(float64(events))
	m.commitSync.Observe(took.Seconds())
}

// Request records one HTTP request by its route template.
func (m *Metrics) Request(route, method string, status int, took time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.requestLatency.WithLabelValues(route, method).Observe(took.Seconds())
}

// AuthFailure counts a request refused for its key.
func (m *Metrics) AuthFailure() { m.authFailures.Inc() }

// InstrumentStore counts and times the appends made through store.
func (m *Metrics) InstrumentStore(store domain.EventStore) domain.EventStore {
	return &instrumented{EventStore: store, m: m}
}

type instrumented struct {
	domain.EventStore
	m *Metrics
}

func (s *instrumented) Append(ctx context.Context, stream string, expected domain.ExpectedRevision, events ...domain.EventData) (domain.AppendResult, error) {
	start := time.Now()
	res, err := s.EventStore.Append(ctx, stream, expected, events...)
	s.m.appends.Inc()
	if err != nil {
		s.m.appendErrors.Inc()
		return res, err
	}
	s.m.eventsApp.Add(float64(len(events)))
	s.m.appendLatency.Observe(time.Since(start).Seconds())
	return res, nil
}

// AppendMulti passes a multi-stream append through when the store offers
// it, counted as one append of all its events; otherwise it answers
// errors.ErrUnsupported and the caller appends stream by stream.
func (s *instrumented) AppendMulti(ctx context.Context, parts ...domain.StreamAppend) ([]domain.AppendResult, error) {
	multi, ok := s.EventStore.(domain.MultiAppender)
	if !ok {
		return nil, fmt.Errorf("%w: the store has no multi-stream append", errors.ErrUnsupported)
	}
	start := time.Now()
	res, err := multi.AppendMulti(ctx, parts...)
	s.m.appends.Inc()
	if err != nil {
		s.m.appendErrors.Inc()
		return res, err
	}
	n := 0
	for _, p := range parts {
		n += len(p.Events)
	}
	s.m.eventsApp.Add(float64(n))
	s.m.appendLatency.Observe(time.Since(start).Seconds())
	return res, nil
}

// ReadAt passes a read by position through when the store offers it;
// otherwise it answers errors.ErrUnsupported and the caller reads the
// event's stream.
func (s *instrumented) ReadAt(ctx context.Context, pos domain.Position) (domain.RecordedEvent, error) {
	r, ok := s.EventStore.(domain.PositionReader)
	if !ok {
		return domain.RecordedEvent{}, fmt.Errorf("%w: the store has no read by position", errors.ErrUnsupported)
	}
	return r.ReadAt(ctx, pos)
}

// Health passes the store's health through (the API's /readyz asks it).
func (s *instrumented) Health() error {
	if h, ok := s.EventStore.(interface{ Health() error }); ok {
		return h.Health()
	}
	return nil
}

// Unwrap returns the store instrumented.
func (s *instrumented) Unwrap() domain.EventStore { return s.EventStore }
