package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/adapters/eventstoredb"
	"github.com/hookledger/hookledger/adapters/eventstoredb/esdbtest"
	"github.com/hookledger/hookledger/adapters/keystore"
	"github.com/hookledger/hookledger/domain"
)

// clusterReceiver is the endpoint of every subscription of the cluster
// test: it records each request (which message, which subscription, when)
// and any two requests of one delivery in flight at once.
type clusterReceiver struct {
	mu       sync.Mutex
	inflight map[string]int
	got      map[string]int // delivery (message id + path) -> requests
	first    map[string]time.Time
	arrivals map[string][]time.Time // subscription path -> request times
	overlaps []string
	bodies   []string // bodies that are not the payload published ({"k":N})
}

var publishedBody = regexp.MustCompile(`^\{"k":\d+\}$`)

func (c *clusterReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body) // read as a real endpoint does (and so notice a client that leaves)
	key := r.Header.Get("webhook-id") + r.URL.Path
	now := time.Now()
	c.mu.Lock()
	if !publishedBody.Match(body) {
		c.bodies = append(c.bodies, string(body))
	}
	c.inflight[key]++
	if c.inflight[key] > 1 {
		c.overlaps = append(c.overlaps, key)
	}
	c.got[key]++
	if _, ok := c.first[key]; !ok {
		c.first[key] = now
	}
	c.arrivals[r.URL.Path] = append(c.arrivals[r.URL.Path], now)
	c.mu.Unlock()
	time.Sleep(time.Millisecond) // an endpoint takes a moment: a duplicate in flight would overlap
	c.mu.Lock()
	c.inflight[key]--
	c.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// node is one `hookledger serve` process of the cluster test.
type clusterNode struct {
	id, addr, dir string
	cmd           *exec.Cmd
	log           *syncBuffer
	leaseRanOut   atomic.Int64 // unix nanos of the first "lease ran out" line (0: none)
	exited        chan struct{}
}

// TestClusterOfThreeNodes: three node processes on one ledger (the
// EventStoreDB emulator, or a real server with HOOKLEDGER_TEST_ESDB_URL),
// 20,000 messages to 50 subscriptions; one node is SIGKILLed mid-run and
// started again later; another is cut off from the store. Every accepted
// message is delivered to its subscription, no delivery has two requests in
// flight at once, a repeat is explained by an attempt_outcome_unknown, the
// leases rebalance, the cut-off node stops before its leases can be taken,
// and `hookledger verify` passes. The failover figures are printed.
func TestClusterOfThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three node processes; skipped under -short")
	}
	messages := 20_000
	if v, err := strconv.Atoi(os.Getenv("HOOKLEDGER_TEST_CLUSTER_MESSAGES")); err == nil && v > 0 {
		messages = v
	}
	const subs, lease = 50, 10 * time.Second
	storeURL := os.Getenv("HOOKLEDGER_TEST_ESDB_URL")
	var target string
	if storeURL == "" {
		emu, err := esdbtest.Start(esdbtest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer emu.Stop()
		storeURL, target = emu.URL(), emu.Addr()
	}
	prefix := fmt.Sprintf("hl-cluster-%d-", time.Now().UnixNano())
	dir := t.TempDir()
	// Payloads encrypted under keys in the ledger's key store, which every
	// node opens with the same master key.
	masterPath := filepath.Join(dir, "master.key")
	if err := os.WriteFile(masterPath, []byte(keystore.NewMasterKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "seal.key")
	sealKey, _, err := audit.LoadOrCreateKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	pub := audit.EncodePublicKey(sealKey.Public().(ed25519.PublicKey))
	ledger, err := eventstoredb.Open(eventstoredb.Options{URL: storeURL, Prefix: prefix, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer ledger.Close()

	recv := &clusterReceiver{inflight: map[string]int{}, got: map[string]int{}, first: map[string]time.Time{}, arrivals: map[string][]time.Time{}}
	endpoint := httptest.NewServer(recv)
	defer endpoint.Close()

	const adminKey = "cluster-test-admin-key-0123456789"
	nodes := make([]*clusterNode, 3)
	proxies := make([]*esdbtest.Proxy, 3)
	for i := range nodes {
		nodes[i] = &clusterNode{id: fmt.Sprintf("n%d", i+1), addr: freePort(t), dir: filepath.Join(dir, fmt.Sprintf("n%d", i+1))}
		if target != "" {
			if proxies[i], err = esdbtest.NewProxy(target); err != nil {
				t.Fatal(err)
			}
			defer proxies[i].Close()
		}
	}
	start := func(n *clusterNode, i int) {
		url := storeURL
		if proxies[i] != nil {
			url = proxies[i].URL(storeURL)
		}
		n.cmd = exec.Command(binary(t), "serve", "--store-url", url, "--store-prefix", prefix, "--node-id", n.id, "--data-dir", n.dir,
			"--listen", n.addr, "--allow-private-targets", "--master-key-file", masterPath, "--seal-key-file", keyPath, "--seal-interval", "1s",
			"--log-format", "json", "--max-ingest-lag", "0")
		n.cmd.Env = append(os.Environ(), "HOOKLEDGER_ADMIN_KEY="+adminKey)
		n.log = &syncBuffer{}
		n.leaseRanOut.Store(0)
		stderr, _ := n.cmd.StderrPipe()
		n.cmd.Stdout = n.log
		if err := n.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		n.exited = make(chan struct{})
		go func() {
			sc := bufio.NewScanner(stderr)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				line := sc.Text()
				if strings.Contains(line, "lease ran out before it was renewed") {
					n.leaseRanOut.CompareAndSwap(0, time.Now().UnixNano())
				}
				n.log.Write([]byte(line + "\n"))
			}
			n.cmd.Wait()
			close(n.exited)
		}()
	}
	dump := func() {
		for _, n := range nodes {
			var keep []string
			for _, line := range strings.Split(n.log.String(), "\n") {
				if !strings.Contains(line, `"message":"request"`) {
					keep = append(keep, line)
				}
			}
			log := strings.Join(keep, "\n")
			if len(log) > 8000 {
				log = log[len(log)-8000:]
			}
			t.Logf("--- %s log (tail) ---\n%s", n.id, log)
		}
	}
	defer func() {
		for _, n := range nodes {
			if n.cmd != nil && n.cmd.ProcessState == nil {
				n.cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-n.exited:
				case <-time.After(20 * time.Second):
					n.cmd.Process.Kill()
				}
			}
		}
		if t.Failed() {
			dump()
		}
	}()
	ready := func(n *clusterNode) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if res, err := http.Get("http://" + n.addr + "/readyz"); err == nil {
				res.Body.Close()
				if res.StatusCode == 200 {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready within 60 s", n.id)
			}
		}
	}
	for i, n := range nodes {
		start(n, i)
	}
	for _, n := range nodes {
		ready(n)
	}
	api := func(n *clusterNode) *apiClient { return &apiClient{t: t, base: "http://" + n.addr, key: adminKey} }
	for _, n := range nodes {
		api(n).waitReady(30*time.Second, n.log)
	}
	api(nodes[0]).call("POST", "/v1/applications", map[string]any{"id": "app_cluster", "name": "cluster"})
	subIDs := make([]string, subs)
	for i := range subIDs {
		// Any node takes any write: spread them.
		out := api(nodes[i%3]).call("POST", "/v1/applications/app_cluster/subscriptions", map[string]any{
			"url": fmt.Sprintf("%s/s%d", endpoint.URL, i), "event_types": []string{fmt.Sprintf("t.%d", i)}})
		subIDs[i] = out["id"].(string)
	}
	// Read your writes across nodes: a write through n1 answers its
	// position; a read through n3 naming it sees the write.
	{
		body, _ := json.Marshal(map[string]any{"url": endpoint.URL + "/ryw", "event_types": []string{"never.published"}})
		req, _ := http.NewRequest("POST", "http://"+nodes[0].addr+"/v1/applications/app_cluster/subscriptions", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminKey)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var created map[string]any
		json.NewDecoder(res.Body).Decode(&created)
		res.Body.Close()
		pos := res.Header.Get("X-Ledger-Position")
		if res.StatusCode != 201 || pos == "" {
			t.Fatalf("a write through n1: %d, X-Ledger-Position %q", res.StatusCode, pos)
		}
		req, _ = http.NewRequest("GET", "http://"+nodes[2].addr+"/v1/applications/app_cluster/subscriptions/"+created["id"].(string), nil)
		req.Header.Set("Authorization", "Bearer "+adminKey)
		req.Header.Set("X-Min-Position", pos)
		res, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("a read through n3 at X-Min-Position %s: %d", pos, res.StatusCode)
		}
	}
	clusterState := func() domain.ClusterState {
		recs, err := ledger.ReadStream(context.Background(), domain.ClusterStream, 0, domain.Forward, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		var s domain.ClusterState
		for _, r := range recs {
			ev, err := domain.DecodeEvent(r)
			if err != nil {
				t.Fatal(err)
			}
			s = domain.EvolveCluster(s, ev)
		}
		return s
	}
	counts := func(s domain.ClusterState, now time.Time) map[string]int {
		c := map[string]int{}
		for p := 0; p < s.Partitions; p++ {
			if l := s.Leases[domain.PartitionLease(p)]; l.Owner != "" && now.Before(l.ExpiresAt) {
				c[l.Owner]++
			}
		}
		return c
	}
	balanced := func(owners ...string) bool {
		s := clusterState()
		c := counts(s, time.Now())
		total, lo, hi := 0, s.Partitions, 0
		for _, o := range owners {
			total += c[o]
			lo, hi = min(lo, c[o]), max(hi, c[o])
		}
		return total == s.Partitions && hi-lo <= 1
	}
	waitFor := func(what string, within time.Duration, cond func() bool) time.Duration {
		t.Helper()
		began := time.Now()
		for !cond() {
			if time.Since(began) > within {
				t.Fatalf("not within %s: %s", within, what)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return time.Since(began)
	}
	waitFor("three nodes share the partitions", 3*lease, func() bool { return balanced("n1", "n2", "n3") })
	// What to monitor: each node's gauges tell its share; together they
	// cover every partition, and one node seals.
	held, sealers := 0.0, 0.0
	for _, n := range nodes {
		g := scrapeGauges(t, "http://"+n.addr+"/metrics", adminKey, "hookledger_cluster_")
		if g["hookledger_cluster_partitions"] != 64 || g["hookledger_cluster_members"] != 3 {
			t.Fatalf("%s's cluster gauges: %v", n.id, g)
		}
		held += g["hookledger_cluster_partitions_held"]
		sealers += g["hookledger_cluster_sealer"]
	}
	if held != 64 || sealers != 1 {
		t.Fatalf("the nodes' gauges: %v partitions held, %v sealers", held, sealers)
	}

	// Publish through every live node, with idempotency keys: a publish
	// whose answer was lost (its node killed) is retried on another node.
	var (
		accMu    sync.Mutex
		accepted = map[int]string{} // message number -> message id
		live     atomic.Value
	)
	live.Store([]int{0, 1, 2})
	publish := func(k int) {
		body := map[string]any{"event_type": fmt.Sprintf("t.%d", k%subs), "payload": map[string]any{"k": k}, "idempotency_key": fmt.Sprintf("k-%d", k)}
		for try := 0; ; try++ {
			ls := live.Load().([]int)
			st, out, err := postJSON("http://"+nodes[ls[(k+try)%len(ls)]].addr+"/v1/applications/app_cluster/messages", adminKey, body)
			if err == nil && (st == 202 || st == 200) {
				accMu.Lock()
				accepted[k] = out["id"].(string)
				accMu.Unlock()
				return
			}
			if try > 50 {
				t.Errorf("message %d not accepted: %d %v %v", k, st, out, err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	publishRange := func(from, to int, during func(done int)) {
		var next atomic.Int64
		next.Store(int64(from))
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					k := int(next.Add(1) - 1)
					if k >= to {
						return
					}
					publish(k)
					if during != nil {
						during(k - from)
					}
				}
			}()
		}
		wg.Wait()
	}
	var killAt time.Time
	var killedOwned []int
	victim := 1 // the node holding the sealer's lease, when one does: its seals must go on elsewhere
	victimHeld := "no sealer's lease"
	var killOnce sync.Once
	began := time.Now()
	publishRange(0, messages, func(done int) {
		if done < messages/4 {
			return
		}
		killOnce.Do(func() {
			s := clusterState()
			for i, n := range nodes {
				if l := s.Leases[domain.SealerLease]; l.Owner == n.id {
					victim, victimHeld = i, "the sealer's lease"
				}
			}
			for p := 0; p < s.Partitions; p++ {
				if s.Leases[domain.PartitionLease(p)].Owner == nodes[victim].id {
					killedOwned = append(killedOwned, p)
				}
			}
			var others []int
			for i := range nodes {
				if i != victim {
					others = append(others, i)
				}
			}
			live.Store(others)
			nodes[victim].cmd.Process.Signal(syscall.SIGKILL)
			killAt = time.Now()
			<-nodes[victim].exited
		})
	})
	t.Logf("published %d messages in %s through the live nodes", messages, time.Since(began).Round(time.Millisecond))

	// Failover: the first request to each of the killed node's
	// subscriptions after the kill (every one had deliveries due: the
	// publishing went on).
	var resumed time.Duration
	killedSubs := 0
	waitFor("the killed node's subscriptions resume", 6*lease, func() bool {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		resumed, killedSubs = 0, 0
		for i, id := range subIDs {
			if !containsInt(killedOwned, domain.PartitionOf(id, 64)) {
				continue
			}
			killedSubs++
			first := time.Time{}
			for _, at := range recv.arrivals[fmt.Sprintf("/s%d", i)] {
				if at.After(killAt) && (first.IsZero() || at.Before(first)) {
					first = at
				}
			}
			if first.IsZero() {
				if time.Since(killAt) > 50*time.Second {
					t.Logf("sub %d (%s, partition %d): %d arrivals, none after the kill", i, id, domain.PartitionOf(id, 64), len(recv.arrivals[fmt.Sprintf("/s%d", i)]))
					accMu.Lock()
					for k, mid := range accepted {
						if k%subs == i {
							_, d := api(nodes[0]).raw("GET", "/v1/deliveries/"+domain.DeliveryIDFor(mid, id), nil)
							t.Logf("  message %d: %v", k, d)
						}
					}
					accMu.Unlock()
					t.FailNow()
				}
				return false
			}
			resumed = max(resumed, first.Sub(killAt))
		}
		return true
	})
	t.Logf("FAILOVER: node %s SIGKILLed holding %d partitions (%d subscriptions) and %s; their deliveries resumed on the others within %s of the kill (lease %s, target lease + 2 s)",
		nodes[victim].id, len(killedOwned), killedSubs, victimHeld, resumed.Round(10*time.Millisecond), lease)

	// The killed node comes back and gets its share without a restart of
	// the others.
	restarted := time.Now()
	start(nodes[victim], victim)
	ready(nodes[victim])
	readyAfter := time.Since(restarted)
	live.Store([]int{0, 1, 2})
	waitFor("the killed node rejoins with its share", 3*lease, func() bool { return balanced("n1", "n2", "n3") })
	t.Logf("REBALANCE: %s restarted; ready %s later, and the three nodes held even shares %s after the restart (lease %s)",
		nodes[victim].id, readyAfter.Round(10*time.Millisecond), time.Since(restarted).Round(10*time.Millisecond), lease)

	// A network partition between n3 and the store: n3 stops acting under
	// its leases before they end; the others take them only after.
	var cutDone bool
	if proxies[2] != nil {
		proxies[2].Cut(true)
		cutAt := time.Now()
		live.Store([]int{0, 1})
		publishRange(messages, messages+2000, nil)
		waitFor("n1 and n2 take n3's partitions", 4*lease, func() bool { return balanced("n1", "n2") })
		stopped := time.Unix(0, nodes[2].leaseRanOut.Load())
		if nodes[2].leaseRanOut.Load() == 0 {
			t.Fatal("n3, cut off from the store, never said it stopped acting under its leases")
		}
		// n3 cannot append while cut: its leases end at the expiry of its
		// last renewal (or acquisition) in the stream.
		var n3Until, firstTakeover time.Time
		recs, _ := ledger.ReadStream(context.Background(), domain.ClusterStream, 0, domain.Forward, 1<<20)
		for _, r := range recs {
			switch e, _ := domain.DecodeEvent(r); e := e.(type) {
			case domain.LeaseRenewed:
				if e.NodeID == "n3" {
					n3Until = later(n3Until, e.ExpiresAt)
				}
			case domain.LeaseAcquired:
				if e.NodeID == "n3" {
					n3Until = later(n3Until, e.ExpiresAt)
				}
				if e.Previous == "n3" && e.AcquiredAt.After(cutAt) && (firstTakeover.IsZero() || e.AcquiredAt.Before(firstTakeover)) {
					firstTakeover = e.AcquiredAt
				}
			}
		}
		if !stopped.Before(n3Until) || firstTakeover.IsZero() || !firstTakeover.After(stopped) {
			t.Fatalf("n3 cut at %s stopped acting at %s; its leases ran until %s; the first takeover at %s",
				cutAt.Format(time.StampMilli), stopped.Format(time.StampMilli), n3Until.Format(time.StampMilli), firstTakeover.Format(time.StampMilli))
		}
		t.Logf("PARTITION: n3 cut off at 0; it stopped acting at +%s, %s before its leases ended; the first takeover came %s after it stopped",
			stopped.Sub(cutAt).Round(10*time.Millisecond), n3Until.Sub(stopped).Round(10*time.Millisecond), firstTakeover.Sub(stopped).Round(10*time.Millisecond))
		proxies[2].Cut(false)
		waitFor("n3 back with its share", 4*lease, func() bool { return balanced("n1", "n2", "n3") })
		cutDone = true
		messages += 2000
	} else {
		t.Log("a real server: the network partition needs the emulator's proxy, skipped")
	}

	// Every accepted message reaches its subscription; a repeat is
	// explained by an attempt whose outcome is unknown.
	accMu.Lock()
	if len(accepted) != messages {
		t.Fatalf("%d of %d messages accepted", len(accepted), messages)
	}
	accMu.Unlock()
	waitFor("every message delivered", 120*time.Second, func() bool {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		for k, id := range accepted {
			if recv.got[fmt.Sprintf("%s/s%d", id, k%subs)] == 0 {
				return false
			}
		}
		return true
	})
	recv.mu.Lock()
	overlaps := append([]string(nil), recv.overlaps...)
	var repeats []string
	for k, id := range accepted {
		if recv.got[fmt.Sprintf("%s/s%d", id, k%subs)] > 1 {
			repeats = append(repeats, domain.DeliveryIDFor(id, subIDs[k%subs]))
		}
	}
	recv.mu.Unlock()
	if len(overlaps) > 0 {
		t.Fatalf("%d deliveries had two requests in flight at once: %v", len(overlaps), overlaps[:min(5, len(overlaps))])
	}
	recv.mu.Lock()
	if len(recv.bodies) > 0 {
		t.Fatalf("%d deliveries were not sent the payload published, e.g. %q", len(recv.bodies), recv.bodies[0])
	}
	recv.mu.Unlock()
	sort.Strings(repeats)
	for _, dlv := range repeats {
		recs, err := ledger.ReadStream(context.Background(), domain.DeliveryStream(dlv), 0, domain.Forward, 100)
		if err != nil {
			t.Fatal(err)
		}
		explained := false
		for _, r := range recs {
			explained = explained || r.Type == domain.TypeAttemptOutcomeUnknown
		}
		if !explained {
			t.Fatalf("delivery %s reached its endpoint twice with no attempt_outcome_unknown in its stream", dlv)
		}
	}
	t.Logf("DELIVERED: %d messages, each to its subscription; %d repeated, each after an attempt_outcome_unknown; no overlap (partition test run: %v)", messages, len(repeats), cutDone)

	// Payloads are encrypted in the ledger, and erased through one node
	// for every node: the next read on another sees it erased.
	accMu.Lock()
	oneMsg := accepted[0]
	accMu.Unlock()
	if recs, err := ledger.ReadStream(context.Background(), domain.MessageStream(oneMsg), 0, domain.Forward, 1); err != nil || strings.Contains(string(recs[0].Data), `"k"`) {
		t.Fatalf("message %s in the ledger: %v %s", oneMsg, err, recs[0].Data)
	}
	if got := api(nodes[2]).call("GET", "/v1/applications/app_cluster/messages/"+oneMsg, nil); fmt.Sprint(got["payload"]) != "map[k:0]" {
		t.Fatalf("message %s read through n3: %v", oneMsg, got["payload"])
	}
	st, erasure, err := postJSON("http://"+nodes[0].addr+"/v1/applications/app_cluster/erasures", adminKey, map[string]any{"scope": "application", "reason": "the cluster test"})
	if err != nil || st != 201 || erasure["status"] != "completed" {
		t.Fatalf("an erasure through n1: %d %v %v", st, erasure, err)
	}
	waitFor("n3 reads the payload erased", 10*time.Second, func() bool {
		_, got := api(nodes[2]).raw("GET", "/v1/applications/app_cluster/messages/"+oneMsg, nil)
		pe, _ := got["payload_erased"].(map[string]any)
		return pe != nil && pe["erasure_id"] == erasure["id"]
	})
	t.Logf("ERASURE: %s through n1 destroyed %v; n3 reads message %s erased", erasure["id"], erasure["keys_destroyed"], oneMsg)

	// The retention sweeps run under the sealer's lease: only on a node
	// that held it (not on every node, as they did).
	sweepers := 0
	for _, n := range nodes {
		log := n.log.String()
		sweeps := strings.Count(log, "the retention sweeps under the sealer's lease")
		if sweeps > 0 && !strings.Contains(log, "sealing under the sealer's lease") {
			t.Fatalf("%s ran the retention sweeps without ever holding the sealer's lease", n.id)
		}
		if sweeps > 0 {
			sweepers++
		}
	}
	if sweepers == 0 {
		t.Fatal("no node ran the retention sweeps")
	}

	// The ledger verifies, and its history tells who owned what.
	api(nodes[0]).call("POST", "/v1/applications", map[string]any{"id": "app_last", "name": "last"}) // a last event to seal
	time.Sleep(2 * time.Second)                                                                      // --seal-interval 1s
	// With --erasures: the erasure made through n1 destroyed its keys in
	// the ledger's key store, and nothing else was destroyed there.
	out, code := runCLI(t, "verify", "--store-url", storeURL, "--store-prefix", prefix, "--public-key", pub, "--quiet", "--json", "--erasures")
	var rep struct {
		OK       bool `json:"ok"`
		Events   int  `json:"events"`
		Sealed   int  `json:"sealed"`
		Unsealed int  `json:"unsealed"`
		Erasures struct {
			OK         bool `json:"ok"`
			Erasures   int  `json:"erasures"`
			Tombstones int  `json:"tombstones"`
		} `json:"erasures"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || !rep.OK || !rep.Erasures.OK || rep.Erasures.Erasures != 1 || rep.Erasures.Tombstones == 0 {
		t.Fatalf("hookledger verify --erasures: exit %d\n%s", code, out)
	}
	// The sealer's lease moved with the kill: the seals went on to the end.
	if rep.Sealed < rep.Events*95/100 {
		t.Fatalf("verify: %d of %d events sealed: the seals stopped when the sealer's node was killed", rep.Sealed, rep.Events)
	}
	t.Logf("VERIFY: %d events, %d sealed, %d not sealed yet", rep.Events, rep.Sealed, rep.Unsealed)
	// An export read straight from the ledger marks the erased payloads,
	// from the ledger's key store (no master key).
	exported, code := runCLI(t, "export", "--store-url", storeURL, "--store-prefix", prefix, "--seal-key-file", keyPath, "--application", "app_cluster", "--since", killAt.UTC().Format(time.RFC3339))
	if code != 0 || !strings.Contains(exported, `"payload":{"erased":true,"erasure_id":"`+erasure["id"].(string)+`"`) {
		t.Fatalf("hookledger export: exit %d, no erased payload marked\n%.2000s", code, exported)
	}
	hist, code := runCLI(t, "history", "cluster", "--store-url", storeURL, "--store-prefix", prefix)
	if code != 0 || !strings.Contains(hist, "cluster.configured") || !strings.Contains(hist, "cluster.lease_acquired") || !strings.Contains(hist, `"previous_owner":"`+nodes[victim].id+`"`) {
		t.Fatalf("hookledger history cluster: exit %d\n%.2000s", code, hist)
	}
}

// postJSON posts body; a connection error (a node killed) is returned, not
// fatal: the caller retries elsewhere.
func postJSON(url, key string, body any) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var m map[string]any
	json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m, nil
}

// scrapeGauges reads the gauges named with prefix from a /metrics page.
func scrapeGauges(t *testing.T, url, key, prefix string) map[string]float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && strings.HasPrefix(f[0], prefix) {
			v, _ := strconv.ParseFloat(f[1], 64)
			out[f[0]] = v
		}
	}
	return out
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
