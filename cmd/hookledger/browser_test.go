package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// browser is a headless Chromium driven over the DevTools protocol, with
// what the page did that a test must see: dialogs opened (an XSS payload
// that ran), uncaught script errors and Content-Security-Policy refusals.
type browser struct {
	t   *testing.T
	ctx context.Context
	mu  sync.Mutex
	// dialogs and problems (exceptions, CSP reports) seen so far.
	dialogs  []string
	problems []string
}

// chromiumPath finds the browser: HOOKLEDGER_CHROMIUM, then Debian's
// chromium. Without one the browser tests skip, unless
// HOOKLEDGER_REQUIRE_BROWSER is set (.ci/run sets it: there they must run).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the binary and a browser; skipped under -short")
	}
	for _, c := range []string{os.Getenv("HOOKLEDGER_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv("HOOKLEDGER_REQUIRE_BROWSER") != "" {
		t.Fatal("HOOKLEDGER_REQUIRE_BROWSER is set but no browser was found: apt-get install chromium (or set HOOKLEDGER_CHROMIUM)")
	}
	t.Skip("no Chromium found (apt-get install chromium, or set HOOKLEDGER_CHROMIUM); set HOOKLEDGER_REQUIRE_BROWSER to make this a failure")
	return ""
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox refuses to start
		chromedp.WindowSize(1280, 1000),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no timeout
		t.Fatalf("starting %s: %v", exe, err)
	}
	b := &browser{t: t, ctx: ctx}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			b.mu.Unlock()
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				b.mu.Lock()
				b.problems = append(b.problems, m.String())
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// do runs steps with a deadline; a failure saves a screenshot first and
// reports the page's text.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(what, err)
	}
}

func (b *browser) fail(what string, err error) {
	b.t.Helper()
	b.shot("failed")
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	cancel()
	b.t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
}

// shot saves a full-page PNG under the test's temp dir, and under
// HOOKLEDGER_SCREENSHOTS when set (how docs/console's pictures are made).
func (b *browser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	dir := filepath.Join(b.t.TempDir(), "screenshots")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
	if d := os.Getenv("HOOKLEDGER_SCREENSHOTS"); d != "" {
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, name+".png"), buf, 0o644)
	}
}

// text is the visible text of the first element matching the CSS selector.
func (b *browser) text(sel string) string {
	b.t.Helper()
	b.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.fail("read "+sel, err)
	}
	return s
}

// eval runs a script in the page and answers its result.
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.fail("evaluate "+js, err)
	}
	return v
}

// waitText waits until the selector's text contains want.
func (b *browser) waitText(sel, want string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		cancel()
		if err == nil && strings.Contains(s, want) {
			return
		}
		if time.Now().After(deadline) {
			b.fail(sel+" showing "+want, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fill types a value into an input (after clearing it).
func (b *browser) fill(sel, value string) {
	b.t.Helper()
	// SetValue refuses "" (it compares what it set with what it reads back,
	// and an empty answer reads as none), so the field is cleared in the page.
	clear := chromedp.Evaluate[chromedp.Void](fmt.Sprintf("document.querySelector(%q).value = ''", sel))
	b.do("fill "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), clear, chromedp.SendKeys(chromedp.CSS(sel), value))
}

// click clicks the first element matching the CSS selector.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

// open navigates to a console route (the part after #) and waits for sel.
func (b *browser) open(base, route, sel string) {
	b.t.Helper()
	b.do("open "+route, chromedp.Navigate(base+"/console/#"+route), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// signIn signs in on the console with key and waits for the signed-in bar.
func (b *browser) signIn(base, key string) {
	b.t.Helper()
	b.open(base, "/signin", "#key")
	b.fill("#key", key)
	b.do("sign in", submit("#key"), chromedp.WaitVisible(chromedp.CSS("[data-testid=me]")))
}

// clean fails the test if a dialog opened or the page reported a problem.
func (b *browser) clean() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.dialogs) > 0 {
		b.t.Errorf("the page opened dialogs (a payload ran as script?): %q", b.dialogs)
	}
	if len(b.problems) > 0 {
		b.t.Errorf("the page reported script errors or CSP refusals: %q", b.problems)
	}
}
