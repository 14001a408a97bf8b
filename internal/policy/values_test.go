package policy

import (
	"net/http"
	"strings"
	"testing"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// TestValues evaluates expressions over every kind of value the
// activation serves (field variables, the lists and the headers map that
// read the request in place), including the operations they hand to
// cel-go's own lists and maps. want is "true", "false" or an error
// substring.
func TestValues(t *testing.T) {
	odd := http.Header{
		"X-Env": {"prod"},
		"X A":   {"space"}, // not a token: looked up in the lower-case map
	}
	tests := []struct {
		name, src string
		r         Request
		want      string
	}{
		// Field variables and presence.
		{"field", `identity.email == "alice@example.com" && request.method == "GET"`, Request{}, "true"},
		{"has set", `has(identity.email) && has(request.path)`, Request{}, "true"},
		{"has unset", `has(identity.name) || has(identity.client_id)`, Request{}, "false"},
		{"optional select", `identity.?email.orValue("") == "alice@example.com" && identity.?name.orValue("none") == "none"`, Request{}, "true"},
		{"same field twice", `request.path.startsWith("/api") && request.path.endsWith("orders")`, Request{}, "true"},
		{"claims", `identity.claims.tenant == "acme" && has(identity.claims.level)`, Request{}, "true"},
		{"claims missing", `identity.claims.nope == 1`, Request{}, "no such key: nope"},
		// Lists over the identity.
		{"in", `"eng" in identity.groups && !("ops" in identity.groups)`, Request{}, "true"},
		{"dyn in", `dyn(1) in identity.groups`, Request{}, "false"},
		{"equal", `identity.groups == ["eng", "platform-admins"] && ["eng", "platform-admins"] == identity.groups`, Request{}, "true"},
		{"not equal", `identity.groups == ["eng"]`, Request{}, "false"},
		{"concat", `identity.groups + ["x"] == ["eng", "platform-admins", "x"]`, Request{}, "true"},
		{"index", `identity.groups[1] == "platform-admins" && identity.scopes[0] == "openid"`, Request{}, "true"},
		{"index out of range", `identity.groups[2] == "x"`, Request{}, "index out of bounds: 2"},
		{"size", `size(identity.groups) == 2 && identity.roles.size() == 1`, Request{}, "true"},
		{"comprehension", `identity.groups.exists(g, g == "eng") && identity.groups.map(g, g + "!")[0] == "eng!"`, Request{}, "true"},
		{"type", `type(identity.groups) == type(["x"])`, Request{}, "true"},
		// Path segments.
		{"segments", `request.segments == ["users", "alice", "files"] && request.segments[2] == "files" && "alice" in request.segments`,
			Request{Path: "/users/alice/files"}, "true"},
		{"segments size", `request.segments.size() == 3 && size(request.segments) == 3`, Request{Path: "/users/alice/files/"}, "true"},
		{"segments iterate", `request.segments.all(s, s != "") && request.segments.exists(s, s == "alice")`, Request{Path: "/users/alice"}, "true"},
		{"root has none", `request.segments.size() == 0 && !("" in request.segments) && request.segments == []`, Request{Path: "/"}, "true"},
		{"empty inner segment", `request.segments == ["a", "", "b"] && "" in request.segments && request.segments[1] == ""`, Request{Path: "/a//b/"}, "true"},
		{"segment out of range", `request.segments[3] == "x"`, Request{Path: "/a/b/c"}, "index out of bounds: 3"},
		{"segment dyn index", `request.segments[dyn(1)] == "b"`, Request{Path: "/a/b"}, "true"},
		// Headers.
		{"header", `request.headers["x-env"] == "prod" && "content-type" in request.headers`, Request{}, "true"},
		{"header joined", `request.headers["x-dup"] == "a, b"`, Request{}, "true"},
		{"header upper name absent", `"X-Env" in request.headers`, Request{}, "false"},
		{"header missing", `request.headers["x-nope"] == "1"`, Request{}, "no such key: x-nope"},
		{"header absent", `!("x-nope" in request.headers) && !has(request.headers.nope)`, Request{}, "true"},
		{"header optional", `request.headers[?"x-nope"].orValue("d") == "d" && request.headers[?"x-env"].orValue("d") == "prod"`, Request{}, "true"},
		{"header size", `size(request.headers) == 3`, Request{}, "true"},
		{"header iterate", `request.headers.exists(k, k == "x-dup") && request.headers.all(k, k != "X-Dup")`, Request{}, "true"},
		{"header equal", `request.headers == {"x-env": "prod", "x-dup": "a, b", "content-type": "application/json"}`, Request{}, "true"},
		{"header equal reversed", `{"x-env": "prod", "x-dup": "a, b", "content-type": "application/json"} == request.headers`, Request{}, "true"},
		{"header not equal", `request.headers == {"x-env": "prod"}`, Request{}, "false"},
		{"odd header space", `request.headers["x a"] == "space" && request.headers["x-env"] == "prod"`, Request{Header: odd}, "true"},
		{"odd header iterate", `request.headers.exists(k, k == "x a") && size(request.headers) == 2`, Request{Header: odd}, "true"},
		{"odd header absent", `"x-nope" in request.headers`, Request{Header: odd}, "false"},
		{"long header name", `"` + strings.Repeat("a", 200) + `" in request.headers`, Request{Header: http.Header{http.CanonicalHeaderKey(strings.Repeat("a", 200)): {"v"}}}, "true"},
		{"no headers", `!("x-env" in request.headers) && size(request.headers) == 0`, Request{Header: http.Header{}}, "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			if r.Path == "" {
				r.Path = "/api/orders"
			}
			if r.Method == "" {
				r.Method = "GET"
			}
			if r.Header == nil {
				r.Header = req("GET", "/").Header
			}
			p := mustCompile(t, tt.src, KindRule)
			ok, err := p.Eval(&Input{Identity: alice, Request: r, Time: workday})
			got := "false"
			switch {
			case err != nil:
				got = err.Error()
				if strings.Contains(got, tt.want) && tt.want != "true" && tt.want != "false" {
					return
				}
			case ok:
				got = "true"
			}
			if got != tt.want {
				t.Errorf("%s = %s, want %s", tt.src, got, tt.want)
			}
		})
	}
}

// TestHeaderLookupExact compares the in-place lookup with the lower-case
// map it stands for, name by name, over headers with canonical keys (and
// one that is not a token, which net/http would refuse).
func TestHeaderLookupExact(t *testing.T) {
	headers := []http.Header{
		{"X-Env": {"prod"}, "X-Dup": {"a", "b"}, "Content-Type": {"text/plain"}, "X-Custom_name": {"u"}, "X-1": {"one"}},
		{"X A": {"space"}, "X-Env": {"prod"}},
		{},
	}
	names := []string{"x-env", "X-Env", "x-dup", "content-type", "x-custom_name", "x-1", "x a", "X A", "x-nope", "", "é", "x-env ", strings.Repeat("b", 129)}
	for i, h := range headers {
		for _, name := range names {
			fast := &headerMap{h: h}
			slow := (&headerMap{h: h}).materialize()
			gv, gok := fast.Find(types.String(name))
			wv, wok := slow.Find(types.String(name))
			if gok != wok || gok && gv.Equal(wv) != types.True {
				t.Errorf("headers %d, name %q: Find = %v, %v; the lower-case map has %v, %v", i, name, gv, gok, wv, wok)
			}
			if got, want := fast.Contains(types.String(name)), slow.Contains(types.String(name)); got != want {
				t.Errorf("headers %d, name %q: Contains = %v, want %v", i, name, got, want)
			}
		}
		// A key that is not a string goes to the map, which refuses it
		// the same way.
		gv, gok := (&headerMap{h: h}).Find(types.Int(1))
		wv, wok := (&headerMap{h: h}).materialize().Find(types.Int(1))
		if gok != wok || (gv == nil) != (wv == nil) {
			t.Errorf("headers %d, int key: Find = %v, %v; want %v, %v", i, gv, gok, wv, wok)
		}
	}
	// Every canonical key is found under its lower-case name.
	for _, k := range []string{"X-Env", "Content-Type", "X-Forwarded-For", "Www-Authenticate", "X-Custom_name", "Dnt", "X-1-2"} {
		if k != http.CanonicalHeaderKey(k) {
			t.Fatalf("%q is not canonical", k)
		}
		m := &headerMap{h: http.Header{k: {"v"}}}
		if v, ok := m.Find(types.String(strings.ToLower(k))); !ok || v != types.String("v") {
			t.Errorf("%q not found under %q", k, strings.ToLower(k))
		}
	}
}

// TestFieldVariables: every field of identity and request is served by
// the activation under its variable name, with the value the object's
// field getter gives; and an expression reads through the variable.
func TestFieldVariables(t *testing.T) {
	act := new(activation)
	act.reset(&Input{Identity: alice, Request: req("GET", "/a/b"), Time: workday})
	for prefix, obj := range map[string]ref.Val{"identity": &act.ident, "request": &act.req} {
		tn := identityTypeName
		if prefix == "request" {
			tn = requestTypeName
		}
		e, err := envs()
		if err != nil {
			t.Fatal(err)
		}
		for name, f := range e.prov.objects[tn] {
			v, ok := act.ResolveName(prefix + "." + name)
			if !ok || v == nil {
				t.Errorf("%s.%s is not served", prefix, name)
				continue
			}
			if got := f.get(obj); got.Equal(v.(ref.Val)) != types.True {
				t.Errorf("%s.%s = %v as a variable, %v as a field", prefix, name, v, got)
			}
		}
	}
	if _, ok := act.ResolveName("identity.nope"); ok {
		t.Error("an unknown field resolved")
	}
	if _, ok := act.ResolveName("request.nope"); ok {
		t.Error("an unknown field resolved")
	}
	// The checker turns the select into a reference to the variable.
	e, _ := envs()
	a, iss := e.rule.Compile(`identity.email == "alice@example.com"`)
	if iss.Err() != nil {
		t.Fatal(iss.Err())
	}
	found := ast.MatchDescendants(ast.NavigateAST(a.NativeRep()), func(x ast.NavigableExpr) bool {
		return x.Kind() == ast.IdentKind && x.AsIdent() == "identity.email"
	})
	if len(found) != 1 {
		t.Errorf("identity.email was not checked as the variable identity.email")
	}
}
