package gateway

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/audit"
	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/keys"
)

// rotationRecords returns the keys.rotation records of the audit file that
// activate a signing key.
func rotationRecords(events []audit.Event) []audit.Event {
	var out []audit.Event
	for _, e := range events {
		if e.Kind == audit.KindKeyRotation && e.Detail["action"] == "activate" && e.Detail["purpose"] == keys.PurposeSigning {
			out = append(out, e)
		}
	}
	return out
}

// TestKeysRotateIsAudited rotates the signing key of a running gateway the
// way `edgegate keys rotate --reason ... --force` does (a second ring on the
// same keystore, opened as the command opens it) and reads the audit
// trail back: the activation is recorded with the operator's reason, the
// new kid and the kid it took over from, never key material.
func TestKeysRotateIsAudited(t *testing.T) {
	origin := newEchoOrigin(t, "a")
	dir := t.TempDir()
	store := filepath.Join(dir, "edgegate-keys.json")
	auditFile := filepath.Join(dir, "audit.jsonl")
	master := bytes.Repeat([]byte{7}, 32)
	t.Setenv("EG_TEST_MASTER_KEY", base64.StdEncoding.EncodeToString(master))
	tail := fmt.Sprintf("keys: {keystore: %q, master_key_env: EG_TEST_MASTER_KEY}\naudit:\n  sinks: [{type: file, path: %q}]\n", store, auditFile)
	tg := startGateway(t, basicConfig(origin.URL, tail))
	old, err := tg.g.KeyRing().Signer()
	if err != nil {
		t.Fatal(err)
	}

	cfg, err := config.Load(tg.file)
	if err != nil {
		t.Fatal(err)
	}
	kc := cfg.Keys
	mk, err := keys.LoadMasterKey(kc.MasterKeyEnv, kc.MasterKeyFile, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := keys.Open(keys.Options{Path: kc.Keystore, MasterKey: mk, Algorithm: keys.Algorithm(kc.Algorithm),
		Period: kc.Rotation, RetireAfter: kc.RetireAfter, SymmetricRetireAfter: kc.SessionRetireAfter})
	if err != nil {
		t.Fatal(err)
	}
	// The next key was published a moment ago: without force the
	// command refuses, since JWKS caches cannot know it yet.
	if _, err := cli.Rotate("key exposed in a log", false, keys.PurposeSigning); !errors.Is(err, keys.ErrTooSoon) {
		t.Fatalf("rotate without force: %v, want ErrTooSoon", err)
	}
	events, err := cli.Rotate("key exposed in a log", true, keys.PurposeSigning)
	if err != nil {
		t.Fatal(err)
	}
	var newKID string
	for _, e := range events {
		if e.Action == "activate" {
			newKID = e.KID
		}
	}
	if newKID == "" || newKID == old.ID {
		t.Fatalf("rotate events %+v: no new signing key", events)
	}

	// The running gateway takes the keystore change on its next reload
	// (or maintenance tick, every 30s at most).
	reloaded := basicConfig(origin.URL, "  - name: extra\n    match: {path_prefix: /extra}\n    pool: app\n"+tail)
	if err := tg.apply(reloaded); err != nil {
		t.Fatal(err)
	}
	if k, err := tg.g.KeyRing().Signer(); err != nil || k.ID != newKID {
		t.Fatalf("after reload the gateway signs with %v (%v), want %s", k, err, newKID)
	}
	tg.stop()

	// The first key's "initial" activation, then the manual one.
	recs := rotationRecords(readAudit(t, auditFile, 1))
	if len(recs) != 2 || recs[0].Reason != "initial" || recs[0].Detail["kid"] != old.ID {
		t.Fatalf("signing activations recorded: %+v; want the initial one and the manual one", recs)
	}
	r := recs[1]
	if r.Reason != "manual: key exposed in a log" || r.Detail["kid"] != newKID || r.Detail["previous_kid"] != old.ID ||
		r.Rule != "keys.signing" || r.Detail["alg"] != "ES256" || r.Time.IsZero() {
		t.Fatalf("rotation record %+v; want reason %q, kid %s, previous_kid %s", r, "manual: key exposed in a log", newKID, old.ID)
	}
	data, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range [][]byte{master, []byte(base64.StdEncoding.EncodeToString(master)), []byte(`"d":`)} {
		if bytes.Contains(data, secret) {
			t.Fatalf("the audit file holds key material %q", secret)
		}
	}
}

// TestScheduledRotationIsAudited: rotation on the schedule alone (no one
// acting) is recorded too, each activation naming the key before it.
func TestScheduledRotationIsAudited(t *testing.T) {
	origin := newEchoOrigin(t, "a")
	auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
	tg := startGatewayWith(t, basicConfig(origin.URL, fmt.Sprintf("audit:\n  sinks: [{type: file, path: %q}]\n", auditFile)),
		func(c *config.Config) { c.Keys.Rotation = 200 * time.Millisecond; c.Keys.RetireAfter = time.Second })
	waitFor(t, func() bool { // the initial activation and two more
		return testCounter(t, tg.g.Metrics().Keys.KeyEvents.WithLabelValues(keys.PurposeSigning, "activate")) >= 3
	})
	tg.stop()
	recs := rotationRecords(readAudit(t, auditFile, 1))
	if len(recs) > 0 && recs[0].Reason == "initial" {
		recs = recs[1:] // the first key, activated at start
	}
	if len(recs) < 2 {
		t.Fatalf("%d scheduled activations recorded, want at least 2", len(recs))
	}
	scheduled := 0
	for i, r := range recs {
		// "recovery" only if the machine stalled past a whole period.
		if r.Reason == "scheduled" {
			scheduled++
		}
		if r.Reason != "scheduled" && r.Reason != "recovery" || r.Detail["kid"] == "" || r.Detail["previous_kid"] == "" || r.Detail["kid"] == r.Detail["previous_kid"] {
			t.Errorf("record %d: %+v", i, r)
		}
		if i > 0 && r.Detail["previous_kid"] != recs[i-1].Detail["kid"] {
			t.Errorf("record %d follows %s, the record before activated %s", i, r.Detail["previous_kid"], recs[i-1].Detail["kid"])
		}
	}
	if scheduled == 0 {
		t.Errorf("no activation recorded as scheduled: %+v", recs)
	}
}
