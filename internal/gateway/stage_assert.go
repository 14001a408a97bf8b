package gateway

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/http/httpguts"

	"github.com/edgegate/edgegate/internal/assert"
	"github.com/edgegate/edgegate/internal/audit"
	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/httperr"
	"github.com/edgegate/edgegate/internal/hygiene"
	"github.com/edgegate/edgegate/internal/identity"
	"github.com/edgegate/edgegate/internal/keys"
	"github.com/edgegate/edgegate/internal/route"
)

// jwksPath is where the gateway publishes the keys origins verify
// assertions with.
const jwksPath = wellKnownPrefix + "jwks.json"

// SessionKeyPurpose is the key ring purpose of session-cookie keys.
const SessionKeyPurpose = "session"

// identityHeaders are the plain identity headers the gateway may set; any
// client copy is always removed.
var identityHeaders = [...]string{"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Groups"}

// keysState is the gateway-lifetime key ring (keys rotate on their own
// schedule, across reloads).
type keysState struct {
	ring *keys.Ring
	// cfg is the keys section the ring was opened with: where the
	// keystore and the master key are cannot change without a restart.
	cfg config.Keys

	// Ring events seen before the audit trail is up wait in pending.
	mu      sync.Mutex
	live    bool
	pending []keys.Event
}

func (g *Gateway) initKeys(cfg *config.Config) error {
	ks := &keysState{cfg: cfg.Keys}
	kc := cfg.Keys
	opts := keys.Options{
		Create:               true,
		Algorithm:            keys.Algorithm(kc.Algorithm),
		Period:               kc.Rotation,
		RetireAfter:          kc.RetireAfter,
		SymmetricRetireAfter: kc.SessionRetireAfter,
		Symmetric:            []string{SessionKeyPurpose},
		Logger:               g.log,
		OnEvent:              func(e keys.Event) { g.keyEvent(ks, e) },
		OnError:              func(error) { g.metrics.Keys.KeystoreErrors.Inc() },
	}
	if kc.InMemory {
		g.log.Warn("no keys section: signing and session keys live in memory and change at every start; configure keys for production")
	} else {
		mk, err := keys.LoadMasterKey(kc.MasterKeyEnv, kc.MasterKeyFile, os.Getenv)
		if err != nil {
			return fmt.Errorf("key ring (keystore %s): %w", kc.Keystore, err)
		}
		opts.Path, opts.MasterKey = kc.Keystore, mk
	}
	ring, err := keys.Open(opts)
	if err != nil {
		return fmt.Errorf("key ring: %w", err)
	}
	ks.ring = ring
	ring.Start()
	g.keys = ks
	g.metrics.Keys.SetSigningKeySource(func() time.Time {
		if k, err := ring.Signer(); err == nil {
			return k.SignsFrom
		}
		return time.Time{}
	})
	return nil
}

func (g *Gateway) closeKeys() {
	if g.keys != nil && g.keys.ring != nil {
		g.keys.ring.Close()
	}
}

// KeyRing returns the gateway's key ring: the audit trail signs with it
// (SignJWS) and sessions seal cookies with ring.Symmetric("session").
func (g *Gateway) KeyRing() *keys.Ring {
	if g.keys == nil {
		return nil
	}
	return g.keys.ring
}

// keyEvent counts a ring change and records it in the audit trail (key IDs
// only). Events from before the trail is up are held until compileAssert.
func (g *Gateway) keyEvent(ks *keysState, e keys.Event) {
	g.metrics.Keys.KeyEvents.WithLabelValues(e.Purpose, e.Action).Inc()
	ks.mu.Lock()
	if !ks.live {
		ks.pending = append(ks.pending, e)
		ks.mu.Unlock()
		return
	}
	ks.mu.Unlock()
	g.recordKeyEvent(e)
}

func (g *Gateway) recordKeyEvent(e keys.Event) {
	detail := map[string]string{"action": e.Action, "purpose": e.Purpose, "kid": e.KID, "alg": string(e.Alg)}
	if e.Previous != "" {
		detail["previous_kid"] = e.Previous
	}
	_ = g.record(context.Background(), audit.Event{Time: e.Time, Kind: audit.KindKeyRotation, Reason: e.Reason,
		Rule: "keys." + e.Purpose, Detail: detail})
}

// assertStage is the compiled assertion configuration of one snapshot.
type assertStage struct {
	cfg    config.Assertion
	minter *assert.Minter
	// maxAge is the JWKS Cache-Control max-age.
	maxAge string
	// Counters by result, looked up once.
	signed, reused, failed prometheus.Counter
}

func compileAssert(cfg *config.Config, prev *Snapshot, g *Gateway) (*assertStage, error) {
	ks := g.keys
	old := ks.cfg
	if cfg.Keys.InMemory != old.InMemory || cfg.Keys.Keystore != old.Keystore || cfg.Keys.MasterKeyEnv != old.MasterKeyEnv || cfg.Keys.MasterKeyFile != old.MasterKeyFile {
		return nil, fmt.Errorf("keys: keystore or master key source changed: %w", ErrRestartRequired)
	}
	kc := cfg.Keys
	if err := ks.ring.Configure(keys.Algorithm(kc.Algorithm), kc.Rotation, kc.RetireAfter, kc.SessionRetireAfter); err != nil {
		return nil, err
	}
	st := &assertStage{cfg: cfg.Assertion,
		signed: g.metrics.Keys.Assertions.WithLabelValues("signed"),
		reused: g.metrics.Keys.Assertions.WithLabelValues("reused"),
		failed: g.metrics.Keys.Assertions.WithLabelValues("error"),
	}
	maxAge := min(kc.Rotation/4, time.Hour)
	st.maxAge = "public, max-age=" + strconv.Itoa(max(1, int(maxAge/time.Second)))
	if prev != nil && prev.assert != nil && prev.assert.cfg == cfg.Assertion {
		// Same issuer and lifetime: keep the reuse cache.
		st.minter = prev.assert.minter
	} else {
		m, err := assert.New(ks.ring, assert.Options{Issuer: cfg.Assertion.Issuer, TTL: cfg.Assertion.TTL, PerRequest: cfg.Assertion.RequestIDClaim})
		if err != nil {
			return nil, err
		}
		st.minter = m
	}
	if prev != nil {
		// A reload also picks up `edgegate keys rotate` at once.
		if err := ks.ring.Refresh(); err != nil {
			g.log.Error("key ring refresh on reload failed", "err", err)
		}
	}
	ks.mu.Lock()
	pending := ks.pending
	ks.pending, ks.live = nil, true
	ks.mu.Unlock()
	for _, e := range pending {
		g.recordKeyEvent(e)
	}
	return st, nil
}

// mintAssertion signs (or reuses) the identity assertion for an
// authenticated request before anything is forwarded, so a failure to sign
// refuses the request (503) instead of sending it on unsigned.
func (g *Gateway) mintAssertion(snap *Snapshot, rt *route.Route, id *identity.Identity, st *reqState) error {
	as := snap.assert
	ra := rt.Config.Assertion
	if ra.Disabled || ra.Audience == "" || !id.Authenticated() {
		return nil
	}
	tok, reused, err := as.minter.Mint(id, ra.Audience, st.id)
	if err != nil {
		as.failed.Inc()
		return httperr.New(http.StatusServiceUnavailable, "assertion.unavailable",
			"the gateway cannot sign the identity assertion right now", err)
	}
	if reused {
		as.reused.Inc()
	} else {
		as.signed.Inc()
	}
	st.assertion = tok
	return nil
}

// assertIdentity adds the signed identity assertion (and, if configured,
// plain identity headers) to the outbound header h, after removing every
// copy of those headers that is already there.
func (g *Gateway) assertIdentity(h http.Header, snap *Snapshot, rt *route.Route, id *identity.Identity, st *reqState) {
	as := snap.assert
	// Hygiene stripped the client's copies before any stage ran; this pass
	// catches what a later stage (route request_headers, a script) put
	// back, in any spelling a backend would fold into the same name
	// (X.My.Assertion, x-forwarded-user).
	delete(h, as.cfg.Header)
	for _, n := range identityHeaders {
		delete(h, n)
	}
	for k := range h {
		if hygiene.SameHeaderName(k, as.cfg.Header) {
			delete(h, k)
			continue
		}
		for _, n := range identityHeaders {
			if hygiene.SameHeaderName(k, n) {
				delete(h, k)
				break
			}
		}
	}
	tok := st.assertion
	if tok == "" {
		return
	}
	st.assertVal[0] = tok
	h[as.cfg.Header] = st.assertVal[0:1:1] // in the request state: no allocation
	if as.cfg.ForwardIdentityHeaders {
		setPlain(h, "X-Forwarded-User", id.Subject)
		setPlain(h, "X-Forwarded-Email", id.Email)
		if len(id.Groups) > 0 {
			setPlain(h, "X-Forwarded-Groups", strings.Join(id.Groups, ","))
		}
	}
}

// setPlain sets a plain identity header unless the value is empty or could
// not be sent safely (control characters).
func setPlain(h http.Header, name, value string) {
	if value != "" && httpguts.ValidHeaderFieldValue(value) {
		h[name] = []string{value}
	}
}

// serveWellKnown answers /.well-known/edgegate/* (the JWKS origins verify
// assertions with). handled is false for paths it does not own.
func (g *Gateway) serveWellKnown(w http.ResponseWriter, r *http.Request, snap *Snapshot, path string, st *reqState) (handled bool, err error) {
	if path != jwksPath {
		return false, nil
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		he := httperr.New(http.StatusMethodNotAllowed, "edgegate.method", "use GET", nil)
		he.Header = http.Header{"Allow": {"GET, HEAD"}}
		return true, he
	}
	body, etag := g.keys.ring.JWKS()
	hd := w.Header()
	hd.Set("Cache-Control", snap.assert.maxAge)
	hd.Set("ETag", etag)
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("X-Content-Type-Options", "nosniff")
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return true, nil
	}
	hd.Set("Content-Type", "application/jwk-set+json")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
	return true, nil
}

// etagMatch reports whether an If-None-Match list names etag (weak
// comparison, as RFC 9110 asks for If-None-Match).
func etagMatch(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
