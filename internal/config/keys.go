package config

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Limits of the assertion and keys sections (their defaults are in
// defaults.go).
const (
	MaxAssertionTTL             = 5 * time.Minute
	MinAssertionTTL             = time.Second
	MinKeyRotation              = time.Minute
	AssertionClockSkewAllowance = time.Minute
)

// Assertion is the validated identity assertion configuration.
type Assertion struct {
	// Header is the canonical header name.
	Header string
	Issuer string
	TTL    time.Duration
	// ForwardIdentityHeaders also sends X-Forwarded-User/-Email/-Groups.
	ForwardIdentityHeaders bool
	// RequestIDClaim signs per request, with the request ID as "rid".
	RequestIDClaim bool
}

// RouteAssertion is a route's validated assertion settings.
type RouteAssertion struct {
	// Audience is the aud claim; "" (a route without a pool) sends none.
	Audience string
	Disabled bool
}

// Keys is the validated key ring configuration.
type Keys struct {
	// InMemory is true when the file has no keys section: the ring is not
	// stored and changes at every start.
	InMemory bool
	// Keystore is the resolved keystore path ("" when InMemory).
	Keystore string
	// Exactly one of MasterKeyEnv and MasterKeyFile (resolved) is set
	// unless InMemory.
	MasterKeyEnv  string
	MasterKeyFile string
	// Algorithm is "ES256" or "EdDSA".
	Algorithm          string
	Rotation           time.Duration
	RetireAfter        time.Duration
	SessionRetireAfter time.Duration
}

// forbiddenAssertionHeaders carry the client's own credentials or the
// gateway's request ID; the assertion may not take their place.
var forbiddenAssertionHeaders = map[string]bool{"Authorization": true, "Proxy-Authorization": true, "Cookie": true, "X-Request-Id": true}

func (v *validator) assertion(raw *RawConfig) Assertion {
	r := raw.Assertion
	a := Assertion{
		Header:                 DefaultAssertionHeader,
		Issuer:                 str(r.Issuer, DefaultAssertionIssuer),
		TTL:                    v.duration("assertion.ttl", r.TTL, DefaultAssertionTTL, positive),
		ForwardIdentityHeaders: boolOr(r.ForwardIdentityHeaders, DefaultForwardIdentityHeaders),
		RequestIDClaim:         boolOr(r.RequestIDClaim, DefaultRequestIDClaim),
	}
	if r.Header != nil {
		if canon, ok := v.editableHeader("assertion.header", *r.Header); ok {
			if forbiddenAssertionHeaders[canon] {
				v.errorf("assertion.header", "header %s carries the client's credentials or request ID; choose another name, such as %s", canon, DefaultAssertionHeader)
			}
			a.Header = canon
		}
	}
	if a.Issuer == "" || strings.ContainsFunc(a.Issuer, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		v.errorf("assertion.issuer", "must be a non-empty name or URL without control characters")
	}
	if r.TTL != nil && (a.TTL < MinAssertionTTL || a.TTL > MaxAssertionTTL) {
		v.errorf("assertion.ttl", "must be from %s to %s, got %q", shortDuration(MinAssertionTTL), shortDuration(MaxAssertionTTL), string(*r.TTL))
	}
	return a
}

func (v *validator) routeAssertion(rp string, r *RawRoute) RouteAssertion {
	ra := RouteAssertion{Disabled: DefaultRouteAssertionDisabled}
	if r.Pool != nil {
		ra.Audience = *r.Pool
	}
	if r.Assertion == nil {
		return ra
	}
	ra.Disabled = boolOr(r.Assertion.Disabled, DefaultRouteAssertionDisabled)
	if r.Assertion.Audience != nil {
		aud := *r.Assertion.Audience
		switch {
		case aud == "" || strings.ContainsFunc(aud, func(c rune) bool { return c < 0x20 || c == 0x7f }):
			v.errorf(rp+".assertion.audience", "must be a non-empty name or URL without control characters")
		case r.Pool == nil:
			v.errorf(rp+".assertion.audience", "needs pool: assertions go only to origins")
		}
		ra.Audience = aud
	}
	return ra
}

func (v *validator) keys(raw *RawConfig) Keys {
	r := raw.Keys
	k := Keys{
		Algorithm:          str(r.Algorithm, DefaultKeyAlgorithm),
		Rotation:           v.duration("keys.rotation", r.Rotation, DefaultKeyRotation, positive),
		RetireAfter:        v.duration("keys.retire_after", r.RetireAfter, DefaultKeyRetireAfter, positive),
		SessionRetireAfter: v.duration("keys.session_retire_after", r.SessionRetireAfter, DefaultSessionRetireAfter, positive),
	}
	if _, written := v.pos.paths["keys"]; !written {
		k.InMemory = true
		return k
	}
	switch k.Algorithm {
	case "ES256", "EdDSA":
	default:
		v.errorf("keys.algorithm", "unknown algorithm %q; use \"ES256\" or \"EdDSA\"", k.Algorithm)
	}
	if r.Rotation != nil && k.Rotation > 0 && k.Rotation < MinKeyRotation {
		v.errorf("keys.rotation", "must be at least %s, got %q", shortDuration(MinKeyRotation), string(*r.Rotation))
	}
	ttl := DefaultAssertionTTL
	if d, err := parseDuration(string(ptrOr(raw.Assertion.TTL, ""))); err == nil && raw.Assertion.TTL != nil {
		ttl = d
	}
	if need := ttl + AssertionClockSkewAllowance; k.RetireAfter > 0 && k.RetireAfter < need {
		v.errorf("keys.retire_after", "must be at least assertion.ttl plus 1m of clock skew (%s), got %s, or origins would refuse the last assertions of a retired key", shortDuration(need), shortDuration(k.RetireAfter))
	}

	store := str(r.Keystore, DefaultKeystore)
	if store == "" {
		v.errorf("keys.keystore", "must not be empty; give a file path")
	} else {
		k.Keystore = v.resolve(store)
		if v.pos.File != "" && samePath(k.Keystore, v.pos.File) {
			v.errorf("keys.keystore", "must not be the configuration file itself")
		} else if fi, err := statDir(filepath.Dir(k.Keystore)); err != nil {
			v.errorf("keys.keystore", "directory of %q: %v", k.Keystore, err)
		} else if !fi {
			v.errorf("keys.keystore", "%q is not a directory", filepath.Dir(k.Keystore))
		}
	}
	switch {
	case r.MasterKeyEnv != nil && r.MasterKeyFile != nil:
		v.errorf("keys.master_key_file", "give master_key_env or master_key_file, not both")
	case r.MasterKeyFile != nil:
		if *r.MasterKeyFile == "" {
			v.errorf("keys.master_key_file", "must not be empty; give a file path")
		} else {
			k.MasterKeyFile = v.resolve(*r.MasterKeyFile)
		}
	default:
		k.MasterKeyEnv = str(r.MasterKeyEnv, DefaultMasterKeyEnv)
		if !validEnvName(k.MasterKeyEnv) {
			v.errorf("keys.master_key_env", "%q is not an environment variable name (letters, digits and \"_\", not starting with a digit); the key itself never goes in the file", k.MasterKeyEnv)
		}
	}
	return k
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func validEnvName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

func statDir(dir string) (bool, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return false, pathErr(err)
	}
	return fi.IsDir(), nil
}

// shortDuration writes 5m rather than 5m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
