package main

// export --url: an export taken from a running server (GET
// /v1/audit/export, recorded in its ledger), written whole or not at all,
// and verified before it is kept.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/hookledger/hookledger/adapters/audit"
)

func exportViaAPI(ctx context.Context, base, key string, scope audit.Scope, csv bool, out string) int {
	q := url.Values{}
	for name, v := range map[string]string{"application": scope.Application, "subscription": scope.Subscription, "subject": scope.Subject,
		"since": scope.Since, "until": scope.Until} {
		if v != "" {
			q.Set(name, v)
		}
	}
	if scope.From != 0 {
		q.Set("from", strconv.FormatUint(uint64(scope.From), 10))
	}
	if scope.To != 0 {
		q.Set("to", strconv.FormatUint(uint64(scope.To), 10))
	}
	target := strings.TrimRight(base, "/") + "/v1/audit/export"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	var rep audit.ExportReport
	write := func(w io.Writer) error {
		_, err := exportTo(w, csv, func(w io.Writer) (audit.ExportSummary, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
			if err != nil {
				return audit.ExportSummary{}, err
			}
			req.Header.Set("Authorization", "Bearer "+key)
			// No timeout: an export is as long as its scope is large; its
			// signed footer says whether it arrived whole.
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return audit.ExportSummary{}, err
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK {
				body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
				var problem struct{ Detail string }
				if json.Unmarshal(body, &problem) == nil && problem.Detail != "" {
					return audit.ExportSummary{}, fmt.Errorf("%s: %s", res.Status, problem.Detail)
				}
				return audit.ExportSummary{}, fmt.Errorf("%s: %s", res.Status, body)
			}
			// Verified as it is written: an export cut short or altered on
			// the way is not kept.
			pr, pw := io.Pipe()
			verified := make(chan error, 1)
			go func() {
				var err error
				rep, err = audit.VerifyExport(pr, nil)
				if err == nil && !rep.OK {
					err = fmt.Errorf("the export does not verify: %s at position %d: %s", rep.Problem.Kind, rep.Problem.Position, rep.Problem.Detail)
				}
				io.Copy(io.Discard, pr)
				verified <- err
			}()
			_, err = io.Copy(io.MultiWriter(w, pw), res.Body)
			pw.CloseWithError(err)
			if verr := <-verified; err == nil {
				err = verr
			}
			return audit.ExportSummary{Head: rep.LedgerHead, Events: rep.Events, Seals: rep.Seals}, err
		})
		return err
	}
	var err error
	if out == "" {
		err = write(os.Stdout) // streamed: the exit code says whether it verified
	} else {
		err = writeWhole(out, write)
	}
	if err != nil && out != "" {
		fmt.Fprintln(os.Stderr, "export failed, nothing written:", err)
		return 1
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "export failed (what was written to standard output is not a whole, verified export):", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "exported %d events and %d seals (%s), verified against the key inside it (key %s): pin it with hookledger verify --export FILE --public-key KEY\n",
		rep.Events, rep.Seals, rep.Scope, rep.KeyID)
	return 0
}
