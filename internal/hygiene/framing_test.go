package hygiene

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

func lineHash(line string) uint64 { return fnvString(fnvOffset, line) }

// scanAll feeds data to a fresh scanner in pieces chosen by seed and
// returns every verdict plus the final state.
func scanAll(data []byte, seed uint64) ([]Verdict, scanState) {
	var s scanner
	rng := seed | 1
	for len(data) > 0 {
		n := len(data)
		if seed != 0 {
			rng ^= rng << 13
			rng ^= rng >> 7
			rng ^= rng << 17
			n = 1 + int(rng%uint64(min(len(data), 64)))
		}
		s.scan(data[:n])
		data = data[n:]
	}
	var vs []Verdict
	for {
		v, ok := s.pop()
		if !ok {
			return vs, s.state
		}
		vs = append(vs, v)
	}
}

type want struct {
	line       string
	cl, te, ov bool
}

func TestScanner(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  []want
		alive bool // scanner still following the stream at the end
	}{
		{"simple GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", []want{{line: "GET / HTTP/1.1"}}, true},
		{"bare LF", "GET /x HTTP/1.1\nHost: a\n\n", []want{{line: "GET /x HTTP/1.1"}}, true},
		{"CR not before LF is content", "GET /x HTTP/1.1\r\r\nHost: a\r\n\r\n", nil, false},
		{"content-length body skipped", "POST /a HTTP/1.1\r\nContent-Length: 19\r\n\r\nGET /evil HTTP/1.1\r" +
			"GET /b HTTP/1.1\r\n\r\n", []want{{line: "POST /a HTTP/1.1", cl: true}, {line: "GET /b HTTP/1.1"}}, true},
		{"chunked body skipped", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"5;x=\"y\"\r\nhello\r\n3 \t\r\nGET\r\n0\r\nT: 1\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
			[]want{{line: "POST /a HTTP/1.1", te: true}, {line: "GET /b HTTP/1.1"}}, true},
		{"CL and TE", "POST /a HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			[]want{{line: "POST /a HTTP/1.1", cl: true, te: true}}, true},
		{"TE on HTTP/1.0 is ignored for framing", "POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n" +
			"hiGET /b HTTP/1.0\r\n\r\n", []want{{line: "POST /a HTTP/1.0", cl: true, te: true}, {line: "GET /b HTTP/1.0"}}, true},
		{"folded TE gives up after the head", "POST /a HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
			[]want{{line: "POST /a HTTP/1.1", te: true}}, false},
		{"folded other header is fine", "GET /a HTTP/1.1\r\nX-A: 1\r\n 2\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
			[]want{{line: "GET /a HTTP/1.1"}, {line: "GET /b HTTP/1.1"}}, true},
		{"fold as first header line", "GET /a HTTP/1.1\r\n X: 1\r\n\r\n", nil, false},
		{"oversize CL", "POST /a HTTP/1.1\r\nContent-Length: " + strings.Repeat("0", 40) + "\r\n\r\n",
			[]want{{line: "POST /a HTTP/1.1", cl: true, ov: true}}, false},
		{"differing CLs", "POST /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
			[]want{{line: "POST /a HTTP/1.1", cl: true}}, false},
		{"equal CLs", "POST /a HTTP/1.1\r\nContent-Length: 2\r\nContent-Length:  2 \r\n\r\nxxGET /b HTTP/1.1\r\n\r\n",
			[]want{{line: "POST /a HTTP/1.1", cl: true}, {line: "GET /b HTTP/1.1"}}, true},
		{"unsupported TE", "POST /a HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
			[]want{{line: "POST /a HTTP/1.1", te: true}}, false},
		{"space before colon is another field", "POST /a HTTP/1.1\r\nTransfer-Encoding : chunked\r\nContent-Length: 1\r\n\r\nx",
			[]want{{line: "POST /a HTTP/1.1", cl: true}}, true},
		{"POST then CRLF", "POST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nx\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
			[]want{{line: "POST /a HTTP/1.1", cl: true}, {line: "GET /b HTTP/1.1"}}, true},
		{"GET then CRLF", "GET /a HTTP/1.1\r\n\r\n\r\nGET /b HTTP/1.1\r\n\r\n", []want{{line: "GET /a HTTP/1.1"}}, false},
		{"chunk bare LF", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n0\r\n\r\n",
			[]want{{line: "POST /a HTTP/1.1", te: true}}, false},
		{"chunk 0x", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x1\r\nx\r\n0\r\n\r\n",
			[]want{{line: "POST /a HTTP/1.1", te: true}}, false},
		{"chunk too many digits", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000001\r\nx\r\n0\r\n\r\n",
			[]want{{line: "POST /a HTTP/1.1", te: true}}, false},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", nil, false},
		{"OPTIONS *", "OPTIONS * HTTP/1.1\r\n\r\n", []want{{line: "OPTIONS * HTTP/1.1"}}, true},
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, seed := range []uint64{0, 1, 2, 3, 99} {
				vs, st := scanAll([]byte(tt.in), seed)
				var got []want
				for _, v := range vs {
					if !v.Scanned {
						t.Fatalf("unscanned verdict queued")
					}
					w := want{cl: v.HasContentLength, te: v.HasTransferEncoding, ov: v.Oversize}
					for _, wv := range tt.want {
						if lineHash(wv.line) == v.line {
							w.line = wv.line
						}
					}
					got = append(got, w)
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Fatalf("seed %d: verdicts %+v, want %+v", seed, got, tt.want)
				}
				if alive := st != stDead; alive != tt.alive {
					t.Fatalf("seed %d: alive = %v, want %v", seed, alive, tt.alive)
				}
			}
		})
	}
}

func TestFramingConnPassesBytesThrough(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	fc := GuardConn(b)
	defer fc.Close()
	in := "POST /a HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\x00\xff"
	go func() { io.WriteString(a, in); a.Close() }()
	got, err := io.ReadAll(fc)
	if err != nil || string(got) != in {
		t.Fatalf("read %q, %v", got, err)
	}
	if v := fc.NextVerdict(); !v.Scanned || !v.HasContentLength || !v.HasTransferEncoding {
		t.Fatalf("verdict %+v", v)
	}
	if v := fc.NextVerdict(); v.Scanned {
		t.Fatalf("second verdict %+v", v)
	}
	if fc.NetConn() != b {
		t.Fatal("NetConn")
	}
}

func TestVerdictForMismatchStopsGuard(t *testing.T) {
	fc := GuardConn(nil)
	fc.sc.scan([]byte("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n"))
	if v := fc.verdictFor("GET", "/a", "HTTP/1.1"); !v.Scanned {
		t.Fatal("first verdict missing")
	}
	// The handler was not called for /b (it must have been): refuse and stop.
	if v := fc.verdictFor("GET", "/c", "HTTP/1.1"); v.Scanned {
		t.Fatalf("mismatched verdict used: %+v", v)
	}
	if v := fc.verdictFor("GET", "/c", "HTTP/1.1"); v.Scanned {
		t.Fatal("guard still answering after a mismatch")
	}
	fc.sc.scan([]byte("GET /d HTTP/1.1\r\n\r\n"))
	if v := fc.NextVerdict(); v.Scanned {
		t.Fatal("guard kept scanning after a mismatch")
	}
}

func TestStop(t *testing.T) {
	fc := GuardConn(nil)
	fc.sc.scan([]byte("GET /a HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"))
	fc.Stop()
	fc.sc.scan([]byte("GET /b HTTP/1.1\r\n\r\n"))
	if v := fc.NextVerdict(); !v.Scanned || v.line != lineHash("GET /a HTTP/1.1") {
		t.Fatalf("queued verdict lost: %+v", v)
	}
	if v := fc.NextVerdict(); v.Scanned {
		t.Fatalf("scanned after Stop: %+v", v)
	}
}

func TestPendingBound(t *testing.T) {
	var s scanner
	s.scan(bytes.Repeat([]byte("GET / HTTP/1.1\r\n\r\n"), maxPending+10))
	n := 0
	for {
		if _, ok := s.pop(); !ok {
			break
		}
		n++
	}
	if n != maxPending || s.state != stDead {
		t.Fatalf("%d verdicts, state %d; want %d and dead", n, s.state, maxPending)
	}
}

// goRequests parses data with net/http's own parser, the way its server
// does (including the CR/LF skip after a POST), and calls fn with each
// HTTP/1.x request head it accepts, until the first error.
func goRequests(data []byte, fn func(i int, r *http.Request)) int {
	br := bufio.NewReader(bytes.NewReader(data))
	lastPOST := false
	for i := 0; ; i++ {
		if lastPOST {
			peek, _ := br.Peek(4)
			n := 0
			for n < len(peek) && (peek[n] == '\r' || peek[n] == '\n') {
				n++
			}
			br.Discard(n)
		}
		r, err := http.ReadRequest(br)
		if err != nil || r.ProtoMajor != 1 {
			return i
		}
		fn(i, r)
		lastPOST = r.Method == "POST"
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return i + 1
		}
	}
}

// FuzzFramingScanner feeds arbitrary bytes split at random read boundaries.
// It must never panic, give the same verdicts however the bytes are split,
// and never hand out a verdict that belongs to a different request than the
// one net/http parses at that position.
func FuzzFramingScanner(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\n",
		"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;e\r\nabc\r\n0\r\nX: y\r\n\r\n\r\nGET /b HTTP/1.0\n\n",
		"POST /a HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n",
		"POST /a HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 05\r\nContent-Length: 05\r\n\r\n12345",
	} {
		f.Add([]byte(s), uint64(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		whole, _ := scanAll(data, 0)
		split, _ := scanAll(data, seed)
		if fmt.Sprint(whole) != fmt.Sprint(split) {
			t.Fatalf("verdicts depend on read boundaries:\n%+v\n%+v", whole, split)
		}
		goRequests(data, func(i int, r *http.Request) {
			if i >= len(whole) {
				return // the guard gave up earlier: CheckFraming refuses, which is safe
			}
			v := whole[i]
			if v.line != lineHash(r.Method+" "+r.RequestURI+" "+r.Proto) {
				t.Fatalf("verdict %d belongs to another request than %q %q", i, r.Method, r.RequestURI)
			}
			if len(r.TransferEncoding) > 0 && !v.HasTransferEncoding {
				t.Fatalf("request %d: chunked but no Transfer-Encoding in verdict", i)
			}
			if r.ContentLength > 0 && len(r.TransferEncoding) == 0 && !v.HasContentLength {
				t.Fatalf("request %d: Content-Length body but none in verdict", i)
			}
		})
	})
}

// genStream builds a valid pipelined stream of requests from fuzz bytes and
// the verdicts the guard must give for it.
func genStream(in []byte) ([]byte, []want) {
	pos := 0
	next := func(n int) int {
		if pos >= len(in) {
			return 0
		}
		pos++
		return int(in[pos-1]) % n
	}
	var b bytes.Buffer
	var wants []want
	methods := []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
	count := 1 + next(6)
	for i := 0; i < count; i++ {
		m := methods[next(len(methods))]
		proto := "HTTP/1.1"
		if next(5) == 0 {
			proto = "HTTP/1.0"
		}
		line := fmt.Sprintf("%s /r%d?q=%d %s", m, i, next(100), proto)
		eol := func() string {
			if next(4) == 0 {
				return "\n"
			}
			return "\r\n"
		}
		b.WriteString(line + eol())
		b.WriteString("Host: gen.test" + eol())
		if next(3) == 0 {
			b.WriteString("X-Folded: a" + eol() + " \tb" + eol())
		}
		w := want{line: line}
		mode := next(5)
		if proto == "HTTP/1.0" && (mode == 2 || mode == 3) {
			mode = 4
		} else if proto == "HTTP/1.1" && mode == 4 {
			mode = 3
		}
		clValue := func(n int) string {
			switch next(4) {
			case 0:
				return fmt.Sprintf(" %d ", n)
			case 1:
				return fmt.Sprintf("\t00%d", n)
			}
			return fmt.Sprint(n)
		}
		chunked := func() {
			for c := next(4); c > 0; c-- {
				n := 1 + next(20)
				size := fmt.Sprintf("%x", n)
				switch next(4) {
				case 0:
					size = strings.ToUpper(fmt.Sprintf("%03x", n))
				case 1:
					size += ";ext=\"v\""
				case 2:
					size += " \t"
				}
				b.WriteString(size + "\r\n" + strings.Repeat("d", n) + "\r\n")
			}
			// net/http insists on CRLF CRLF to end trailers (readTrailer).
			b.WriteString("0\r\n")
			if next(3) == 0 {
				b.WriteString("X-Trailer: t\r\n")
			}
			b.WriteString("\r\n")
		}
		teValue := []string{"chunked", "Chunked", " chunked ", "CHUNKED\t"}[next(4)]
		switch mode {
		case 1: // Content-Length
			n := next(30)
			v := clValue(n)
			b.WriteString("Content-Length:" + v + eol())
			if next(3) == 0 {
				b.WriteString("Content-Length:" + v + eol())
			}
			b.WriteString(eol() + strings.Repeat("c", n))
			w.cl = true
		case 2: // chunked
			b.WriteString("Transfer-Encoding:" + teValue + eol() + eol())
			chunked()
			w.te = true
		case 3: // both; net/http uses chunked
			b.WriteString("Content-Length: " + fmt.Sprint(next(50)) + eol())
			b.WriteString("Transfer-Encoding: " + teValue + eol() + eol())
			chunked()
			w.cl, w.te = true, true
		case 4: // HTTP/1.0 ignores Transfer-Encoding; Content-Length frames
			n := next(30)
			b.WriteString("Transfer-Encoding: " + teValue + eol())
			b.WriteString("Content-Length: " + fmt.Sprint(n) + eol() + eol() + strings.Repeat("c", n))
			w.cl, w.te = true, true
		default:
			b.WriteString(eol())
		}
		if m == "POST" && next(2) == 0 {
			b.WriteString([]string{"\r\n", "\n", "\r\n\r\n"}[next(3)])
		}
		wants = append(wants, w)
	}
	return b.Bytes(), wants
}

// FuzzFramingGenerated checks that for a valid stream of N requests (valid
// as net/http itself confirms) the guard yields exactly N correct verdicts
// however the bytes are split.
func FuzzFramingGenerated(f *testing.F) {
	f.Add([]byte{5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, uint64(1))
	f.Add([]byte{3, 0, 0, 3, 3, 1, 2, 0, 1, 9, 9, 9, 2, 2, 2}, uint64(2))
	f.Add(bytes.Repeat([]byte{4, 1, 3, 2}, 20), uint64(3))
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) {
		data, wants := genStream(in)
		if n := goRequests(data, func(int, *http.Request) {}); n != len(wants) {
			t.Fatalf("generator bug: net/http parsed %d of %d requests in %q", n, len(wants), data)
		}
		vs, st := scanAll(data, seed)
		if st == stDead {
			t.Fatalf("guard gave up on a valid stream %q", data)
		}
		if len(vs) != len(wants) {
			t.Fatalf("%d verdicts, want %d, stream %q", len(vs), len(wants), data)
		}
		for i, v := range vs {
			w := wants[i]
			if !v.Scanned || v.Oversize || v.line != lineHash(w.line) || v.HasContentLength != w.cl || v.HasTransferEncoding != w.te {
				t.Fatalf("verdict %d = %+v, want %+v; stream %q", i, v, w, data)
			}
		}
	})
}
