package originproxy

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/edgegate/edgegate/pkg/verifier"
)

func TestSetIdentityReplacesClientHeaders(t *testing.T) {
	h := http.Header{
		"X-Edgegate-User":   {"root"},
		"x-edgegate-email":  {"evil@example.com"},
		"X_Edgegate_Roles":  {"admin"},
		"X.Edgegate.Groups": {"all"},
		"X-Edgegate-Other":  {"x"},
		"Accept":            {"*/*"},
	}
	setIdentity(h, &verifier.Identity{Subject: "u-1", Email: "ada@example.com", Groups: []string{"a", "b"}, Roles: []string{"dev"}, Method: "bearer", Name: "bad\r\nname"})
	want := http.Header{
		HeaderUser: {"u-1"}, HeaderEmail: {"ada@example.com"}, HeaderGroups: {"a,b"}, HeaderRoles: {"dev"}, HeaderMethod: {"bearer"},
		"Accept": {"*/*"},
	}
	if len(h) != len(want) {
		t.Fatalf("headers = %v, want %v", h, want)
	}
	for k, v := range want {
		if got := h[k]; len(got) != 1 || got[0] != v[0] {
			t.Fatalf("%s = %v, want %v", k, got, v)
		}
	}
	// No identity: nothing set, client copies still gone.
	h = http.Header{"X-Edgegate-User": {"root"}}
	setIdentity(h, nil)
	if len(h) != 0 {
		t.Fatalf("headers = %v", h)
	}
}

func TestNewChecksOptions(t *testing.T) {
	u, _ := url.Parse("ftp://x")
	for _, o := range []Options{{}, {Upstream: u}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}
