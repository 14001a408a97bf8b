package config

import (
	"fmt"
	"go/ast"
	"go/doc"
	goparser "go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// docPath is the generated configuration reference.
const docPath = "../../docs/config.md"

// docField is one YAML field as documented in raw.go.
type docField struct {
	Path string // "routes[].match.path_prefix"
	Type string // "string", "list of mappings", ...
	Doc  string // the field's doc comment
}

// docSection is one Raw* mapping type and the fields under it.
type docSection struct {
	Path   string // "" for the top level, "routes[]", ...
	Doc    string // the type's doc comment
	Fields []docField
}

// rawDocs reads raw.go with go/parser and go/doc and walks the Raw* types
// from RawConfig, the same yaml tags Parse uses, in declaration order.
func rawDocs(t testing.TB) (sections []docSection, valueTypes map[string]string) {
	t.Helper()
	fset := token.NewFileSet()
	// raw.go and every raw_<section>.go: each later stage keeps its raw
	// types in a file of its own.
	names, err := filepath.Glob("raw*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := goparser.ParseFile(fset, name, nil, goparser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	pkg, err := doc.NewFromFiles(fset, files, "github.com/edgegate/edgegate/internal/config", doc.PreserveAST)
	if err != nil {
		t.Fatal(err)
	}
	types := make(map[string]*doc.Type)
	for _, typ := range pkg.Types {
		types[typ.Name] = typ
	}
	valueTypes = map[string]string{"Duration": typeDoc(types["Duration"].Doc), "Size": typeDoc(types["Size"].Doc)}

	var walk func(name, path string)
	walk = func(name, path string) {
		typ := types[name]
		if typ == nil {
			t.Fatalf("type %s not found in raw*.go", name)
		}
		st, ok := typ.Decl.Specs[0].(*ast.TypeSpec).Type.(*ast.StructType)
		if !ok {
			t.Fatalf("%s is not a struct", name)
		}
		sec := docSection{Path: path, Doc: typeDoc(typ.Doc)}
		var children [][2]string
		for _, field := range st.Fields.List {
			if field.Tag == nil {
				t.Fatalf("%s.%s has no yaml tag", name, field.Names[0].Name)
			}
			tag, _ := strconv.Unquote(field.Tag.Value)
			key := reflect.StructTag(tag).Get("yaml")
			fp := key
			if path != "" {
				fp = path + "." + key
			}
			if field.Doc == nil || strings.TrimSpace(field.Doc.Text()) == "" {
				t.Errorf("%s.%s (%s) has no doc comment", name, field.Names[0].Name, fp)
			}
			typeText, child := describeExpr(field.Type)
			if child != "" {
				childPath := fp
				if strings.HasPrefix(typeText, "list") {
					childPath += "[]"
				}
				children = append(children, [2]string{child, childPath})
			}
			sec.Fields = append(sec.Fields, docField{Path: fp, Type: typeText, Doc: flat(field.Doc.Text())})
		}
		sections = append(sections, sec)
		for _, c := range children {
			walk(c[0], c[1])
		}
	}
	walk("RawConfig", "")
	return sections, valueTypes
}

// describeExpr names a field's type in YAML terms and returns the Raw*
// struct to descend into, if any.
func describeExpr(e ast.Expr) (string, string) {
	switch e := e.(type) {
	case *ast.StarExpr:
		return describeExpr(e.X)
	case *ast.ArrayType:
		inner, child := describeExpr(e.Elt)
		switch inner {
		case "mapping":
			return "list of mappings", child
		case "mapping or string":
			return "list of mappings or strings", child
		}
		return "list of " + inner + "s", child
	case *ast.Ident:
		switch e.Name {
		case "string":
			return "string", ""
		case "int":
			return "integer", ""
		case "bool":
			return "boolean", ""
		case "float64":
			return "number", ""
		case "Duration":
			return "duration", ""
		case "Size":
			return "size", ""
		case "RawHeaderMap":
			return "mapping of header name to string", ""
		case "RawMember":
			return "mapping or string", e.Name
		}
		return "mapping", e.Name
	}
	return fmt.Sprintf("%T", e), ""
}

// flat joins a doc comment's lines into one paragraph.
func flat(s string) string { return strings.Join(strings.Fields(s), " ") }

var typeLeadRE = regexp.MustCompile(`^(?:Raw\w+|Duration|Size) (?:is |are )?`)

// typeDoc makes a Go type comment read as user documentation: "RawListener
// is one public socket." becomes "One public socket.", and the Go-only
// remark "Kept as written until Validate." is dropped.
func typeDoc(s string) string {
	s = strings.ReplaceAll(flat(s), " Kept as written until Validate.", "")
	if loc := typeLeadRE.FindStringIndex(s); loc != nil {
		s = capitalize(s[loc[1]:])
	}
	return strings.TrimSuffix(s, " Kept as written until Validate.")
}

// generateDoc renders docs/config.md.
func generateDoc(t testing.TB) string {
	sections, valueTypes := rawDocs(t)
	defaults := fieldDefaults()
	example, err := os.ReadFile("testdata/valid/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(`<!-- Code generated from internal/config/raw.go by TestConfigDocInStep; DO NOT EDIT.
     Regenerate with: go test ./internal/config -run TestConfigDocInStep -update -->

# Configuration reference

edgegate reads one YAML file. ` + "`edgegate`" + ` checks all of it before using any of it:
every problem is reported at once, each with file, line, column and the field path
(such as ` + "`routes[2].match.path_prefix`" + `). Unknown fields are errors, so a typo never
silently turns a setting off. The file must hold exactly one YAML document; anchors
and aliases may be used, merge keys (` + "`<<`" + `) may not.

Relative file paths (certificates, keys, CAs, redirect maps, the access log) are
relative to the directory of the configuration file.

Paths below write list items as ` + "`[]`" + `: ` + "`routes[].match.hosts`" + ` is the
` + "`hosts`" + ` field of the ` + "`match`" + ` of any route. In error messages the index is
given: ` + "`routes[2].match.hosts[0]`" + `.

## Value types

- **duration**: ` + valueTypes["Duration"] + `
- **size**: ` + valueTypes["Size"] + `
- **boolean**: ` + "`true` or `false`" + ` (not ` + "`yes`/`no`" + `).
- **integer**: a whole number, unquoted.
- **string**: text; quoting is optional unless YAML would read it otherwise.
`)
	for _, sec := range sections {
		title := "Top level"
		if sec.Path != "" {
			title = "`" + sec.Path + "`"
		}
		fmt.Fprintf(&b, "\n## %s\n\n%s\n", title, sec.Doc)
		for _, f := range sec.Fields {
			// The summary line states the default, so the comment's own
			// "Default: ..." sentence (always last) is not repeated.
			text := defaultRE.ReplaceAllString(f.Doc, "")
			summary := capitalize(f.Type)
			switch d, ok := defaults[strings.TrimSuffix(f.Path, "[]")]; {
			case ok && strings.HasPrefix(d, `"`) || ok && !strings.Contains(d, " "):
				summary += ", default `" + d + "`"
			case ok:
				summary += ", default " + d
			case strings.Contains(text, "Required"):
				summary += ", required"
			case !strings.Contains(f.Type, "mapping") || strings.Contains(f.Type, "header"):
				summary += ", optional"
			}
			fmt.Fprintf(&b, "\n### `%s`\n\n%s.\n\n%s\n", f.Path, summary, strings.TrimSpace(text))
		}
	}
	b.WriteString("\n## Example\n\nA configuration using every field (`internal/config/testdata/valid/full.yaml`):\n\n```yaml\n")
	b.Write(example)
	b.WriteString("```\n")
	return b.String()
}

func capitalize(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// TestConfigDocInStep fails when docs/config.md is not what raw.go,
// defaults.go and testdata/valid/full.yaml generate; -update rewrites it.
func TestConfigDocInStep(t *testing.T) {
	got := generateDoc(t)
	if *update {
		if err := os.MkdirAll("../../docs", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(docPath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/config -run TestConfigDocInStep -update)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("docs/config.md is out of step with raw.go (-file +generated); run go test ./internal/config -run TestConfigDocInStep -update:\n%s", diff)
	}
}

var defaultRE = regexp.MustCompile(` ?Default: (.*)$`)

// TestDefaultsMatchComments checks that a field's comment states a default
// exactly when defaults.go has one, and the same one.
func TestDefaultsMatchComments(t *testing.T) {
	sections, _ := rawDocs(t)
	defaults := fieldDefaults()
	seen := make(map[string]bool)
	for _, sec := range sections {
		for _, f := range sec.Fields {
			key := strings.TrimSuffix(f.Path, "[]")
			seen[key] = true
			d, has := defaults[key]
			m := defaultRE.FindStringSubmatch(f.Doc)
			switch {
			case has && m == nil:
				t.Errorf("%s: defaults.go has %s but the comment states no default", f.Path, d)
			case !has && m != nil:
				t.Errorf("%s: the comment states default %q but defaults.go has none", f.Path, m[1])
			case has && !strings.HasPrefix(m[1], d):
				t.Errorf("%s: the comment states default %q, defaults.go has %s", f.Path, m[1], d)
			}
		}
	}
	for key := range defaults {
		if !seen[key] {
			t.Errorf("defaults.go documents %q, which is not a field", key)
		}
	}
}

// TestFullUsesEveryField checks that the example configurations
// (testdata/valid/full.yaml, which is also in docs/config.md, and one
// full-<section>.yaml per later section) together set every documented field.
func TestFullUsesEveryField(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/full*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	index := regexp.MustCompile(`\[\d+\]`)
	used := make(map[string]bool)
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		_, pos, err := Parse(file, src)
		if err != nil {
			t.Fatal(err)
		}
		markUsed(used, pos, index)
	}
	sections, _ := rawDocs(t)
	var missing []string
	for _, sec := range sections {
		for _, f := range sec.Fields {
			if !used[f.Path] {
				missing = append(missing, f.Path)
			}
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("testdata/valid/full*.yaml do not use: %s", strings.Join(missing, ", "))
	}
}

func markUsed(used map[string]bool, pos *Positions, index *regexp.Regexp) {
	for p := range pos.paths {
		p = index.ReplaceAllString(p, "[]")
		used[p] = true
		// Header map entries ("...set.X-Env") count as using the map.
		for _, m := range []string{".set.", ".add."} {
			if i := strings.Index(p, m); i >= 0 {
				used[p[:i+len(m)-1]] = true
			}
		}
	}
}
