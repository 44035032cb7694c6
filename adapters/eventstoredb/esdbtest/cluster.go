package esdbtest

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/gossip"
	"github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/shared"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Cluster is a 3-node cluster as the client meets it: every node answers
// gossip with the members and which one leads; a write sent to a follower is
// refused with the "not-leader" exception naming the leader, as real servers
// do; reads and subscriptions are served by any node; a leader change
// (ElectLeader) drops the subscriptions, as a node stepping down does.
// Replication is instantaneous: the nodes share one log.
type Cluster struct {
	Nodes     []*Server
	leader    atomic.Int32
	notLeader atomic.Int64
}

// NotLeaderRefusals counts writes a follower refused.
func (c *Cluster) NotLeaderRefusals() int { return int(c.notLeader.Load()) }

// StartCluster starts n nodes on 127.0.0.1; node 0 leads.
func StartCluster(n int, opts Options) (*Cluster, error) {
	c := &Cluster{}
	l := newLedger()
	for i := 0; i < n; i++ {
		s, err := start(opts, l, c, i)
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Nodes = append(c.Nodes, s)
	}
	return c, nil
}

// URL lists every node as a gossip seed, preferring the leader.
func (c *Cluster) URL() string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.addr
	}
	return "esdb://" + strings.Join(addrs, ",") + "?tls=false&nodePreference=leader&maxDiscoverAttempts=20&discoveryInterval=100&gossipTimeout=2"
}

// Leader is the index of the node that leads.
func (c *Cluster) Leader() int { return int(c.leader.Load()) }

// ElectLeader makes node i the leader; the old leader's subscriptions drop.
func (c *Cluster) ElectLeader(i int) {
	old := c.Leader()
	c.leader.Store(int32(i))
	c.Nodes[old].DropSubscriptions()
}

// Stop stops every node.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		n.Stop()
	}
}

// Appends counts the append calls that reached any node.
func (c *Cluster) Appends() int {
	total := 0
	for _, n := range c.Nodes {
		total += n.Appends()
	}
	return total
}

// notLeader is a follower's answer to a write.
func (s *Server) notLeader(ctx context.Context) error {
	if s.cluster == nil || s.cluster.Leader() == s.node {
		return nil
	}
	s.cluster.notLeader.Add(1)
	host, port, _ := net.SplitHostPort(s.cluster.Nodes[s.cluster.Leader()].addr)
	grpc.SetTrailer(ctx, metadata.Pairs("exception", "not-leader", "leader-endpoint-host", host, "leader-endpoint-port", port))
	return status.Error(codes.NotFound, "Leader info available")
}

// gossipService answers the client's discovery.
type gossipService struct {
	gossip.UnimplementedGossipServer
	s *Server
}

func (g *gossipService) Read(ctx context.Context, _ *shared.Empty) (*gossip.ClusterInfo, error) {
	c := g.s.cluster
	info := &gossip.ClusterInfo{}
	for i, n := range c.Nodes {
		host, port, _ := net.SplitHostPort(n.addr)
		p, _ := strconv.Atoi(port)
		state := gossip.MemberInfo_Follower
		if i == c.Leader() {
			state = gossip.MemberInfo_Leader
		}
		info.Members = append(info.Members, &gossip.MemberInfo{
			InstanceId: &shared.UUID{Value: &shared.UUID_String_{String_: "00000000-0000-0000-0000-00000000000" + strconv.Itoa(i+1)}},
			TimeStamp:  time.Now().UnixNano(), State: state, IsAlive: true,
			HttpEndPoint: &gossip.EndPoint{Address: host, Port: uint32(p)},
		})
	}
	return info, nil
}
