package console_test

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/hookledger/hookledger/adapters/console"
)

func get(t *testing.T, method, p string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	console.Handler().ServeHTTP(rec, httptest.NewRequest(method, p, nil))
	return rec
}

// TestServesTheAssetsWithTheirTypesAndPolicy: the page, its scripts and its
// styles, each with its type, and every answer with the headers that keep
// ledger data inert (no inline script or style, no framing, no referrer).
func TestServesTheAssetsWithTheirTypesAndPolicy(t *testing.T) {
	for p, ctype := range map[string]string{
		"/console/":                        "text/html",
		"/console/index.html":              "text/html",
		"/console/app.js":                  "javascript",
		"/console/pages/deliveries.js":     "javascript",
		"/console/style.css":               "text/css",
		"/console/does-not-exist.js":       "",
		"/console/../console.go":           "",
		"/console/pages/../../console.go":  "",
		"/console/.hidden":                 "",
		"/console/assets/index.html":       "",
		"/console/pages/applications.js/x": "",
	} {
		rec := get(t, "GET", p)
		want := http.StatusOK
		if ctype == "" {
			want = http.StatusNotFound
		}
		if rec.Code != want || !strings.Contains(rec.Header().Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %d %q, want %d %q", p, rec.Code, rec.Header().Get("Content-Type"), want, ctype)
		}
		csp := rec.Header().Get("Content-Security-Policy")
		if csp != console.ContentSecurityPolicy || rec.Header().Get("X-Content-Type-Options") != "nosniff" ||
			rec.Header().Get("X-Frame-Options") != "DENY" || rec.Header().Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s: security headers %v", p, rec.Header())
		}
	}
	for _, unsafe := range []string{"unsafe-inline", "unsafe-eval", "*", "http:", "https:"} {
		if strings.Contains(console.ContentSecurityPolicy, unsafe) {
			t.Errorf("the policy allows %s: %s", unsafe, console.ContentSecurityPolicy)
		}
	}
	if rec := get(t, "POST", "/console/"); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
	if rec := get(t, "HEAD", "/console/app.js"); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

// TestAssetsRenderValuesAsTextOnly guards the rule the browser tests check
// from the outside: the page has no inline script, style or handler (the
// policy would refuse them), and no script writes markup from a string.
// Only dom.js creates elements, and only as nodes and text.
func TestAssetsRenderValuesAsTextOnly(t *testing.T) {
	root := os.DirFS("assets")
	forbidden := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\(\s*["']style|\.style\.|javascript:`)
	importRe := regexp.MustCompile(`from "(\.[^"]+)"`)
	files := 0
	err := fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		src := string(b)
		switch path.Ext(p) {
		case ".html":
			for _, s := range regexp.MustCompile(`(?i)<script[^>]*>`).FindAllString(src, -1) {
				if !strings.Contains(s, "src=") {
					t.Errorf("%s: an inline script %s", p, s)
				}
			}
			if m := regexp.MustCompile(`(?i)\s(on\w+|style)\s*=`).FindString(src); m != "" {
				t.Errorf("%s: an inline handler or style %q", p, m)
			}
		case ".js":
			for i, line := range strings.Split(src, "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "//") {
					continue
				}
				if m := forbidden.FindString(line); m != "" {
					t.Errorf("%s:%d: %q writes markup or style from a string: use dom.js's h()", p, i+1, m)
				}
			}
			for _, m := range importRe.FindAllStringSubmatch(src, -1) {
				if _, err := fs.Stat(root, path.Join(path.Dir(p), m[1])); err != nil {
					t.Errorf("%s imports %s, which is not there", p, m[1])
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 8 {
		t.Fatalf("only %d asset files: is the walk looking at assets/?", files)
	}
}
