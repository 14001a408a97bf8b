package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"
)

// rawOrigin is a loopback origin written against the socket, so it can
// misbehave in ways net/http's server never does.
type rawOrigin struct {
	ln      net.Listener
	url     string
	accepts atomic.Int32
	wg      sync.WaitGroup
}

// newRawOrigin serves every accepted connection with serve, which owns it.
func newRawOrigin(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) *rawOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &rawOrigin{ln: ln, url: "http://" + ln.Addr().String()}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			o.accepts.Add(1)
			o.wg.Add(1)
			go func() {
				defer o.wg.Done()
				defer c.Close()
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); o.wg.Wait() })
	return o
}

// canned answers every request on a connection with resp, keeping the
// connection open until the client closes it or close is set.
func canned(resp string, closeAfter bool) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			if _, err := io.WriteString(c, resp); err != nil || closeAfter {
				return
			}
		}
	}
}

func newTestH1(t *testing.T) *h1Transport {
	t.Helper()
	tr := newH1Transport(&http.Transport{DisableCompression: true}, &tls.Config{}, 2*time.Second, 4)
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func (t *h1Transport) idleCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, l := range t.idle {
		n += len(l)
	}
	return n
}

type h1Result struct {
	status  int
	body    string
	trailer http.Header
}

// do sends one bodiless request through the lean path and reads the body.
func do(t *testing.T, tr *h1Transport, method, url string, hdr http.Header) (h1Result, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if !tr.lean(req) {
		t.Fatalf("%s %s would not take the lean path", method, url)
	}
	resp, err := tr.roundTrip(req.Context(), req, time.Now().Add(5*time.Second))
	if err != nil {
		return h1Result{}, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return h1Result{resp.StatusCode, string(b), resp.Trailer}, err
}

func TestH1Exchange(t *testing.T) {
	const ok = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
	tests := []struct {
		name     string
		serve    func(net.Conn, *bufio.Reader)
		method   string
		header   http.Header
		requests int
		status   int
		body     string
		trailer  string // Grpc-Status trailer expected
		accepts  int32  // connections the origin saw
	}{
		{"content-length is kept alive", canned(ok, false), "GET", nil, 3, 200, "hello", "", 1},
		{"chunked with trailers", canned("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Grpc-Status\r\n\r\n5\r\nhello\r\n0\r\nGrpc-Status: 0\r\n\r\n", false),
			"POST", nil, 2, 200, "hello", "0", 1},
		{"103 early hints skipped", canned("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"+ok, false), "GET", nil, 2, 200, "hello", "", 1},
		{"100 continue skipped", canned("HTTP/1.1 100 Continue\r\n\r\n"+ok, false), "GET", nil, 2, 200, "hello", "", 1},
		{"204 has no body", canned("HTTP/1.1 204 No Content\r\n\r\n", false), "GET", nil, 2, 204, "", "", 1},
		{"304 has no body", canned("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", false), "GET", nil, 2, 304, "", "", 1},
		{"HEAD has no body", canned("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", false), "HEAD", nil, 2, 200, "", "", 1},
		{"close-delimited body", canned("HTTP/1.1 200 OK\r\n\r\nhello", true), "GET", nil, 2, 200, "hello", "", 2},
		{"origin says Connection: close", canned("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello", false), "GET", nil, 2, 200, "hello", "", 2},
		{"request says Connection: close", canned(ok, false), "GET", http.Header{"Connection": {"close"}}, 2, 200, "hello", "", 2},
		{"HTTP/1.0 origin", canned("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello", false), "GET", nil, 2, 200, "hello", "", 2},
		{"origin closes every connection after answering", canned(ok, true), "GET", nil, 3, 200, "hello", "", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newRawOrigin(t, tt.serve)
			tr := newTestH1(t)
			for i := range tt.requests {
				res, err := do(t, tr, tt.method, o.url+"/", tt.header)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if res.status != tt.status || res.body != tt.body {
					t.Errorf("request %d: %d %q, want %d %q", i, res.status, res.body, tt.status, tt.body)
				}
				if got := res.trailer.Get("Grpc-Status"); got != tt.trailer {
					t.Errorf("request %d: trailer Grpc-Status %q, want %q", i, got, tt.trailer)
				}
			}
			if got := o.accepts.Load(); got != tt.accepts {
				t.Errorf("origin accepted %d connections, want %d", got, tt.accepts)
			}
		})
	}
}

func TestH1BrokenOrigins(t *testing.T) {
	tests := []struct {
		name  string
		serve func(net.Conn, *bufio.Reader)
		want  error  // matched with errors.Is, unless nil
		part  string // else a part of the message
	}{
		{"garbage", canned("NOT HTTP AT ALL\r\n\r\n", false), nil, "malformed HTTP"},
		{"unasked protocol switch", canned("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", false), errUnexpectedSwitch, ""},
		{"endless 1xx", canned(strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", 8), false), errToo1xx, ""},
		{"closed before answering", func(c net.Conn, br *bufio.Reader) { _, _ = http.ReadRequest(br) }, io.ErrUnexpectedEOF, ""},
		{"headers without end", func(c net.Conn, br *bufio.Reader) {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\n")
			line := "X-Filler: " + strings.Repeat("a", 1000) + "\r\n"
			for range maxResponseHeaderBytes/len(line) + 10 {
				if _, err := io.WriteString(c, line); err != nil {
					return
				}
			}
		}, errHeaderTooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newRawOrigin(t, tt.serve)
			tr := newTestH1(t)
			_, err := do(t, tr, "GET", o.url+"/", nil)
			switch {
			case err == nil:
				t.Fatal("request succeeded")
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("error %v, want %v", err, tt.want)
			case tt.want == nil && !strings.Contains(err.Error(), tt.part):
				t.Errorf("error %v does not mention %q", err, tt.part)
			}
			if n := tr.idleCount(); n != 0 {
				t.Errorf("%d broken connections kept idle", n)
			}
		})
	}
}

// TestH1StaleIdle covers an origin that closes a kept-alive connection
// while it sits idle: the probe drops it before use, and without the probe
// only a request that is safe to replay is retried on a new connection.
func TestH1StaleIdle(t *testing.T) {
	tests := []struct {
		name    string
		probe   bool
		method  string
		wantErr error
	}{
		{"probed, POST goes to a new connection", true, "POST", nil},
		{"not probed, GET is retried", false, "GET", nil},
		{"not probed, POST is not replayed", false, "POST", errConnReused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			closed := make(chan struct{}, 4)
			// Keep-alive in the header, then a close: the origin's idle
			// timeout firing right after the answer.
			o := newRawOrigin(t, func(c net.Conn, br *bufio.Reader) {
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				c.Close()
				closed <- struct{}{}
			})
			tr := newTestH1(t)
			if !tt.probe {
				tr.staleAfter = time.Hour
			} else {
				tr.staleAfter = 0
			}
			if _, err := do(t, tr, tt.method, o.url, nil); err != nil {
				t.Fatal(err)
			}
			<-closed
			if tr.idleCount() != 1 {
				t.Fatal("the first connection was not kept")
			}
			res, err := do(t, tr, tt.method, o.url, nil)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || res.body != "ok" {
				t.Fatalf("second request: %q, %v", res.body, err)
			}
			if got := o.accepts.Load(); got != 2 {
				t.Errorf("origin accepted %d connections, want 2", got)
			}
		})
	}
}

// TestH1ProbeKeepsLiveConnections: the stale probe must not drop a
// connection that is merely idle.
func TestH1ProbeKeepsLiveConnections(t *testing.T) {
	o := newRawOrigin(t, canned("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false))
	tr := newTestH1(t)
	tr.staleAfter = 0 // probe before every reuse
	for i := range 5 {
		if _, err := do(t, tr, "GET", o.url, nil); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if got := o.accepts.Load(); got != 1 {
		t.Errorf("origin accepted %d connections, want 1", got)
	}
}

// stallOrigin answers with head (if any), then the first bodyPart bytes,
// then waits until the test ends.
func stallOrigin(t *testing.T, head, bodyPart string) *rawOrigin {
	done := make(chan struct{})
	o := newRawOrigin(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, head+bodyPart)
		<-done
	})
	t.Cleanup(func() { close(done) }) // runs before the origin's cleanup
	return o
}

func TestH1DeadlinesAndCancel(t *testing.T) {
	t.Run("deadline while waiting for headers", func(t *testing.T) {
		o := stallOrigin(t, "", "")
		tr := newTestH1(t)
		req, _ := http.NewRequest("GET", o.url, nil)
		_, err := tr.roundTrip(req.Context(), req, time.Now().Add(50*time.Millisecond))
		if !errors.Is(err, ErrResponseTimeout) {
			t.Fatalf("error %v, want ErrResponseTimeout", err)
		}
	})
	t.Run("context deadline while waiting for headers", func(t *testing.T) {
		o := stallOrigin(t, "", "")
		tr := newTestH1(t)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", o.url, nil)
		_, err := tr.RoundTrip(req)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("cancel while waiting for headers", func(t *testing.T) {
		o := stallOrigin(t, "", "")
		tr := newTestH1(t)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		req, _ := http.NewRequestWithContext(ctx, "GET", o.url, nil)
		_, err := tr.roundTrip(req.Context(), req, time.Now().Add(time.Minute))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	})
	t.Run("cancel while reading the body", func(t *testing.T) {
		o := stallOrigin(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", "hello")
		tr := newTestH1(t)
		ctx, cancel := context.WithCancel(t.Context())
		req, _ := http.NewRequestWithContext(ctx, "GET", o.url, nil)
		resp, err := tr.roundTrip(req.Context(), req, time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			t.Fatal(err)
		}
		cancel()
		_, err = io.ReadAll(resp.Body)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("body error %v, want context.Canceled", err)
		}
		resp.Body.Close()
		if tr.idleCount() != 0 {
			t.Error("a cancelled connection was kept")
		}
	})
	t.Run("the header deadline does not cut the body", func(t *testing.T) {
		o := newRawOrigin(t, func(c net.Conn, br *bufio.Reader) {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe")
			time.Sleep(150 * time.Millisecond)
			io.WriteString(c, "llo")
		})
		tr := newTestH1(t)
		req, _ := http.NewRequest("GET", o.url, nil)
		resp, err := tr.roundTrip(req.Context(), req, time.Now().Add(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil || string(b) != "hello" {
			t.Fatalf("body %q, %v", b, err)
		}
		if tr.idleCount() != 1 {
			t.Error("the connection was not kept after a complete body")
		}
	})
	t.Run("early close drops the connection", func(t *testing.T) {
		o := stallOrigin(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", "hello")
		tr := newTestH1(t)
		req, _ := http.NewRequest("GET", o.url, nil)
		resp, err := tr.roundTrip(req.Context(), req, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close() // must not wait for the 95 bytes that never come
		if _, err := resp.Body.Read(make([]byte, 1)); err == nil {
			t.Error("read after close succeeded")
		}
		if tr.idleCount() != 0 {
			t.Error("a half-read connection was kept")
		}
	})
	t.Run("refused connection is a dial error", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		tr := newTestH1(t)
		req, _ := http.NewRequest("GET", "http://"+addr, nil)
		_, err := tr.roundTrip(req.Context(), req, time.Now().Add(time.Second))
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" {
			t.Fatalf("error %v, want a dial *net.OpError", err)
		}
	})
}

func TestH1Pooling(t *testing.T) {
	t.Run("max idle per host", func(t *testing.T) {
		var arrived sync.WaitGroup
		arrived.Add(3)
		release := make(chan struct{})
		o := newRawOrigin(t, func(c net.Conn, br *bufio.Reader) {
			first := true
			for {
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				if first {
					// Hold the first request of every connection until
					// all three are in, so three connections are open.
					first = false
					arrived.Done()
					<-release
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		})
		tr := newTestH1(t)
		tr.maxIdle = 2
		errs := make(chan error, 3)
		for range 3 {
			go func() { _, err := do(t, tr, "GET", o.url, nil); errs <- err }()
		}
		arrived.Wait()
		close(release)
		for range 3 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if n := tr.idleCount(); n != 2 {
			t.Errorf("%d idle connections, want max_idle_conns_per_host 2", n)
		}
	})
	t.Run("CloseIdleConnections", func(t *testing.T) {
		o := newRawOrigin(t, canned("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false))
		tr := newTestH1(t)
		if _, err := do(t, tr, "GET", o.url, nil); err != nil {
			t.Fatal(err)
		}
		// One exchange in progress while the idle ones are closed.
		req, _ := http.NewRequest("GET", o.url, nil)
		resp, err := tr.roundTrip(req.Context(), req, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		tr.CloseIdleConnections()
		if n := tr.idleCount(); n != 0 {
			t.Errorf("%d idle connections after CloseIdleConnections", n)
		}
		io.ReadAll(resp.Body)
		if n := tr.idleCount(); n != 0 {
			t.Error("a connection dialed before CloseIdleConnections went back to the idle list")
		}
		if _, err := do(t, tr, "GET", o.url, nil); err != nil || tr.idleCount() != 1 {
			t.Errorf("after CloseIdleConnections: %v, %d idle", err, tr.idleCount())
		}
	})
	t.Run("idle timeout", func(t *testing.T) {
		gone := make(chan struct{})
		o := newRawOrigin(t, func(c net.Conn, br *bufio.Reader) {
			canned("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false)(c, br)
			close(gone) // the client closed the connection
		})
		tr := newTestH1(t)
		tr.idleTimeout = 20 * time.Millisecond
		if _, err := do(t, tr, "GET", o.url, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case <-gone:
		case <-time.After(10 * time.Second):
			t.Fatal("the idle connection was never closed")
		}
		if n := tr.idleCount(); n != 0 {
			t.Errorf("%d idle connections past the idle timeout", n)
		}
	})
}

func TestH1LeanOrFallback(t *testing.T) {
	tr := newTestH1(t)
	tests := []struct {
		name string
		req  func() *http.Request
		lean bool
	}{
		{"GET", func() *http.Request { r, _ := http.NewRequest("GET", "http://o/", nil); return r }, true},
		{"POST without body", func() *http.Request { r, _ := http.NewRequest("POST", "http://o/", nil); return r }, true},
		{"request body", func() *http.Request { r, _ := http.NewRequest("POST", "http://o/", strings.NewReader("x")); return r }, false},
		{"upgrade", func() *http.Request {
			r, _ := http.NewRequest("GET", "http://o/", nil)
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Upgrade", "websocket")
			return r
		}, false},
		{"expect", func() *http.Request {
			r, _ := http.NewRequest("GET", "http://o/", nil)
			r.Header.Set("Expect", "100-continue")
			return r
		}, false},
		{"CONNECT", func() *http.Request { r, _ := http.NewRequest("CONNECT", "http://o/", nil); return r }, false},
		{"other scheme", func() *http.Request { r, _ := http.NewRequest("GET", "ftp://o/", nil); return r }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tr.lean(tt.req()); got != tt.lean {
				t.Errorf("lean = %v, want %v", got, tt.lean)
			}
		})
	}

	t.Run("a request body reaches the origin through the fallback", func(t *testing.T) {
		o := origin(t, func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			w.Write([]byte(r.Method + " " + string(b) + " " + strings.Join(r.TransferEncoding, ",")))
		})
		for _, body := range []io.Reader{strings.NewReader("payload"), io.MultiReader(strings.NewReader("payload"))} {
			req, _ := http.NewRequest("POST", o.URL, body)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := string(b); !strings.HasPrefix(got, "POST payload") {
				t.Errorf("origin saw %q", got)
			}
		}
	})
	t.Run("invalid header values are refused", func(t *testing.T) {
		o := newRawOrigin(t, canned("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false))
		_, err := do(t, tr, "GET", o.url, http.Header{"X-Bad": {"a\r\nX-Injected: 1"}})
		if err == nil || !strings.Contains(err.Error(), "invalid header field value") {
			t.Fatalf("error %v", err)
		}
		if o.accepts.Load() != 0 {
			t.Error("a request with an invalid header was sent")
		}
	})
}

// TestH1WriterMatchesRequestWrite: the lean request writer sends exactly
// the bytes req.Write would.
func TestH1WriterMatchesRequestWrite(t *testing.T) {
	tests := []struct {
		name, method, url, host string
		header                  http.Header
	}{
		{"plain GET", "GET", "http://o:8080/a/b?x=1&y=%20z", "", nil},
		{"empty path", "GET", "http://o", "", nil},
		{"escaped path", "GET", "http://o/a%20b/c%2Fd", "", nil},
		{"client Host", "HEAD", "http://10.0.0.1:80/", "www.example.com", nil},
		{"POST sends Content-Length 0", "POST", "http://o/", "", nil},
		{"PUT", "PUT", "http://o/", "", nil},
		{"PATCH", "PATCH", "http://o/", "", nil},
		{"DELETE", "DELETE", "http://o/", "", nil},
		{"empty User-Agent is left out", "GET", "http://o/", "", http.Header{"User-Agent": {""}}},
		{"User-Agent trimmed", "GET", "http://o/", "", http.Header{"User-Agent": {"  curl/8 "}}},
		{"fields sorted, values trimmed, excluded ones dropped", "GET", "http://o/", "", http.Header{
			"X-B": {"2", " 3 "}, "Accept": {"*/*"}, "X-A": {"1"}, "Content-Length": {"9"},
			"Trailer": {"x"}, "Transfer-Encoding": {"chunked"}, "Host": {"evil"}, "Empty": {},
		}},
		{"Connection close", "GET", "http://o/", "", http.Header{"Connection": {"close"}}},
		{"IDN host", "GET", "http://o/", "bücher.example", nil},
		{"IPv6 zone", "GET", "http://[fe80::1%25eth0]:80/", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mk := func() *http.Request {
				req, err := http.NewRequest(tt.method, tt.url, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Host = tt.host
				for k, v := range tt.header {
					req.Header[k] = v
				}
				req.Close = tt.header.Get("Connection") == "close"
				return req
			}
			var want, got strings.Builder
			if err := mk().Write(&want); err != nil {
				t.Fatal(err)
			}
			rw := &reqWriter{bw: bufio.NewWriter(&got)}
			if err := rw.writeRequest(mk()); err != nil {
				t.Fatal(err)
			}
			rw.bw.Flush()
			if got.String() != want.String() {
				t.Errorf("lean writer wrote\n%q\nreq.Write writes\n%q", got.String(), want.String())
			}
		})
	}
}

// FuzzH1Writer: for any request the lean path accepts, the lean writer and
// req.Write agree byte for byte (or both refuse it).
func FuzzH1Writer(f *testing.F) {
	f.Add("GET", "/a b/ü", "x=1", "o:80", "X-A", " v ", "curl")
	f.Add("POST", "", "", "[::1]:8080", "Cookie", "a=b; c=d", "")
	f.Add("PATCH", "/%2F", "?", "bücher.example", "Host", "h", " ")
	f.Fuzz(func(t *testing.T, method, path, query, host, k, v, ua string) {
		if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) || !httpguts.ValidHeaderFieldValue(ua) {
			return // the lean path refuses these before writing
		}
		if method == "" || !httpguts.ValidHeaderFieldName(method) { // a token, as net/http requires
			return
		}
		mk := func() *http.Request {
			return &http.Request{
				Method: method,
				URL:    &url.URL{Scheme: "http", Host: "o", Path: path, RawQuery: query},
				Header: http.Header{http.CanonicalHeaderKey(k): {v}, "User-Agent": {ua}},
				Host:   host,
			}
		}
		var want, got strings.Builder
		werr := mk().Write(&want)
		rw := &reqWriter{bw: bufio.NewWriter(&got)}
		gerr := rw.writeRequest(mk())
		rw.bw.Flush()
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("req.Write error %v, lean writer error %v", werr, gerr)
		}
		if werr == nil && got.String() != want.String() {
			t.Fatalf("lean writer wrote\n%q\nreq.Write writes\n%q", got.String(), want.String())
		}
	})
}
