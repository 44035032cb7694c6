package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookledger/hookledger/adapters/receiver"
)

// receiveOptions shape the local endpoint's answers.
type receiveOptions struct {
	secret   string
	status   int           // answer to a verified webhook
	failRate float64       // fraction of verified webhooks answered 500 instead
	delay    time.Duration // wait before answering
}

// receiveStats counts what the endpoint saw.
type receiveStats struct{ verified, rejected, failed atomic.Int64 }

// newReceiveHandler builds the endpoint: every request is verified (v1 with
// the Standard Webhooks reference library, v1a with the ed25519 public key)
// and printed to out with its answer, a refused one with the reason.
func newReceiveHandler(o receiveOptions, out io.Writer, rnd func() float64) (http.Handler, *receiveStats, error) {
	r := receiver.New()
	if err := r.AddDefault(o.secret); err != nil {
		return nil, nil, fmt.Errorf("--secret: %v (want the subscription's whsec_ secret, or the whpk_ public key of an ed25519 subscription)", err)
	}
	st := &receiveStats{}
	// seen counts each webhook-id this endpoint verified: delivery is at
	// least once (a retry, a redelivery, a replay send the same id), and a
	// developer trying the ledger should see what their receiver must
	// de-duplicate. Forgotten past maxSeen ids (a long-running endpoint).
	const maxSeen = 100_000
	var seenMu sync.Mutex
	seen := map[string]int{}
	r.Answer = func(rc receiver.Receipt) int {
		st.verified.Add(1)
		seenMu.Lock()
		if len(seen) >= maxSeen {
			clear(seen)
		}
		seen[rc.MessageID]++
		times := seen[rc.MessageID]
		seenMu.Unlock()
		if o.delay > 0 {
			time.Sleep(o.delay)
		}
		status := o.status
		if o.failRate > 0 && rnd() < o.failRate {
			status = http.StatusInternalServerError
		}
		if status < 200 || status > 299 {
			st.failed.Add(1)
		}
		body := string(rc.Body)
		if len(body) > 300 {
			body = body[:300] + "..."
		}
		again := ""
		if times > 1 {
			again = fmt.Sprintf(" (received %d times: the same webhook-id again, as a retry, redelivery or replay sends it; de-duplicate on it)", times)
		}
		fmt.Fprintf(out, "%s verified webhook %s on /%s, answered %d%s: %s\n", rc.At.Format(time.RFC3339), rc.MessageID, rc.Endpoint, status, again, body)
		return status
	}
	r.OnReject = func(endpoint, id string, why error) {
		n := st.rejected.Add(1)
		fmt.Fprintf(out, "%s REJECTED webhook %q on /%s (answered 401): %v (%d rejected so far; is --secret the subscription's current secret (or, ed25519, its public key)?)\n",
			time.Now().Format(time.RFC3339), id, endpoint, why, n)
	}
	return r, st, nil
}

// receive runs a webhook endpoint for trying hookledger locally.
func receive(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("receive", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9000", "address to listen on")
	var o receiveOptions
	fs.StringVar(&o.secret, "secret", os.Getenv("HOOKLEDGER_RECEIVE_SECRET"), "the subscription's whsec_ secret, or an ed25519 subscription's whpk_ public key (or HOOKLEDGER_RECEIVE_SECRET)")
	fs.IntVar(&o.status, "status", 200, "HTTP status answered to a verified webhook (e.g. 410 to simulate a gone endpoint, 503 a busy one)")
	fs.Float64Var(&o.failRate, "fail-rate", 0, "fraction of verified webhooks answered 500 instead, at random (0 to 1)")
	fs.DurationVar(&o.delay, "delay", 0, "wait this long before answering (a slow endpoint; beyond the ledger's --request-timeout, a timeout)")
	if code, ok := parseFlags(fs, args, os.Stderr); !ok {
		return code
	}
	var problems []string
	if o.status < 100 || o.status > 599 {
		problems = append(problems, "--status: want an HTTP status from 100 to 599")
	}
	if o.failRate < 0 || o.failRate > 1 {
		problems = append(problems, "--fail-rate: want a fraction from 0 to 1")
	}
	if o.delay < 0 {
		problems = append(problems, "--delay: must not be negative")
	}
	// Without a secret every signature would fail to verify: each webhook
	// refused, with nothing to say the endpoint was started wrong.
	h, st, err := newReceiveHandler(o, os.Stdout, rand.Float64)
	if o.secret == "" {
		problems = append(problems, "--secret is required: the subscription's whsec_ secret (answered once when it was created or rotated; or HOOKLEDGER_RECEIVE_SECRET)")
	} else if err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, p)
		}
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); srv.Close() }()
	fmt.Printf("receiving webhooks on http://%s/ (signatures checked; answering %d, %.0f%% as 500, after %s)\n", ln.Addr(), o.status, o.failRate*100, o.delay)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("stopped: %d verified (%d answered with a failure), %d rejected\n", st.verified.Load(), st.failed.Load(), st.rejected.Load())
	return 0
}
