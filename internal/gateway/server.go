package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/hygiene"
	"golang.org/x/net/http2"
)

// Listening is the addresses the gateway actually bound (useful when the
// configuration asks for port 0).
type Listening struct {
	Public []string
	Admin  string
}

// Serve binds every listener and the admin listener, serves until ctx is
// done, then drains: it stops accepting, lets requests in flight finish for
// up to timeouts.shutdown, and returns. started, when not nil, is called
// once every socket is bound.
func (g *Gateway) Serve(ctx context.Context, started func(Listening)) error {
	cfg := g.snap.Load().Config
	var servers []*server
	closeAll := func() {
		for _, s := range servers {
			s.ln.Close()
		}
	}
	var bound Listening
	for i := range cfg.Listeners {
		s, err := g.newServer(cfg, &cfg.Listeners[i])
		if err != nil {
			closeAll()
			return err
		}
		servers = append(servers, s)
		bound.Public = append(bound.Public, s.ln.Addr().String())
	}
	var admin *http.Server
	var adminLn net.Listener
	if cfg.Admin.Address != "" {
		var err error
		adminLn, err = net.Listen("tcp", cfg.Admin.Address)
		if err != nil {
			closeAll()
			return fmt.Errorf("admin listener %s: %w", cfg.Admin.Address, err)
		}
		admin = &http.Server{Handler: g.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
		bound.Admin = adminLn.Addr().String()
	}

	errc := make(chan error, len(servers)+1)
	for _, s := range servers {
		go func() { errc <- s.serve() }()
	}
	if admin != nil {
		go func() { errc <- admin.Serve(adminLn) }()
	}
	g.ready.Store(true)
	g.log.Info("edgegate serving", "listeners", bound.Public, "admin", bound.Admin, "config", short(cfg.Hash))
	if started != nil {
		started(bound)
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		if errors.Is(serveErr, http.ErrServerClosed) {
			serveErr = nil
		}
	}
	g.ready.Store(false)
	shutdown := g.snap.Load().Config.Timeouts.Shutdown
	sctx, cancel := context.WithTimeout(context.Background(), shutdown)
	defer cancel()
	g.log.Info("draining", "timeout", shutdown.String())
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.shutdown(sctx); err != nil {
				g.log.Warn("drain incomplete", "listener", s.name, "err", err)
			}
		}()
	}
	if admin != nil {
		wg.Add(1)
		go func() { defer wg.Done(); _ = admin.Shutdown(sctx) }()
	}
	wg.Wait()
	g.drainStreams(sctx)
	return serveErr
}

// drainStreams waits for upgraded connections (WebSockets) to end until
// ctx is done, then cuts the rest.
func (g *Gateway) drainStreams(ctx context.Context) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for g.streams.Load() > 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			g.log.Warn("drain deadline passed; closing upgraded connections", "open", g.streams.Load())
			g.cutStreams()
			return
		}
	}
}

// server is one public listener with its http.Server.
type server struct {
	name string
	ln   net.Listener
	srv  *http.Server
	tls  *tlsListener // nil for plain listeners
}

func (s *server) serve() error {
	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *server) shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if s.tls != nil {
		if werr := s.tls.wait(ctx); err == nil {
			err = werr
		}
	}
	return err
}

func (g *Gateway) newServer(cfg *config.Config, lc *config.Listener) (*server, error) {
	raw, err := net.Listen("tcp", lc.Address)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", lc.Name, err)
	}
	t := cfg.Timeouts
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    cfg.Limits.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
		// The framing guard of each connection travels in its context.
		ConnContext: hygiene.ConnContext,
		// Go answers "OPTIONS *" itself otherwise, before our pipeline.
		DisableGeneralOptionsHandler: true,
	}
	s := &server{name: lc.Name, srv: srv}
	if lc.TLS == nil {
		if lc.H2C {
			var p http.Protocols
			p.SetHTTP1(true)
			p.SetUnencryptedHTTP2(true)
			srv.Protocols = &p
		}
		s.ln = hygiene.GuardListener(raw)
		return s, nil
	}
	tcfg, err := serverTLS(lc.TLS, lc.HTTP2)
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("listener %s: %w", lc.Name, err)
	}
	var h2 *http2.Server
	if lc.HTTP2 {
		h2 = &http2.Server{IdleTimeout: t.Idle, MaxReadFrameSize: 1 << 20}
		if err := http2.ConfigureServer(srv, h2); err != nil {
			raw.Close()
			return nil, fmt.Errorf("listener %s: http2: %w", lc.Name, err)
		}
	}
	tl := newTLSListener(raw, tcfg, srv, h2, g, t.ReadHeader)
	// HTTP/1.1 connections come out of tl as handshaken *tls.Conn; the
	// guard wraps them and still reports their TLS state, so r.TLS is set.
	s.ln, s.tls = hygiene.GuardListener(tl), tl
	return s, nil
}

func serverTLS(c *config.ServerTLS, h2 bool) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load certificate %s: %w", c.CertFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: c.MinVersion}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if h2 {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	} else {
		cfg.NextProtos = []string{"http/1.1"}
	}
	if c.ClientCAFile != "" {
		pem, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("read client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA %s holds no PEM certificate", c.ClientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// tlsListener terminates TLS itself instead of letting net/http do it, so
// that HTTP/1.1 over TLS also passes through the framing guard: net/http
// negotiates h2 only for a bare *tls.Conn, and the guard must wrap the
// connection above TLS. ALPN h2 connections go straight to the HTTP/2
// server, which has no Content-Length/Transfer-Encoding ambiguity to guard.
type tlsListener struct {
	raw      net.Listener
	cfg      *tls.Config
	srv      *http.Server
	h2       *http2.Server
	handler  http.Handler
	deadline time.Duration

	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	h2wg  sync.WaitGroup

	mu  sync.Mutex
	err error // why the accept loop stopped; guarded by mu
}

func newTLSListener(raw net.Listener, cfg *tls.Config, srv *http.Server, h2 *http2.Server, h http.Handler, handshake time.Duration) *tlsListener {
	l := &tlsListener{raw: raw, cfg: cfg, srv: srv, h2: h2, handler: h, deadline: handshake,
		conns: make(chan net.Conn), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

func (l *tlsListener) acceptLoop() {
	for {
		c, err := l.raw.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			l.mu.Lock()
			l.err = err
			l.mu.Unlock()
			l.Close()
			return
		}
		go l.handshake(c)
	}
}

func (l *tlsListener) handshake(c net.Conn) {
	tc := tls.Server(c, l.cfg)
	if l.deadline > 0 {
		_ = tc.SetDeadline(time.Now().Add(l.deadline))
	}
	if err := tc.Handshake(); err != nil {
		tc.Close()
		return
	}
	_ = tc.SetDeadline(time.Time{})
	if l.h2 != nil && tc.ConnectionState().NegotiatedProtocol == "h2" {
		l.h2wg.Add(1)
		go func() {
			defer l.h2wg.Done()
			l.h2.ServeConn(tc, &http2.ServeConnOpts{Context: context.Background(), BaseConfig: l.srv, Handler: l.handler})
		}()
		return
	}
	select {
	case l.conns <- tc:
	case <-l.done:
		tc.Close()
	}
}

func (l *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.err != nil && !errors.Is(l.err, net.ErrClosed) {
			return nil, l.err
		}
		return nil, net.ErrClosed
	}
}

func (l *tlsListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.raw.Close()
	})
	return err
}

func (l *tlsListener) Addr() net.Addr { return l.raw.Addr() }

// wait blocks until HTTP/2 connections have ended (http2.ConfigureServer
// sent them GOAWAY when the http.Server shut down) or ctx is done.
func (l *tlsListener) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { l.h2wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("http/2 connections still open: %w", ctx.Err())
	}
}
