package script

import (
	"context"
	"fmt"
	"net/http"
	"net/textproto"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/dop251/goja"
	"golang.org/x/net/http/httpguts"
)

// Product limits of the request API.
const (
	MaxRespondWithBody = 16384
	MaxProviderBody    = 100000
	MaxLogPerHandler   = 1024
)

// Request is one request as the handlers see it. The caller fills the
// inputs; handlers fill the outputs (Route, CacheKey, Reply) and change
// Header and Vars. One Request is used for all handlers of a request.
type Request struct {
	Method, Scheme, Host, Path, Query string
	ClientIP                          string
	CPCode                            int
	// Header is the request header the handler sees and may change.
	Header http.Header
	// Vars are the PMUSER variables, shared by every handler.
	Vars *Variables
	// Location and Device back userLocation and device (nil: undefined).
	Location *Location
	Device   *Device
	// Edgegate is the read-only request.edgegate extension: the verified
	// identity and the request ID (nil: undefined). EdgegateFunc, when
	// set and Edgegate is nil, builds it on first use, so requests whose
	// script never reads request.edgegate do not pay for it.
	Edgegate     map[string]any
	EdgegateFunc func() map[string]any
	// Body is the request body, for responseProvider only.
	Body []byte
	// Origins reports whether route({origin}) may name id.
	Origins func(id string) bool
	// Sub runs httpRequest sub-requests; nil refuses them.
	Sub SubRequester

	// Outputs.
	// Route is set by request.route() in onClientRequest.
	Route *RouteChange
	// CacheKey holds the cacheKey.* calls of onClientRequest.
	CacheKey CacheKey
	// Reply is set by respondWith; the last call wins.
	Reply *Reply

	handler Handler
}

// RouteChange is what request.route() asked for; nil fields are unchanged.
type RouteChange struct {
	Origin, Path, Query *string
}

// CacheKey records the cacheKey.* calls, for the cache-key builder.
type CacheKey struct {
	// QueryString: "" unchanged, "exclude" or "include".
	QueryString string
	QueryArgs   []string
	Cookies     []string
	Headers     []string
	Variables   []string
}

// Changed reports whether any cacheKey method was called.
func (k *CacheKey) Changed() bool {
	return k.QueryString != "" || len(k.QueryArgs)+len(k.Cookies)+len(k.Headers)+len(k.Variables) > 0
}

// Reply is a response built by a script: respondWith or createResponse.
type Reply struct {
	Status     int
	Header     http.Header
	Body       []byte
	DenyReason string
	// Stream, when not nil, produces the body (a ReadableStream given to
	// createResponse): send the header, then copy it. The caller must
	// Close it.
	Stream *BodyStream

	reader *goja.Object
}

// Response is the response the response handlers see and may change.
type Response struct {
	Status int
	Header http.Header
}

// Location is userLocation (EdgeScape fields); empty strings read as
// undefined.
type Location struct {
	Continent, Country, Region, City, ZipCode, DMA, Timezone, NetworkType, Bandwidth, Latitude, Longitude string
	AreaCodes, FIPS                                                                                       []string
}

// Device is device (Device Characterization); nil pointers and empty
// strings read as undefined.
type Device struct {
	BrandName, ModelName, MarketingName, OS, OSVersion, MobileBrowser, MobileBrowserVersion string
	IsWireless, IsTablet, IsMobile, HasCookieSupport, HasAJAXSupport, HasFlashSupport       *bool
	AcceptsThirdPartyCookie                                                                 *bool
	ResolutionWidth, ResolutionHeight, PhysicalScreenWidth, PhysicalScreenHeight            *int
	XHTMLSupportLevel                                                                       *int
}

// SubRequester runs sub-requests (httpRequest).
type SubRequester interface {
	Do(ctx context.Context, sr *SubRequest) (*SubResponse, error)
}

// SubRequest is one httpRequest call; URL is absolute.
type SubRequest struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
	// MaxBody bounds the response body the requester reads.
	MaxBody int64
}

// SubResponse is a sub-request's response.
type SubResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// Variables are the PMUSER variables of one request, with the size
// budget of the tier (in characters, names plus values).
type Variables struct {
	names  []string
	vals   map[string]string
	size   int
	budget int
}

// NewVariables returns an empty store with the given budget (0: 1024).
func NewVariables(budget int) *Variables {
	if budget <= 0 {
		budget = 1024
	}
	return &Variables{budget: budget}
}

// Reset empties v and sets its budget (0: 1024), so a caller can keep
// the store in its own per-request state instead of allocating one.
func (v *Variables) Reset(budget int) {
	if budget <= 0 {
		budget = 1024
	}
	*v = Variables{budget: budget}
}

// Set sets a PMUSER variable.
func (v *Variables) Set(name, value string) error {
	if !strings.HasPrefix(name, "PMUSER_") || len(name) == len("PMUSER_") {
		return fmt.Errorf("variable name %q must start with PMUSER_", name)
	}
	old, had := v.vals[name]
	size := v.size + utf8.RuneCountInString(value)
	if had {
		size -= utf8.RuneCountInString(old)
	} else {
		size += utf8.RuneCountInString(name)
	}
	if size > v.budget {
		return fmt.Errorf("setting %s would exceed the %d-character budget of PMUSER variables", name, v.budget)
	}
	if !had {
		v.names = append(v.names, name)
	}
	if v.vals == nil {
		v.vals = map[string]string{}
	}
	v.vals[name] = value
	v.size = size
	return nil
}

// Get returns a variable.
func (v *Variables) Get(name string) (string, bool) {
	if v == nil {
		return "", false
	}
	s, ok := v.vals[name]
	return s, ok
}

// Names lists the variables in the order they were first set.
func (v *Variables) Names() []string {
	if v == nil {
		return nil
	}
	return v.names
}

// Clone copies the store.
func (v *Variables) Clone() *Variables {
	c := &Variables{names: append([]string(nil), v.names...), vals: make(map[string]string, len(v.vals)), size: v.size, budget: v.budget}
	for k, s := range v.vals {
		c.vals[k] = s
	}
	return c
}

// capability rows of the EdgeWorkers capability matrix.
type capability uint8

const (
	capSetReqHeader capability = iota
	capSetVariable
	capRespondWith
	capRoute
	capCacheKey
	capBody
	capResponse
	capCreateResponse
)

var capabilities = [...][NumHandlers]bool{
	capSetReqHeader:   {true, true, false, false, false},
	capSetVariable:    {true, true, true, true, false},
	capRespondWith:    {true, true, true, true, false},
	capRoute:          {true, false, false, false, false},
	capCacheKey:       {true, false, false, false, false},
	capBody:           {false, false, false, false, true},
	capResponse:       {false, false, true, true, false},
	capCreateResponse: {false, false, false, false, true},
}

// cur returns the running call, throwing when this is not the request
// object of the running handler (it was kept past its request).
func (inst *instance) callFor(this goja.Value, resp bool) *call {
	c := inst.cur
	if c == nil || c.req == nil {
		panic(inst.vm.NewTypeError("the request object is only usable during its handler"))
	}
	obj, _ := this.(*goja.Object)
	if (!resp && obj != c.reqObj) || (resp && obj != c.respObj) {
		panic(inst.vm.NewTypeError("the request object is only usable during its handler"))
	}
	return c
}

func (inst *instance) require(c *call, cp capability, what string) {
	if c.h < 0 || !capabilities[cp][c.h] {
		name := "initialization"
		if c.h >= 0 {
			name = c.h.String()
		}
		panic(inst.vm.NewTypeError(fmt.Sprintf("%s is not available in %s", what, name)))
	}
}

func (inst *instance) str(v goja.Value) string {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return ""
	}
	return v.String()
}

// headerValues reads a string or string[] argument.
func (inst *instance) headerValues(name string, v goja.Value) []string {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		panic(inst.vm.NewTypeError(fmt.Sprintf("header %s: value must be a string or an array of strings", name)))
	}
	var out []string
	if obj, ok := v.(*goja.Object); ok && obj.ClassName() == "Array" {
		n := int(obj.Get("length").ToInteger())
		if n > 1000 {
			panic(inst.vm.NewTypeError("too many header values"))
		}
		for i := range n {
			out = append(out, obj.Get(fmt.Sprint(i)).String())
		}
	} else {
		out = []string{v.String()}
	}
	for _, s := range out {
		if !httpguts.ValidHeaderFieldValue(s) {
			panic(inst.vm.NewTypeError(fmt.Sprintf("header %s: invalid value (control characters are not allowed)", name)))
		}
	}
	return out
}

func (inst *instance) headerName(v goja.Value) string {
	n := inst.str(v)
	if !httpguts.ValidHeaderFieldName(n) {
		panic(inst.vm.NewTypeError(fmt.Sprintf("invalid header name %q", n)))
	}
	return textproto.CanonicalMIMEHeaderKey(n)
}

// getHeader returns the values of name as an array, or null.
func (inst *instance) getHeader(h http.Header, name goja.Value) goja.Value {
	vv := h.Values(inst.str(name))
	if len(vv) == 0 {
		return goja.Null()
	}
	out := make([]any, len(vv))
	for i, s := range vv {
		out[i] = s
	}
	return inst.vm.NewArray(out...)
}

func (inst *instance) getHeaders(h http.Header) goja.Value {
	obj := inst.vm.NewObject()
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vv := h[k]
		out := make([]any, len(vv))
		for i, s := range vv {
			out[i] = s
		}
		_ = obj.Set(strings.ToLower(k), inst.vm.NewArray(out...))
	}
	return obj
}

// header operations shared by request and response objects.
func (inst *instance) headerMethods(proto *goja.Object, resp bool, get func(c *call) http.Header, cp capability) {
	vm := inst.vm
	def := func(name string, fn func(c *call, call goja.FunctionCall) goja.Value) {
		_ = proto.Set(name, vm.ToValue(func(fc goja.FunctionCall) goja.Value {
			c := inst.callFor(fc.This, resp)
			return fn(c, fc)
		}))
	}
	def("getHeader", func(c *call, fc goja.FunctionCall) goja.Value { return inst.getHeader(get(c), fc.Argument(0)) })
	def("getHeaders", func(c *call, fc goja.FunctionCall) goja.Value { return inst.getHeaders(get(c)) })
	def("setHeader", func(c *call, fc goja.FunctionCall) goja.Value {
		inst.require(c, cp, "setHeader")
		n := inst.headerName(fc.Argument(0))
		get(c)[n] = inst.headerValues(n, fc.Argument(1))
		return goja.Undefined()
	})
	def("addHeader", func(c *call, fc goja.FunctionCall) goja.Value {
		inst.require(c, cp, "addHeader")
		n := inst.headerName(fc.Argument(0))
		h := get(c)
		h[n] = append(h[n], inst.headerValues(n, fc.Argument(1))...)
		return goja.Undefined()
	})
	def("removeHeader", func(c *call, fc goja.FunctionCall) goja.Value {
		inst.require(c, cp, "removeHeader")
		delete(get(c), inst.headerName(fc.Argument(0)))
		return goja.Undefined()
	})
}

// setupObjects builds the prototypes of the request and response objects
// once per instance; a handler call only creates two empty objects.
func (inst *instance) setupObjects() {
	vm := inst.vm
	rp := vm.NewObject()
	inst.reqProto = rp
	getter := func(name string, fn func(c *call) goja.Value) {
		_ = rp.DefineAccessorProperty(name, vm.ToValue(func(fc goja.FunctionCall) goja.Value {
			return fn(inst.callFor(fc.This, false))
		}), nil, goja.FLAG_FALSE, goja.FLAG_TRUE)
	}
	getter("host", func(c *call) goja.Value { return vm.ToValue(c.req.Host) })
	getter("method", func(c *call) goja.Value { return vm.ToValue(c.req.Method) })
	getter("path", func(c *call) goja.Value {
		if c.req.Path == "" {
			return vm.ToValue("/")
		}
		return vm.ToValue(c.req.Path)
	})
	getter("query", func(c *call) goja.Value { return vm.ToValue(c.req.Query) })
	getter("scheme", func(c *call) goja.Value { return vm.ToValue(c.req.Scheme) })
	getter("url", func(c *call) goja.Value {
		u := c.req.Path
		if u == "" {
			u = "/"
		}
		if c.req.Query != "" {
			u += "?" + c.req.Query
		}
		return vm.ToValue(u)
	})
	getter("cpCode", func(c *call) goja.Value { return vm.ToValue(c.req.CPCode) })
	getter("clientIp", func(c *call) goja.Value { return vm.ToValue(c.req.ClientIP) })
	getter("userLocation", func(c *call) goja.Value { return inst.location(c.req.Location) })
	getter("device", func(c *call) goja.Value { return inst.device(c.req.Device) })
	getter("edgegate", func(c *call) goja.Value {
		if c.req.Edgegate == nil && c.req.EdgegateFunc != nil {
			c.req.Edgegate = c.req.EdgegateFunc()
		}
		if c.req.Edgegate == nil {
			return goja.Undefined()
		}
		return inst.frozen(c.req.Edgegate)
	})
	getter("cacheKey", func(c *call) goja.Value {
		inst.require(c, capCacheKey, "cacheKey")
		return inst.cacheKeyObject(c)
	})
	getter("body", func(c *call) goja.Value {
		inst.require(c, capBody, "body")
		return inst.newStream(c.req.Body)
	})
	inst.headerMethods(rp, false, func(c *call) http.Header { return c.req.Header }, capSetReqHeader)

	method := func(name string, fn func(c *call, fc goja.FunctionCall) goja.Value) {
		_ = rp.Set(name, vm.ToValue(func(fc goja.FunctionCall) goja.Value {
			return fn(inst.callFor(fc.This, false), fc)
		}))
	}
	method("getVariable", func(c *call, fc goja.FunctionCall) goja.Value {
		if s, ok := c.req.Vars.Get(inst.str(fc.Argument(0))); ok {
			return vm.ToValue(s)
		}
		return goja.Undefined()
	})
	method("setVariable", func(c *call, fc goja.FunctionCall) goja.Value {
		inst.require(c, capSetVariable, "setVariable")
		if c.req.Vars == nil {
			c.req.Vars = NewVariables(inst.w.opts.Tier.Variables)
		}
		val := fc.Argument(1)
		if goja.IsUndefined(val) || goja.IsNull(val) {
			panic(vm.NewTypeError("setVariable: value must be a string"))
		}
		if err := c.req.Vars.Set(inst.str(fc.Argument(0)), val.String()); err != nil {
			panic(vm.NewTypeError(err.Error()))
		}
		return goja.Undefined()
	})
	method("respondWith", func(c *call, fc goja.FunctionCall) goja.Value {
		inst.require(c, capRespondWith, "respondWith")
		c.req.Reply = inst.reply(fc.Argument(0), fc.Argument(1), fc.Argument(2), fc.Argument(3), MaxRespondWithBody, "respondWith")
		return goja.Undefined()
	})
	method("wasTerminated", func(c *call, fc goja.FunctionCall) goja.Value {
		inst.require(c, capRespondWith, "wasTerminated")
		return vm.ToValue(c.req.Reply != nil)
	})
	method("route", func(c *call, fc goja.FunctionCall) goja.Value {
		inst.require(c, capRoute, "route")
		obj, ok := fc.Argument(0).(*goja.Object)
		if !ok {
			panic(vm.NewTypeError("route: the argument must be an object {origin, path, query}"))
		}
		rc := &RouteChange{}
		if v := obj.Get("origin"); v != nil && !goja.IsUndefined(v) {
			s := v.String()
			if c.req.Origins == nil || !c.req.Origins(s) {
				panic(vm.NewTypeError(fmt.Sprintf("route: unknown origin %q (origins are the route's configured origin ids)", s)))
			}
			rc.Origin = &s
		}
		if v := obj.Get("path"); v != nil && !goja.IsUndefined(v) {
			s := v.String()
			if !strings.HasPrefix(s, "/") || strings.ContainsAny(s, "?#\r\n\x00") {
				panic(vm.NewTypeError(fmt.Sprintf("route: path %q must start with / and hold no query", s)))
			}
			rc.Path = &s
		}
		if v := obj.Get("query"); v != nil && !goja.IsUndefined(v) {
			s := strings.TrimPrefix(v.String(), "?")
			if strings.ContainsAny(s, "#\r\n\x00 ") {
				panic(vm.NewTypeError(fmt.Sprintf("route: invalid query %q", s)))
			}
			rc.Query = &s
		}
		c.req.Route = rc
		return goja.Undefined()
	})
	for _, n := range []string{"text", "json", "arrayBuffer"} {
		method(n, func(c *call, fc goja.FunctionCall) goja.Value {
			inst.require(c, capBody, n+"()")
			p, resolve, reject := vm.NewPromise()
			inst.charge(c, int64(len(c.req.Body)))
			switch n {
			case "text":
				_ = resolve(string(c.req.Body))
			case "arrayBuffer":
				_ = resolve(vm.NewArrayBuffer(append([]byte(nil), c.req.Body...)))
			case "json":
				v, err := inst.builtins.jsonParse(goja.Undefined(), vm.ToValue(string(c.req.Body)))
				if err != nil {
					_ = reject(vm.NewTypeError("json(): the body is not valid JSON"))
				} else {
					_ = resolve(v)
				}
			}
			return vm.ToValue(p)
		})
	}

	sp := vm.NewObject()
	inst.respProto = sp
	_ = sp.DefineAccessorProperty("status", vm.ToValue(func(fc goja.FunctionCall) goja.Value {
		return vm.ToValue(inst.callFor(fc.This, true).resp.Status)
	}), vm.ToValue(func(fc goja.FunctionCall) goja.Value {
		c := inst.callFor(fc.This, true)
		s := fc.Argument(0).ToInteger()
		if s < 100 || s > 599 {
			panic(vm.NewTypeError(fmt.Sprintf("status %d must be from 100 to 599", s)))
		}
		c.resp.Status = int(s)
		return goja.Undefined()
	}), goja.FLAG_FALSE, goja.FLAG_TRUE)
	inst.headerMethods(sp, true, func(c *call) http.Header { return c.resp.Header }, capResponse)
}

// reply validates respondWith/createResponse arguments.
func (inst *instance) reply(status, headers, body, deny goja.Value, maxBody int, what string) *Reply {
	vm := inst.vm
	s := status.ToInteger()
	if goja.IsUndefined(status) || s < 100 || s > 599 {
		panic(vm.NewTypeError(fmt.Sprintf("%s: status must be a number from 100 to 599", what)))
	}
	r := &Reply{Status: int(s), Header: http.Header{}}
	if obj, ok := headers.(*goja.Object); ok {
		for _, k := range obj.Keys() {
			n := textproto.CanonicalMIMEHeaderKey(k)
			if !httpguts.ValidHeaderFieldName(k) {
				panic(vm.NewTypeError(fmt.Sprintf("%s: invalid header name %q", what, k)))
			}
			r.Header[n] = append(r.Header[n], inst.headerValues(n, obj.Get(k))...)
		}
	} else if !goja.IsUndefined(headers) && !goja.IsNull(headers) {
		panic(vm.NewTypeError(what + ": headers must be an object"))
	}
	if !goja.IsUndefined(body) && !goja.IsNull(body) {
		if st := inst.streamBytes(body); st != nil {
			r.Body = st
		} else if inst.isStream(body) {
			if what != "createResponse" {
				panic(vm.NewTypeError(what + ": the body must be a string"))
			}
			if body.ToObject(vm).Get("locked").ToBoolean() {
				panic(vm.NewTypeError(what + ": the body stream is locked"))
			}
			get, _ := goja.AssertFunction(body.ToObject(vm).Get("getReader"))
			rd, err := get(body)
			if err != nil {
				panic(err)
			}
			r.reader = rd.ToObject(vm)
		} else {
			b := body.String()
			if utf8.RuneCountInString(b) > maxBody {
				panic(vm.NewTypeError(fmt.Sprintf("%s: the body is longer than %d characters", what, maxBody)))
			}
			r.Body = []byte(b)
		}
	}
	if inst.cur != nil {
		inst.charge(inst.cur, int64(len(r.Body)))
	}
	if !goja.IsUndefined(deny) && !goja.IsNull(deny) && r.Status == http.StatusForbidden {
		r.DenyReason = deny.String()
	}
	return r
}

func (inst *instance) cacheKeyObject(c *call) goja.Value {
	vm := inst.vm
	o := vm.NewObject()
	k := &c.req.CacheKey
	add := func(name string, fn func(s string)) {
		_ = o.Set(name, vm.ToValue(func(fc goja.FunctionCall) goja.Value {
			if inst.cur != c {
				panic(vm.NewTypeError("cacheKey is only usable during onClientRequest"))
			}
			fn(inst.str(fc.Argument(0)))
			return goja.Undefined()
		}))
	}
	add("excludeQueryString", func(string) { k.QueryString, k.QueryArgs = "exclude", nil })
	add("includeQueryString", func(string) { k.QueryString, k.QueryArgs = "include", nil })
	add("includeQueryArgument", func(s string) { k.QueryString = "include"; k.QueryArgs = appendUnique(k.QueryArgs, s) })
	add("includeCookie", func(s string) { k.Cookies = appendUnique(k.Cookies, s) })
	add("includeHeader", func(s string) { k.Headers = appendUnique(k.Headers, textproto.CanonicalMIMEHeaderKey(s)) })
	add("includeVariable", func(s string) {
		if !strings.HasPrefix(s, "PMUSER_") {
			panic(vm.NewTypeError(fmt.Sprintf("includeVariable: %q is not a PMUSER_ variable", s)))
		}
		k.Variables = appendUnique(k.Variables, s)
	})
	return o
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func (inst *instance) location(l *Location) goja.Value {
	if l == nil {
		return goja.Undefined()
	}
	o := inst.vm.NewObject()
	setNonEmpty(o, "continent", l.Continent, "country", l.Country, "region", l.Region, "city", l.City,
		"zipCode", l.ZipCode, "dma", l.DMA, "timezone", l.Timezone, "networkType", l.NetworkType,
		"bandwidth", l.Bandwidth, "latitude", l.Latitude, "longitude", l.Longitude)
	if l.AreaCodes != nil {
		_ = o.Set("areaCodes", inst.strings(l.AreaCodes))
	}
	if l.FIPS != nil {
		_ = o.Set("fips", inst.strings(l.FIPS))
	}
	return o
}

// setNonEmpty sets each key of the key, value pairs kv whose value is not
// empty: Akamai leaves out the properties it has no value for.
func setNonEmpty(o *goja.Object, kv ...string) {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			_ = o.Set(kv[i], kv[i+1])
		}
	}
}

func (inst *instance) strings(ss []string) goja.Value {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return inst.vm.NewArray(out...)
}

func (inst *instance) device(d *Device) goja.Value {
	if d == nil {
		return goja.Undefined()
	}
	o := inst.vm.NewObject()
	setNonEmpty(o, "brandName", d.BrandName, "modelName", d.ModelName, "marketingName", d.MarketingName,
		"os", d.OS, "osVersion", d.OSVersion, "mobileBrowser", d.MobileBrowser, "mobileBrowserVersion", d.MobileBrowserVersion)
	for k, b := range map[string]*bool{"isWireless": d.IsWireless, "isTablet": d.IsTablet, "isMobile": d.IsMobile, "hasCookieSupport": d.HasCookieSupport, "hasAjaxSupport": d.HasAJAXSupport, "hasFlashSupport": d.HasFlashSupport, "acceptsThirdPartyCookie": d.AcceptsThirdPartyCookie} {
		if b != nil {
			_ = o.Set(k, *b)
		}
	}
	for k, n := range map[string]*int{"resolutionWidth": d.ResolutionWidth, "resolutionHeight": d.ResolutionHeight, "physicalScreenWidth": d.PhysicalScreenWidth, "physicalScreenHeight": d.PhysicalScreenHeight, "xhtmlSupportLevel": d.XHTMLSupportLevel} {
		if n != nil {
			_ = o.Set(k, *n)
		}
	}
	return o
}

// frozen converts a Go value into a deep-frozen JS value.
func (inst *instance) frozen(v any) goja.Value {
	vm := inst.vm
	switch x := v.(type) {
	case map[string]any:
		o := vm.NewObject()
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			_ = o.Set(k, inst.frozen(x[k]))
		}
		inst.freeze(o)
		return o
	case []string:
		a := inst.strings(x)
		inst.freeze(a.(*goja.Object))
		return a
	case nil:
		return goja.Null()
	default:
		return vm.ToValue(x)
	}
}

func (inst *instance) freeze(o *goja.Object) {
	if f, ok := goja.AssertFunction(inst.vm.Get("Object").ToObject(inst.vm).Get("freeze")); ok {
		_, _ = f(goja.Undefined(), o)
	}
}

// charge counts bytes a handler allocates and stops it past its memory
// limit.
func (inst *instance) charge(c *call, n int64) {
	if c == nil || n <= 0 {
		return
	}
	c.mem += n
	if c.lim.Memory > 0 && c.mem > c.lim.Memory {
		inst.interrupt(&errMemory)
		panic(inst.vm.NewGoError(errMemory))
	}
}
