// Package policy is edgegate's authorization engine: route allow and deny
// rules, derived roles and service identities, all written in CEL.
//
// Expressions are compiled once (Compile, or a Cache that reuses programs
// across reloads by content) and evaluated per request over typed
// variables: identity, request and time. The variables are served by a
// custom activation that reads the request and identity directly: every
// field is also a variable of its own (identity.email), lists and the
// headers map read the Input in place, so evaluation does not convert the
// request into map[string]any or use reflection. One activation, taken
// from a pool, serves all the rules of a decision, so a decision allocates
// only the strings it boxes; and the rules of a route are also folded into
// few programs (fold.go), so a decision pays cel-go's per-evaluation price
// once, not once per rule.
//
// The package knows nothing of the configuration file: package config calls
// Check to report errors at validation, and the gateway builds a Set from
// the validated configuration.
package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/edgegate/edgegate/internal/identity"
)

// CostLimit bounds the work one expression may do: the static estimate at
// compile time and the actual cost at run time. A membership test over a
// thousand groups costs about a thousand; typical rules cost under 50.
const CostLimit = 100_000

// meterAbove is the static cost estimate above which an expression is
// also metered at run time, so inputs larger than the estimate assumed
// (a token with more groups, a request with more headers) still stop at
// CostLimit.
const meterAbove = 10_000

// Kind says which variables an expression may use.
type Kind int

const (
	// KindRule is a route allow or deny rule: identity, request and time.
	KindRule Kind = iota
	// KindIdentity is a role or service-identity match: identity only,
	// since roles describe the caller, not the request.
	KindIdentity
)

func (k Kind) String() string {
	if k == KindIdentity {
		return "identity"
	}
	return "rule"
}

// ErrCompile is wrapped by every compile error.
var ErrCompile = errors.New("invalid policy expression")

// CompileError is an expression that does not compile: a syntax or type
// error, an unknown field, a non-boolean result or a cost over CostLimit.
type CompileError struct {
	// Msg is CEL's message, with its own position inside the expression.
	Msg string
}

func (e *CompileError) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, ErrCompile) true.
func (e *CompileError) Unwrap() error { return ErrCompile }

// Type names of the two object variables.
const (
	identityTypeName = "edgegate.Identity"
	requestTypeName  = "edgegate.Request"
)

var (
	identityType = types.NewObjectType(identityTypeName)
	requestType  = types.NewObjectType(requestTypeName)
)

// field is one field of an object variable: its CEL type, its getter and
// its size bound for the static cost estimate (0: not sized).
type field struct {
	typ   *types.Type
	get   func(any) ref.Val
	isSet func(any) bool
	size  uint64
}

// Size bounds for the static cost estimate. They match the limits the
// gateway enforces on requests (header bytes, URI bytes) or are generous
// bounds on token contents; the runtime cost limit catches anything larger.
const (
	maxListItems  = 1000
	maxStringLen  = 8 << 10
	maxItemLen    = 1 << 10
	maxNameLen    = 256
	maxHeaderKeys = 256
)

// identityFields are the fields of identity: their types, size bounds and
// presence tests. Their values come from identityVal.field.
func identityFields() map[string]field {
	str := func(f func(*identity.Identity) string) field {
		return field{typ: types.StringType, size: maxStringLen,
			isSet: func(o any) bool { return f(o.(*identityVal).id) != "" }}
	}
	list := func(f func(*identity.Identity) []string) field {
		return field{typ: types.NewListType(types.StringType), size: maxListItems,
			isSet: func(o any) bool { return len(f(o.(*identityVal).id)) > 0 }}
	}
	boolean := func(f func(*identity.Identity) bool) field {
		return field{typ: types.BoolType, isSet: func(o any) bool { return f(o.(*identityVal).id) }}
	}
	fs := map[string]field{
		"subject":       str(func(id *identity.Identity) string { return id.Subject }),
		"email":         str(func(id *identity.Identity) string { return id.Email }),
		"name":          str(func(id *identity.Identity) string { return id.Name }),
		"issuer":        str(func(id *identity.Identity) string { return id.Issuer }),
		"issuer_name":   str(func(id *identity.Identity) string { return id.IssuerName }),
		"client_id":     str(func(id *identity.Identity) string { return id.ClientID }),
		"service_name":  str(func(id *identity.Identity) string { return id.ServiceName }),
		"method":        str(func(id *identity.Identity) string { return string(id.Method) }),
		"groups":        list(func(id *identity.Identity) []string { return id.Groups }),
		"roles":         list(func(id *identity.Identity) []string { return id.Roles }),
		"scopes":        list(func(id *identity.Identity) []string { return id.Scopes }),
		"service":       boolean(func(id *identity.Identity) bool { return id.Service }),
		"authenticated": boolean(func(id *identity.Identity) bool { return id.Authenticated() }),
		"claims": {typ: types.NewMapType(types.StringType, types.DynType), size: maxListItems,
			isSet: func(o any) bool { return len(o.(*identityVal).id.Claims) > 0 }},
		"expiry": {typ: types.TimestampType,
			isSet: func(o any) bool { return !o.(*identityVal).id.Expiry.IsZero() }},
	}
	for name, f := range fs {
		f.get = func(o any) ref.Val { return o.(*identityVal).field(name) }
		fs[name] = f
	}
	return fs
}

// requestFields are the fields of request; their values come from
// requestVal.field.
func requestFields() map[string]field {
	str := func(f func(*Request) string, size uint64) field {
		return field{typ: types.StringType, size: size,
			isSet: func(o any) bool { return f(&o.(*requestVal).r) != "" }}
	}
	fs := map[string]field{
		"method": str(func(r *Request) string { return r.Method }, 64),
		"host":   str(func(r *Request) string { return r.Host }, 256),
		"path":   str(func(r *Request) string { return r.Path }, maxStringLen),
		"scheme": str(func(r *Request) string { return r.Scheme }, 8),
		"client_ip": {typ: types.StringType, size: 64,
			isSet: func(o any) bool { return o.(*requestVal).r.ClientIP.IsValid() }},
		"segments": {typ: types.NewListType(types.StringType), size: maxStringLen / 2,
			isSet: func(o any) bool { return o.(*requestVal).r.Path != "/" }},
		"query": {typ: types.NewMapType(types.StringType, types.NewListType(types.StringType)), size: maxStringLen / 2,
			isSet: func(o any) bool { return o.(*requestVal).r.RawQuery != "" }},
		"headers": {typ: types.NewMapType(types.StringType, types.StringType), size: maxHeaderKeys,
			isSet: func(o any) bool { return len(o.(*requestVal).r.Header) > 0 }},
	}
	for name, f := range fs {
		f.get = func(o any) ref.Val { return o.(*requestVal).field(name) }
		fs[name] = f
	}
	return fs
}

// provider declares the two object types to the checker and hands the
// interpreter a direct getter for each field, so a select such as
// identity.email never goes through reflection.
type provider struct {
	*types.Registry
	objects map[string]map[string]field
	fields  map[string]map[string]*types.FieldType
	names   map[string][]string
}

func newProvider() *provider {
	p := &provider{
		Registry: types.NewEmptyRegistry(),
		objects:  map[string]map[string]field{identityTypeName: identityFields(), requestTypeName: requestFields()},
		fields:   map[string]map[string]*types.FieldType{},
		names:    map[string][]string{},
	}
	for tn, fs := range p.objects {
		p.fields[tn] = map[string]*types.FieldType{}
		for name, f := range fs {
			p.fields[tn][name] = &types.FieldType{
				Type:    f.typ,
				IsSet:   f.isSet,
				GetFrom: func(o any) (any, error) { return f.get(o), nil },
			}
			p.names[tn] = append(p.names[tn], name)
		}
	}
	return p
}

func (p *provider) FindStructType(name string) (*types.Type, bool) {
	switch name {
	case identityTypeName:
		return types.NewTypeTypeWithParam(identityType), true
	case requestTypeName:
		return types.NewTypeTypeWithParam(requestType), true
	}
	return p.Registry.FindStructType(name)
}

func (p *provider) FindStructFieldNames(name string) ([]string, bool) {
	if n, ok := p.names[name]; ok {
		return n, true
	}
	return p.Registry.FindStructFieldNames(name)
}

func (p *provider) FindStructFieldType(name, fieldName string) (*types.FieldType, bool) {
	if fs, ok := p.fields[name]; ok {
		f, ok := fs[fieldName]
		return f, ok
	}
	return p.Registry.FindStructFieldType(name, fieldName)
}

// NewValue refuses to build the object types: expressions read them, they
// do not construct them.
func (p *provider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := p.objects[name]; ok {
		return types.NewErr("cannot construct %s", name)
	}
	return p.Registry.NewValue(name, fields)
}

// estimator gives the static cost estimate the size bounds of the fields.
type estimator struct{ p *provider }

func (e estimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	path := n.Path()
	if len(path) > 0 && strings.Contains(path[0], ".") {
		// A field variable ("identity.groups"): the path of its field.
		path = append(strings.Split(path[0], "."), path[1:]...)
	}
	if len(path) < 2 {
		return nil
	}
	tn := ""
	switch path[0] {
	case "identity":
		tn = identityTypeName
	case "request":
		tn = requestTypeName
	default:
		return nil
	}
	f, ok := e.p.objects[tn][path[1]]
	if !ok {
		return nil
	}
	if len(path) == 2 && f.size > 0 {
		return &cost.SizeEstimate{Min: 0, Max: f.size}
	}
	if len(path) > 2 {
		// Items, keys and values of lists and maps.
		limit := uint64(maxItemLen)
		switch path[1] {
		case "groups", "roles", "scopes":
			limit = maxNameLen
		case "headers":
			limit = maxStringLen
		}
		return &cost.SizeEstimate{Min: 0, Max: limit}
	}
	return nil
}

func (estimator) EstimateCallCost(function, overloadID string, target *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
	return nil
}

// env holds the two CEL environments. They are immutable once built and
// safe for concurrent use, so one pair serves every compile in the process.
type env struct {
	rule, ident *cel.Env
	prov        *provider
}

var envs = sync.OnceValues(func() (*env, error) {
	p := newProvider()
	base := []cel.EnvOption{
		cel.CustomTypeProvider(p),
		cel.Variable("identity", identityType),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
	}
	// Every field is also a variable of its own, named by its path: the
	// checker turns identity.email into a reference to the variable
	// "identity.email", which the activation answers in one lookup instead
	// of resolving identity and then selecting its field. Presence tests
	// (has(identity.email)) still select the field of the object.
	fieldDecls := func(prefix, typeName string) []cel.EnvOption {
		var out []cel.EnvOption
		for name, f := range p.objects[typeName] {
			out = append(out, cel.Variable(prefix+"."+name, f.typ))
		}
		return out
	}
	base = append(base, fieldDecls("identity", identityTypeName)...)
	ident, err := cel.NewEnv(base...)
	if err != nil {
		return nil, fmt.Errorf("build identity environment: %w", err)
	}
	rule, err := cel.NewEnv(append(slices.Clip(base), append(fieldDecls("request", requestTypeName),
		cel.Variable("request", requestType),
		cel.Variable("time", types.TimestampType),
	)...)...)
	if err != nil {
		return nil, fmt.Errorf("build rule environment: %w", err)
	}
	return &env{rule: rule, ident: ident, prov: p}, nil
})

// Program is one compiled expression, safe for concurrent evaluation.
type Program struct {
	// Source is the expression as written.
	Source string
	Kind   Kind
	// MaxCost is the static worst-case cost estimate.
	MaxCost uint64
	prog    cel.Program
	acts    actPool
	// metered: the cost limit is also enforced at run time.
	metered bool
}

// Check compiles src to report its errors, without keeping the program.
func Check(src string, kind Kind) error {
	_, err := Compile(src, kind)
	return err
}

// Compile parses, type-checks and plans src. It fails with a *CompileError
// when the expression has a syntax or type error, names an unknown
// variable or field, does not return a bool, or may cost more than
// CostLimit.
func Compile(src string, kind Kind) (prog *Program, err error) {
	// cel-go is not expected to panic, but a rule is user input and must
	// never crash a reload.
	defer func() {
		if r := recover(); r != nil {
			prog, err = nil, &CompileError{Msg: fmt.Sprintf("internal error compiling expression: %v", r)}
		}
	}()
	e, err := envs()
	if err != nil {
		return nil, err
	}
	ce := e.rule
	if kind == KindIdentity {
		ce = e.ident
	}
	if strings.TrimSpace(src) == "" {
		return nil, &CompileError{Msg: "empty expression; write a CEL expression that returns true or false"}
	}
	ast, iss := ce.Compile(src)
	if iss.Err() != nil {
		msg := celMessage(iss.Err().Error())
		if kind == KindIdentity && (strings.Contains(msg, "undeclared reference to 'request'") || strings.Contains(msg, "undeclared reference to 'time'")) {
			msg += " (roles and services see only identity; request and time belong in route rules)"
		}
		return nil, &CompileError{Msg: msg}
	}
	if !ast.OutputType().IsExactType(types.BoolType) {
		hint := ""
		if ast.OutputType().IsExactType(types.DynType) {
			hint = ` (a claim's type is not known in advance: compare it, as in identity.claims.admin == true)`
		}
		return nil, &CompileError{Msg: fmt.Sprintf("the expression returns %s, not bool%s", ast.OutputType(), hint)}
	}
	est, err := ce.EstimateCost(ast, estimator{e.prov})
	if err != nil {
		return nil, &CompileError{Msg: fmt.Sprintf("cannot estimate cost: %v", err)}
	}
	if est.Max > CostLimit {
		return nil, &CompileError{Msg: fmt.Sprintf("the expression may cost up to %d, over the limit of %d; avoid nested comprehensions and regular expressions over large inputs", est.Max, CostLimit)}
	}
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	metered := est.Max > meterAbove
	if metered {
		// Metering roughly doubles the cost of an evaluation, so it is
		// kept for expressions whose cost can grow enough with their
		// input to matter; the others are linear in inputs the gateway
		// already bounds (header and token sizes).
		opts = append(opts, cel.CostLimit(CostLimit))
	}
	p, err := ce.Program(ast, opts...)
	if err != nil {
		return nil, &CompileError{Msg: err.Error()}
	}
	return &Program{Source: src, Kind: kind, MaxCost: est.Max, prog: p, metered: metered}, nil
}

// Eval runs the program over in. An error (a missing map key, a bad
// conversion, the cost limit) is returned as is; callers fail closed.
func (p *Program) Eval(in *Input) (bool, error) {
	act := p.acts.get(in)
	defer p.acts.put(act)
	return p.evalAct(act)
}

func (p *Program) evalAct(act *activation) (bool, error) {
	out, _, err := p.prog.Eval(act)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("expression returned %s, not bool", out.Type().TypeName())
	}
	return bool(b), nil
}

// celMessage turns CEL's multi-line report (each error followed by the
// source line and a caret) into one line: "1:10: undefined field 'x'; ...".
// Positions are line:column inside the expression.
func celMessage(s string) string {
	var parts []string
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, " |") || strings.TrimSpace(line) == "" {
			continue
		}
		parts = append(parts, strings.TrimPrefix(line, "ERROR: <input>:"))
	}
	return strings.Join(parts, "; ")
}
