package config

import (
	"flag"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files and docs/config.md")

// checkGolden compares got with the golden file, or rewrites it with -update.
func checkGolden(t *testing.T, golden, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/config -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; run with -update if the change is intended):\n%s", golden, diff)
	}
}

// TestGoldenValid loads every testdata/valid/*.yaml and compares the dumped
// *Config, positions included, with its .golden file.
func TestGoldenValid(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/valid/*.yaml")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			cfg, err := Load(file)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			checkGolden(t, strings.TrimSuffix(file, ".yaml")+".golden", dumpConfig(cfg))
		})
	}
}

// TestGoldenInvalid loads every testdata/invalid/*.yaml and compares the
// full error text with its .golden file.
func TestGoldenInvalid(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/invalid/*.yaml")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			_, err := Load(file)
			if err == nil {
				t.Fatal("Load succeeded; want errors")
			}
			checkGolden(t, strings.TrimSuffix(file, ".yaml")+".golden", err.Error()+"\n")
		})
	}
}

// dumpConfig writes cfg as stable, readable text: one field per line,
// durations and URLs in their usual notation, then every recorded position.
func dumpConfig(cfg *Config) string {
	var b strings.Builder
	b.WriteString("# config")
	dumpValue(&b, "", reflect.ValueOf(*cfg))
	b.WriteString("\n# positions\n")
	type entry struct {
		path string
		pos  Position
	}
	var entries []entry
	for p, pos := range cfg.Positions.paths {
		entries = append(entries, entry{p, pos})
	}
	sort.Slice(entries, func(i, j int) bool {
		a, c := entries[i], entries[j]
		if a.pos != c.pos {
			return a.pos.Line < c.pos.Line || a.pos.Line == c.pos.Line && a.pos.Column < c.pos.Column
		}
		return a.path < c.path
	})
	for _, e := range entries {
		fmt.Fprintf(&b, "%d:%d %s\n", e.pos.Line, e.pos.Column, e.path)
	}
	return b.String()
}

var (
	urlType      = reflect.TypeFor[*url.URL]()
	durType      = reflect.TypeFor[time.Duration]()
	prefixType   = reflect.TypeFor[netip.Prefix]()
	positionsPtr = reflect.TypeFor[*Positions]()
)

func dumpValue(b *strings.Builder, indent string, v reflect.Value) {
	switch t := v.Type(); {
	case t == positionsPtr:
		b.WriteString(" (below)\n")
	case t == urlType:
		if v.IsNil() {
			b.WriteString(" nil\n")
		} else {
			fmt.Fprintf(b, " %s\n", v.Interface().(*url.URL))
		}
	case t == durType, t == prefixType:
		fmt.Fprintf(b, " %v\n", v.Interface())
	case t.Kind() == reflect.Pointer:
		if v.IsNil() {
			b.WriteString(" nil\n")
			return
		}
		dumpValue(b, indent, v.Elem())
	case t.Kind() == reflect.Struct:
		b.WriteString("\n")
		for i := range t.NumField() {
			if !t.Field(i).IsExported() {
				continue
			}
			fmt.Fprintf(b, "%s%s:", indent, t.Field(i).Name)
			dumpValue(b, indent+"  ", v.Field(i))
		}
	case t.Kind() == reflect.Slice:
		if v.Len() == 0 {
			b.WriteString(" []\n")
			return
		}
		b.WriteString("\n")
		for i := range v.Len() {
			fmt.Fprintf(b, "%s- [%d]", indent, i)
			dumpValue(b, indent+"  ", v.Index(i))
		}
	case t.Kind() == reflect.Map:
		if v.IsNil() {
			b.WriteString(" nil\n")
			return
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		b.WriteString("\n")
		for _, k := range keys {
			fmt.Fprintf(b, "%s%q: %q\n", indent, k.String(), v.MapIndex(k).String())
		}
	case t.Kind() == reflect.String:
		fmt.Fprintf(b, " %q\n", v.String())
	default:
		fmt.Fprintf(b, " %v\n", v.Interface())
	}
}
