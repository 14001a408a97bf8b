package policy

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
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
	// Header is the request header after hygiene.
	Header http.Header
}

// Input is the data of one decision. It caches the values it builds for
// expressions (lists, maps, strings), so every rule of one decision shares
// them; do not change its fields after the first evaluation, and do not
// share one Input between goroutines.
type Input struct {
	// Identity is the caller; nil means anonymous.
	Identity *identity.Identity
	Request  Request
	// Time is the decision time (the time variable).
	Time time.Time

	ready bool
	act   activation
}

func (in *Input) activation() *activation {
	if !in.ready {
		in.ready = true
		id := in.Identity
		if id == nil {
			id = &identity.Anonymous
		}
		in.act.ident.id = id
		in.act.req.r = &in.Request
		in.act.now = types.Timestamp{Time: in.Time}
	}
	return &in.act
}

// activation resolves the three variables without any per-request map.
type activation struct {
	ident identityVal
	req   requestVal
	now   ref.Val
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "identity":
		return &a.ident, true
	case "request":
		return &a.req, true
	case "time":
		return a.now, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

var errNoConversion = errors.New("policy objects cannot be converted")

// identityVal is the identity variable. Lists and maps are wrapped on
// first use.
type identityVal struct {
	id                           *identity.Identity
	groups, roles, scopes, claim ref.Val
}

func (v *identityVal) list(cache *ref.Val, s []string) ref.Val {
	if *cache == nil {
		*cache = types.NewStringList(types.DefaultTypeAdapter, s)
	}
	return *cache
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
	r                        *Request
	ip                       string
	segments, query, headers ref.Val
}

func (v *requestVal) clientIP() string {
	if v.ip == "" && v.r.ClientIP.IsValid() {
		v.ip = v.r.ClientIP.String()
	}
	return v.ip
}

func (v *requestVal) segmentsVal() ref.Val {
	if v.segments == nil {
		var segs []string
		if p := strings.Trim(v.r.Path, "/"); p != "" {
			segs = strings.Split(p, "/")
		}
		v.segments = types.NewStringList(types.DefaultTypeAdapter, segs)
	}
	return v.segments
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

// headersVal maps lower-case header names to their values joined with
// ", ", the HTTP way of combining repeated fields: a client cannot satisfy
// an equality test by sending the header twice.
func (v *requestVal) headersVal() ref.Val {
	if v.headers == nil {
		m := make(map[string]string, len(v.r.Header))
		for k, vals := range v.r.Header {
			m[strings.ToLower(k)] = strings.Join(vals, ", ")
		}
		v.headers = types.NewStringStringMap(types.DefaultTypeAdapter, m)
	}
	return v.headers
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
