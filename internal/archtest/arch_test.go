package archtest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// source is the module's non-test Go code under the checked trees.
type source struct {
	root string
	fset *token.FileSet
	pkgs []*pkg
}

type pkg struct {
	dir   string // relative to the module root, slash-separated
	files []*file
}

type file struct {
	path string // relative to the module root, slash-separated
	ast  *ast.File
}

// checkedTrees are the top-level directories whose packages the rules
// cover; a missing one is skipped.
var checkedTrees = []string{"internal", "pkg", "cmd"}

// moduleRoot is the nearest directory above the test's working directory
// (its package directory) that holds go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// load parses every non-test .go file under the checked trees, skipping
// testdata, hidden and underscore directories (the go tool ignores them)
// and files excluded from every build with "//go:build ignore".
func load(t *testing.T) *source {
	t.Helper()
	return loadFrom(t, moduleRoot(t))
}

func loadFrom(t *testing.T, root string) *source {
	t.Helper()
	s := &source{root: root, fset: token.NewFileSet()}
	byDir := map[string]*pkg{}
	for _, tree := range checkedTrees {
		top := filepath.Join(s.root, tree)
		if _, err := os.Stat(top); os.IsNotExist(err) {
			continue
		}
		err := filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if d.IsDir() {
				if path != top && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(s.fset, path, nil, parser.ParseComments)
			if err != nil {
				return err
			}
			if ignored(f) {
				return nil
			}
			rel, err := filepath.Rel(s.root, path)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			dir := filepath.ToSlash(filepath.Dir(rel))
			p := byDir[dir]
			if p == nil {
				p = &pkg{dir: dir}
				byDir[dir] = p
				s.pkgs = append(s.pkgs, p)
			}
			p.files = append(p.files, &file{path: rel, ast: f})
			return nil
		})
		if err != nil {
			t.Fatalf("reading %s: %v", tree, err)
		}
	}
	if len(s.pkgs) == 0 {
		t.Fatalf("no packages found under %v in %s", checkedTrees, s.root)
	}
	return s
}

func ignored(f *ast.File) bool {
	for _, cg := range f.Comments {
		if cg.Pos() > f.Package {
			break
		}
		for _, c := range cg.List {
			if strings.HasPrefix(c.Text, "//go:build ") && strings.Contains(c.Text, "ignore") {
				return true
			}
		}
	}
	return false
}

// pos is file:line relative to the module root, for messages.
func (s *source) pos(p token.Pos) string {
	at := s.fset.Position(p)
	rel, err := filepath.Rel(s.root, at.Filename)
	if err != nil {
		rel = at.Filename
	}
	return filepath.ToSlash(rel) + ":" + strconv.Itoa(at.Line)
}

// TestPackageDocs: every package opens with a doc comment saying what it is
// for, "// Package <name> ..." (or "// Command <dir> ..." for a main
// package), in at least one non-test file.
func TestPackageDocs(t *testing.T) {
	for _, p := range docProblems(load(t)) {
		t.Error(p)
	}
}

func docProblems(s *source) []string {
	var out []string
	for _, p := range s.pkgs {
		name := p.files[0].ast.Name.Name
		want := "// Package " + name
		if name == "main" {
			want = "// Command " + path.Base(p.dir)
		}
		found := false
		for _, f := range p.files {
			if d := f.ast.Doc; d != nil {
				first := d.List[0].Text
				if first == want || strings.HasPrefix(first, want+" ") {
					found = true
					break
				}
			}
		}
		if !found {
			out = append(out, fmt.Sprintf("%s: no non-test file has a package doc comment starting %q", p.dir, want))
		}
	}
	return out
}

// forbiddenImports are test-only packages: importing them from non-test
// code links test machinery (and its flags) into the binary.
var forbiddenImports = []string{"testing", "net/http/httptest"}

func TestNoTestImportsInProductionCode(t *testing.T) {
	for _, p := range importProblems(load(t)) {
		t.Error(p)
	}
}

func importProblems(s *source) []string {
	var out []string
	for _, p := range s.pkgs {
		for _, f := range p.files {
			for _, imp := range f.ast.Imports {
				path, err := strconv.Unquote(imp.Path.Value)
				if err != nil {
					out = append(out, fmt.Sprintf("%s: bad import %s", s.pos(imp.Pos()), imp.Path.Value))
					continue
				}
				if slices.Contains(forbiddenImports, path) {
					out = append(out, fmt.Sprintf("%s: non-test file imports %q", s.pos(imp.Pos()), path))
				}
			}
		}
	}
	return out
}

// globalAllowlist names package-level vars under internal/ that do not have
// one of the allowed forms but are accepted for now, as "dir/file.go:name",
// each with the reason. An entry that is no longer needed is an error, so
// the list only shrinks.
var globalAllowlist = map[string]string{
	"internal/hygiene/headers.go:builtinLens":   "bit filter derived from builtinClass at init, never written after",
	"internal/hygiene/headers.go:builtinFirst":  "bit filter derived from builtinClass at init, never written after",
	"internal/identity/identity.go:Anonymous":   "exported mutable struct; the gateway hands out &identity.Anonymous, shared by every request",
	"internal/cache/directives.go:noDirectives": "the zero Directives value, compared against and never written",
	"internal/policy/env.go:envs":               "the CEL environments, built once (sync.OnceValues) and immutable",
	"internal/policy/env.go:identityType":       "CEL type description, immutable once built",
	"internal/policy/env.go:requestType":        "CEL type description, immutable once built",
	"internal/devmode/devmode.go:DefaultAddrs":  "exported mutable struct; read by cmd/edgegate for flag defaults",
}

// TestNoMutableGlobals: state lives on instances. A package-level var under
// internal/ must be one of: an error sentinel (named Err…/err…), a compiled
// regexp (regexp.MustCompile), a parsed template (template.Must), a
// reflect.Type, or a read-only table, meaning an array, slice or map
// initialised by a literal or by a function call. Anything else must be in
// globalAllowlist with a reason.
func TestNoMutableGlobals(t *testing.T) {
	for _, p := range globalProblems(load(t), globalAllowlist) {
		t.Error(p)
	}
}

func globalProblems(s *source, allow map[string]string) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range s.pkgs {
		if !strings.HasPrefix(p.dir, "internal/") {
			continue
		}
		types, funcs := declarations(p)
		for _, f := range p.files {
			for _, decl := range f.ast.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.VAR {
					continue
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if name.Name == "_" {
							continue // a compile-time assertion, not state
						}
						var value ast.Expr
						switch len(vs.Values) {
						case len(vs.Names):
							value = vs.Values[i]
						case 1:
							value = vs.Values[0] // a, b = f()
						}
						// Error sentinels are values compared with errors.Is,
						// never written, whatever builds them.
						if strings.HasPrefix(name.Name, "Err") || strings.HasPrefix(name.Name, "err") {
							continue
						}
						why := disallowed(value, vs.Type, types, funcs)
						if why == "" {
							continue
						}
						key := f.path + ":" + name.Name
						seen[key] = true
						if _, ok := allow[key]; ok {
							continue
						}
						out = append(out, fmt.Sprintf("%s: package-level var %s is %s; move it onto an instance, give it an allowed form, or add %q to globalAllowlist with a reason",
							s.pos(name.Pos()), name.Name, why, key))
					}
				}
			}
		}
	}
	for key := range allow {
		if !seen[key] {
			out = append(out, fmt.Sprintf("globalAllowlist entry %q matches no offending var any more; remove it", key))
		}
	}
	slices.Sort(out)
	return out
}

// declarations indexes a package's type declarations and plain functions,
// so a var's named type or initialising function can be looked through.
func declarations(p *pkg) (map[string]ast.Expr, map[string]*ast.FuncType) {
	types := map[string]ast.Expr{}
	funcs := map[string]*ast.FuncType{}
	for _, f := range p.files {
		for _, decl := range f.ast.Decls {
			switch d := decl.(type) {
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					if ts, ok := spec.(*ast.TypeSpec); ok {
						types[ts.Name.Name] = ts.Type
					}
				}
			case *ast.FuncDecl:
				if d.Recv == nil {
					funcs[d.Name.Name] = d.Type
				}
			}
		}
	}
	return types, funcs
}

// allowedCalls are the constructors of values that are immutable once made.
var allowedCalls = []string{"errors.New", "fmt.Errorf", "regexp.MustCompile", "template.Must", "reflect.TypeFor"}

// disallowed returns "" when a var of type typ initialised with value has an
// allowed form, and otherwise says what it is.
func disallowed(value, typ ast.Expr, types map[string]ast.Expr, funcs map[string]*ast.FuncType) string {
	if value == nil {
		return "declared without a value"
	}
	if typ != nil && isTable(typ, types) {
		switch value.(type) {
		case *ast.CompositeLit, *ast.CallExpr:
			return ""
		}
	}
	switch v := value.(type) {
	case *ast.CompositeLit:
		if isTable(v.Type, types) {
			return ""
		}
		return "a composite literal that is neither an array nor a map"
	case *ast.CallExpr:
		fun := v.Fun
		switch g := fun.(type) { // look through a generic instantiation, F[T]()
		case *ast.IndexExpr:
			fun = g.X
		case *ast.IndexListExpr:
			fun = g.X
		}
		switch fn := fun.(type) {
		case *ast.SelectorExpr:
			if x, ok := fn.X.(*ast.Ident); ok && slices.Contains(allowedCalls, x.Name+"."+fn.Sel.Name) {
				return ""
			}
			return "initialised by a call to " + exprString(fn)
		case *ast.FuncLit:
			if returnsTables(fn.Type, types) {
				return ""
			}
			return "initialised by a func literal that returns neither an array nor a map"
		case *ast.Ident:
			if ft, ok := funcs[fn.Name]; ok && returnsTables(ft, types) {
				return ""
			}
			return "initialised by " + fn.Name + "(), which returns neither an array nor a map"
		}
		return "initialised by a call"
	}
	return "not one of the allowed forms"
}

func returnsTables(ft *ast.FuncType, types map[string]ast.Expr) bool {
	if ft.Results == nil || len(ft.Results.List) == 0 {
		return false
	}
	for _, r := range ft.Results.List {
		if !isTable(r.Type, types) {
			return false
		}
	}
	return true
}

// isTable reports whether t is an array or map type, looking through type
// names declared in the same package.
func isTable(t ast.Expr, types map[string]ast.Expr) bool {
	for range 10 { // bounds a chain of named types
		switch x := t.(type) {
		case *ast.ArrayType:
			// Arrays, and slice literals used as lookup tables: by
			// convention in this code base a package-level slice is a
			// read-only table, filled once by its literal.
			return true
		case *ast.MapType:
			return true
		case *ast.ParenExpr:
			t = x.X
		case *ast.Ident:
			next, ok := types[x.Name]
			if !ok {
				return false
			}
			t = next
		default:
			return false
		}
	}
	return false
}

func exprString(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return exprString(x.X) + "." + x.Sel.Name
	}
	return "an expression"
}
