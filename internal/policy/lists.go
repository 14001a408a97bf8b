package policy

import (
	"reflect"
	"strings"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// strList is a list(string) value over a slice the identity already holds
// (identity.groups, roles, scopes). It lives inside the activation, so
// reading the list allocates nothing, where types.NewStringList allocates
// its wrapper on every decision. It answers
// what rules ask of such lists (membership, size, index) itself and hands
// everything else (iteration, concatenation, equality, conversion) to
// cel-go's own list over the same slice.
type strList struct{ s []string }

var _ traits.Lister = (*strList)(nil)

func (l *strList) std() traits.Lister { return types.NewStringList(types.DefaultTypeAdapter, l.s) }

// Contains implements traits.Container.
func (l *strList) Contains(elem ref.Val) ref.Val {
	str, ok := elem.(types.String)
	if !ok {
		return l.std().Contains(elem)
	}
	for _, e := range l.s {
		if e == string(str) {
			return types.True
		}
	}
	return types.False
}

// Get implements traits.Indexer.
func (l *strList) Get(index ref.Val) ref.Val {
	if i, ok := index.(types.Int); ok && i >= 0 && int64(i) < int64(len(l.s)) {
		return types.String(l.s[i])
	}
	return l.std().Get(index)
}

// GetInt64Index is the interpreter's fast path for constant indexes.
func (l *strList) GetInt64Index(i int64) (any, bool) {
	if i < 0 || i >= int64(len(l.s)) {
		return nil, false
	}
	return types.String(l.s[i]), true
}

func (l *strList) Size() ref.Val                               { return types.Int(len(l.s)) }
func (l *strList) IsZeroValue() bool                           { return len(l.s) == 0 }
func (l *strList) Iterator() traits.Iterator                   { return l.std().Iterator() }
func (l *strList) Add(o ref.Val) ref.Val                       { return l.std().Add(o) }
func (l *strList) ConvertToNative(t reflect.Type) (any, error) { return l.std().ConvertToNative(t) }
func (l *strList) Equal(o ref.Val) ref.Val                     { return l.std().Equal(o) }
func (l *strList) Type() ref.Type                              { return types.ListType }
func (l *strList) Value() any                                  { return l.s }

// ConvertToType implements ref.Val.
func (l *strList) ConvertToType(t ref.Type) ref.Val { return convertList(l, t) }

// convertList converts a list the way cel-go's lists convert: to itself
// and to its type, nothing else.
func convertList(l ref.Val, t ref.Type) ref.Val {
	switch t {
	case types.ListType:
		return l
	case types.TypeType:
		return types.ListType
	}
	return types.NewErr("type conversion error from '%s' to '%s'", types.ListType, t)
}

// segList is request.segments: the parts of the path between slashes,
// leading and trailing slashes ignored ("/a/b/" is ["a", "b"], "/" is
// []). Like strList it answers membership, size and index by reading the
// path in place, so a rule such as request.segments[0] == "users" splits
// nothing; anything else gets cel-go's list of strings.Split's result.
type segList struct {
	// p is the path without leading and trailing slashes.
	p string
}

var _ traits.Lister = (*segList)(nil)

func newSegList(path string) segList { return segList{p: strings.Trim(path, "/")} }

func (l *segList) parts() []string {
	if l.p == "" {
		return nil
	}
	return strings.Split(l.p, "/")
}

func (l *segList) std() traits.Lister {
	return types.NewStringList(types.DefaultTypeAdapter, l.parts())
}

func (l *segList) len() int {
	if l.p == "" {
		return 0
	}
	return strings.Count(l.p, "/") + 1
}

// at returns segment i, which must exist.
func (l *segList) at(i int) string {
	rest := l.p
	for ; i > 0; i-- {
		_, rest, _ = strings.Cut(rest, "/")
	}
	seg, _, _ := strings.Cut(rest, "/")
	return seg
}

// Contains implements traits.Container.
func (l *segList) Contains(elem ref.Val) ref.Val {
	str, ok := elem.(types.String)
	if !ok {
		return l.std().Contains(elem)
	}
	if l.p == "" {
		return types.False
	}
	for rest, more := l.p, true; more; {
		var seg string
		seg, rest, more = strings.Cut(rest, "/")
		if seg == string(str) {
			return types.True
		}
	}
	return types.False
}

// Get implements traits.Indexer.
func (l *segList) Get(index ref.Val) ref.Val {
	if i, ok := index.(types.Int); ok && i >= 0 && int64(i) < int64(l.len()) {
		return types.String(l.at(int(i)))
	}
	return l.std().Get(index)
}

// GetInt64Index is the interpreter's fast path for constant indexes.
func (l *segList) GetInt64Index(i int64) (any, bool) {
	if i < 0 || i >= int64(l.len()) {
		return nil, false
	}
	return types.String(l.at(int(i))), true
}

func (l *segList) Size() ref.Val                               { return types.Int(l.len()) }
func (l *segList) IsZeroValue() bool                           { return l.p == "" }
func (l *segList) Iterator() traits.Iterator                   { return l.std().Iterator() }
func (l *segList) Add(o ref.Val) ref.Val                       { return l.std().Add(o) }
func (l *segList) ConvertToNative(t reflect.Type) (any, error) { return l.std().ConvertToNative(t) }
func (l *segList) Equal(o ref.Val) ref.Val                     { return l.std().Equal(o) }
func (l *segList) Type() ref.Type                              { return types.ListType }
func (l *segList) Value() any                                  { return l.parts() }

// ConvertToType implements ref.Val.
func (l *segList) ConvertToType(t ref.Type) ref.Val { return convertList(l, t) }
