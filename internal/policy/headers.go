package policy

import (
	"net/http"
	"reflect"
	"strings"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"golang.org/x/net/http/httpguts"
)

// headerMap is request.headers: lower-case header names to their values
// joined with ", ", the HTTP way of combining repeated fields, so a client
// cannot satisfy an equality test by sending the header twice.
//
// Rules mostly look names up ("x-debug" in request.headers,
// request.headers["x-env"]), and a request carries a dozen headers or more:
// building the lower-case map for every decision cost an allocation per
// name. A lookup instead turns the lower-case name into the canonical form
// (x-env → X-Env) in a stack buffer and reads the http.Header directly,
// which finds what the lower-case map would as long as the header's keys
// are canonical: net/http delivers them so and http.Header's methods keep
// them so (see Request.Header). The lower-case map is still built, once,
// for everything else (iteration, size, equality, conversion) and for
// names that are not tokens.
type headerMap struct {
	h    http.Header
	full traits.Mapper
}

var _ traits.Mapper = (*headerMap)(nil)

// maxFastName bounds the names looked up through the stack buffer.
const maxFastName = 128

// materialize returns the lower-case map.
func (m *headerMap) materialize() traits.Mapper {
	if m.full == nil {
		lower := make(map[string]string, len(m.h))
		for k, vals := range m.h {
			lower[strings.ToLower(k)] = strings.Join(vals, ", ")
		}
		m.full = types.NewStringStringMap(types.DefaultTypeAdapter, lower)
	}
	return m.full
}

// lookup finds name in h. exact is false when only the lower-case map can
// answer.
func (m *headerMap) lookup(name string) (vals []string, found, exact bool) {
	if len(name) == 0 || len(name) > maxFastName {
		return nil, false, false
	}
	var buf [maxFastName]byte
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'A' <= c && c <= 'Z':
			// Every key of the lower-case map is lower case.
			return nil, false, true
		case !httpguts.IsTokenRune(rune(c)):
			return nil, false, false
		case upper && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		buf[i] = c
		upper = c == '-'
	}
	// The conversion in the index expression does not allocate.
	vals, found = m.h[string(buf[:len(name)])]
	return vals, found, true
}

func joined(vals []string) ref.Val {
	if len(vals) == 1 {
		return types.String(vals[0])
	}
	return types.String(strings.Join(vals, ", "))
}

// Find implements traits.Mapper.
func (m *headerMap) Find(key ref.Val) (ref.Val, bool) {
	if k, ok := key.(types.String); ok {
		if vals, found, exact := m.lookup(string(k)); exact {
			if !found {
				return nil, false
			}
			return joined(vals), true
		}
	}
	return m.materialize().Find(key)
}

// Contains implements traits.Container.
func (m *headerMap) Contains(key ref.Val) ref.Val {
	if k, ok := key.(types.String); ok {
		if _, found, exact := m.lookup(string(k)); exact {
			return types.Bool(found)
		}
	}
	return m.materialize().Contains(key)
}

// Get implements traits.Indexer.
func (m *headerMap) Get(key ref.Val) ref.Val {
	if v, found := m.Find(key); found {
		return v
	}
	return m.materialize().Get(key)
}

func (m *headerMap) Iterator() traits.Iterator { return m.materialize().Iterator() }
func (m *headerMap) Size() ref.Val             { return m.materialize().Size() }
func (m *headerMap) ConvertToNative(t reflect.Type) (any, error) {
	return m.materialize().ConvertToNative(t)
}
func (m *headerMap) ConvertToType(t ref.Type) ref.Val { return m.materialize().ConvertToType(t) }
func (m *headerMap) Equal(o ref.Val) ref.Val          { return m.materialize().Equal(o) }
func (m *headerMap) Type() ref.Type                   { return types.MapType }
func (m *headerMap) Value() any                       { return m.materialize().Value() }
