package app

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/cluster"
	"github.com/hookledger/hookledger/adapters/config"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/domain"
)

// ClusterTiming is the lease timing of a lease time: renewed every fifth of
// it, with a tenth as the clock margin (10 s: every 2 s, margin 1 s).
func ClusterTiming(lease time.Duration) domain.LeaseTiming {
	return domain.LeaseTiming{Lease: lease, Renew: lease / 5, Margin: lease / 10}
}

// DefaultNodeID is the host name plus a random suffix: two processes on one
// host are two nodes.
func DefaultNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	host = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, host)
	if len(host) > 50 {
		host = host[:50]
	}
	var b [5]byte
	rand.Read(b[:])
	return host + "-" + strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

// startNode joins the cluster when cfg is a cluster node (nil otherwise):
// it reads, or for the first node writes, the cluster's configuration.
func startNode(ctx context.Context, cfg config.Config, store domain.EventStore, log zerolog.Logger) (*cluster.Keeper, error) {
	if !cfg.Cluster {
		return nil, nil
	}
	id := cfg.NodeID
	if id == "" {
		id = DefaultNodeID()
	}
	k, err := cluster.New(cluster.Options{Store: store, NodeID: id, Partitions: cfg.Partitions, Timing: ClusterTiming(cfg.LeaseTime),
		Sealer: true, NewEventID: ids.NewEventID, Log: log,
		// One cache per ledger, as the view store (the same name).
		CachePath: filepath.Join(cfg.DataDir, "cluster", filepath.Base(cfg.ViewsDir())+".json")})
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := k.Start(sctx); err != nil {
		return nil, fmt.Errorf("join the cluster as %s: %w", id, err)
	}
	return k, nil
}

// runNode keeps the node's leases and tells the pipeline when they change;
// the returned stop releases them.
func runNode(k *cluster.Keeper, p *pipeline.Runner) func() {
	k.SetOnChange(p.OwnershipChanged)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); k.Run(ctx) }()
	return func() { cancel(); <-done }
}

// underSealerLease runs run while this node holds the sealer's lease (its
// context ends with the lease), again each time the node takes the lease,
// until ctx ends: the sealer, and the retention sweeper, which one node
// runs for the cluster.
func underSealerLease(ctx context.Context, k *cluster.Keeper, log zerolog.Logger, what string, run func(context.Context) error) error {
	for {
		if lease := k.Sealer(); lease != nil {
			lctx, cancel := context.WithCancel(ctx)
			stop := context.AfterFunc(lease, cancel)
			log.Info().Msg(what + " under the sealer's lease")
			err := run(lctx)
			stop()
			cancel()
			if ctx.Err() != nil {
				return err
			}
			log.Info().Msg("the sealer's lease ended: another node runs " + what)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}
