package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/hookledger/hookledger/adapters/receiver"
)

// receive runs a webhook endpoint for trying hookledger locally: every
// request is verified with the Standard Webhooks reference library against
// the given secret and printed (200), or refused (401).
func receive(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("receive", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9000", "address to listen on")
	secret := fs.String("secret", os.Getenv("HOOKLEDGER_RECEIVE_SECRET"), "the subscription's whsec_ secret (or HOOKLEDGER_RECEIVE_SECRET)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	r := receiver.New()
	if err := r.AddDefault(*secret); err != nil {
		fmt.Fprintf(os.Stderr, "--secret: %v (want whsec_<base64>)\n", err)
		return 2
	}
	r.OnReceipt = func(rc receiver.Receipt) {
		body := string(rc.Body)
		if len(body) > 300 {
			body = body[:300] + "..."
		}
		fmt.Printf("%s verified webhook %s on /%s: %s\n", rc.At.Format(time.RFC3339), rc.MessageID, rc.Endpoint, body)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); srv.Close() }()
	fmt.Printf("receiving webhooks on http://%s/ (signatures checked)\n", ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
