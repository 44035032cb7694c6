package bench

// The cluster scenario: 1, 2 and 3 `hookledger serve` processes on one
// ledger held by the EventStoreDB emulator (in this process), publishing
// through every node. On one machine a cluster cannot be faster (the nodes
// share the cores, and each folds the whole ledger); the scenario shows
// what each node costs and how the work splits (docs/cluster.md).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/adapters/eventstoredb"
	"github.com/hookledger/hookledger/adapters/eventstoredb/esdbtest"
	"github.com/hookledger/hookledger/adapters/httpapi"
	"github.com/hookledger/hookledger/adapters/keystore"
	"github.com/hookledger/hookledger/domain"
)

const clusterAdminKey = "bench-cluster-admin-key-0123456789"

// cluster runs the scenario for 1, 2 and 3 nodes, a fresh ledger each.
func (r *runner) cluster(ctx context.Context) ([]Result, error) {
	bin := r.cfg.Binary
	if bin == "" {
		return nil, errors.New("cluster: needs the hookledger binary to start nodes (Config.Binary)")
	}
	emu, err := esdbtest.Start(esdbtest.Options{})
	if err != nil {
		return nil, err
	}
	defer emu.Stop()
	keyPath := filepath.Join(r.root, "cluster-seal.key")
	if _, _, err := audit.LoadOrCreateKey(keyPath); err != nil {
		return nil, err
	}
	masterPath := filepath.Join(r.root, "cluster-master.key")
	if err := os.WriteFile(masterPath, []byte(keystore.NewMasterKey()), 0o600); err != nil {
		return nil, err
	}
	var out []Result
	for n := 1; n <= 3; n++ {
		res, err := r.clusterOf(ctx, n, bin, emu.URL(), keyPath, masterPath)
		if err != nil {
			return out, fmt.Errorf("%d nodes: %w", n, err)
		}
		out = append(out, res)
		r.say("cluster-%dn %.0f deliveries/s", n, res.DeliveriesPerS)
	}
	return out, nil
}

// benchNode is one node process.
type benchNode struct {
	cmd  *exec.Cmd
	addr string
	log  bytes.Buffer
}

func (r *runner) clusterOf(ctx context.Context, n int, bin, storeURL, keyPath, masterPath string) (Result, error) {
	prefix := fmt.Sprintf("bench-%d-%d-", n, time.Now().UnixNano())
	var got atomic.Int64
	var mu sync.Mutex
	seen := map[string]bool{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		mu.Lock()
		if id := req.Header.Get("webhook-id") + req.URL.Path; !seen[id] {
			seen[id] = true
			got.Add(1)
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()

	nodes := make([]*benchNode, n)
	defer func() {
		for _, nd := range nodes {
			if nd != nil && nd.cmd.Process != nil {
				nd.cmd.Process.Signal(syscall.SIGTERM)
				done := make(chan struct{})
				go func() { nd.cmd.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(20 * time.Second):
					nd.cmd.Process.Kill()
				}
			}
		}
	}()
	for i := range nodes {
		addr, err := freeAddr()
		if err != nil {
			return Result{}, err
		}
		nd := &benchNode{addr: addr}
		args := []string{"serve", "--store-url", storeURL, "--store-prefix", prefix, "--node-id", fmt.Sprintf("bench-%d", i+1),
			"--data-dir", filepath.Join(r.root, fmt.Sprintf("cluster-%d-%d", n, i+1)), "--listen", addr, "--allow-private-targets",
			"--seal-key-file", keyPath, "--log-level", "warn", "--log-format", "json", "--max-ingest-lag", "0",
			"--workers", strconv.Itoa(r.cfg.Workers), "--per-subscription", strconv.Itoa(min(r.cfg.Workers, 64))}
		// Payloads encrypted as a cluster runs by default (the data keys in
		// the ledger, one master key for every node), unless measured
		// without.
		if r.cfg.NoPayloadEncryption {
			args = append(args, "--no-payload-encryption")
		} else {
			args = append(args, "--master-key-file", masterPath)
		}
		if r.cfg.NoMetrics {
			args = append(args, "--no-metrics")
		}
		nd.cmd = exec.Command(bin, args...)
		nd.cmd.Env = append(os.Environ(), "HOOKLEDGER_ADMIN_KEY="+clusterAdminKey)
		nd.cmd.Stdout, nd.cmd.Stderr = &nd.log, &nd.log
		if err := nd.cmd.Start(); err != nil {
			return Result{}, err
		}
		nodes[i] = nd
	}
	for _, nd := range nodes {
		if err := waitAuthorized(ctx, nd.addr, 60*time.Second); err != nil {
			return Result{}, fmt.Errorf("node %s: %w\n%s", nd.addr, err, nd.log.String())
		}
	}
	// Wait for the partitions to be shared evenly, as a cluster in service is.
	ledger, err := eventstoredb.Open(eventstoredb.Options{URL: storeURL, Prefix: prefix, Log: zerolog.Nop()})
	if err != nil {
		return Result{}, err
	}
	defer ledger.Close()
	if err := waitBalanced(ctx, ledger, n, 60*time.Second); err != nil {
		return Result{}, err
	}

	subs := r.cfg.ClusterSubs
	base := func(i int) string { return "http://" + nodes[i%n].addr }
	// Written through one node and used through the others: each node is
	// first brought to the write's position (read your writes, docs/cluster.md).
	appPos, err := benchPost(base(0)+"/v1/applications", map[string]any{"id": "app_bench", "name": "bench"})
	if err != nil {
		return Result{}, err
	}
	if err := waitPosition(ctx, nodes, appPos); err != nil {
		return Result{}, err
	}
	var subsPos uint64
	for s := 0; s < subs; s++ {
		pos, err := benchPost(base(s)+"/v1/applications/app_bench/subscriptions", map[string]any{
			"url": fmt.Sprintf("%s/s%d", recv.URL, s), "event_types": []string{fmt.Sprintf("t.%d", s)}})
		if err != nil {
			return Result{}, err
		}
		subsPos = max(subsPos, pos)
	}
	if err := waitPosition(ctx, nodes, subsPos); err != nil {
		return Result{}, err
	}
	messages := r.cfg.ClusterMessages
	payload := strings.Repeat("x", max(0, r.cfg.PayloadBytes-40))
	cpu0 := make([]time.Duration, n)
	for i, nd := range nodes {
		cpu0[i] = procCPU(nd.cmd.Process.Pid)
	}
	self0 := cpuTime()
	began := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var pubErr atomic.Value
	for c := 0; c < r.cfg.Clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= messages || ctx.Err() != nil {
					return
				}
				if _, err := benchPost(base(k)+"/v1/applications/app_bench/messages", map[string]any{
					"event_type": fmt.Sprintf("t.%d", k%subs), "payload": map[string]any{"k": k, "pad": payload}}); err != nil {
					pubErr.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := pubErr.Load().(error); err != nil {
		return Result{}, err
	}
	published := time.Since(began)
	for got.Load() < int64(messages) {
		if time.Since(began) > 10*time.Minute || ctx.Err() != nil {
			return Result{}, fmt.Errorf("%d of %d delivered after %s", got.Load(), messages, time.Since(began))
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(began)
	res := Result{Scenario: fmt.Sprintf("cluster-%dn", n), Nodes: n, Messages: messages, Subscriptions: subs, Deliveries: messages,
		Received: got.Load(), IngestMsgsPerS: float64(messages) / published.Seconds(), DeliveriesPerS: float64(messages) / elapsed.Seconds()}
	var total float64
	for i, nd := range nodes {
		ms := float64((procCPU(nd.cmd.Process.Pid) - cpu0[i]).Microseconds()) / 1000 / float64(messages)
		res.NodeCPUMsPerDelivery = append(res.NodeCPUMsPerDelivery, ms)
		total += ms
		res.PeakRSSMB = max(res.PeakRSSMB, procPeakRSS(nd.cmd.Process.Pid))
	}
	res.CPUMsPerDelivery = total
	res.DriverCPUMsPerDelivery = float64((cpuTime() - self0).Microseconds()) / 1000 / float64(messages)
	return res, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// benchPost posts body with the bench's admin key; a status of 300 or more
// is an error.
// benchPost posts body as the admin and returns the write's ledger position.
func benchPost(url string, body any) (uint64, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+clusterAdminKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		var m map[string]any
		json.NewDecoder(res.Body).Decode(&m)
		return 0, fmt.Errorf("POST %s: %d %v", url, res.StatusCode, m)
	}
	io.Copy(io.Discard, res.Body)
	pos, _ := strconv.ParseUint(res.Header.Get(httpapi.HeaderLedgerPosition), 10, 64)
	return pos, nil
}

// waitPosition waits until every node's views hold pos: a read naming it in
// X-Min-Position answers once they do (503 while they do not).
func waitPosition(ctx context.Context, nodes []*benchNode, pos uint64) error {
	for _, nd := range nodes {
		deadline := time.Now().Add(30 * time.Second)
		for {
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+nd.addr+"/v1/applications/app_bench", nil)
			req.Header.Set("Authorization", "Bearer "+clusterAdminKey)
			req.Header.Set(httpapi.HeaderMinPosition, strconv.FormatUint(pos, 10))
			res, err := http.DefaultClient.Do(req)
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					break
				}
				err = fmt.Errorf("status %d", res.StatusCode)
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("node %s did not reach position %d: %w", nd.addr, pos, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// waitAuthorized waits until a node answers an admin request (its views
// hold the bootstrap key).
func waitAuthorized(ctx context.Context, addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/keys", nil)
		req.Header.Set("Authorization", "Bearer "+clusterAdminKey)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready within %s", within)
}

// waitBalanced waits until n nodes hold the partitions within one of even.
func waitBalanced(ctx context.Context, store domain.EventStore, n int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if recs, err := store.ReadStream(ctx, domain.ClusterStream, 0, domain.Forward, 1<<20); err == nil {
			var s domain.ClusterState
			for _, rec := range recs {
				if ev, err := domain.DecodeEvent(rec); err == nil {
					s = domain.EvolveCluster(s, ev)
				}
			}
			counts := map[string]int{}
			now := time.Now()
			for p := 0; p < s.Partitions; p++ {
				if l := s.Leases[domain.PartitionLease(p)]; l.Owner != "" && now.Before(l.ExpiresAt) {
					counts[l.Owner]++
				}
			}
			lo, hi, sum := s.Partitions, 0, 0
			for _, c := range counts {
				lo, hi, sum = min(lo, c), max(hi, c), sum+c
			}
			if s.Partitions > 0 && len(counts) == n && sum == s.Partitions && hi-lo <= 1 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the partitions were not shared by %d nodes within %s", n, within)
}

// procCPU is a process's user and system CPU time (/proc/<pid>/stat, in
// clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// procPeakRSS is a process's peak resident set in MiB (VmHWM).
func procPeakRSS(pid int) float64 {
	return procStatusMiB(fmt.Sprintf("/proc/%d/status", pid), "VmHWM:")
}
