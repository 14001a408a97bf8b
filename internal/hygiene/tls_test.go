package hygiene

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestGuardListenerOverTLS runs the guard above a TLS listener: the scanner
// must see plaintext, and handlers must still see Request.TLS.
func TestGuardListenerOverTLS(t *testing.T) {
	certSrv := httptest.NewUnstartedServer(nil)
	certSrv.StartTLS()
	certs := certSrv.TLS.Certificates
	pool := x509.NewCertPool()
	pool.AddCert(certSrv.Certificate())
	certSrv.Close()

	pol := &Policy{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e := pol.CheckFraming(r); e != nil {
			w.Header().Set("Connection", "close")
			w.WriteHeader(e.Status)
			io.WriteString(w, e.Code)
			return
		}
		if r.TLS == nil || !r.TLS.HandshakeComplete {
			w.WriteHeader(500)
			io.WriteString(w, "no TLS state")
			return
		}
		io.WriteString(w, "ok")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ConnContext: ConnContext, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(GuardListener(tls.NewListener(ln, &tls.Config{Certificates: certs, NextProtos: []string{"http/1.1"}})))
	t.Cleanup(func() { srv.Close() })

	tests := []struct {
		name   string
		raw    string
		status int
		body   string
	}{
		{"plain request", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 200, "ok"},
		{"CL.TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "hygiene.cl_te"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "example.com"})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, tt.raw)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || string(b) != tt.body {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, b, tt.status, tt.body)
			}
		})
	}
}
