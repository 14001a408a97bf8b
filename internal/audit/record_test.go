package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// marshalRecord is the reference encoding: what encoding/json writes for r
// with the hash member cut, the canonical form encodeRecord must produce.
func marshalRecord(t testing.TB, r Record) []byte {
	t.Helper()
	r.Hash = ""
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	const tail = `,"hash":""}`
	if !bytes.HasSuffix(b, []byte(tail)) {
		t.Fatalf("unexpected encoding %s", b)
	}
	return append(b[:len(b)-len(tail)], '}')
}

func checkEncoding(t testing.TB, r Record) {
	t.Helper()
	want := marshalRecord(t, r)
	line, err := encodeRecord([]byte("prefix"), &r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(line, []byte("prefix")) || !bytes.HasSuffix(line, []byte("\n")) {
		t.Fatalf("encodeRecord did not append one line: %q", line)
	}
	line = line[len("prefix") : len(line)-1]
	canon, hash, ok := Canonical(line)
	if !ok {
		t.Fatalf("not a trail line: %s", line)
	}
	if !bytes.Equal(canon, want) {
		t.Fatalf("canonical bytes differ from encoding/json:\n got %s\nwant %s", canon, want)
	}
	if hash != r.Hash {
		t.Fatalf("line hash %s, r.Hash %s", hash, r.Hash)
	}
	if _, hashOK, err := ParseLine(line); err != nil || !hashOK {
		t.Fatalf("ParseLine: hashOK %v, err %v", hashOK, err)
	}
}

// TestEncodeRecordMatchesEncodingJSON checks the hand-written encoder
// against encoding/json on every field, omitted and set, and on strings
// that need escaping.
func TestEncodeRecordMatchesEncodingJSON(t *testing.T) {
	ts := time.Date(2026, 11, 27, 1, 2, 3, 456789000, time.UTC)
	tests := []struct {
		name string
		r    Record
	}{
		{"minimal", Record{Seq: 1, Event: Event{Time: ts, Kind: KindPolicyAllow}}},
		{"event", Record{Seq: 7, Prev: strings.Repeat("ab", 32), Event: event(3)}},
		{"every field", Record{Seq: 1 << 62, Prev: strings.Repeat("0", 64), File: 3, Event: Event{Time: ts, Kind: KindAdmin,
			RequestID: "r", Route: "a", ClientIP: "2001:db8::1", Method: "GET", Host: "h", Path: "/p", Subject: "s",
			Issuer: "i", Roles: []string{"a", "b"}, Decision: "deny", Reason: "x", Rule: "routes[1].deny[0]",
			Fingerprint: "f", Detail: map[string]string{"z": "1", "a": "2", "m": ""}},
			Head: "h", Count: 9, Signature: "sig", Sink: "siem", From: 1, To: 2, Dropped: 3}},
		{"escaping", Record{Seq: 2, Event: Event{Time: ts, Kind: "k\"\\", Path: "/a<b>&c\u2028\x00\x1f\x7f",
			Subject: "jörg \xff", Roles: []string{"", "<r>"}, Detail: map[string]string{"k\n": "v\t"}}}},
		{"empty roles and detail", Record{Seq: 3, Event: Event{Time: ts, Kind: KindGap, Roles: []string{}, Detail: map[string]string{}}}},
		{"zone and monotonic clock", Record{Seq: 4, Event: Event{Time: time.Now().In(time.FixedZone("x", -(3*3600 + 30*60))), Kind: KindAdmin}}},
		{"many detail keys", Record{Seq: 5, Event: Event{Time: ts, Kind: KindAdmin, Detail: map[string]string{
			"k1": "1", "k2": "2", "k3": "3", "k4": "4", "k5": "5", "k6": "6", "k7": "7", "k8": "8", "k9": "9", "k10": "10"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkEncoding(t, tt.r) })
	}
}

// TestEncodeRecordRejectsBadTime: a time RFC 3339 cannot express is an
// error, as with encoding/json, and buf is left as it was.
func TestEncodeRecordRejectsBadTime(t *testing.T) {
	r := Record{Seq: 1, Event: Event{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Kind: KindAdmin}}
	buf, err := encodeRecord([]byte("keep"), &r)
	if err == nil {
		t.Fatal("no error for year 10000")
	}
	if string(buf) != "keep" {
		t.Fatalf("buf changed to %q", buf)
	}
}

// FuzzEncodeRecord compares the encoder with encoding/json on arbitrary
// strings.
func FuzzEncodeRecord(f *testing.F) {
	f.Add("req-1", "/v1/items", "user", "reader", "key", "value", int64(0))
	f.Add("a\"b", "<script>", "\xff\xfe", "\u2028", "k\x00", "v\\", int64(1e18))
	f.Fuzz(func(t *testing.T, id, path, subject, role, dk, dv string, nanos int64) {
		r := Record{Seq: 1, Prev: strings.Repeat("c", 64), Event: Event{Time: time.Unix(0, nanos).UTC(), Kind: Kind(id),
			RequestID: id, Path: path, Subject: subject, Roles: []string{role, subject}, Detail: map[string]string{dk: dv, dv: dk}}}
		checkEncoding(t, r)
	})
}

// TestIndexFold checks the allocation-free case-insensitive search the
// redaction uses against strings.Index over a lowered copy.
func TestIndexFold(t *testing.T) {
	tests := []struct {
		s, pattern string
		want       int
	}{
		{"Authorization: BeArEr abc", "bearer ", 15},
		{"basic", "basic ", -1},
		{"xBASIC y", "basic ", 1},
		{"", "bearer ", -1},
		{"jörg Bearer x", "bearer ", 6},
		{"BEARERBEARER ", "bearer ", 6},
	}
	for _, tt := range tests {
		if got := indexFold(tt.s, tt.pattern); got != tt.want {
			t.Errorf("indexFold(%q, %q) = %d, want %d", tt.s, tt.pattern, got, tt.want)
		}
		if ascii := strings.ToLower(tt.s); len(ascii) == len(tt.s) {
			if want := strings.Index(ascii, tt.pattern); want != tt.want {
				t.Errorf("table error for %q: strings.Index gives %d", tt.s, want)
			}
		}
	}
}

// BenchmarkEncodeReference is BenchmarkEncode's work done with
// encoding/json (the encoder before issue #7's CPU work), for comparison.
func BenchmarkEncodeReference(b *testing.B) {
	e := event(1)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ev := e
		redactEvent(&ev)
		canon := marshalRecord(b, Record{Seq: uint64(i + 1), Prev: strings.Repeat("a", 64), Event: ev})
		_ = sha256.Sum256(canon)
	}
}
