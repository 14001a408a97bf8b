package audit

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/metrics"
	"github.com/edgegate/edgegate/internal/testpeer"
	"github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// testKeys returns an ES256 signer and the JWKS that verifies it.
func testKeys(t testing.TB) (Signer, *jose.JSONWebKeySet) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewKeySigner(key, jose.ES256, "k1")
	if err != nil {
		t.Fatal(err)
	}
	return s, &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
}

// syncBuf lets a test read output that is still being written.
type syncBuf = testpeer.Buffer

func testLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func event(i int) Event {
	return Event{Kind: KindPolicyDeny, RequestID: "req-" + strconv.Itoa(i), Route: "api", ClientIP: "192.0.2.1",
		Method: "GET", Host: "api.example.com", Path: "/v1/items", Subject: "user-" + strconv.Itoa(i%7),
		Issuer: "https://idp.example.com", Roles: []string{"reader"}, Decision: "deny", Reason: "no_allow_rule",
		Rule: "routes[0].deny[0]", Fingerprint: "0123456789abcdef01234567"}
}

func mustOpen(t testing.TB, opts Options) *Trail {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(io.Discard)
	}
	tr, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func recordN(t testing.TB, tr *Trail, from, n, workers int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := from + w; i < from+n; i += workers {
				if err := tr.Record(context.Background(), event(i)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Record: %v", err)
	}
}

func verifyFiles(t *testing.T, paths []string, jwks *jose.JSONWebKeySet) *Report {
	t.Helper()
	rep, err := Verify(paths, VerifyOptions{JWKS: jwks})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestTrailChainsAndVerifies(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	signer, jwks := testKeys(t)
	out := &syncBuf{}
	m := metrics.New()
	tr := mustOpen(t, Options{
		Sinks:           []SinkOptions{{Type: SinkFile, Path: path}, {Type: SinkStdout, Writer: out}},
		CheckpointEvery: 50, Signer: signer, Metrics: &m.Audit,
	})
	recordN(t, tr, 0, 200, 8)
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	rep := verifyFiles(t, []string{path}, jwks)
	if !rep.OK() {
		t.Fatalf("problems: %v", rep.Problems)
	}
	if rep.Records != 204 || rep.Checkpoints != 4 || rep.SignaturesValid != 4 || rep.LastSeq != 204 || rep.Unsigned != 0 {
		t.Errorf("report = %+v; want 200 events + 4 checkpoints, all signed", rep)
	}
	file, _ := os.ReadFile(path)
	if out.String() != string(file) {
		t.Error("the stdout sink did not get the same bytes as the file")
	}
	if got := metricValue(m.Audit.Records.WithLabelValues("file")); got != 204 {
		t.Errorf("records_total{sink=file} = %v, want 204", got)
	}
	if got := metricValue(m.Audit.SinkUp.WithLabelValues("stdout")); got != 1 {
		t.Errorf("sink_up{sink=stdout} = %v, want 1", got)
	}
	if err := tr.Record(context.Background(), event(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Record after Close = %v, want ErrClosed", err)
	}
}

func TestRecordRejectsReservedKinds(t *testing.T) {
	tr := mustOpen(t, Options{Sinks: []SinkOptions{{Type: SinkStdout, Writer: io.Discard}}})
	defer tr.Close()
	for _, k := range []Kind{KindCheckpoint, KindGap, KindRecovered} {
		if err := tr.Record(context.Background(), Event{Kind: k}); !errors.Is(err, ErrReservedKind) {
			t.Errorf("Record(%s) = %v, want ErrReservedKind", k, err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"unwritable file", Options{Sinks: []SinkOptions{{Name: "trail", Type: SinkFile, Path: filepath.Join(ro, "sub", "a.jsonl")}}}, `sink "trail"`},
		{"bad url", Options{SpoolDir: dir, Sinks: []SinkOptions{{Name: "siem", Type: SinkHTTP, URL: "ftp://x"}}}, `sink "siem": url must be an absolute http(s) URL`},
		{"http without spool", Options{Sinks: []SinkOptions{{Name: "siem", Type: SinkHTTP, URL: "http://127.0.0.1:1/"}}}, "needs a spool directory"},
		{"no sinks", Options{}, "no sinks"},
		{"unknown type", Options{Sinks: []SinkOptions{{Type: "kafka"}}}, "unknown type"},
		{"unknown durability", Options{Durability: "eventually", Sinks: []SinkOptions{{Type: SinkStdout}}}, `unknown durability "eventually"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := Open(tc.opts)
			if err == nil {
				tr.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
			if strings.HasPrefix(tc.name, "unknown") && !errors.Is(err, ErrOptions) {
				t.Errorf("err = %v, want it to wrap ErrOptions", err)
			}
		})
	}
}

// trailFiles writes a rotated trail of n events (checkpoint every 5) and
// returns its files, oldest first.
func trailFiles(t *testing.T, dir string, n int, signer Signer) []string {
	t.Helper()
	path := filepath.Join(dir, "audit.jsonl")
	tr := mustOpen(t, Options{Sinks: []SinkOptions{{Type: SinkFile, Path: path, RotateBytes: 4000}}, CheckpointEvery: 5, Signer: signer})
	for i := range n {
		// One at a time, so rotation (between groups) is deterministic.
		if err := tr.Record(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := ExpandPaths([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestRotationKeepsChain(t *testing.T) {
	dir := t.TempDir()
	signer, jwks := testKeys(t)
	files := trailFiles(t, dir, 60, signer)
	if len(files) < 3 {
		t.Fatalf("want at least 3 files after rotation, got %v", files)
	}
	if filepath.Base(files[len(files)-1]) != "audit.jsonl" || filepath.Base(files[0]) != "audit.jsonl.1" {
		t.Errorf("files in rotation order = %v", files)
	}
	rep := verifyFiles(t, files, jwks)
	if !rep.OK() {
		t.Fatalf("problems: %v", rep.Problems)
	}
	for i, f := range files[1:] {
		data, _ := os.ReadFile(f)
		first, _, err := ParseLine(bytes.SplitN(data, []byte("\n"), 2)[0])
		if err != nil {
			t.Fatal(err)
		}
		if first.File != i+2 {
			t.Errorf("%s opens with file index %d, want %d", f, first.File, i+2)
		}
		// Every closed file ends sealed by a checkpoint.
		lines := bytes.Split(bytes.TrimSpace(mustRead(t, files[i])), []byte("\n"))
		last, _, _ := ParseLine(lines[len(lines)-1])
		if last.Kind != KindCheckpoint {
			t.Errorf("%s does not end with a checkpoint (%s)", files[i], last.Kind)
		}
	}
}

// TestTimeRotationKeepsChain: with RotateEvery the file sink starts a new
// file once the current one is older than the period, also across a
// restart (the age of a file is taken from its modification time), and the
// chain verifies across all files, each closed one sealed by a signed
// checkpoint. Records in one period stay in one file.
func TestTimeRotationKeepsChain(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	signer, jwks := testKeys(t)
	const every = 400 * time.Millisecond
	opts := Options{Sinks: []SinkOptions{{Type: SinkFile, Path: path, RotateEvery: every}}, CheckpointEvery: 100, Signer: signer}
	tr := mustOpen(t, opts)
	next := 0
	burst := func(tr *Trail) {
		for range 3 {
			if err := tr.Record(context.Background(), event(next)); err != nil {
				t.Fatal(err)
			}
			next++
		}
	}
	burst(tr) // file 1
	time.Sleep(every + 50*time.Millisecond)
	burst(tr) // file 2
	time.Sleep(every + 50*time.Millisecond)
	burst(tr) // file 3
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	// After a restart the open file is already older than the period.
	time.Sleep(every + 50*time.Millisecond)
	tr = mustOpen(t, opts)
	burst(tr) // file 4
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}

	files, err := ExpandPaths([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 {
		t.Fatalf("files %v, want 4 (one per period)", files)
	}
	rep := verifyFiles(t, files, jwks)
	if !rep.OK() {
		t.Fatalf("problems: %v", rep.Problems)
	}
	if rep.Records < 12 {
		t.Errorf("verified %d records, want at least the 12 events", rep.Records)
	}
	events := 0
	for i, f := range files {
		lines := mustLines(t, f)
		first, _, err := ParseLine(lines[0])
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && first.File != i+1 {
			t.Errorf("%s opens with file index %d, want %d", f, first.File, i+1)
		}
		n := 0
		for _, l := range lines {
			if r, _, err := ParseLine(l); err == nil && r.Kind == KindPolicyDeny {
				n++
			}
		}
		if n != 3 {
			t.Errorf("%s holds %d events, want the 3 of its period", f, n)
		}
		events += n
		if i < len(files)-1 {
			last, _, _ := ParseLine(lines[len(lines)-1])
			if last.Kind != KindCheckpoint || last.Signature == "" {
				t.Errorf("%s does not end with a signed checkpoint (%s)", f, last.Kind)
			}
		}
	}
	if events != 12 {
		t.Errorf("%d events in the files, want 12", events)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRestartRepairsTornLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	opts := Options{Sinks: []SinkOptions{{Type: SinkFile, Path: path}}, CheckpointEvery: 4}
	tr := mustOpen(t, opts)
	recordN(t, tr, 0, 10, 1)
	tr.Close()
	// A write torn by a crash.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"seq":14,"prev":"ab`)
	f.Close()
	if rep := verifyFiles(t, []string{path}, nil); rep.OK() || rep.Problems[0].Check != CheckTorn {
		t.Fatalf("verify before repair: %v; want a torn line", rep.Problems)
	}
	logs := &syncBuf{}
	opts.Logger = testLogger(logs)
	tr = mustOpen(t, opts)
	recordN(t, tr, 10, 5, 1)
	tr.Close()
	rep := verifyFiles(t, []string{path}, nil)
	if !rep.OK() {
		t.Fatalf("problems after repair: %v", rep.Problems)
	}
	if !strings.Contains(string(mustRead(t, path)), `"kind":"audit.recovered"`) || !strings.Contains(logs.String(), "torn last line") {
		t.Error("the repair was not reported in the trail and the log")
	}
}

// mutate applies f to the lines of file i of a copy of files.
func mutate(t *testing.T, files []string, f func(files [][][]byte) [][][]byte) []string {
	t.Helper()
	var data [][][]byte
	for _, p := range files {
		data = append(data, bytes.Split(bytes.TrimSuffix(mustRead(t, p), []byte("\n")), []byte("\n")))
	}
	data = f(data)
	dir := t.TempDir()
	var out []string
	for i, lines := range data {
		p := filepath.Join(dir, fmt.Sprintf("f%d.jsonl", i+1))
		if err := os.WriteFile(p, append(bytes.Join(lines, []byte("\n")), '\n'), 0o600); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// rehash recomputes a changed line's hash, as a careful forger would.
func rehash(t *testing.T, line []byte) []byte {
	t.Helper()
	canon, _, ok := Canonical(line)
	if !ok {
		t.Fatal("not a record")
	}
	r := new(Record)
	if err := jsonUnmarshal(canon, r); err != nil {
		t.Fatal(err)
	}
	out, err := encodeRecord(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(out, []byte("\n"))
}

func TestTamperingIsPinpointed(t *testing.T) {
	signer, jwks := testKeys(t)
	files := trailFiles(t, t.TempDir(), 60, signer)
	if len(files) < 3 {
		t.Fatalf("need 3 files, got %d", len(files))
	}
	edit := func(line []byte) []byte {
		return bytes.Replace(line, []byte(`"decision":"deny"`), []byte(`"decision":"allow"`), 1)
	}
	cases := []struct {
		name   string
		f      func(d [][][]byte) [][][]byte
		file   int // 1-based file of the first problem
		line   int
		check  string
		expect string
	}{
		{"edit", func(d [][][]byte) [][][]byte { d[1][3] = edit(d[1][3]); return d }, 2, 4, CheckHash, "changed"},
		{"edit and rehash", func(d [][][]byte) [][][]byte { d[1][3] = rehash(t, edit(d[1][3])); return d }, 2, 5, CheckChain, "prev does not match"},
		{"delete", func(d [][][]byte) [][][]byte { d[1] = append(d[1][:3:3], d[1][4:]...); return d }, 2, 4, CheckMissing, "removed"},
		{"insert copy", func(d [][][]byte) [][][]byte {
			d[1] = append(d[1][:3:3], append([][]byte{d[0][2]}, d[1][3:]...)...)
			return d
		}, 2, 4, CheckDuplicate, "inserted"},
		{"reorder", func(d [][][]byte) [][][]byte { d[1][2], d[1][3] = d[1][3], d[1][2]; return d }, 2, 3, CheckOrder, "reordered"},
		{"edit in first file", func(d [][][]byte) [][][]byte { d[0][0] = edit(d[0][0]); return d }, 1, 1, CheckHash, ""},
		{"file removed", func(d [][][]byte) [][][]byte { return append(d[:1:1], d[2:]...) }, 2, 1, CheckFile, "files are missing"},
		{"files swapped", func(d [][][]byte) [][][]byte { d[1], d[2] = d[2], d[1]; return d }, 2, 1, CheckFile, ""},
		{"torn last line", func(d [][][]byte) [][][]byte {
			last := d[2][len(d[2])-1]
			d[2][len(d[2])-1] = last[:len(last)/2]
			return d
		}, 3, len(mustLines(t, files[2])), CheckParse, ""},
		{"forged chain", func(d [][][]byte) [][][]byte {
			// Change a record and rewrite every hash after it: only the
			// signed checkpoints can catch this.
			d[0][1] = edit(d[0][1])
			prev := ""
			for fi := range d {
				for li := range d[fi] {
					r, _, _ := ParseLine(d[fi][li])
					if prev != "" {
						r.Prev = prev
						if r.Kind == KindCheckpoint {
							r.Head = prev
						}
					}
					out, _ := encodeRecord(nil, r)
					d[fi][li] = bytes.TrimSuffix(out, []byte("\n"))
					prev = r.Hash
				}
			}
			return d
		}, 1, 0, CheckSignature, "signs seq"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := mutate(t, files, tc.f)
			rep := verifyFiles(t, got, jwks)
			if rep.OK() {
				t.Fatal("verification passed a tampered trail")
			}
			p := rep.Problems[0]
			if p.File != got[tc.file-1] || (tc.line > 0 && p.Line != tc.line) || p.Check != tc.check || !strings.Contains(p.Msg, tc.expect) {
				t.Errorf("first problem = %s\nwant %s:%d %s containing %q (all: %v)", p, got[tc.file-1], tc.line, tc.check, tc.expect, rep.Problems)
			}
		})
	}
	// The reorder is named as such too.
	got := mutate(t, files, cases[4].f)
	rep := verifyFiles(t, got, jwks)
	found := false
	for _, p := range rep.Problems {
		found = found || p.Check == CheckOrder
	}
	if !found {
		t.Errorf("reordered records not reported as reordered: %v", rep.Problems)
	}
}

func mustLines(t *testing.T, p string) [][]byte {
	return bytes.Split(bytes.TrimSuffix(mustRead(t, p), []byte("\n")), []byte("\n"))
}

func TestVerifySignatures(t *testing.T) {
	signer, _ := testKeys(t)
	_, otherJWKS := testKeys(t)
	files := trailFiles(t, t.TempDir(), 12, signer)
	rep := verifyFiles(t, files, otherJWKS)
	if rep.OK() || rep.Problems[0].Check != CheckSignature {
		t.Fatalf("a JWKS without the signing key passed: %v", rep.Problems)
	}
	unsigned := trailFiles(t, t.TempDir(), 12, nil)
	_, jwks := testKeys(t)
	rep = verifyFiles(t, unsigned, jwks)
	if rep.OK() || !strings.Contains(rep.Problems[0].Msg, "not signed") {
		t.Fatalf("unsigned checkpoints passed with --jwks: %v", rep.Problems)
	}
	if rep := verifyFiles(t, unsigned, nil); !rep.OK() || rep.SignaturesChecked {
		t.Fatalf("without a JWKS the chain alone should verify: %+v", rep)
	}
}

func TestRedactsSecrets(t *testing.T) {
	const jwt = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU"
	path := filepath.Join(t.TempDir(), "a.jsonl")
	tr := mustOpen(t, Options{Sinks: []SinkOptions{{Type: SinkFile, Path: path}}})
	e := event(1)
	e.Detail = map[string]string{"header": "Bearer " + jwt, "session_cookie": "s3cr3t-cookie-value", "kid": "k1",
		"token_fingerprint": "0123456789abcdef01234567"}
	e.Reason = "bad token " + jwt
	if err := tr.Record(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	data := string(mustRead(t, path))
	for _, secret := range []string{jwt, "s3cr3t-cookie-value", "eyJzdWIiOiJhbGljZSJ9"} {
		if strings.Contains(data, secret) {
			t.Errorf("the trail holds a secret %q:\n%s", secret, data)
		}
	}
	for _, keep := range []string{`"kid":"k1"`, `"token_fingerprint":"0123456789abcdef01234567"`, "redacted:"} {
		if !strings.Contains(data, keep) {
			t.Errorf("the trail lacks %s:\n%s", keep, data)
		}
	}
	if e.Detail["header"] != "Bearer "+jwt {
		t.Error("Record changed the caller's map")
	}
}

// collector is an HTTP audit collector that keeps the first copy of each
// seq, counts repeats, and notes records that arrive out of order.
type collector struct {
	mu       sync.Mutex
	seqs     []uint64
	seen     map[uint64]bool
	repeats  int
	disorder []string
	lines    [][]byte
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(400)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, line := range bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n")) {
		rec, ok, err := ParseLine(line)
		if err != nil || !ok {
			w.WriteHeader(400)
			return
		}
		if c.seen[rec.Seq] {
			c.repeats++
			continue
		}
		if n := len(c.seqs); n > 0 && rec.Seq != c.seqs[n-1]+1 {
			c.disorder = append(c.disorder, fmt.Sprintf("%d after %d", rec.Seq, c.seqs[n-1]))
		}
		c.seen[rec.Seq] = true
		c.seqs = append(c.seqs, rec.Seq)
		c.lines = append(c.lines, append([]byte(nil), line...))
	}
	w.WriteHeader(204)
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seqs)
}

// serveOn serves h on addr until the returned stop is called.
func serveOn(t *testing.T, addr string, h http.Handler) (string, func()) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	return ln.Addr().String(), func() { srv.Close() }
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHTTPCollectorOutage(t *testing.T) {
	c := &collector{seen: map[uint64]bool{}}
	addr, stop := serveOn(t, "127.0.0.1:0", c)
	m := metrics.New()
	tr := mustOpen(t, Options{
		Sinks:      []SinkOptions{{Name: "siem", Type: SinkHTTP, URL: "http://" + addr + "/ingest", BatchSize: 20, Timeout: 2 * time.Second}},
		SpoolDir:   t.TempDir(),
		BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		CheckpointEvery: 100, Metrics: &m.Audit,
	})
	recordN(t, tr, 0, 150, 4)
	waitFor(t, "the first records", func() bool { return c.count() > 0 })
	stop() // the collector goes away while records flow
	recordN(t, tr, 150, 150, 4)
	waitFor(t, "the sink to be marked down", func() bool { return metricValue(m.Audit.SinkUp.WithLabelValues("siem")) == 0 })
	if d := metricValue(m.Audit.SpoolDepth); d == 0 {
		t.Error("spool depth is 0 while the collector is down")
	}
	_, stop = serveOn(t, addr, c) // and comes back on the same address
	defer stop()
	recordN(t, tr, 300, 100, 4)
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	want := 400 + 4 // events and checkpoints, plus the closing checkpoint
	if len(c.seqs) != want+1 && len(c.seqs) != want {
		t.Fatalf("collector has %d records, want %d", len(c.seqs), want)
	}
	for i, s := range c.seqs {
		if s != uint64(i+1) {
			t.Fatalf("record %d has seq %d: not every record arrived once and in order", i, s)
		}
	}
	if len(c.disorder) > 0 {
		t.Errorf("records arrived out of order: %v", c.disorder)
	}
	// What the collector stored verifies as a trail of its own.
	rep, err := VerifyData([]Input{{Name: "collector", Data: bytes.NewReader(append(bytes.Join(c.lines, []byte("\n")), '\n'))}}, VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Errorf("collector's copy does not verify: %v %v", err, rep.Problems)
	}
	t.Logf("repeats dropped by the collector: %d", c.repeats)
}

func TestSpoolFullPolicies(t *testing.T) {
	for _, policy := range []Policy{FailClosed, FailOpen} {
		t.Run(string(policy), func(t *testing.T) {
			c := &collector{seen: map[uint64]bool{}}
			// A port nothing listens on yet.
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			addr := ln.Addr().String()
			ln.Close()
			m := metrics.New()
			logs := &syncBuf{}
			tr := mustOpen(t, Options{
				Sinks:         []SinkOptions{{Name: "siem", Type: SinkHTTP, URL: "http://" + addr + "/", BatchSize: 50}},
				SpoolDir:      t.TempDir(),
				SpoolMaxBytes: 8 << 10, // about 15 records
				Policy:        policy, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
				Metrics: &m.Audit, Logger: testLogger(logs),
			})
			var refused, accepted int
			for i := range 60 {
				err := tr.Record(context.Background(), event(i))
				switch {
				case err == nil:
					accepted++
				case errors.Is(err, ErrUnavailable):
					refused++
				default:
					t.Fatal(err)
				}
			}
			switch policy {
			case FailClosed:
				if refused == 0 || metricValue(m.Audit.Refused) != float64(refused) {
					t.Fatalf("fail_closed: refused %d, metric %v", refused, metricValue(m.Audit.Refused))
				}
			case FailOpen:
				if refused != 0 || metricValue(m.Audit.Dropped) == 0 {
					t.Fatalf("fail_open: refused %d, dropped metric %v", refused, metricValue(m.Audit.Dropped))
				}
			}
			if !strings.Contains(logs.String(), string(policy)) {
				t.Error("the loss was not logged")
			}
			_, stop := serveOn(t, addr, c)
			defer stop()
			waitFor(t, "the spool to drain", func() bool { return c.count() > 0 && tr.outlets[0].spool.pending() == 0 })
			if err := tr.Record(context.Background(), event(1000)); err != nil {
				t.Fatalf("after recovery: %v", err)
			}
			tr.Close()
			c.mu.Lock()
			defer c.mu.Unlock()
			var gap *Record
			for _, l := range c.lines {
				if r, _, _ := ParseLine(l); r.Kind == KindGap {
					gap = r
				}
			}
			switch policy {
			case FailClosed:
				// Nothing accepted was lost, and refused records never
				// entered the chain: the collector's copy is whole.
				for i, s := range c.seqs {
					if s != uint64(i+1) {
						t.Fatalf("fail_closed: seq %d at %d", s, i)
					}
				}
				if gap != nil {
					t.Errorf("fail_closed wrote a gap record: %+v", gap)
				}
			case FailOpen:
				if gap == nil || gap.Sink != "siem" || gap.Dropped == 0 {
					t.Fatalf("fail_open: no gap record for the lost records (%+v)", gap)
				}
				rep, _ := VerifyData([]Input{{Name: "c", Data: bytes.NewReader(append(bytes.Join(c.lines, []byte("\n")), '\n'))}}, VerifyOptions{AllowGaps: true})
				if !rep.OK() || rep.Gaps != 1 {
					t.Errorf("collector's copy with a declared gap: %v (gaps %d)", rep.Problems, rep.Gaps)
				}
			}
		})
	}
}

func FuzzParseLine(f *testing.F) {
	r := &Record{Seq: 7, Prev: strings.Repeat("a", 64), Event: event(1)}
	line, _ := encodeRecord(nil, r)
	f.Add(bytes.TrimSuffix(line, []byte("\n")))
	f.Add([]byte(`{"seq":1,"prev":"","hash":"` + strings.Repeat("0", 64) + `"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, ok, err := ParseLine(line)
		if err != nil {
			return
		}
		if rec.Seq == 0 {
			t.Fatal("accepted a record without seq")
		}
		if ok {
			// A line whose hash checks re-encodes to a line that checks.
			canon, hash, _ := Canonical(line)
			if len(canon) == 0 || len(hash) != HashLen {
				t.Fatal("Canonical disagrees with ParseLine")
			}
		}
	})
}

func FuzzVerify(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "a.jsonl")
	tr, err := Open(Options{Sinks: []SinkOptions{{Type: SinkFile, Path: path}}, CheckpointEvery: 3})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 8 {
		tr.Record(context.Background(), event(i))
	}
	tr.Close()
	data, _ := os.ReadFile(path)
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add([]byte("\n\n{\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := VerifyData([]Input{{Name: "f", Data: bytes.NewReader(data)}}, VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range rep.Problems {
			if p.Check == "" || p.File != "f" {
				t.Fatalf("bad problem %+v", p)
			}
		}
	})
}

// BenchmarkRecord measures one event through the trail to an fsynced file,
// from many goroutines (group commit shares each fsync).
func BenchmarkRecord(b *testing.B) {
	path := filepath.Join(b.TempDir(), "a.jsonl")
	signer, _ := testKeys(b)
	tr := mustOpen(b, Options{Sinks: []SinkOptions{{Type: SinkFile, Path: path, RotateBytes: 1 << 30}}, CheckpointEvery: 1000, Signer: signer})
	defer tr.Close()
	e := event(1)
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := tr.Record(context.Background(), e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkEncode is the CPU cost of one record: redaction, JSON, SHA-256.
func BenchmarkEncode(b *testing.B) {
	e := event(1)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ev := e
		redactEvent(&ev)
		r := Record{Seq: uint64(i + 1), Prev: strings.Repeat("a", 64), Event: ev}
		buf, _ = encodeRecord(buf[:0], &r)
	}
}

// metricValue reads a counter or gauge.
func metricValue(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}
