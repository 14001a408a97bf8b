package authn

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/internal/config"
)

// Refresh bounds when the provider's cache headers decide.
const (
	minRefresh     = time.Minute
	maxRefresh     = 24 * time.Hour
	defaultRefresh = time.Hour
	// retryMin and retryMax bound the wait after a failed fetch.
	retryMin = 2 * time.Second
	retryMax = time.Minute
	// fetchTimeout bounds one discovery or JWKS request.
	fetchTimeout = 10 * time.Second
	// kidWait bounds how long a request waits for an unknown-kid refetch.
	kidWait = 5 * time.Second
	// ageTick is how often the key age gauge is updated.
	ageTick = 10 * time.Second
)

// Sources holds the key sources (fetched JWKS) of a gateway, keyed by the
// content of their configuration, so that a reload which keeps an issuer's
// key settings keeps its keys, its refresh schedule and its unknown-kid rate
// limit. Its background refreshers stop when the context given to
// NewSources ends.
type Sources struct {
	ctx    context.Context
	client *http.Client
	log    *slog.Logger
	hooks  Hooks

	mu sync.Mutex
	m  map[string]*keySource
}

// Hooks observe key sources (for metrics). Either may be nil. The issuer
// passed is the configured name of the first issuer that used the source.
type Hooks struct {
	// Fetched is called after every fetch attempt.
	Fetched func(issuer string, err error)
	// Age is called every few seconds with the age of the keys in use
	// (time since the last successful fetch).
	Age func(issuer string, age time.Duration)
}

// NewSources returns an empty registry. client may be nil for a bounded
// default (10 s timeout, at most 3 redirects, https only except on
// loopback).
func NewSources(ctx context.Context, client *http.Client, log *slog.Logger, hooks Hooks) *Sources {
	if client == nil {
		client = defaultClient()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sources{ctx: ctx, client: client, log: log, hooks: hooks, m: make(map[string]*keySource)}
}

func defaultClient() *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: fetchTimeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   fetchTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("too many redirects")
			}
			return checkKeyURL(req.URL)
		},
	}
}

// checkKeyURL refuses plain-HTTP key fetches except on loopback.
func checkKeyURL(u *url.URL) error {
	if u.Scheme == "https" {
		return nil
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); u.Scheme == "http" && (host == "localhost" || ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("refusing to fetch keys from %s: https is required", u.Redacted())
}

// sourceKey is the content that identifies a key source.
func sourceKey(is *config.Issuer) string {
	h := sha256.New()
	for _, s := range []string{is.Issuer, is.DiscoveryURL, is.JWKSURL, is.JWKSFile,
		is.JWKSRefresh.String(), is.UnknownKIDRefetchInterval.String()} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// acquire returns the source for is, creating and loading it when new.
// A source that has no keys yet is loaded now when is says fail_start.
func (r *Sources) acquire(ctx context.Context, is *config.Issuer) (*keySource, error) {
	k := sourceKey(is)
	r.mu.Lock()
	src := r.m[k]
	if src == nil {
		src = &keySource{
			name: is.Name, issuer: is.Issuer, discoveryURL: is.DiscoveryURL, jwksURL: is.JWKSURL, jwksFile: is.JWKSFile,
			refresh: is.JWKSRefresh, kidInterval: is.UnknownKIDRefetchInterval,
			client: r.client, log: r.log.With("issuer", is.Name), hooks: r.hooks, key: k,
		}
		src.ctx, src.cancel = context.WithCancel(r.ctx)
		r.m[k] = src
	}
	r.mu.Unlock()

	if src.current() == nil {
		err := src.fetch(ctx)
		if err != nil && is.OnUnreachable != config.OnUnreachableFailClosed {
			return nil, fmt.Errorf("issuer %q: %w (on_unreachable: fail_start; set fail_closed to start anyway)", is.Name, err)
		}
		if err != nil {
			src.log.Warn("issuer keys unavailable; its tokens get 503 until they can be fetched", "err", err)
		}
	}
	src.startOnce.Do(func() {
		if src.jwksFile == "" {
			go src.run()
		}
	})
	return src, nil
}

// Sweep stops the sources that none of the given sets uses. The gateway
// calls it with the set in service and the one replacing it, so a source
// is stopped only once no snapshot can reach it.
func (r *Sources) Sweep(keep ...*Set) {
	used := make(map[*keySource]bool)
	for _, s := range keep {
		if s == nil {
			continue
		}
		for _, v := range s.verifiers {
			if v.src != nil {
				used[v.src] = true
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, src := range r.m {
		if !used[src] {
			src.cancel()
			delete(r.m, k)
		}
	}
}

// keySource is one issuer's key set and its refresh.
type keySource struct {
	name, issuer                    string
	discoveryURL, jwksURL, jwksFile string
	refresh, kidInterval            time.Duration
	client                          *http.Client
	log                             *slog.Logger
	hooks                           Hooks
	key                             string
	ctx                             context.Context
	cancel                          context.CancelFunc
	startOnce                       sync.Once

	set atomic.Pointer[keySet]
	// fetchedAt is the unix nanosecond time of the last successful fetch.
	fetchedAt atomic.Int64
	// fetches counts fetch attempts (tests read it).
	fetches atomic.Int64

	mu sync.Mutex
	// inflight is closed when the fetch in progress ends (guarded by mu).
	inflight chan struct{}
	lastErr  error
	// resolvedJWKS is the jwks_uri found by discovery (guarded by mu).
	resolvedJWKS string
	// lastKIDFetch is when an unknown kid last caused a fetch (guarded by mu).
	lastKIDFetch time.Time
	// nextRefresh is the wait the last fetch's cache headers asked for
	// (guarded by mu).
	nextRefresh time.Duration
}

func (s *keySource) current() *keySet { return s.set.Load() }

// fetch loads the key set once; concurrent callers share one request.
func (s *keySource) fetch(ctx context.Context) error {
	s.mu.Lock()
	ch := s.inflight
	if ch == nil {
		ch = make(chan struct{})
		s.inflight = ch
		go s.doFetch(ch)
	}
	s.mu.Unlock()
	select {
	case <-ch:
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.lastErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *keySource) doFetch(done chan struct{}) {
	ctx, cancel := context.WithTimeout(s.ctx, 2*fetchTimeout)
	defer cancel()
	s.fetches.Add(1)
	ks, wait, err := s.load(ctx)
	if err == nil {
		s.install(ks)
	}
	if s.hooks.Fetched != nil {
		s.hooks.Fetched(s.name, err)
	}
	s.mu.Lock()
	s.lastErr = err
	if err == nil {
		s.nextRefresh = wait
	}
	s.inflight = nil
	s.mu.Unlock()
	close(done)
}

// install makes ks current. Keys that are in both sets keep their
// identity, so tokens they verified stay cached; keys that left are marked
// removed, which drops the tokens they verified from the cache at once.
func (s *keySource) install(ks *keySet) {
	old := s.set.Load()
	if old != nil {
		for i, k := range ks.keys {
			for _, o := range old.keys {
				if o.kid == k.kid && o.alg == k.alg && samePublic(o.pub, k.pub) {
					ks.keys[i] = o
					break
				}
			}
		}
		for _, o := range old.keys {
			kept := false
			for _, k := range ks.keys {
				if k == o {
					kept = true
					break
				}
			}
			if !kept {
				o.removed.Store(true)
				s.log.Info("issuer key removed", "kid", o.kid)
			}
		}
	}
	s.set.Store(ks)
	s.fetchedAt.Store(time.Now().UnixNano())
	if ks.skipped > 0 {
		s.log.Warn("issuer key set has unusable keys; they are ignored", "skipped", ks.skipped)
	}
}

func samePublic(a, b any) bool {
	pa, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pa.Equal(b)
}

// load fetches discovery (once) and the key set. wait is the refresh
// interval the response's cache headers ask for.
func (s *keySource) load(ctx context.Context) (*keySet, time.Duration, error) {
	if s.jwksFile != "" {
		data, err := readLimited(s.jwksFile)
		if err != nil {
			return nil, 0, err
		}
		ks, err := parseJWKS(data)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", s.jwksFile, err)
		}
		return ks, 0, nil
	}
	jwksURL := s.jwksURL
	if jwksURL == "" {
		s.mu.Lock()
		jwksURL = s.resolvedJWKS
		s.mu.Unlock()
		if jwksURL == "" {
			u, err := s.discover(ctx)
			if err != nil {
				return nil, 0, err
			}
			jwksURL = u
			s.mu.Lock()
			s.resolvedJWKS = u
			s.mu.Unlock()
		}
	}
	data, hdr, err := s.get(ctx, jwksURL)
	if err != nil {
		return nil, 0, err
	}
	ks, err := parseJWKS(data)
	if err != nil {
		return nil, 0, fmt.Errorf("JWKS %s: %w", jwksURL, err)
	}
	return ks, refreshFromHeaders(hdr, time.Now()), nil
}

func readLimited(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxJWKSBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxJWKSBytes)
	}
	return data, nil
}

// discover reads the OIDC discovery document and returns its jwks_uri,
// after checking that it speaks for the configured issuer (a document that
// names another issuer could hand us someone else's keys).
func (s *keySource) discover(ctx context.Context) (string, error) {
	data, _, err := s.get(ctx, s.discoveryURL)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := checkJSON(data); err != nil {
		return "", fmt.Errorf("discovery %s: %w", s.discoveryURL, err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return "", fmt.Errorf("discovery %s: %w", s.discoveryURL, err)
	}
	if doc.Issuer != s.issuer {
		return "", fmt.Errorf("discovery %s names issuer %q, not the configured %q", s.discoveryURL, doc.Issuer, s.issuer)
	}
	u, err := url.Parse(doc.JWKSURI)
	if err != nil || !u.IsAbs() {
		return "", fmt.Errorf("discovery %s: jwks_uri %q is not an absolute URL", s.discoveryURL, doc.JWKSURI)
	}
	if err := checkKeyURL(u); err != nil {
		return "", fmt.Errorf("discovery %s: %w", s.discoveryURL, err)
	}
	return doc.JWKSURI, nil
}

func (s *keySource) get(ctx context.Context, u string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "edgegate")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, nil, fmt.Errorf("fetch %s: status %d", u, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	if len(data) > maxJWKSBytes {
		return nil, nil, fmt.Errorf("fetch %s: body larger than %d bytes", u, maxJWKSBytes)
	}
	return data, resp.Header, nil
}

// run refreshes the key set until the source is stopped: on the configured
// interval or as the cache headers say, sooner after a failure.
func (s *keySource) run() {
	age := time.NewTicker(ageTick)
	defer age.Stop()
	wait := s.interval()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	retry := retryMin
	s.reportAge()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-age.C:
			s.reportAge()
		case <-timer.C:
			if err := s.fetch(s.ctx); err != nil {
				if s.ctx.Err() != nil {
					return
				}
				s.log.Warn("issuer keys refresh failed; keeping the last good keys", "err", err, "retry_in", retry)
				timer.Reset(retry)
				retry = min(2*retry, retryMax)
				continue
			}
			retry = retryMin
			timer.Reset(s.interval())
		}
	}
}

func (s *keySource) reportAge() {
	if s.hooks.Age == nil {
		return
	}
	at := s.fetchedAt.Load()
	if at == 0 {
		return
	}
	s.hooks.Age(s.name, time.Since(time.Unix(0, at)))
}

// interval is the wait before the next scheduled refresh. Before the
// first success it is the retry delay.
func (s *keySource) interval() time.Duration {
	if s.current() == nil {
		return retryMin
	}
	if s.refresh > 0 {
		return s.refresh
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nextRefresh > 0 {
		return s.nextRefresh
	}
	return defaultRefresh
}

// refetchForKID refetches the key set because a token named a key ID the
// set does not have, at most once per interval per source. It reports
// whether a refetch was made (successful or not).
func (s *keySource) refetchForKID(ctx context.Context) bool {
	if s.jwksFile != "" {
		return false
	}
	s.mu.Lock()
	now := time.Now()
	if !s.lastKIDFetch.IsZero() && now.Sub(s.lastKIDFetch) < s.kidInterval {
		s.mu.Unlock()
		return false
	}
	s.lastKIDFetch = now
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, kidWait)
	defer cancel()
	if err := s.fetch(ctx); err != nil {
		s.log.Warn("refetch for an unknown key ID failed", "err", err)
	}
	return true
}

// Refresh fetches the issuer's keys now, outside the schedule and the
// unknown-kid rate limit (for tests and operators).
func (s *keySource) Refresh(ctx context.Context) error { return s.fetch(ctx) }

// refreshFromHeaders turns Cache-Control max-age (or Expires) into the
// next refresh, kept within [minRefresh, maxRefresh].
func refreshFromHeaders(h http.Header, now time.Time) time.Duration {
	d := time.Duration(-1)
	if age, ok := maxAge(h.Get("Cache-Control")); ok {
		d = age
		if a, err := strconv.Atoi(strings.TrimSpace(h.Get("Age"))); err == nil && a > 0 {
			d -= time.Duration(a) * time.Second
		}
	} else if exp := h.Get("Expires"); exp != "" {
		if t, err := http.ParseTime(exp); err == nil {
			d = t.Sub(now)
		} else {
			d = 0 // an invalid Expires means already expired
		}
	}
	if d < 0 {
		return defaultRefresh
	}
	return min(max(d, minRefresh), maxRefresh)
}

// maxAge parses the max-age directive of a Cache-Control value. no-store
// and no-cache count as max-age=0. ok is false when neither appears.
func maxAge(v string) (time.Duration, bool) {
	var (
		age   time.Duration
		found bool
	)
	for v != "" {
		var dir string
		dir, v, _ = strings.Cut(v, ",")
		dir = strings.TrimSpace(dir)
		name, val, hasVal := strings.Cut(dir, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		switch name {
		case "no-store", "no-cache":
			return 0, true
		case "max-age":
			if !hasVal {
				continue
			}
			val = strings.Trim(strings.TrimSpace(val), `"`)
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 0 {
				continue
			}
			if n > int64(maxRefresh/time.Second) {
				n = int64(maxRefresh / time.Second)
			}
			age, found = time.Duration(n)*time.Second, true
		}
	}
	return age, found
}
