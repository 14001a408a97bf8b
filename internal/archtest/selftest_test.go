package archtest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeModule writes files (path → content) under a new module root.
func fakeModule(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	files["go.mod"] = "module example.com/fake\n\ngo 1.26\n"
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestCheckersCatchViolations runs the three checks on a module built to
// break each rule, so the checks are known to be able to fail.
func TestCheckersCatchViolations(t *testing.T) {
	root := fakeModule(t, map[string]string{
		"internal/good/good.go": `// Package good follows every rule.
package good

import ("errors"; "fmt"; "regexp"; "text/template"; "io")

var ErrA = errors.New("a")
var ErrB = fmt.Errorf("b: %w", ErrA)
var re = regexp.MustCompile("x+")
var tmpl = template.Must(template.New("t").Parse(""))
var (
	table = map[string]int{"a": 1}
	arr   = [...]string{"x"}
	fixed = [2]int{1, 2}
	named = Grid{}
	built = func() (s [3]int) { return }()
	fromF = mkMap()
	typed map[string]bool = mkMap()
)
var _ io.Reader = nil

type Grid [4][4]byte

func mkMap() map[string]bool { return nil }
`,
		"internal/good/other.go": "package good\n",
		"internal/bad/bad.go": `package bad // no doc comment

import (
	"testing"
	"net/http/httptest"
	"reflect"
)

var counter int
var list = []int{1, 2}
var cfg = struct{ N int }{1}
var typ = reflect.TypeFor[int]()
var lo, hi = bounds()
var fn = func() int { return 1 }()
var ok = true

func bounds() (int, int) { return 0, 1 }
`,
		"internal/bad/bad_test.go":   "package bad\n\nimport \"testing\"\n\nvar state int\n",
		"internal/bad/testdata/x.go": "package nodoc\n\nimport \"testing\"\n\nvar n int\n",
		"internal/ign/ign.go":        "//go:build ignore\n\npackage main\n\nimport \"testing\"\n",
		"internal/wrongdoc/w.go":     "// Package other is misnamed.\npackage wrongdoc\n",
		"internal/prefix/p.go":       "// Package prefixed is not package prefix.\npackage prefix\n",
		"cmd/tool/main.go":           "// Command tool does things.\npackage main\n",
		"cmd/other/main.go":          "// Package main is not how commands are documented.\npackage main\n",
		"pkg/lib/lib.go":             "/*\nPackage lib uses a block comment.\n*/\npackage lib\n",
		"tools/outside.go":           "package outside\n\nimport \"testing\"\n",
	})
	s := loadFrom(t, root)

	t.Run("docs", func(t *testing.T) {
		want := []string{
			`cmd/other: no non-test file has a package doc comment starting "// Command other"`,
			`internal/bad: no non-test file has a package doc comment starting "// Package bad"`,
			`internal/prefix: no non-test file has a package doc comment starting "// Package prefix"`,
			`internal/wrongdoc: no non-test file has a package doc comment starting "// Package wrongdoc"`,
			`pkg/lib: no non-test file has a package doc comment starting "// Package lib"`,
		}
		got := docProblems(s)
		slices.Sort(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("doc problems (-want +got):\n%s", diff)
		}
	})

	t.Run("imports", func(t *testing.T) {
		want := []string{
			`internal/bad/bad.go:4: non-test file imports "testing"`,
			`internal/bad/bad.go:5: non-test file imports "net/http/httptest"`,
		}
		got := importProblems(s)
		slices.Sort(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("import problems (-want +got):\n%s", diff)
		}
	})

	t.Run("globals", func(t *testing.T) {
		allow := map[string]string{
			"internal/bad/bad.go:ok":      "accepted for the test",
			"internal/good/good.go:table": "stale: table is allowed anyway",
		}
		got := globalProblems(s, allow)
		var short []string
		for _, p := range got {
			short = append(short, strings.SplitN(p, "; move it", 2)[0])
		}
		want := []string{
			`globalAllowlist entry "internal/good/good.go:table" matches no offending var any more; remove it`,
			"internal/bad/bad.go:9: package-level var counter is declared without a value",
			"internal/bad/bad.go:11: package-level var cfg is a composite literal that is neither an array nor a map",
			"internal/bad/bad.go:13: package-level var lo is initialised by bounds(), which returns neither an array nor a map",
			"internal/bad/bad.go:13: package-level var hi is initialised by bounds(), which returns neither an array nor a map",
			"internal/bad/bad.go:14: package-level var fn is initialised by a func literal that returns neither an array nor a map",
		}
		slices.Sort(want)
		slices.Sort(short)
		if diff := cmp.Diff(want, short); diff != "" {
			t.Errorf("global problems (-want +got):\n%s", diff)
		}
	})
}
