package domain_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPureLayersImportOnlyStdlib enforces the layering of docs/architecture.md:
// domain/ imports the standard library only; projections/ the standard
// library and domain/. Test files are held to the same rule.
func TestPureLayersImportOnlyStdlib(t *testing.T) {
	const module = "github.com/hookledger/hookledger"
	rules := map[string][]string{
		".":              nil,
		"../projections": {module + "/domain"},
	}
	for dir, allowed := range rules {
		files := 0
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") {
				return nil
			}
			files++
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if isStdlib(p) || contains(allowed, p) || strings.HasPrefix(p, module+"/"+strings.TrimPrefix(dir, "../")) || (dir == "." && p == module+"/domain") {
					continue
				}
				t.Errorf("%s imports %q: only the standard library%s is allowed here", path, p, allowedText(allowed))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("walk %s: %v", dir, err)
		}
		if files == 0 {
			t.Fatalf("no Go files found under %s: the rule checks nothing", dir)
		}
	}
}

func isStdlib(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func allowedText(allowed []string) string {
	if len(allowed) == 0 {
		return ""
	}
	return " and " + strings.Join(allowed, ", ")
}
