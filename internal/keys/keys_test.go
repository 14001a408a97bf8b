package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

var testMK = func() MasterKey {
	mk, err := ParseMasterKey([]byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))), "test")
	if err != nil {
		panic(err)
	}
	return mk
}()

// events collects ring events.
type events struct {
	mu sync.Mutex
	l  []Event
}

func (e *events) add(ev Event) { e.mu.Lock(); e.l = append(e.l, ev); e.mu.Unlock() }
func (e *events) find(action, purpose string) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Event
	for _, ev := range e.l {
		if ev.Action == action && ev.Purpose == purpose && (action != "activate" || ev.Previous != "") {
			out = append(out, ev)
		}
	}
	return out
}

func baseOpts(c *clock, ev *events) Options {
	o := Options{Period: time.Hour, RetireAfter: 10 * time.Minute, SymmetricRetireAfter: 3 * time.Hour, Now: c.now, Symmetric: []string{"session"}}
	if ev != nil {
		o.OnEvent = ev.add
	}
	return o
}

// jwksKeys decodes a JWK set into public keys by kid.
func jwksKeys(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for _, k := range set.Keys {
		if k["d"] != "" {
			t.Fatalf("private key material in the JWKS: %v", k)
		}
		x, _ := base64.RawURLEncoding.DecodeString(k["x"])
		switch k["kty"] {
		case "EC":
			y, _ := base64.RawURLEncoding.DecodeString(k["y"])
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
			if err != nil {
				t.Fatal(err)
			}
			out[k["kid"]] = pub
		case "OKP":
			out[k["kid"]] = ed25519.PublicKey(x)
		}
	}
	return out
}

// verifyJWS checks a compact JWS against a JWKS body and returns its kid.
func verifyJWS(t *testing.T, jwks []byte, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", tok)
	}
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var h struct{ Alg, Kid string }
	if err := json.Unmarshal(hb, &h); err != nil {
		t.Fatal(err)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	in := []byte(parts[0] + "." + parts[1])
	switch pub := jwksKeys(t, jwks)[h.Kid].(type) {
	case *ecdsa.PublicKey:
		sum := sha256.Sum256(in)
		if h.Alg != "ES256" || len(sig) != 64 || !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			t.Fatalf("ES256 signature of kid %s does not verify", h.Kid)
		}
	case ed25519.PublicKey:
		if h.Alg != "EdDSA" || !ed25519.Verify(pub, in, sig) {
			t.Fatalf("EdDSA signature of kid %s does not verify", h.Kid)
		}
	default:
		t.Fatalf("kid %s not in the JWKS", h.Kid)
	}
	return h.Kid
}

func TestScheduleInMemory(t *testing.T) {
	for _, alg := range []Algorithm{ES256, EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			c, ev := newClock(), &events{}
			o := baseOpts(c, ev)
			o.Algorithm = alg
			r, err := Open(o)
			if err != nil {
				t.Fatal(err)
			}
			t0 := c.now()
			a, err := r.Signer()
			if err != nil {
				t.Fatal(err)
			}
			jwks, _ := r.JWKS()
			pub := jwksKeys(t, jwks)
			if len(pub) != 2 {
				t.Fatalf("JWKS has %d keys, want the active one and the pre-published next one", len(pub))
			}
			var b Key
			for _, k := range r.Keys() {
				if k.Purpose == PurposeSigning && k.ID != a.ID {
					b = k
				}
			}
			if !b.SignsFrom.Equal(t0.Add(time.Hour)) || !b.NotBefore.Equal(t0) || b.State(t0) != StatePending {
				t.Fatalf("next key %+v: want published now, signing from t0+1h", b)
			}
			tok, err := r.SignJWS([]byte(`{"x":1}`))
			if err != nil {
				t.Fatal(err)
			}
			if kid := verifyJWS(t, jwks, tok); kid != a.ID {
				t.Fatalf("signed with %s, want %s", kid, a.ID)
			}

			// At the end of the period the next key signs, whether or not
			// maintenance ran.
			c.add(time.Hour)
			if k, _ := r.Signer(); k.ID != b.ID {
				t.Fatalf("signer after one period = %s, want %s", k.ID, b.ID)
			}
			if err := r.Refresh(); err != nil {
				t.Fatal(err)
			}
			act := ev.find("activate", PurposeSigning)
			if len(act) != 1 || act[0].KID != b.ID || act[0].Previous != a.ID || act[0].Reason != "scheduled" {
				t.Fatalf("activation events = %+v", act)
			}
			jwks, _ = r.JWKS()
			if pub := jwksKeys(t, jwks); len(pub) != 3 || pub[a.ID] == nil {
				t.Fatalf("after rotation the JWKS has %d keys (old one present: %v); want old (retired), current, next", len(pub), pub[a.ID] != nil)
			}
			// The old key stays until retire_after has passed.
			c.add(10*time.Minute - time.Second)
			_ = r.Refresh()
			jwks, _ = r.JWKS()
			if jwksKeys(t, jwks)[a.ID] == nil {
				t.Fatal("old key dropped before retire_after")
			}
			c.add(time.Second)
			_ = r.Refresh()
			jwks, _ = r.JWKS()
			if jwksKeys(t, jwks)[a.ID] != nil {
				t.Fatal("old key still published after retire_after")
			}
			if rm := ev.find("remove", PurposeSigning); len(rm) != 1 || rm[0].KID != a.ID {
				t.Fatalf("remove events = %+v", rm)
			}
		})
	}
}

func TestRecoveryAfterLongStop(t *testing.T) {
	dir := t.TempDir()
	c, ev := newClock(), &events{}
	o := baseOpts(c, ev)
	o.Path, o.MasterKey, o.Create = filepath.Join(dir, "k.json"), testMK, true
	r, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := r.Signer()
	c.add(100 * time.Hour)
	r2, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	k, err := r2.Signer()
	if err != nil || k.ID == old.ID {
		t.Fatalf("after a long stop: signer %v, %v; want a new key", k, err)
	}
	if p := ev.find("publish", PurposeSigning); p[len(p)-2].Reason != "recovery" {
		t.Fatalf("publish events = %+v, want a recovery key", p)
	}
}

func TestKeystorePersistsAndReopens(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.json")
	c := newClock()
	o := baseOpts(c, nil)
	o.Path, o.MasterKey, o.Create = path, testMK, true
	r, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("keystore mode %v, want 0600", fi.Mode().Perm())
	}
	for _, secret := range [][]byte{bytes.Repeat([]byte{7}, 32)} {
		if bytes.Contains(data, secret) || bytes.Contains(data, []byte(base64.StdEncoding.EncodeToString(secret))) {
			t.Fatal("master key found in the keystore")
		}
	}
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil || f["version"] != float64(1) {
		t.Fatalf("keystore is not versioned JSON: %v %v", err, f["version"])
	}
	sym := r.Symmetric("session")
	sid, skey := sym.Current()
	s1, _ := r.Signer()

	o.Create = false
	r2, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := r2.Signer()
	if s1.ID != s2.ID {
		t.Fatalf("reopened signer %s, want %s", s2.ID, s1.ID)
	}
	tok, _ := r2.SignJWS([]byte("{}"))
	jwks, _ := r.JWKS()
	verifyJWS(t, jwks, tok)
	id2, key2 := r2.Symmetric("session").Current()
	if id2 != sid || !bytes.Equal(key2, skey) || len(key2) != SymmetricKeyBytes {
		t.Fatal("session key changed across reopen")
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(after, data) {
		t.Error("reopening without changes rewrote the keystore")
	}
}

func TestRefuseToStart(t *testing.T) {
	good := func(t *testing.T) (string, Options) {
		dir := t.TempDir()
		o := baseOpts(newClock(), nil)
		o.Path, o.MasterKey, o.Create = filepath.Join(dir, "keys.json"), testMK, true
		if _, err := Open(o); err != nil {
			t.Fatal(err)
		}
		return o.Path, o
	}
	other, _ := ParseMasterKey([]byte("another master key that is long enough!!"), "environment variable EDGEGATE_MASTER_KEY")
	cases := []struct {
		name   string
		mutate func(t *testing.T, path string, o *Options)
		want   error
		msg    []string
	}{
		{"wrong master key", func(t *testing.T, path string, o *Options) { o.MasterKey = other }, ErrMasterKey,
			[]string{"environment variable EDGEGATE_MASTER_KEY", "keys.json"}},
		{"no master key", func(t *testing.T, path string, o *Options) { o.MasterKey = MasterKey{} }, ErrMasterKey, []string{"keys.json"}},
		{"truncated", func(t *testing.T, path string, o *Options) { cut(t, path, 0.5) }, ErrCorrupt, []string{"keys.json"}},
		{"empty file", func(t *testing.T, path string, o *Options) { os.WriteFile(path, nil, 0o600) }, ErrCorrupt, []string{"empty"}},
		{"sealed key flipped", func(t *testing.T, path string, o *Options) {
			edit(t, path, func(f map[string]any) {
				k := f["keys"].([]any)[0].(map[string]any)
				b, _ := base64.StdEncoding.DecodeString(k["sealed"].(string))
				b[len(b)-1] ^= 1
				k["sealed"] = base64.StdEncoding.EncodeToString(b)
			})
		}, ErrCorrupt, []string{"keys.json"}},
		{"schedule edited", func(t *testing.T, path string, o *Options) {
			edit(t, path, func(f map[string]any) {
				f["keys"].([]any)[0].(map[string]any)["retire_at"] = "2099-01-01T00:00:00Z"
			})
		}, ErrCorrupt, []string{"MAC"}},
		{"future version", func(t *testing.T, path string, o *Options) {
			edit(t, path, func(f map[string]any) { f["version"] = 2 })
		}, ErrCorrupt, []string{"version 2"}},
		{"missing without create", func(t *testing.T, path string, o *Options) {
			os.Remove(path)
			o.Create = false
		}, ErrNoKeystore, []string{"keys.json"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, o := good(t)
			tc.mutate(t, path, &o)
			before, _ := os.ReadFile(path)
			o.Create = o.Create && tc.want != ErrNoKeystore
			_, err := Open(o)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
			for _, m := range tc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Error("the keystore was changed by a failed Open")
			}
		})
	}
}

func cut(t *testing.T, path string, frac float64) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b[:int(float64(len(b))*frac)], 0o600); err != nil {
		t.Fatal(err)
	}
}

func edit(t *testing.T, path string, f func(map[string]any)) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, _ = json.Marshal(m)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRunningRingKeepsKeysWhenFileBreaks(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	var errs events
	o := baseOpts(c, nil)
	o.Path, o.MasterKey, o.Create = filepath.Join(dir, "keys.json"), testMK, true
	o.OnError = func(error) { errs.add(Event{Action: "err"}) }
	r, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	s1, _ := r.Signer()
	if err := os.WriteFile(o.Path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.add(time.Hour) // a rotation is due: a new key would be written
	_ = r.Refresh()
	if got, _ := os.ReadFile(o.Path); string(got) != "garbage" {
		t.Fatal("the ring wrote over a keystore it could not read")
	}
	if len(errs.find("err", "")) == 0 {
		t.Error("OnError not called")
	}
	s2, err := r.Signer()
	if err != nil || s2.ID == s1.ID {
		t.Fatalf("signing stopped or did not rotate in memory: %v, %v", s2, err)
	}
}

func TestManualRotateSeenByRunningRing(t *testing.T) {
	dir := t.TempDir()
	c, gwEvents := newClock(), &events{}
	o := baseOpts(c, gwEvents)
	o.Path, o.MasterKey, o.Create = filepath.Join(dir, "keys.json"), testMK, true
	gw, err := Open(o) // the running gateway
	if err != nil {
		t.Fatal(err)
	}
	before, _ := gw.Signer()
	oldSession, _ := gw.Symmetric("session").Current()
	jwksBefore, _ := gw.JWKS()

	c.add(10 * time.Minute)
	cli := o // edgegate keys rotate
	cli.OnEvent, cli.Create = nil, false
	r, err := Open(cli)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Rotate("suspected leak", false, PurposeSigning); !errors.Is(err, ErrTooSoon) {
		t.Fatalf("rotation onto a key published 10m ago (period 1h): err = %v, want ErrTooSoon", err)
	}
	evs, err := r.Rotate("suspected leak", true, PurposeSigning)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		t.Fatal("no events from Rotate")
	}
	after, _ := r.Signer()
	if after.ID == before.ID {
		t.Fatal("rotate did not change the signer")
	}
	if jwksKeys(t, jwksBefore)[after.ID] == nil {
		t.Fatal("the key made active by rotate was not published before it signed")
	}
	if got, _ := r.Symmetric("session").Current(); got != oldSession {
		t.Error("rotating signing keys rotated the session key too")
	}

	// The gateway picks the change up on its next tick.
	if err := gw.Refresh(); err != nil {
		t.Fatal(err)
	}
	if k, _ := gw.Signer(); k.ID != after.ID {
		t.Fatalf("gateway signs with %s, want %s", k.ID, after.ID)
	}
	act := gwEvents.find("activate", PurposeSigning)
	if len(act) != 1 || act[0].Reason != "manual: suspected leak" || act[0].Previous != before.ID {
		t.Fatalf("gateway activation events = %+v", act)
	}
	// The replaced key still verifies its assertions until retire.
	jwks, _ := gw.JWKS()
	if jwksKeys(t, jwks)[before.ID] == nil {
		t.Fatal("rotated-out key unpublished at once")
	}
	for _, k := range gw.Keys() {
		if k.ID == before.ID && !k.RetireAt.Equal(c.now().Add(10*time.Minute)) {
			t.Fatalf("rotated-out key retires at %v, want now+retire_after", k.RetireAt)
		}
	}
}

func TestSymmetricKeys(t *testing.T) {
	c := newClock()
	r, err := Open(baseOpts(c, nil))
	if err != nil {
		t.Fatal(err)
	}
	s := r.Symmetric("session")
	id1, k1 := s.Current()
	if id1 == "" || len(k1) != SymmetricKeyBytes {
		t.Fatalf("Current() = %q, %d bytes", id1, len(k1))
	}
	c.add(time.Hour)
	_ = r.Refresh()
	id2, _ := s.Current()
	if id2 == id1 {
		t.Fatal("session key did not rotate")
	}
	if got, ok := s.Key(id1); !ok || !bytes.Equal(got, k1) {
		t.Fatal("previous session key no longer opens cookies right after rotation")
	}
	c.add(3*time.Hour + time.Second)
	_ = r.Refresh()
	if _, ok := s.Key(id1); ok {
		t.Fatal("session key still accepted after session_retire_after")
	}
	if _, ok := s.Key("nope"); ok {
		t.Fatal("unknown id accepted")
	}
	// A signing kid is not a session key.
	sig, _ := r.Signer()
	if _, ok := s.Key(sig.ID); ok {
		t.Fatal("a signing key ID returned a session key")
	}
	// A purpose asked for later is created on demand.
	if id, key := r.Symmetric("csrf").Current(); id == "" || len(key) != SymmetricKeyBytes {
		t.Fatal("new purpose has no key")
	}
}

func TestStartAndClose(t *testing.T) {
	o := Options{Period: 200 * time.Millisecond, RetireAfter: 100 * time.Millisecond, Poll: 10 * time.Millisecond}
	ev := &events{}
	o.OnEvent = ev.add
	r, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	deadline := time.Now().Add(5 * time.Second)
	for len(ev.find("activate", PurposeSigning)) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	r.Close()
	if n := len(ev.find("activate", PurposeSigning)); n < 3 {
		t.Fatalf("%d activations in 5s with a 200ms period", n)
	}
	if _, err := r.Signer(); err != nil {
		t.Fatal(err)
	}
}

func TestParseMasterKey(t *testing.T) {
	raw32 := bytes.Repeat([]byte{0xab}, 32)
	cases := []struct {
		name string
		in   string
		want []byte // nil: derived (the text itself)
		err  bool
	}{
		{"std base64", base64.StdEncoding.EncodeToString(raw32) + "\n", raw32, false},
		{"url base64 unpadded", base64.RawURLEncoding.EncodeToString(raw32), raw32, false},
		{"passphrase", "correct horse battery staple, twice as long", nil, false},
		{"short", "hunter2", nil, true},
		{"base64 of 16 bytes is short", base64.StdEncoding.EncodeToString(raw32[:16]), nil, true},
		{"empty", "  \n", nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mk, err := ParseMasterKey([]byte(tc.in), "file /x")
			if tc.err {
				if !errors.Is(err, ErrMasterKey) || !strings.Contains(err.Error(), "file /x") {
					t.Fatalf("err = %v, want ErrMasterKey naming the source", err)
				}
				if strings.Contains(err.Error(), strings.TrimSpace(tc.in)) && strings.TrimSpace(tc.in) != "" {
					t.Fatal("error reveals the key")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if want == nil {
				want = []byte(strings.TrimSpace(tc.in))
			}
			if !bytes.Equal(mk.secret, want) {
				t.Fatal("wrong key bytes")
			}
			if strings.Contains(mk.String(), tc.in) {
				t.Fatal("String reveals the key")
			}
		})
	}
}

func TestLoadMasterKey(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mk")
	os.WriteFile(file, []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))+"\n"), 0o600)
	env := map[string]string{"SET": "a passphrase of more than thirty-two chars"}
	getenv := func(k string) string { return env[k] }
	if _, err := LoadMasterKey("SET", "", getenv); err != nil {
		t.Fatal(err)
	}
	if mk, err := LoadMasterKey("", file, getenv); err != nil || mk.Source != "file "+file {
		t.Fatal(mk, err)
	}
	if _, err := LoadMasterKey("UNSET", "", getenv); !errors.Is(err, ErrMasterKey) || !strings.Contains(err.Error(), "environment variable UNSET is not set") {
		t.Fatalf("unset env: %v", err)
	}
	if _, err := LoadMasterKey("", filepath.Join(dir, "none"), getenv); !errors.Is(err, ErrMasterKey) || !strings.Contains(err.Error(), "none") {
		t.Fatalf("missing file: %v", err)
	}
}

func FuzzParseMasterKey(f *testing.F) {
	f.Add([]byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))))
	f.Add([]byte("short"))
	f.Add([]byte("a passphrase of more than thirty-two chars"))
	f.Fuzz(func(t *testing.T, b []byte) {
		mk, err := ParseMasterKey(b, "fuzz")
		if err == nil && len(mk.secret) < 32 {
			t.Fatalf("accepted a %d-byte key", len(mk.secret))
		}
	})
}

// FuzzDecodeStore feeds arbitrary bytes (seeded with a real keystore) to
// the keystore reader: it must fail cleanly, never panic, and never accept
// a file the master key did not seal.
func FuzzDecodeStore(f *testing.F) {
	dir := f.TempDir()
	o := baseOpts(newClock(), nil)
	o.Path, o.MasterKey, o.Create = filepath.Join(dir, "k.json"), testMK, true
	if _, err := Open(o); err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(o.Path)
	f.Add(good)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":1,"salt":"AAAAAAAAAAAAAAAAAAAAAA==","check":"AA==","keys":[],"mac":"AA=="}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, keys, err := decodeStore("k.json", b, testMK)
		if err != nil {
			return
		}
		// Accepted: it must be the sealed original, key for key.
		if len(keys) == 0 {
			t.Fatal("accepted a keystore without keys")
		}
		for _, k := range keys {
			if k.priv == nil && k.sym == nil {
				t.Fatal("accepted a key without material")
			}
		}
	})
}
