package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds how many YAML nodes one Parse visits. Aliases let a small
// file name the same subtree many times; this keeps an alias bomb from
// costing more than a very large hand-written file would (a route takes
// 10 to 40 nodes; bulk redirects belong in map files).
const maxNodes = 1 << 19

// Parse reads src (the contents of file, which is only used in messages)
// into a RawConfig and records the position of every field it sees.
//
// It checks the shape of the file, not its meaning: unknown fields, a list
// where a mapping belongs, a string where an integer belongs, duplicate keys,
// more than one YAML document or none at all. Every such problem is reported
// in the returned ErrorList (which wraps ErrInvalid); the RawConfig is nil
// then. The *Positions is returned either way.
func Parse(file string, src []byte) (*RawConfig, *Positions, error) {
	raw, pos, err, _ := parse(file, src, maxNodes)
	if err != nil {
		return nil, pos, err
	}
	return raw, pos, nil
}

// parse also returns the decoded value when every error is an unknown
// field (usable reports whether it did): the known fields are then intact,
// so Load can validate them too and report every problem in one pass.
func parse(file string, src []byte, budget int) (raw *RawConfig, pos *Positions, err error, usable bool) {
	p := &parser{pos: NewPositions(file), budget: budget, limit: budget}
	root := p.document(src)
	if root == nil {
		return nil, p.pos, p.errs, false
	}
	raw = new(RawConfig)
	p.decode(root, "", reflect.ValueOf(raw).Elem())
	if len(p.errs) > 0 {
		if p.unknown == len(p.errs) {
			return raw, p.pos, p.errs, true
		}
		return nil, p.pos, p.errs, false
	}
	return raw, p.pos, nil, true
}

// parser walks a yaml.Node tree into Raw* values with reflection, driven by
// the yaml struct tags of raw.go, so that the tags are the one list of keys.
type parser struct {
	pos  *Positions
	errs ErrorList
	// unknown counts the errors in errs that are unknown fields.
	unknown int
	// budget is how many more nodes may be visited, out of limit.
	budget, limit int
}

func (p *parser) errorAt(n *yaml.Node, path, format string, args ...any) {
	e := &Error{File: p.pos.File, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Position = Position{Line: n.Line, Column: n.Column}
	}
	p.errs = append(p.errs, e)
}

// document returns the content node of the one document in src, or nil
// after recording why there is none.
func (p *parser) document(src []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	switch err := decodeNode(dec, &doc); {
	case errors.Is(err, io.EOF):
		p.errorAt(nil, "", "the file is empty; it needs at least version, listeners and routes")
		return nil
	case err != nil:
		p.syntaxError(err)
		return nil
	}
	var next yaml.Node
	switch err := decodeNode(dec, &next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		p.syntaxError(err)
		return nil
	default:
		at := &next
		if len(next.Content) > 0 {
			at = next.Content[0]
		}
		p.errorAt(at, "", "the file holds more than one YAML document (a second one starts here); put the whole configuration in one document")
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].ShortTag() == "!!null" {
		p.errorAt(nil, "", "the file is empty; it needs at least version, listeners and routes")
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		p.errorAt(root, "", "the top level must be a mapping of fields (version, listeners, ...), not %s", describe(root))
		return nil
	}
	return root
}

// decodeNode reads the next document, turning a panic inside the YAML
// library into an error: bad input must never crash the gateway.
func decodeNode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml parser failed: %v", r)
		}
	}()
	return dec.Decode(n)
}

// syntaxError converts the library's "yaml: line N: msg" into an Error.
func (p *parser) syntaxError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: p.pos.File}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, tail, ok := strings.Cut(rest, ": "); ok {
			if line, convErr := strconv.Atoi(num); convErr == nil {
				e.Line, msg = line, tail
			}
		}
	}
	e.Msg = "invalid YAML: " + msg
	p.errs = append(p.errs, e)
}

// resolve follows aliases and charges the node budget; nil means the
// budget is spent (reported once).
func (p *parser) resolve(n *yaml.Node, path string) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	p.budget--
	if p.budget == -1 {
		p.errorAt(n, path, "the document is too large or expands too many aliases (more than %d nodes)", p.limit)
	}
	if p.budget < 0 || n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

var (
	headerMapType = reflect.TypeFor[RawHeaderMap]()
	memberType    = reflect.TypeFor[RawMember]()
	ruleType      = reflect.TypeFor[RawRule]()
	durationType  = reflect.TypeFor[Duration]()
	sizeType      = reflect.TypeFor[Size]()
)

func (p *parser) decode(n *yaml.Node, path string, v reflect.Value) {
	if n = p.resolve(n, path); n == nil {
		return
	}
	t := v.Type()
	switch {
	case t == headerMapType:
		p.headerMap(n, path, v)
		return
	case t == memberType && n.Kind == yaml.ScalarNode && !isNull(n):
		// Shorthand: "- http://host:port" is {url: http://host:port}.
		p.pos.Set(path+".url", nodePos(n))
		p.scalar(n, path, v.FieldByName("URL"))
		return
	case t == ruleType && n.Kind == yaml.ScalarNode && !isNull(n):
		// Shorthand: "- <CEL>" is {expr: <CEL>}.
		p.pos.Set(path+".expr", nodePos(n))
		p.scalar(n, path, v.FieldByName("Expr"))
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.Struct {
			ptr := reflect.New(t.Elem())
			p.mapping(n, path, ptr.Elem())
			v.Set(ptr)
			return
		}
		p.scalar(n, path, v)
	case reflect.Struct:
		p.mapping(n, path, v)
	case reflect.Slice:
		p.sequence(n, path, v)
	case reflect.String:
		p.scalar(n, path, v)
	}
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func nodePos(n *yaml.Node) Position { return Position{Line: n.Line, Column: n.Column} }

// describe names what a node is, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing (null)"
		case "!!str":
			return "the string " + strconv.Quote(n.Value)
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return n.Value
		}
		return strconv.Quote(n.Value)
	}
	return "an unsupported YAML node"
}

// want names what a Go type expects, for the same messages.
func want(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		return `a duration such as "10s"`
	case t == sizeType:
		return `a size such as 1048576 or "64KiB"`
	case t == headerMapType:
		return "a mapping of header names to values"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Struct:
		return "a mapping"
	case reflect.Slice:
		return "a list"
	}
	return t.String()
}

// scalar stores a scalar node into v, a *string, *Duration, *Size, *bool,
// *int or string. Strings keep the text as written, whatever YAML would
// resolve it to ("1.2" stays "1.2"), except that null is refused.
func (p *parser) scalar(n *yaml.Node, path string, v reflect.Value) {
	t := v.Type()
	if n.Kind != yaml.ScalarNode {
		p.errorAt(n, path, "expected %s, got %s", want(t), describe(n))
		return
	}
	tag := n.ShortTag()
	if tag == "!!null" {
		hint := ""
		if elemKind(t) == reflect.String {
			hint = ` (write "" for an empty string)`
		}
		p.errorAt(n, path, "missing value: expected %s%s", want(t), hint)
		return
	}
	var val reflect.Value
	switch elemKind(t) {
	case reflect.String:
		switch tag {
		case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
		default:
			p.errorAt(n, path, "expected %s, got a value with unsupported YAML tag %s", want(t), n.Tag)
			return
		}
		val = reflect.ValueOf(n.Value)
	case reflect.Bool:
		if tag != "!!bool" {
			p.errorAt(n, path, "expected true or false, got %s", describe(n))
			return
		}
		val = reflect.ValueOf(strings.EqualFold(n.Value, "true"))
	case reflect.Int:
		i, err := strconv.ParseInt(n.Value, 0, strconv.IntSize)
		if tag != "!!int" || err != nil {
			p.errorAt(n, path, "expected an integer, got %s", describe(n))
			return
		}
		val = reflect.ValueOf(int(i))
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if (tag != "!!int" && tag != "!!float") || err != nil {
			p.errorAt(n, path, "expected a number, got %s", describe(n))
			return
		}
		val = reflect.ValueOf(f)
	default:
		p.errorAt(n, path, "internal error: no decoder for %s", t)
		return
	}
	if t.Kind() == reflect.Pointer {
		ptr := reflect.New(t.Elem())
		ptr.Elem().Set(val.Convert(t.Elem()))
		v.Set(ptr)
		return
	}
	v.Set(val.Convert(t))
}

func elemKind(t reflect.Type) reflect.Kind {
	if t.Kind() == reflect.Pointer {
		return t.Elem().Kind()
	}
	return t.Kind()
}

// yamlFields maps each yaml key of struct type t to its field index.
func yamlFields(t reflect.Type) (map[string]int, []string) {
	idx := make(map[string]int, t.NumField())
	var keys []string
	for i := range t.NumField() {
		if key := t.Field(i).Tag.Get("yaml"); key != "" {
			idx[key] = i
			keys = append(keys, key)
		}
	}
	return idx, keys
}

// mapping decodes a mapping node into struct v. Null counts as an empty
// mapping, so "health_check:" with nothing under it asks for its required
// fields instead of silently meaning "off".
func (p *parser) mapping(n *yaml.Node, path string, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.errorAt(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	fields, keys := yamlFields(v.Type())
	p.entries(n, path, func(key string, k, val *yaml.Node, child string) {
		i, ok := fields[key]
		if !ok {
			p.errorAt(k, child, "unknown field %q%s", key, suggest(key, keys))
			p.unknown++
			return
		}
		p.decode(val, child, v.Field(i))
	})
}

// entries walks the key/value pairs of mapping n, rejecting non-string
// keys, merge keys and duplicates, recording each child's position (the
// value's for a scalar, the key's otherwise so errors about a whole section
// point at its name) and calling f for the rest.
func (p *parser) entries(n *yaml.Node, path string, f func(key string, k, v *yaml.Node, child string)) {
	seen := make(map[string]*yaml.Node)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k = p.resolve(k, path); k == nil {
			return
		}
		if k.Kind != yaml.ScalarNode {
			p.errorAt(k, path, "mapping keys must be plain strings, got %s", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			p.errorAt(k, path, "merge keys (<<) are not supported; repeat the fields, or use an alias (*name) for a whole value")
			continue
		}
		child := k.Value
		if path != "" {
			child = path + "." + k.Value
		}
		if first, dup := seen[k.Value]; dup {
			p.errorAt(k, child, "duplicate key %q (first given at line %d)", k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		// A scalar points at its value (an alias at where it is used);
		// anything else at its key.
		at, target := k, val
		if target.Kind == yaml.AliasNode && target.Alias != nil {
			target = target.Alias
		}
		if target.Kind == yaml.ScalarNode && !isNull(target) {
			at = val
		}
		p.pos.Set(child, nodePos(at))
		f(k.Value, k, val, child)
	}
}

// sequence decodes a list node into slice v; null is an empty list.
func (p *parser) sequence(n *yaml.Node, path string, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		hint := ""
		if n.Kind == yaml.ScalarNode && v.Type().Elem().Kind() == reflect.String {
			hint = fmt.Sprintf(" (write [%s] for a list of one)", n.Value)
		}
		p.errorAt(n, path, "expected a list, got %s%s", describe(n), hint)
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		child := path + "[" + strconv.Itoa(i) + "]"
		p.pos.Set(child, nodePos(item))
		p.decode(item, child, out.Index(i))
	}
	v.Set(out)
}

// headerMap decodes a mapping of header name to value, keeping file order.
func (p *parser) headerMap(n *yaml.Node, path string, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.errorAt(n, path, "expected a mapping of header names to values, got %s", describe(n))
		return
	}
	var m RawHeaderMap
	p.entries(n, path, func(key string, k, val *yaml.Node, child string) {
		// The path names the header, so point at the name, not the value.
		p.pos.Set(child, nodePos(k))
		var value string
		p.scalar(val, child, reflect.ValueOf(&value).Elem())
		m = append(m, RawHeader{Name: key, Value: value})
	})
	v.Set(reflect.ValueOf(m))
}

// suggest returns " (did you mean "x"?)" for the closest known key, or the
// list of allowed keys when none is close. Case and separators are ignored
// first, so "pathPrefix" and "pathprefix" both find "path_prefix".
func suggest(key string, keys []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "", " ", "").Replace(strings.ToLower(s))
	}
	best, bestNorm, bestRaw := "", 1<<30, 1<<30
	for _, k := range keys {
		dn, dr := editDistance(norm(key), norm(k)), editDistance(key, k)
		if dn < bestNorm || dn == bestNorm && dr < bestRaw {
			best, bestNorm, bestRaw = k, dn, dr
		}
	}
	if best != "" && bestNorm <= max(1, len(norm(key))/3) && bestNorm < len(norm(key)) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted)
	return " (allowed: " + strings.Join(sorted, ", ") + ")"
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
