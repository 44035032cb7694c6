package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/httpapi"
	"github.com/hookledger/hookledger/domain"
)

// laggingViews reports a fold behind the ledger by behind.
type laggingViews struct {
	httpapi.Views
	behind time.Duration
}

func (l laggingViews) Lag(context.Context) (domain.Position, domain.Position, time.Duration, error) {
	return 1000, 10, l.behind, nil
}

// TestReadyzBoundsTheFoldLag: /readyz answers 503 naming the lag when the
// views are further behind than the bound, 200 within it.
func TestReadyzBoundsTheFoldLag(t *testing.T) {
	for _, c := range []struct {
		behind time.Duration
		status int
	}{{time.Minute, 503}, {5 * time.Second, 200}} {
		e := newEnv(t, func(d *httpapi.Deps) {
			d.Views = laggingViews{Views: d.Views, behind: c.behind}
			d.ReadyMaxLag = 30 * time.Second
		})
		r := e.do("GET", "/readyz", "", nil)
		if r.status != c.status {
			t.Fatalf("behind %s: %d %s", c.behind, r.status, r.body)
		}
		if c.status == 503 && !strings.Contains(r.str("detail"), "990 positions") {
			t.Fatalf("the problem does not say how far behind: %s", r.body)
		}
	}
}
