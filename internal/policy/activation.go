package policy

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/edgegate/edgegate/internal/identity"
)

// Request is what rules see of the request: the sanitized view (normalized
// path, host without port, the client address resolved through trusted
// proxies), never the raw bytes a client sent.
type Request struct {
	Method string
	// Host is lower-case, without port.
	Host string
	// Path is the decoded, normalized path.
	Path     string
	RawQuery string
	Scheme   string
	ClientIP netip.Addr
	// Header is the request header after hygiene. Its keys are in
	// canonical form (X-Env), as net/http delivers them and http.Header's
	// methods keep them: request.headers["x-env"] looks up "X-Env" only.
	Header http.Header
}

// Input is the data of one decision. Evaluation copies what it needs from
// it and keeps no reference, so an Input may live on the stack and be
// reused as soon as the call returns.
type Input struct {
	// Identity is the caller; nil means anonymous.
	Identity *identity.Identity
	Request  Request
	// Time is the decision time (the time variable).
	Time time.Time
}

// activation serves the three variables of one evaluation (one decision or
// derivation, all its rules) without any per-request map. It caches the
// values it builds for expressions (lists, maps, strings), so the rules of
// one decision share them. Activations are pooled (actPool): a decision
// allocates none.
type activation struct {
	ident identityVal
	req   requestVal
	t     time.Time
	// now is t as a CEL value, boxed on first use.
	now ref.Val
}

// reset points a at in, dropping every value cached for a previous input.
func (a *activation) reset(in *Input) {
	*a = activation{t: in.Time}
	a.ident.id = in.Identity
	if a.ident.id == nil {
		a.ident.id = &identity.Anonymous
	}
	a.req.r = in.Request
	a.req.headers.h = in.Request.Header
}

// actPool recycles activations. Each RouteRules, Roles and Program has its
// own, so no pool is shared process-wide.
type actPool struct{ p sync.Pool }

func (p *actPool) get(in *Input) *activation {
	a, _ := p.p.Get().(*activation)
	if a == nil {
		a = new(activation)
	}
	a.reset(in)
	return a
}

// put returns a, holding no reference to the request or identity any more.
// Nothing an evaluation returns refers to a: results are booleans and
// integers, and errors carry their message formatted.
func (p *actPool) put(a *activation) {
	*a = activation{}
	p.p.Put(a)
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "identity":
		return &a.ident, true
	case "request":
		return &a.req, true
	case "time":
		if a.now == nil {
			a.now = types.Timestamp{Time: a.t}
		}
		return a.now, true
	}
	// A field variable (see envs): "identity.email", "request.path".
	if rest, ok := strings.CutPrefix(name, "identity."); ok {
		if v := a.ident.field(rest); v != nil {
			return v, true
		}
	} else if rest, ok := strings.CutPrefix(name, "request."); ok {
		if v := a.req.field(rest); v != nil {
			return v, true
		}
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

var errNoConversion = errors.New("policy objects cannot be converted")

// identityVal is the identity variable. Its lists read the identity in
// place; claims are wrapped on first use.
type identityVal struct {
	id                    *identity.Identity
	groups, roles, scopes strList
	claim                 ref.Val
}

// field returns the field called name, or nil if there is none
// (identityFields declares the names).
func (v *identityVal) field(name string) ref.Val {
	id := v.id
	switch name {
	case "subject":
		return types.String(id.Subject)
	case "email":
		return types.String(id.Email)
	case "name":
		return types.String(id.Name)
	case "issuer":
		return types.String(id.Issuer)
	case "issuer_name":
		return types.String(id.IssuerName)
	case "client_id":
		return types.String(id.ClientID)
	case "service_name":
		return types.String(id.ServiceName)
	case "method":
		return types.String(id.Method)
	case "groups":
		return v.list(&v.groups, id.Groups)
	case "roles":
		return v.list(&v.roles, id.Roles)
	case "scopes":
		return v.list(&v.scopes, id.Scopes)
	case "service":
		return types.Bool(id.Service)
	case "authenticated":
		return types.Bool(id.Authenticated())
	case "claims":
		return v.claimsVal()
	case "expiry":
		return types.Timestamp{Time: id.Expiry}
	}
	return nil
}

// list points l at s (read from id on every use, so Derive's new roles
// show) and returns it.
func (v *identityVal) list(l *strList, s []string) ref.Val {
	l.s = s
	return l
}

func (v *identityVal) claimsVal() ref.Val {
	if v.claim == nil {
		c := v.id.Claims
		if c == nil {
			c = map[string]any{}
		}
		v.claim = types.NewStringInterfaceMap(types.DefaultTypeAdapter, c)
	}
	return v.claim
}

func (v *identityVal) ConvertToNative(reflect.Type) (any, error) { return nil, errNoConversion }
func (v *identityVal) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return types.NewTypeTypeWithParam(identityType)
	}
	return types.NewErr("cannot convert identity to %s", t.TypeName())
}
func (v *identityVal) Equal(o ref.Val) ref.Val { return types.Bool(o == ref.Val(v)) }
func (v *identityVal) Type() ref.Type          { return identityType }
func (v *identityVal) Value() any              { return v }

// requestVal is the request variable.
type requestVal struct {
	r        Request
	ip       string
	segments segList
	query    ref.Val
	headers  headerMap
	// strs holds the string fields once boxed (field numbers them).
	strs [5]ref.Val
}

// field returns the field called name, or nil if there is none
// (requestFields declares the names). Strings are boxed once per
// activation (slots in strs): rules test the method and the path again and
// again.
func (v *requestVal) field(name string) ref.Val {
	switch name {
	case "method":
		return v.str(0, v.r.Method)
	case "host":
		return v.str(1, v.r.Host)
	case "path":
		return v.str(2, v.r.Path)
	case "scheme":
		return v.str(3, v.r.Scheme)
	case "client_ip":
		return v.str(4, v.clientIP())
	case "segments":
		return v.segmentsVal()
	case "query":
		return v.queryVal()
	case "headers":
		return &v.headers
	}
	return nil
}

func (v *requestVal) str(slot int, s string) ref.Val {
	if v.strs[slot] == nil {
		v.strs[slot] = types.String(s)
	}
	return v.strs[slot]
}

func (v *requestVal) clientIP() string {
	if v.ip == "" && v.r.ClientIP.IsValid() {
		v.ip = v.r.ClientIP.String()
	}
	return v.ip
}

func (v *requestVal) segmentsVal() ref.Val {
	v.segments = newSegList(v.r.Path)
	return &v.segments
}

func (v *requestVal) queryVal() ref.Val {
	if v.query == nil {
		// A malformed pair is skipped; the well-formed ones still count.
		q, _ := url.ParseQuery(v.r.RawQuery)
		m := make(map[ref.Val]ref.Val, len(q))
		for k, vals := range q {
			m[types.String(k)] = types.NewStringList(types.DefaultTypeAdapter, vals)
		}
		v.query = types.NewRefValMap(types.DefaultTypeAdapter, m)
	}
	return v.query
}

func (v *requestVal) ConvertToNative(reflect.Type) (any, error) { return nil, errNoConversion }
func (v *requestVal) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return types.NewTypeTypeWithParam(requestType)
	}
	return types.NewErr("cannot convert request to %s", t.TypeName())
}
func (v *requestVal) Equal(o ref.Val) ref.Val { return types.Bool(o == ref.Val(v)) }
func (v *requestVal) Type() ref.Type          { return requestType }
func (v *requestVal) Value() any              { return v }
