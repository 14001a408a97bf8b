package accesslog

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const docFile = "../../docs/access-log.md"

// docField is one row of the field table in docs/access-log.md.
type docField struct {
	Name, Type string
}

// docFields reads the field table: rows of the form
// "| `name` | type | meaning |".
func docFields(t *testing.T, doc string) []docField {
	t.Helper()
	var out []docField
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			t.Fatalf("%s: malformed table row %q", docFile, line)
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		out = append(out, docField{Name: name, Type: strings.TrimSpace(cells[2])})
	}
	if len(out) == 0 {
		t.Fatalf("%s: no field table found", docFile)
	}
	return out
}

// jsonType names the JSON type of a value decoded with UseNumber, in the
// words the doc's Type column uses.
func jsonType(v any) string {
	switch v := v.(type) {
	case string:
		return "string"
	case json.Number:
		if strings.ContainsAny(string(v), ".eE") {
			return "number"
		}
		return "integer"
	}
	return "unknown"
}

// TestAccessLogDocInStep keeps docs/access-log.md and Append in step: the
// same keys in the same order, with the documented JSON types, and the
// doc's examples are lines Append could have written.
func TestAccessLogDocInStep(t *testing.T) {
	src, err := os.ReadFile(docFile)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(src)
	fields := docFields(t, doc)

	rec := sampleRecord()
	keys, vals := decodeLine(t, Append(nil, &rec))
	var emitted []docField
	for _, k := range keys {
		emitted = append(emitted, docField{Name: k, Type: jsonType(vals[k])})
	}
	if diff := cmp.Diff(emitted, fields); diff != "" {
		t.Errorf("fields Append emits (-) vs fields %s documents (+):\n%s", docFile, diff)
	}

	// Every JSON example in the doc is one complete line of the schema.
	var names []string
	for _, f := range fields {
		names = append(names, f.Name)
	}
	examples := 0
	for _, block := range strings.Split(doc, "```json\n")[1:] {
		body, _, ok := strings.Cut(block, "```")
		if !ok {
			t.Fatalf("%s: unterminated json block", docFile)
		}
		examples++
		if examples == 1 && body != string(Append(nil, &rec)) {
			t.Errorf("the first example is not what Append writes for sampleRecord:\n got %s\nwant %s", body, Append(nil, &rec))
		}
		got, _ := decodeLine(t, []byte(body))
		if !slices.Equal(got, names) {
			t.Errorf("example %d keys (-documented +example):\n%s", examples, cmp.Diff(names, got))
		}
	}
	if examples == 0 {
		t.Errorf("%s has no json example", docFile)
	}
}
