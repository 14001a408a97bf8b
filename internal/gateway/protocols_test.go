package gateway

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
)

func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestWebSocketThroughGateway(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, append([]byte(r.URL.Path+":"), msg...)); err != nil {
				return
			}
		}
	}))
	defer origin.Close()
	// A short read timeout must not cut a WebSocket that lives longer.
	src := strings.Replace(basicConfig(origin.URL, ""), "  shutdown: 5s", "  shutdown: 5s\n  read: 300ms", 1)
	tg := startGateway(t, src)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws://"+tg.addr+"/chat/../room", nil)
	if err != nil {
		t.Fatalf("dial: %v (resp %v)", err, resp)
	}
	defer c.CloseNow()
	for i := 0; i < 3; i++ {
		msg := fmt.Sprintf("hello %d", i)
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "/room:"+msg {
			t.Errorf("echo %q", got)
		}
		time.Sleep(200 * time.Millisecond) // outlive the 300ms read timeout in total
	}
	c.Close(websocket.StatusNormalClosure, "")
}

// TestGRPCThroughGateway runs a real gRPC server (h2c) behind the gateway
// and calls it over h2c: unary and server streaming, with trailers
// (grpc-status) and metadata going through.
func TestGRPCThroughGateway(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("billing", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()

	src := fmt.Sprintf(`version: 1
listeners: [{address: "127.0.0.1:0", h2c: true}]
admin: {address: "off"}
pools: [{name: grpc, members: ["http://%s"], protocol: http2}]
routes: [{name: grpc, match: {path_prefix: /grpc.health.v1.Health}, pool: grpc}]
`, lis.Addr())
	tg := startGateway(t, src)

	conn, err := grpc.NewClient(tg.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var trailer metadata.MD
	res, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "billing"}, grpc.Trailer(&trailer))
	if err != nil {
		t.Fatalf("unary: %v", err)
	}
	if res.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("status %v", res.Status)
	}
	// An application error travels as grpc-status in the trailers.
	_, err = client.Check(ctx, &healthpb.HealthCheckRequest{Service: "unknown"})
	if err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("unknown service: err = %v, want NotFound", err)
	}
	// Server streaming: the status change must arrive while the stream is open.
	stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil || first.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first watch message %v %v", first, err)
	}
	hs.SetServingStatus("billing", healthpb.HealthCheckResponse_NOT_SERVING)
	second, err := stream.Recv()
	if err != nil || second.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("second watch message %v %v", second, err)
	}
}

// TestRawHygieneEndToEnd sends raw bytes to the real gateway and checks
// that the bad ones are refused and never reach the origin. The hygiene
// package tests each rule in depth; this proves the gateway wires them in.
func TestRawHygieneEndToEnd(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.RequestURI()+" upgrade="+r.Header.Get("Upgrade")+" xff="+r.Header.Get("X-Forwarded-For"))
		mu.Unlock()
		if r.Header.Get("Upgrade") != "" {
			// A lenient origin would switch here (golang/go#80416).
			w.Header().Set("Connection", "Upgrade")
			w.Header().Set("Upgrade", r.Header.Get("Upgrade"))
			w.WriteHeader(http.StatusSwitchingProtocols)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer origin.Close()
	tg := startGateway(t, basicConfig(origin.URL, ""))

	for _, tc := range []struct {
		name   string
		raw    string
		status int
	}{
		{"cl_te", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", 400},
		{"te_obfuscated", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n", 501},
		{"encoded_slash", "GET /a%2f..%2fadmin HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"backslash", "GET /a\\..\\admin HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"absolute_form", "GET http://other/admin HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"underscore_header", "GET /a HTTP/1.1\r\nHost: x\r\nX_Forwarded_User: admin\r\n\r\n", 400},
		{"dotdot_params", "GET /a/..;x=y/admin HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"nul", "GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"bad_percent", "GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status := rawStatus(t, tg.addr, tc.raw)
			if status != tc.status {
				t.Errorf("status %d, want %d", status, tc.status)
			}
		})
	}
	mu.Lock()
	if len(seen) != 0 {
		t.Errorf("origin saw refused requests: %q", seen)
	}
	seen = nil
	mu.Unlock()

	// h2c upgrade smuggling: the gateway must never answer 101 for h2c, and
	// the origin must never see the Upgrade header.
	status := rawStatus(t, tg.addr, "GET /flag HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
	if status == 101 {
		t.Error("h2c upgrade was switched")
	}
	// Spoofed X-Forwarded-For from an untrusted peer is replaced.
	rawStatus(t, tg.addr, "GET /ok HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n")
	mu.Lock()
	defer mu.Unlock()
	want := []string{"GET /flag upgrade= xff=127.0.0.1", "GET /ok upgrade= xff=127.0.0.1"}
	if strings.Join(seen, "|") != strings.Join(want, "|") {
		t.Errorf("origin saw %q, want %q", seen, want)
	}
}

func rawStatus(t *testing.T, addr, raw string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRequestTrailersNotForwarded: trailers arrive after hygiene has run,
// so an identity header could ride in them past every check; the gateway
// does not forward request trailers at all.
func TestRequestTrailersNotForwarded(t *testing.T) {
	var mu sync.Mutex
	var seen http.Header
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		seen = r.Trailer.Clone()
		mu.Unlock()
		_, _ = w.Write([]byte("ok"))
	}))
	defer origin.Close()
	tg := startGateway(t, basicConfig(origin.URL, ""))
	raw := "POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Foo\r\n\r\n" +
		"4\r\nbody\r\n0\r\nX-Foo: 1\r\nX-Forwarded-User: admin\r\nEdgegate-Assertion: forged\r\n\r\n"
	if status := rawStatus(t, tg.addr, raw); status != 200 {
		t.Fatalf("status %d", status)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 0 {
		t.Errorf("origin received request trailers %v", seen)
	}
}

// TestTETrailersForwarded: "TE: trailers" is the one TE value kept (gRPC
// origins need it), though TE is hop-by-hop.
func TestTETrailersForwarded(t *testing.T) {
	o := newEchoOrigin(t, "a")
	tg := startGateway(t, basicConfig(o.URL, ""))
	for _, tc := range []struct{ te, want string }{{"trailers", "trailers"}, {"gzip", ""}} {
		req := mustReq(t, "GET", tg.url("/te"))
		req.Header.Set("Te", tc.te)
		_, e := getEcho(t, http.DefaultClient, req)
		if got := e.Header.Get("Te"); got != tc.want {
			t.Errorf("TE %q: origin saw %q, want %q", tc.te, got, tc.want)
		}
	}
}
