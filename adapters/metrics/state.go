package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookledger/hookledger/domain"
)

// Backlog is the delivery work open at one moment.
type Backlog struct {
	Pending  int // open deliveries waiting for their due time or a worker
	Parked   int // open deliveries held because their subscription is paused or disabled
	InFlight int // attempts being sent
	// OldestPending is when the oldest delivery pending or in flight was
	// scheduled, OldestParked the oldest parked one (zero: none).
	OldestPending, OldestParked time.Time
}

// Fold is where the views stand: the last position folded, and the age of
// the oldest event not folded yet (0 when caught up).
type Fold struct {
	Position domain.Position
	Behind   time.Duration
}

// Node is this process's place in a cluster (docs/cluster.md).
type Node struct {
	Total      int  // the cluster's partition count
	Partitions int  // partitions whose lease this node acts under now
	Members    int  // live nodes, this one included
	Sealer     bool // this node holds the sealer's lease
}

// State is what the gauges read at scrape time; any field may be nil.
type State struct {
	Head      func(context.Context) (domain.Position, error)
	Fold      func() Fold
	Backlog   func() Backlog
	Disabled  func() map[string]int // subscriptions disabled, by reason
	ViewBytes func() int64          // bytes of the view store on disk
	LastSeal  func() (domain.Position, time.Time, bool)
	Node      func() Node // nil: not a cluster node
	// Starts counts the attempts started since the process began, and of
	// them those started in the write that scheduled their delivery.
	Starts func() (total, withSchedule int64)
	Now    func() time.Time
}

// Watch registers the gauges computed from s at each scrape.
func (m *Metrics) Watch(s State) {
	if s.Now == nil {
		s.Now = time.Now
	}
	m.reg.MustRegister(&stateCollector{s: s})
}

var (
	descHead     = prometheus.NewDesc(ns+"_ledger_head_position", "Position of the ledger's last event.", nil, nil)
	descFold     = prometheus.NewDesc(ns+"_fold_position", "Position of the last event folded into the views.", nil, nil)
	descLagEv    = prometheus.NewDesc(ns+"_fold_lag_events", "Positions between the ledger head and the fold (events, on the embedded store).", nil, nil)
	descLagSec   = prometheus.NewDesc(ns+"_fold_lag_seconds", "Age of the oldest ledger event not folded into the views yet; 0 when caught up.", nil, nil)
	descPending  = prometheus.NewDesc(ns+"_deliveries_pending", "Open deliveries waiting for their due time or a worker.", nil, nil)
	descParked   = prometheus.NewDesc(ns+"_deliveries_parked", "Open deliveries held while their subscription is paused or disabled.", nil, nil)
	descInFlight = prometheus.NewDesc(ns+"_deliveries_in_flight", "Attempts being sent now.", nil, nil)
	descOldest   = prometheus.NewDesc(ns+"_deliveries_oldest_pending_age_seconds", "Age of the oldest delivery pending or in flight (parked ones are apart); 0 when none.", nil, nil)
	descOldestPk = prometheus.NewDesc(ns+"_deliveries_oldest_parked_age_seconds", "Age of the oldest delivery held for a paused or disabled subscription; 0 when none.", nil, nil)
	descDisabled = prometheus.NewDesc(ns+"_subscriptions_disabled", "Subscriptions disabled, by reason (operator, gone, failing).", []string{"reason"}, nil)
	descViews    = prometheus.NewDesc(ns+"_view_store_bytes", "Bytes of the view store on disk (today the views snapshot file).", nil, nil)
	descSealPos  = prometheus.NewDesc(ns+"_seal_last_position", "Position of the newest seal.", nil, nil)
	descSealAge  = prometheus.NewDesc(ns+"_seal_last_age_seconds", "Age of the newest seal.", nil, nil)
	descNodeAll  = prometheus.NewDesc(ns+"_cluster_partitions", "The cluster's partition count (cluster nodes only).", nil, nil)
	descNodeHeld = prometheus.NewDesc(ns+"_cluster_partitions_held", "Partitions whose lease this node acts under now (cluster nodes only).", nil, nil)
	descMembers  = prometheus.NewDesc(ns+"_cluster_members", "Live nodes of the cluster as this node's last read of the cluster stream tells (cluster nodes only).", nil, nil)
	descSealer   = prometheus.NewDesc(ns+"_cluster_sealer", "1 while this node holds the sealer's lease (cluster nodes only).", nil, nil)
	descStarts   = prometheus.NewDesc(ns+"_attempts_started_total", "Attempts started, by who started them: the fan-out in the write that scheduled the delivery (schedule), or the dispatcher (dispatch).", []string{"by"}, nil)
)

type stateCollector struct{ s State }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHead, descFold, descLagEv, descLagSec, descPending, descParked, descInFlight,
		descOldest, descOldestPk, descDisabled, descViews, descSealPos, descSealAge, descNodeAll, descNodeHeld, descMembers, descSealer, descStarts} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	now := s.Now()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	var head domain.Position
	haveHead := false
	if s.Head != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if h, err := s.Head(ctx); err == nil {
			head, haveHead = h, true
			gauge(descHead, float64(h))
		}
		cancel()
	}
	if s.Fold != nil {
		f := s.Fold()
		gauge(descFold, float64(f.Position))
		gauge(descLagSec, f.Behind.Seconds())
		if haveHead && head >= f.Position {
			gauge(descLagEv, float64(head-f.Position))
		}
	}
	if s.Backlog != nil {
		b := s.Backlog()
		gauge(descPending, float64(b.Pending))
		gauge(descParked, float64(b.Parked))
		gauge(descInFlight, float64(b.InFlight))
		age := func(t time.Time) float64 {
			if t.IsZero() {
				return 0
			}
			return now.Sub(t).Seconds()
		}
		gauge(descOldest, age(b.OldestPending))
		gauge(descOldestPk, age(b.OldestParked))
	}
	if s.Disabled != nil {
		byReason := s.Disabled()
		for _, r := range []string{domain.DisabledByOperator, domain.DisabledGone, domain.DisabledFailing} {
			gauge(descDisabled, float64(byReason[r]), r)
		}
	}
	if s.ViewBytes != nil {
		gauge(descViews, float64(s.ViewBytes()))
	}
	if s.Starts != nil {
		total, withSchedule := s.Starts()
		ch <- prometheus.MustNewConstMetric(descStarts, prometheus.CounterValue, float64(withSchedule), "schedule")
		ch <- prometheus.MustNewConstMetric(descStarts, prometheus.CounterValue, float64(total-withSchedule), "dispatch")
	}
	if s.Node != nil {
		n := s.Node()
		gauge(descNodeAll, float64(n.Total))
		gauge(descNodeHeld, float64(n.Partitions))
		gauge(descMembers, float64(n.Members))
		sealer := 0.0
		if n.Sealer {
			sealer = 1
		}
		gauge(descSealer, sealer)
	}
	if s.LastSeal != nil {
		if pos, at, ok := s.LastSeal(); ok {
			gauge(descSealPos, float64(pos))
			gauge(descSealAge, now.Sub(at).Seconds())
		}
	}
}
