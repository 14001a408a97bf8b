package upstream

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/config"
)

// testPKI is a throwaway CA with one server and one client certificate.
type testPKI struct {
	dir                   string
	caFile                string
	clientCert, clientKey string
	serverCert            tls.Certificate
	pool                  *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "edgegate test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
			DNSNames:     []string{"origin.internal"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	p := &testPKI{dir: dir, pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.caFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)

	srvDER, srvKey := issue(2, "origin", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.serverCert = tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}

	cliDER, cliKey := issue(3, "edgegate-client", x509.ExtKeyUsageClientAuth, nil)
	p.clientCert = writePEM(t, dir, "client.pem", "CERTIFICATE", cliDER)
	keyDER, err := x509.MarshalPKCS8PrivateKey(cliKey)
	if err != nil {
		t.Fatal(err)
	}
	p.clientKey = writePEM(t, dir, "client-key.pem", "PRIVATE KEY", keyDER)
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// protoOrigin answers with the protocol and client certificate it saw.
func protoHandler(w http.ResponseWriter, r *http.Request) {
	cn := "-"
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		cn = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	w.Write([]byte(r.Proto + " " + cn))
}

func TestMTLS(t *testing.T) {
	pki := newTestPKI(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(protoHandler))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{pki.serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pki.pool,
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failing cases log handshake errors
	srv.StartTLS()
	t.Cleanup(srv.Close)

	withTLS := func(otls *config.OriginTLS) config.Pool {
		pc := poolCfg(t, "secure", srv.URL)
		pc.TLS = otls
		return pc
	}
	t.Run("client certificate presented", func(t *testing.T) {
		pc := withTLS(&config.OriginTLS{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey})
		m := newSet(t, []config.Pool{pc}, Options{}).Pool("secure").Members()[0]
		if _, body := get(t, m, "/"); body != "HTTP/1.1 edgegate-client" {
			t.Errorf("origin saw %q", body)
		}
	})
	t.Run("server name override", func(t *testing.T) {
		pc := withTLS(&config.OriginTLS{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey, ServerName: "origin.internal"})
		m := newSet(t, []config.Pool{pc}, Options{}).Pool("secure").Members()[0]
		if _, body := get(t, m, "/"); body != "HTTP/1.1 edgegate-client" {
			t.Errorf("origin saw %q", body)
		}
	})

	failing := []struct {
		name    string
		tls     *config.OriginTLS
		errPart string
	}{
		{"no client certificate", &config.OriginTLS{CAFile: pki.caFile}, "certificate"},
		{"unknown CA", nil, "certificate"},
		{"wrong server name", &config.OriginTLS{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey, ServerName: "other.internal"}, "other.internal"},
	}
	for _, tt := range failing {
		t.Run(tt.name, func(t *testing.T) {
			m := newSet(t, []config.Pool{withTLS(tt.tls)}, Options{}).Pool("secure").Members()[0]
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			resp, err := m.Transport().RoundTrip(req)
			if err == nil {
				resp.Body.Close()
				t.Fatal("request succeeded")
			}
			if !strings.Contains(err.Error(), tt.errPart) {
				t.Errorf("error %q does not mention %q", err, tt.errPart)
			}
		})
	}
}

func TestTLSFileErrors(t *testing.T) {
	pki := newTestPKI(t)
	notPEM := filepath.Join(pki.dir, "junk.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		tls     *config.OriginTLS
		errPart string
	}{
		{"missing CA file", &config.OriginTLS{CAFile: filepath.Join(pki.dir, "nope.pem")}, "ca_file"},
		{"CA file without PEM", &config.OriginTLS{CAFile: notPEM}, "no PEM certificate"},
		{"key does not match", &config.OriginTLS{CertFile: pki.clientCert, KeyFile: notPEM}, "client certificate"},
		{"cert without key", &config.OriginTLS{CertFile: pki.clientCert}, "together"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := poolCfg(t, "p", "https://127.0.0.1:10443")
			pc.TLS = tt.tls
			_, err := NewSet([]config.Pool{pc}, Options{Timeouts: testTimeouts})
			if err == nil || !strings.Contains(err.Error(), tt.errPart) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.errPart)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Fatalf("error leaks key material: %v", err)
			}
		})
	}
}

func TestProtocols(t *testing.T) {
	// A cleartext origin that speaks HTTP/1.1 and prior-knowledge h2c.
	h2c := httptest.NewUnstartedServer(http.HandlerFunc(protoHandler))
	h2c.Config.Protocols = new(http.Protocols)
	h2c.Config.Protocols.SetHTTP1(true)
	h2c.Config.Protocols.SetUnencryptedHTTP2(true)
	h2c.Start()
	t.Cleanup(h2c.Close)

	// A TLS origin offering h2 and http/1.1 by ALPN.
	h2 := httptest.NewUnstartedServer(http.HandlerFunc(protoHandler))
	h2.EnableHTTP2 = true
	h2.StartTLS()
	t.Cleanup(h2.Close)
	caFile := writePEM(t, t.TempDir(), "ca.pem", "CERTIFICATE", h2.Certificate().Raw)

	tests := []struct {
		name     string
		url      string
		protocol config.Protocol
		want     string
	}{
		{"http1 cleartext", h2c.URL, config.ProtocolHTTP1, "HTTP/1.1"},
		{"http2 cleartext is h2c", h2c.URL, config.ProtocolHTTP2, "HTTP/2.0"},
		{"auto cleartext stays http1", h2c.URL, config.ProtocolAuto, "HTTP/1.1"},
		{"http1 over TLS", h2.URL, config.ProtocolHTTP1, "HTTP/1.1"},
		{"http2 over TLS", h2.URL, config.ProtocolHTTP2, "HTTP/2.0"},
		{"auto over TLS negotiates h2", h2.URL, config.ProtocolAuto, "HTTP/2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := poolCfg(t, "p", tt.url)
			pc.Protocol = tt.protocol
			pc.TLS = &config.OriginTLS{CAFile: caFile}
			m := newSet(t, []config.Pool{pc}, Options{}).Pool("p").Members()[0]
			for range 2 { // the second request reuses the connection
				if _, body := get(t, m, "/"); body != tt.want+" -" {
					t.Errorf("origin saw %q, want %q", body, tt.want)
				}
			}
		})
	}

	t.Run("health checks speak the pool's protocol", func(t *testing.T) {
		h2only := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ProtoMajor != 2 {
				w.WriteHeader(http.StatusHTTPVersionNotSupported)
			}
		}))
		h2only.Config.Protocols = new(http.Protocols)
		h2only.Config.Protocols.SetHTTP1(true)
		h2only.Config.Protocols.SetUnencryptedHTTP2(true)
		h2only.Start()
		t.Cleanup(h2only.Close)
		pc := poolCfg(t, "p", h2only.URL)
		pc.Protocol = config.ProtocolHTTP2
		pc.HealthCheck = &config.HealthCheck{Path: "/", Interval: time.Hour, Timeout: 5 * time.Second, HealthyThreshold: 1, UnhealthyThreshold: 1}
		m := newSet(t, []config.Pool{pc}, Options{}).Pool("p").Members()[0]
		if ok, reason := m.checkOnce(t.Context()); !ok {
			t.Errorf("h2c check failed: %s", reason)
		}
	})
}

func TestTransportSettings(t *testing.T) {
	pc := poolCfg(t, "p", fakeMembers(2)...)
	pc.MaxIdleConnsPerHost = 17
	pc.ConnectTimeout = 3 * time.Second
	p := newSet(t, []config.Pool{pc}, Options{}).Pool("p")
	tr := p.transport
	if tr.MaxIdleConnsPerHost != 17 || tr.IdleConnTimeout != 90*time.Second || !tr.DisableCompression ||
		tr.ForceAttemptHTTP2 || tr.ResponseHeaderTimeout != 0 || tr.Proxy != nil || tr.MaxIdleConns < 1024 {
		t.Errorf("transport settings: %+v", tr)
	}
	if tr.TLSHandshakeTimeout != 3*time.Second {
		t.Errorf("TLS handshake timeout = %v, want the connect timeout", tr.TLSHandshakeTimeout)
	}
	if p.Members()[0].Transport() != p.Members()[1].Transport() {
		t.Error("members do not share the pool transport")
	}
	if p.ResponseTimeout() != testTimeouts.OriginResponse {
		t.Errorf("ResponseTimeout = %v, want the global default", p.ResponseTimeout())
	}
}
