package accesslog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// schemaKeys is the order Append writes the keys in; the order is part of
// what makes lines easy to scan by eye, so it is pinned here.
var schemaKeys = []string{
	"time", "request_id", "client_ip", "proto", "host", "method", "path", "route", "pool", "origin",
	"attempts", "status", "bytes_in", "bytes_out", "duration_ms", "cache_status", "error", "user_agent",
	"subject", "auth_method", "hygiene_ms", "route_ms", "authn_ms", "policy_ms", "origin_ms",
	"script_status", "trace_id", "script_ms",
}

// decodeLine checks that b is exactly one JSON object followed by one
// newline, with no key twice, and returns its keys in order and its values
// (numbers as json.Number so int64 values survive).
func decodeLine(t testing.TB, b []byte) ([]string, map[string]any) {
	t.Helper()
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Fatalf("line does not end in a newline: %q", b)
	}
	if n := bytes.Count(b, []byte{'\n'}); n != 1 {
		t.Fatalf("line holds %d newlines, want 1: %q", n, b)
	}
	if !json.Valid(b) {
		t.Fatalf("not valid JSON: %q", b)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("want an object, got %v %v in %q", tok, err, b)
	}
	var keys []string
	vals := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("reading key: %v in %q", err, b)
		}
		k := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("reading value of %q: %v in %q", k, err, b)
		}
		if _, dup := vals[k]; dup {
			t.Fatalf("key %q appears twice in %q", k, b)
		}
		keys = append(keys, k)
		vals[k] = v
	}
	if _, err := dec.Token(); err != nil {
		t.Fatalf("closing the object: %v", err)
	}
	return keys, vals
}

// jsonString is what a string reads back as from JSON: encoding/json (like
// Append) turns each invalid UTF-8 byte into U+FFFD.
func jsonString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// checkRoundTrip asserts every field of rec reads back from line.
func checkRoundTrip(t testing.TB, rec *Record, line []byte) {
	t.Helper()
	keys, v := decodeLine(t, line)
	if !slices.Equal(keys, schemaKeys) {
		t.Fatalf("keys (-want +got):\n%s", cmp.Diff(schemaKeys, keys))
	}
	strs := map[string]string{
		"request_id": rec.RequestID, "client_ip": rec.ClientIP, "proto": rec.Proto, "host": rec.Host,
		"method": rec.Method, "path": rec.Path, "route": rec.Route, "pool": rec.Pool, "origin": rec.Origin,
		"cache_status": rec.CacheStatus, "error": rec.Error, "user_agent": rec.UserAgent,
		"subject": rec.Subject, "auth_method": rec.AuthMethod, "script_status": rec.ScriptStatus, "trace_id": rec.TraceID,
	}
	for k, want := range strs {
		got, ok := v[k].(string)
		if !ok {
			t.Errorf("%s: got %T, want a string", k, v[k])
			continue
		}
		if want = jsonString(want); got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}
	ints := map[string]int64{
		"attempts": int64(rec.Attempts), "status": int64(rec.Status), "bytes_in": rec.BytesIn, "bytes_out": rec.BytesOut,
	}
	for k, want := range ints {
		n, ok := v[k].(json.Number)
		if !ok {
			t.Errorf("%s: got %T, want a number", k, v[k])
			continue
		}
		if got, err := n.Int64(); err != nil || got != want {
			t.Errorf("%s: got %s (%v), want %d", k, n, err, want)
		}
	}
	// duration_ms is milliseconds with microsecond resolution: three
	// decimals, truncated (not rounded) to whole microseconds.
	wantMS, _ := strconv.ParseFloat(strconv.FormatFloat(float64(rec.Duration.Microseconds())/1000, 'f', 3, 64), 64)
	if n, ok := v["duration_ms"].(json.Number); !ok {
		t.Errorf("duration_ms: got %T, want a number", v["duration_ms"])
	} else if got, err := n.Float64(); err != nil || got != wantMS {
		t.Errorf("duration_ms: got %s (%v), want %v", n, err, wantMS)
	}
	// Stage times are milliseconds with three decimals.
	floats := map[string]float64{
		"hygiene_ms": rec.HygieneMS, "route_ms": rec.RouteMS, "authn_ms": rec.AuthnMS,
		"policy_ms": rec.PolicyMS, "origin_ms": rec.OriginMS, "script_ms": rec.ScriptMS,
	}
	for k, f := range floats {
		want, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 3, 64), 64)
		if n, ok := v[k].(json.Number); !ok {
			t.Errorf("%s: got %T, want a number", k, v[k])
		} else if got, err := n.Float64(); err != nil || got != want {
			t.Errorf("%s: got %s (%v), want %v", k, n, err, want)
		}
	}
	ts, _ := v["time"].(string)
	if got, err := time.Parse(time.RFC3339Nano, ts); err != nil || !got.Equal(rec.Time) {
		t.Errorf("time: got %q (%v), want %v", ts, err, rec.Time)
	} else if !strings.HasSuffix(ts, "Z") {
		t.Errorf("time %q is not in UTC", ts)
	}
}

func sampleRecord() Record {
	return Record{
		Time:      time.Date(2025, 3, 4, 5, 6, 7, 891234567, time.FixedZone("CET", 3600)),
		RequestID: "01J8Z6Q4YV3X", ClientIP: "203.0.113.9", Proto: "HTTP/2.0", Host: "api.example.com",
		Method: "POST", Path: "/v1/users/42", Route: "api", Pool: "app", Origin: "10.0.0.5:9000",
		Attempts: 2, Status: 201, BytesIn: 1234, BytesOut: 56789, Duration: 12345678 * time.Nanosecond,
		CacheStatus: "miss", Error: "", UserAgent: "curl/8.5.0",
		Subject: "alice", AuthMethod: "bearer", HygieneMS: 0.002, RouteMS: 0.001, AuthnMS: 0.004, PolicyMS: 0.001,
		OriginMS: 12.2, ScriptStatus: "ok", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", ScriptMS: 0.35,
	}
}

func TestAppend(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Record)
	}{
		{"plain", func(*Record) {}},
		{"zero record", func(r *Record) { *r = Record{} }},
		{"quotes and backslashes", func(r *Record) {
			r.UserAgent = `Mozilla "quoted" \ back\slash \"`
			r.Path = `/a"b\c`
		}},
		{"control characters", func(r *Record) {
			r.UserAgent = "tab\tnewline\ncr\rnul\x00bell\x07esc\x1bdel\x7f"
			r.Host = "\n{\"forged\":true}"
		}},
		{"non-ASCII", func(r *Record) {
			r.Path = "/café/日本語/😀"
			r.UserAgent = "line\u2028separator\u2029para"
		}},
		{"HTML characters", func(r *Record) {
			r.UserAgent = `<script>alert("x")</script> & more`
			r.Path = "/a<b>&c"
		}},
		{"invalid UTF-8", func(r *Record) { r.UserAgent = "bad \xff\xfe bytes \xc3" }},
		{"extreme numbers", func(r *Record) {
			r.Attempts, r.Status = -1, 999
			r.BytesIn, r.BytesOut = -1<<63, 1<<63-1
			r.Duration = 1<<63 - 1
		}},
		{"sub-microsecond duration", func(r *Record) { r.Duration = 999 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := sampleRecord()
			tc.edit(&rec)
			prefix := []byte("previous line\n")
			out := Append(bytes.Clone(prefix), &rec)
			if !bytes.HasPrefix(out, prefix) {
				t.Fatalf("Append changed what was already in the buffer: %q", out)
			}
			line := out[len(prefix):]
			checkRoundTrip(t, &rec, line)
			// The line is safe to paste into HTML log viewers.
			if i := bytes.IndexAny(line, "<>&"); i >= 0 {
				t.Errorf("raw %q in %q", line[i], line)
			}
		})
	}
}

func TestAppendExample(t *testing.T) {
	rec := sampleRecord()
	got := string(Append(nil, &rec))
	want := `{"time":"2025-03-04T04:06:07.891234567Z","request_id":"01J8Z6Q4YV3X","client_ip":"203.0.113.9",` +
		`"proto":"HTTP/2.0","host":"api.example.com","method":"POST","path":"/v1/users/42","route":"api",` +
		`"pool":"app","origin":"10.0.0.5:9000","attempts":2,"status":201,"bytes_in":1234,"bytes_out":56789,` +
		`"duration_ms":12.345,"cache_status":"miss","error":"","user_agent":"curl/8.5.0","subject":"alice",` +
		`"auth_method":"bearer","hygiene_ms":0.002,"route_ms":0.001,"authn_ms":0.004,"policy_ms":0.001,` +
		`"origin_ms":12.200,"script_status":"ok","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","script_ms":0.350}` + "\n"
	if got != want {
		t.Errorf("Append:\n got %s\nwant %s", got, want)
	}
}

func FuzzAppend(f *testing.F) {
	f.Add("req-1", "/path", "curl/8", int64(200), int64(1500))
	f.Add(`"\`, "\x00\n\r\t", "<>&", int64(-1), int64(-1))
	f.Add("\xff\xfe", "日本\u2028", "\x7f\xc3", int64(1<<62), int64(1))
	f.Fuzz(func(t *testing.T, a, b, c string, n, d int64) {
		rec := Record{
			Time:      time.Unix(0, d).UTC(),
			RequestID: a, ClientIP: b, Proto: c, Host: a + b, Method: b + c, Path: c + a,
			Route: a, Pool: b, Origin: c, Attempts: int(n), Status: int(n >> 8),
			BytesIn: n, BytesOut: -n, Duration: time.Duration(d),
			CacheStatus: c, Error: b, UserAgent: a + c,
		}
		line := Append(nil, &rec)
		checkRoundTrip(t, &rec, line)
		if i := bytes.IndexAny(line, "<>&"); i >= 0 {
			t.Errorf("raw %q in %q", line[i], line)
		}
	})
}

func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name string
		edit func(*Record)
	}{
		{"ascii", func(*Record) {}},
		{"escaped user agent", func(r *Record) { r.UserAgent = `Mozilla/5.0 "quoted" <x>` }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rec := sampleRecord()
			bc.edit(&rec)
			buf := make([]byte, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				buf = Append(buf[:0], &rec)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// syncBuffer is an io.Writer safe to read while the logger writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.buf.Bytes()))
	for sc.Scan() {
		_, v := decodeLine(t, append(sc.Bytes(), '\n'))
		out = append(out, v)
	}
	return out
}

// gate is a writer whose writes block until it is opened, so the logger's
// queue can be filled deterministically.
type gate struct {
	entered chan struct{} // receives once per Write that starts waiting
	open    chan struct{}
	syncBuffer
}

func newGate() *gate {
	return &gate{entered: make(chan struct{}, 1000), open: make(chan struct{})}
}

func (g *gate) Write(p []byte) (int, error) {
	g.entered <- struct{}{}
	<-g.open
	return g.syncBuffer.Write(p)
}

// waitOrFail fails the test when fn does not return within a generous bound:
// it guards against a deadlock, it does not measure speed.
func waitOrFail(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s blocked", what)
	}
}

func TestLoggerConcurrentOrder(t *testing.T) {
	const writers, each = 8, 200
	var out syncBuffer
	l := New(&out, writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				l.Log(Record{RequestID: fmt.Sprintf("%d-%d", w, i), Status: 200})
			}
		})
	}
	wg.Wait()
	l.Close()
	if d := l.Dropped(); d != 0 {
		t.Errorf("Dropped = %d with a queue large enough for every record", d)
	}
	next := make([]int, writers) // next expected index per writer
	lines := out.lines(t)
	for _, v := range lines {
		id, _ := v["request_id"].(string)
		ws, is, _ := strings.Cut(id, "-")
		w, err1 := strconv.Atoi(ws)
		i, err2 := strconv.Atoi(is)
		if err1 != nil || err2 != nil || w < 0 || w >= writers {
			t.Fatalf("unexpected request_id %q", id)
		}
		if i != next[w] {
			t.Fatalf("writer %d: got record %d, want %d (records lost or reordered)", w, i, next[w])
		}
		next[w]++
	}
	if len(lines) != writers*each {
		t.Errorf("got %d lines, want %d", len(lines), writers*each)
	}
}

func TestLoggerDropsWhenFull(t *testing.T) {
	const queue = 4
	g := newGate()
	l := New(g, queue)
	l.Log(Record{RequestID: "r0"})
	// The writer goroutine has taken r0 off the queue and is stuck writing
	// it: the queue is empty and nothing drains it.
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the logger never wrote the first record")
	}
	waitOrFail(t, "Log with a full queue", func() {
		for i := 1; i <= queue+3; i++ {
			l.Log(Record{RequestID: fmt.Sprintf("r%d", i)})
		}
	})
	if d := l.Dropped(); d != 3 {
		t.Errorf("Dropped = %d, want 3", d)
	}
	close(g.open)
	l.Close()
	var got []string
	for _, v := range g.lines(t) {
		got = append(got, v["request_id"].(string))
	}
	want := []string{"r0", "r1", "r2", "r3", "r4"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("written records (-want +got):\n%s", diff)
	}
}

func TestLoggerClose(t *testing.T) {
	t.Run("flushes what is queued", func(t *testing.T) {
		g := newGate()
		l := New(g, 100)
		for i := range 50 {
			l.Log(Record{RequestID: strconv.Itoa(i)})
		}
		// Close must wait for the writer, which is still blocked.
		closed := make(chan struct{})
		go func() { l.Close(); close(closed) }()
		select {
		case <-closed:
			t.Fatal("Close returned while records were still unwritten")
		case <-g.entered:
		}
		close(g.open)
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not return")
		}
		lines := g.lines(t)
		if len(lines) != 50 {
			t.Fatalf("got %d lines after Close, want 50", len(lines))
		}
		for i, v := range lines {
			if v["request_id"] != strconv.Itoa(i) {
				t.Errorf("line %d: request_id %v", i, v["request_id"])
			}
		}
	})
	t.Run("log after close is dropped", func(t *testing.T) {
		var out syncBuffer
		l := New(&out, 10)
		l.Log(Record{RequestID: "before"})
		l.Close()
		l.Log(Record{RequestID: "after"}) // must not panic on the closed channel
		l.Close()                         // a second Close is harmless
		if d := l.Dropped(); d != 1 {
			t.Errorf("Dropped = %d, want 1", d)
		}
		if lines := out.lines(t); len(lines) != 1 || lines[0]["request_id"] != "before" {
			t.Errorf("lines = %v, want only the record logged before Close", lines)
		}
	})
	t.Run("log racing close", func(t *testing.T) {
		// Every record is either written or counted as dropped, never lost
		// and never a panic, whichever side of Close it lands on.
		const writers, each = 4, 500
		var out syncBuffer
		l := New(&out, 64)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range writers {
			wg.Go(func() {
				<-start
				for range each {
					l.Log(Record{Status: 200})
				}
			})
		}
		close(start)
		l.Close()
		wg.Wait()
		if got := int64(len(out.lines(t))) + l.Dropped(); got != writers*each {
			t.Errorf("written + dropped = %d, want %d", got, writers*each)
		}
	})
}

func TestLoggerWriteErrorsDoNotStopIt(t *testing.T) {
	l := New(failingWriter{}, 10)
	waitOrFail(t, "Log and Close with a failing writer", func() {
		for range 20 {
			l.Log(Record{})
		}
		l.Close()
	})
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }
