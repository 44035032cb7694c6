package pipeline_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/adapters/receiver"
	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/adapters/viewstore"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

const (
	childDirEnv      = "HOOKLEDGER_PIPELINE_CHILD_DIR"
	childExpectedEnv = "HOOKLEDGER_PIPELINE_CHILD_EXPECTED"
	crashMessages    = 2000
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		os.Exit(pipelineChild(dir))
	}
	os.Exit(m.Run())
}

func crashMessage(i int) (key, typ, payload string) {
	typ = []string{"order.paid", "user.created"}[i%2]
	return fmt.Sprintf("crash-%d", i), typ, fmt.Sprintf(`{"i":%d}`, i)
}

// pipelineChild runs the pipeline on dir's store, publishes the second half of
// the messages (idempotently: a restart republishes the same keys), prints
// "acked N" as deliveries are acknowledged and "done" when all are. SIGTERM
// stops it gracefully.
func pipelineChild(dir string) int {
	expected, _ := strconv.Atoi(os.Getenv(childExpectedEnv))
	store, err := pebblestore.Open(dir+"/store", pebblestore.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer store.Close()
	cmds := &domain.Commands{Store: store, Now: time.Now, NewEventID: ids.NewEventID}
	views, err := viewstore.Open(dir+"/views", viewstore.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer views.Close()
	// Commits of 700 events: kills land inside a batch being folded and
	// between commits, so each restart resumes from an older checkpoint.
	r, err := pipeline.New(pipeline.Options{
		Store: store, Commands: cmds, Sender: sender.New(sender.Options{AllowPrivate: true, Timeout: 5 * time.Second}),
		Log: zerolog.Nop(), ViewStore: views, CommitEvery: 700, CommitInterval: time.Hour, Workers: 32,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		for i := crashMessages / 2; i < crashMessages && ctx.Err() == nil; i++ {
			key, typ, payload := crashMessage(i)
			_, _, err := cmds.Publish(ctx, domain.PublishMessage{MessageID: domain.MessageIDForKey("app_crash", key), ApplicationID: "app_crash", EventType: typ, Payload: []byte(payload), IdempotencyKey: key}, domain.Metadata{Actor: "child"})
			if err != nil && ctx.Err() == nil {
				fmt.Fprintln(os.Stderr, "publish:", err)
			}
		}
	}()
	go func() {
		for ctx.Err() == nil {
			n := 0
			r.Read(func(v *projections.Views) {
				v.Records().WalkDeliveries(func(d *projections.DeliveryView) error {
					if d.Status == domain.DeliveryStatusAcknowledged {
						n++
					}
					return nil
				})
			})
			fmt.Printf("acked %d\n", n)
			if n == expected {
				fmt.Println("done")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	if err := r.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		return 1
	}
	return 0
}

// TestCrashDuringDelivery kills the pipeline (SIGKILL) several times while it
// delivers 2,000 messages, restarting it each time. In the end every matching
// pair is acknowledged, none was scheduled twice, every attempt started has an
// outcome or an outcome-unknown event, and the views rebuilt from position 0
// equal the live views of the last run.
func TestCrashDuringDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes; skipped under -short")
	}
	recv := receiver.New()
	srv := httptest.NewServer(recv)
	defer srv.Close()
	dir := t.TempDir()

	store, err := pebblestore.Open(dir+"/store", pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cmds := &domain.Commands{Store: store, Now: time.Now, NewEventID: ids.NewEventID}
	ctx := context.Background()
	if _, _, err := cmds.CreateApplication(ctx, domain.CreateApplication{ApplicationID: "app_crash", Name: "crash"}, md); err != nil {
		t.Fatal(err)
	}
	subs := map[string][]string{"sub_orders": {"order.*"}, "sub_all": {"*"}, "sub_users": {"user.created"}}
	for id, f := range subs {
		secret := ids.NewSecret()
		recv.Add(id, secret)
		if _, _, err := cmds.CreateSubscription(ctx, domain.CreateSubscription{SubscriptionID: id, ApplicationID: "app_crash", URL: srv.URL + "/" + id, EventTypes: f, Secret: secret}, md); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < crashMessages/2; i++ {
		key, typ, payload := crashMessage(i)
		if _, _, err := cmds.Publish(ctx, domain.PublishMessage{MessageID: domain.MessageIDForKey("app_crash", key), ApplicationID: "app_crash", EventType: typ, Payload: []byte(payload), IdempotencyKey: key}, md); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()
	expected := map[[2]string]bool{}
	for i := 0; i < crashMessages; i++ {
		key, typ, _ := crashMessage(i)
		for id, f := range subs {
			if _, ok := domain.Filters(f).Match(typ); ok {
				expected[[2]string{id, domain.MessageIDForKey("app_crash", key)}] = true
			}
		}
	}

	run := func(kill bool) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childDirEnv+"="+dir, childExpectedEnv+"="+strconv.Itoa(len(expected)))
		out, _ := cmd.StdoutPipe()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		if kill {
			time.Sleep(time.Duration(300+rand.IntN(900)) * time.Millisecond)
			cmd.Process.Signal(syscall.SIGKILL)
			for range lines {
			}
			cmd.Wait()
			return
		}
		deadline := time.After(3 * time.Minute)
		last := ""
	wait:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					cmd.Wait()
					t.Fatalf("child exited before finishing (last %q): %s", last, stderr.String())
				}
				last = l
				if l == "done" {
					break wait
				}
			case <-deadline:
				cmd.Process.Kill()
				t.Fatalf("child did not finish in 3 minutes (last %q): %s", last, stderr.String())
			}
		}
		cmd.Process.Signal(syscall.SIGTERM)
		for range lines {
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("graceful stop: %v: %s", err, stderr.String())
		}
	}
	for k := 0; k < 4; k++ {
		run(true)
	}
	run(false)

	store, err = pebblestore.Open(dir+"/store", pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	head, _ := store.Head(ctx)
	views := rebuildViews(t, store, head)
	if _, n := views.Records().(*projections.MemRecords).Len(); n != len(expected) {
		t.Fatalf("%d deliveries, %d matching pairs", n, len(expected))
	}
	unknown := 0
	for pair := range expected {
		id := domain.DeliveryIDFor(pair[1], pair[0])
		d := views.Delivery(id)
		if d == nil || d.Status != domain.DeliveryStatusAcknowledged {
			t.Fatalf("pair %v not acknowledged: %+v", pair, d)
		}
		if recv.Count(pair[0], pair[1]) == 0 {
			t.Fatalf("pair %v acknowledged in the ledger but never received", pair)
		}
		recs, err := store.ReadStream(ctx, domain.DeliveryStream(id), 0, domain.Forward, 1000)
		if err != nil {
			t.Fatal(err)
		}
		scheduled, open := 0, map[int]bool{}
		for _, r := range recs {
			ev, _, _ := domain.Decode(r)
			switch e := ev.(type) {
			case domain.DeliveryScheduled:
				scheduled++
			case domain.AttemptStarted:
				open[e.Attempt] = true
			case domain.AttemptAcknowledged:
				delete(open, e.Attempt)
			case domain.AttemptFailed:
				delete(open, e.Attempt)
			case domain.AttemptOutcomeUnknown:
				delete(open, e.Attempt)
				unknown++
			}
		}
		if scheduled != 1 || len(open) != 0 {
			t.Fatalf("delivery %s: scheduled %d times, attempts without outcome %v", id, scheduled, open)
		}
	}
	t.Logf("%d deliveries acknowledged; %d attempts closed as outcome unknown; receiver got %d requests for %d pairs", len(expected), unknown, recv.Total(), recv.Unique())

	// The last run's view store (its live views at graceful stop) equals a
	// rebuild from position 0 to the same checkpoint.
	vs, err := viewstore.Open(dir+"/views", viewstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer vs.Close()
	live, _, err := vs.Load()
	if err != nil {
		t.Fatal(err)
	}
	liveBytes, _ := live.Snapshot()
	if rebuilt := rebuild(t, store, live.Checkpoint); !bytes.Equal(rebuilt, liveBytes) {
		t.Fatal("views rebuilt from position 0 differ from the last run's live views")
	}
}

func rebuildViews(t *testing.T, store domain.EventStore, upTo domain.Position) *projections.Views {
	t.Helper()
	v, err := projections.LoadSnapshot(rebuild(t, store, upTo))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var _ = strings.TrimSpace
