package upstream

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/edgegate/edgegate/internal/config"
)

const (
	// idleConnTimeout is how long an unused keep-alive connection to an
	// origin is kept; below the 120 s many origins (and our own default
	// idle timeout) use, so we close first and never write into a
	// connection the origin is tearing down.
	idleConnTimeout = 90 * time.Second
	// maxIdleConnsFloor bounds idle connections over all members of a pool;
	// the per-host limit from the config is the one that matters.
	maxIdleConnsFloor = 1024
	// tcpKeepAlive detects origins that vanished without a FIN.
	tcpKeepAlive = 30 * time.Second
	// h2SendPing and h2PingTimeout detect dead HTTP/2 connections, which
	// are long-lived and multiplexed, so one stuck connection would stall
	// every request sharing it.
	h2SendPing    = 30 * time.Second
	h2PingTimeout = 15 * time.Second
	// checkIdleConnsPerHost: a health checker sends one request at a time
	// per member.
	checkIdleConnsPerHost = 1
)

// tlsMaterial is the content of a pool's TLS files, read once so that the
// bytes hashed for reuse are exactly the bytes the transport is built from.
type tlsMaterial struct {
	ca, cert, key []byte
}

func readTLSMaterial(pc *config.Pool) (*tlsMaterial, error) {
	if pc.TLS == nil {
		return nil, nil
	}
	var m tlsMaterial
	var err error
	read := func(what, file string) []byte {
		if file == "" || err != nil {
			return nil
		}
		b, rerr := os.ReadFile(file)
		if rerr != nil {
			err = fmt.Errorf("pool %q: tls %s: %w", pc.Name, what, rerr)
		}
		return b
	}
	m.ca = read("ca_file", pc.TLS.CAFile)
	m.cert = read("cert_file", pc.TLS.CertFile)
	m.key = read("key_file", pc.TLS.KeyFile)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// clientTLS builds the tls.Config toward a pool's https members.
func clientTLS(pc *config.Pool, mat *tlsMaterial) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if pc.TLS == nil {
		return c, nil
	}
	c.ServerName = pc.TLS.ServerName
	c.InsecureSkipVerify = pc.TLS.InsecureSkipVerify
	if len(mat.ca) > 0 || pc.TLS.CAFile != "" {
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(mat.ca) {
			return nil, fmt.Errorf("pool %q: tls ca_file %s: no PEM certificate found", pc.Name, pc.TLS.CAFile)
		}
		c.RootCAs = roots
	}
	switch {
	case pc.TLS.CertFile != "" && pc.TLS.KeyFile != "":
		// The error of X509KeyPair never quotes the key bytes.
		cert, err := tls.X509KeyPair(mat.cert, mat.key)
		if err != nil {
			return nil, fmt.Errorf("pool %q: tls client certificate %s: %w", pc.Name, pc.TLS.CertFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	case pc.TLS.CertFile != "" || pc.TLS.KeyFile != "":
		return nil, fmt.Errorf("pool %q: tls: cert_file and key_file must be given together", pc.Name)
	}
	return c, nil
}

// protocols maps the configured origin protocol onto the transport's set.
func protocols(p config.Protocol) (*http.Protocols, error) {
	var ps http.Protocols
	switch p {
	case config.ProtocolHTTP1, "":
		ps.SetHTTP1(true)
	case config.ProtocolHTTP2:
		// Without HTTP1 in the set, http:// members get prior-knowledge h2c
		// and https:// members must negotiate h2 by ALPN.
		ps.SetHTTP2(true)
		ps.SetUnencryptedHTTP2(true)
	case config.ProtocolAuto:
		ps.SetHTTP1(true)
		ps.SetHTTP2(true)
	default:
		return nil, fmt.Errorf("unknown protocol %q", p)
	}
	return &ps, nil
}

// newTransport returns the keep-alive transport of one pool. No
// ResponseHeaderTimeout: the proxy bounds each attempt with a context
// deadline, which also covers per-route overrides. No environment proxy:
// an edge gateway must not be redirected by HTTP_PROXY.
func newTransport(pc *config.Pool, tc *tls.Config, connect time.Duration, perHost int) (*http.Transport, error) {
	ps, err := protocols(pc.Protocol)
	if err != nil {
		return nil, fmt.Errorf("pool %q: %w", pc.Name, err)
	}
	d := &net.Dialer{Timeout: connect, KeepAlive: tcpKeepAlive}
	maxIdle := perHost * len(pc.Members)
	if maxIdle < maxIdleConnsFloor {
		maxIdle = maxIdleConnsFloor
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		TLSClientConfig:       tc.Clone(),
		TLSHandshakeTimeout:   connect,
		MaxIdleConns:          maxIdle,
		MaxIdleConnsPerHost:   perHost,
		IdleConnTimeout:       idleConnTimeout,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     false,
		// A proxy must pass Accept-Encoding through as the client sent it,
		// and never decompress behind the client's back.
		DisableCompression: true,
		Protocols:          ps,
		HTTP2: &http.HTTP2Config{
			SendPingTimeout: h2SendPing,
			PingTimeout:     h2PingTimeout,
		},
	}, nil
}

// fingerprint identifies everything a built pool depends on: its config,
// the effective origin timeouts, the bytes of its TLS files and (through
// failoverFP) its failover chain. Equal fingerprints mean the built pool
// can be reused as-is.
func fingerprint(pc *config.Pool, mat *tlsMaterial, connect, response time.Duration, failoverFP *[32]byte) ([32]byte, error) {
	h := sha256.New()
	b, err := json.Marshal(pc)
	if err != nil {
		return [32]byte{}, fmt.Errorf("pool %q: fingerprint: %w", pc.Name, err)
	}
	writeField(h, b)
	var buf [16]byte
	binary.BigEndian.PutUint64(buf[:8], uint64(connect))
	binary.BigEndian.PutUint64(buf[8:], uint64(response))
	writeField(h, buf[:])
	if mat != nil {
		writeField(h, mat.ca)
		writeField(h, mat.cert)
		writeField(h, mat.key)
	} else {
		writeField(h, nil)
	}
	if failoverFP != nil {
		writeField(h, failoverFP[:])
	} else {
		writeField(h, nil)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out, nil
}

// writeField writes b length-prefixed, so field boundaries cannot shift.
func writeField(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}

// errBadFailover marks a failover reference that cannot be resolved.
var errBadFailover = errors.New("bad failover reference")
