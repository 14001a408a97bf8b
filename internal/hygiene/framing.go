package hygiene

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/edgegate/edgegate/internal/httperr"
)

// Why this exists: net/http accepts an HTTP/1.1 request carrying both
// Content-Length and Transfer-Encoding: chunked, uses chunked and deletes
// Content-Length before any handler runs (transfer.go, fixLength). A request
// like that is a smuggling attempt (RFC 9112 §6.1) and must be refused, but
// nothing in *http.Request shows it any more. So the guard watches the bytes
// on their way into net/http and records, per request head, which framing
// headers it carried.
//
// The scanner mirrors Go 1.26's parser exactly where it decides message
// length: request line, header lines (bare LF allowed, obs-fold), the
// Content-Length and Transfer-Encoding rules of readTransfer/fixLength,
// chunked framing (CRLF only, extensions, trailers) and the server's habit of
// skipping up to four CR/LF bytes after a POST. Wherever Go would refuse the
// request (and close the connection) the scanner simply stops; requests
// after that get no verdict and CheckFraming refuses them. Every verdict
// carries a hash of its request line, and CheckFraming checks it against the
// request it is asked about, so a verdict can never be applied to another
// request.

// Verdict is what the guard saw in one HTTP/1.x request head. Its zero value
// means "nothing known" and is refused by CheckFraming.
type Verdict struct {
	// Scanned is true when the verdict comes from a scanned head.
	Scanned bool
	// HasContentLength: at least one Content-Length field.
	HasContentLength bool
	// HasTransferEncoding: at least one Transfer-Encoding field (also on
	// HTTP/1.0, where Go ignores it but a downstream hop might not).
	HasTransferEncoding bool
	// Oversize: a Content-Length or Transfer-Encoding value was too long
	// for the scanner to judge.
	Oversize bool

	line        uint64 // FNV-1a of the request line
	optionsStar bool   // "OPTIONS *", which net/http may answer itself
}

// FramingConn is a net.Conn whose Read passes bytes through unchanged while
// scanning HTTP/1.x request heads. Build it with GuardConn or GuardListener.
type FramingConn struct {
	net.Conn

	mu sync.Mutex
	sc scanner // guarded by mu
}

// GuardConn wraps c. The scanner costs a few nanoseconds per head byte,
// skips bodies by count, never blocks and never allocates per request.
func GuardConn(c net.Conn) *FramingConn {
	return &FramingConn{Conn: c}
}

// Read implements net.Conn.
func (c *FramingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.mu.Lock()
		c.sc.scan(b[:n])
		c.mu.Unlock()
	}
	return n, err
}

// NetConn returns the wrapped connection.
func (c *FramingConn) NetConn() net.Conn { return c.Conn }

// NextVerdict pops the verdict of the next request head, first in first out
// (net/http serves a connection's requests in order, so pipelining works).
// It returns the zero Verdict when none is pending. CheckFraming is the
// usual caller; it also checks that the verdict belongs to the request.
func (c *FramingConn) NextVerdict() Verdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, _ := c.sc.pop()
	return v
}

// Stop ends scanning: after a successful upgrade (101) or hijack the bytes
// are no longer HTTP. Verdicts already queued stay available.
func (c *FramingConn) Stop() {
	c.mu.Lock()
	c.sc.kill()
	c.mu.Unlock()
}

// verdictFor pops the verdict whose request line is method SP uri SP proto.
// Verdicts of "OPTIONS *" heads may be skipped: net/http answers those
// itself unless Server.DisableGeneralOptionsHandler is set. Any other
// mismatch means the scanner and net/http disagree; scanning stops so every
// later request on the connection is refused too.
func (c *FramingConn) verdictFor(method, uri, proto string) Verdict {
	h := uint64(fnvOffset)
	h = fnvString(h, method)
	h = fnvByte(h, ' ')
	h = fnvString(h, uri)
	h = fnvByte(h, ' ')
	h = fnvString(h, proto)

	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		v, ok := c.sc.pop()
		if !ok {
			break
		}
		if v.line == h {
			return v
		}
		if !v.optionsStar {
			break
		}
	}
	c.sc.kill()
	c.sc.q, c.sc.qh = c.sc.q[:0], 0
	return Verdict{}
}

// tlsFramingConn is the guard over a *tls.Conn. It reports the TLS state so
// net/http sets Request.TLS (net/http only does the handshake itself for a
// bare *tls.Conn). HTTP/2 over TLS is not served through it: a listener that
// offers ALPN "h2" must dispatch those connections itself.
type tlsFramingConn struct {
	*FramingConn
	tc *tls.Conn
}

// handshakeTimeout bounds the TLS handshake ConnectionState may have to run,
// because net/http asks for the state before it arms any read deadline.
const handshakeTimeout = 10 * time.Second

// ConnectionState completes the handshake if needed and returns its state.
func (c *tlsFramingConn) ConnectionState() tls.ConnectionState {
	if !c.tc.ConnectionState().HandshakeComplete {
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		_ = c.tc.HandshakeContext(ctx) // a failed handshake fails the first Read
		cancel()
	}
	return c.tc.ConnectionState()
}

type guardListener struct{ net.Listener }

// GuardListener wraps every connection l accepts with GuardConn. Use it with
// ConnContext as http.Server.ConnContext. When l yields *tls.Conn (a
// tls.NewListener), the wrapped connection still reports its TLS state.
func GuardListener(l net.Listener) net.Listener { return guardListener{l} }

func (l guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	fc := GuardConn(c)
	if tc, ok := c.(*tls.Conn); ok {
		return &tlsFramingConn{FramingConn: fc, tc: tc}, nil
	}
	return fc, nil
}

type connKey struct{}

// ContextWithConn returns ctx carrying c, for CheckFraming.
func ContextWithConn(ctx context.Context, c *FramingConn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// ConnFromContext returns the guard stored by ContextWithConn, or nil.
func ConnFromContext(ctx context.Context) *FramingConn {
	c, _ := ctx.Value(connKey{}).(*FramingConn)
	return c
}

// ConnContext has the signature of http.Server.ConnContext: it stores the
// guard of a connection accepted through GuardListener in ctx.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	switch fc := c.(type) {
	case *FramingConn:
		return ContextWithConn(ctx, fc)
	case *tlsFramingConn:
		return ContextWithConn(ctx, fc.FramingConn)
	}
	return ctx
}

// CheckFraming refuses an HTTP/1.x request whose head carried both
// Content-Length and Transfer-Encoding (Code hygiene.cl_te), or whose framing
// the guard could not establish (hygiene.framing_unknown,
// hygiene.framing_oversize). Errors ask for the connection to be closed.
//
// It must run first for every HTTP/1.x request served on a guarded
// connection, before Sanitize and before anything that might answer the
// request, because it consumes that request's verdict. It fails closed: a
// request with no guard in its context gets a 500
// (hygiene.framing_unguarded). HTTP/2 requests pass: HTTP/2 has no such
// ambiguity and net/http rejects its connection-specific headers.
func (p *Policy) CheckFraming(r *http.Request) *httperr.Error {
	if r.ProtoMajor != 1 {
		return nil
	}
	fc := ConnFromContext(r.Context())
	if fc == nil {
		return reject(ruleFramingUnguarded, true)
	}
	v := fc.verdictFor(r.Method, r.RequestURI, r.Proto)
	switch {
	case !v.Scanned:
		return reject(ruleFramingUnknown, true)
	case v.HasContentLength && v.HasTransferEncoding:
		return reject(ruleCLTE, true)
	case v.Oversize:
		return reject(ruleFramingOversize, true)
	}
	return nil
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211

	// maxPending bounds verdicts scanned ahead of the handler. net/http
	// reads ahead at most a buffer (4 KiB) beyond the request it serves,
	// so only a hostile pipelining client comes near it.
	maxPending = 1024
	// maxValLen bounds stored Content-Length and Transfer-Encoding values.
	maxValLen = 32
	// maxChunkLine is the longest chunk-size line net/http accepts
	// (a 4096-byte buffer including CRLF).
	maxChunkLine = 4094
)

func fnvByte(h uint64, c byte) uint64 { return (h ^ uint64(c)) * fnvPrime }

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}

type scanState uint8

const (
	stStart       scanState = iota // before a request line
	stReqLine                      // in the request line
	stHeader                       // in a header line (or the blank line)
	stBody                         // skipping a Content-Length body
	stChunkSize                    // chunk-size digits
	stChunkWS                      // whitespace after the digits
	stChunkExt                     // chunk extension, ignored
	stChunkLF                      // after CR of a chunk-size line
	stChunkData                    // skipping chunk data
	stChunkDataCR                  // CR after chunk data
	stChunkDataLF                  // LF after chunk data
	stTrailer                      // in a trailer line (or the final blank line)
	stDead                         // gave up or stopped
)

type fieldKind uint8

const (
	fieldOther fieldKind = iota
	fieldCL
	fieldTE
)

// scanner is the byte-level state machine behind FramingConn. It must not
// be copied after first use (q may point into qbuf).
type scanner struct {
	state  scanState
	pendCR bool // a '\r' that is dropped if '\n' follows (bufio.ReadLine)

	// Between requests.
	lastPOST bool // net/http skips <= 4 CR/LF after a POST (server.go)
	skipped  int

	// Request line.
	hash      uint64
	spaces    int
	method    [8]byte
	methodLen int
	uriLen    int
	uriStar   bool
	proto     [8]byte
	protoLen  int
	minor     byte

	// Header section.
	headerLines int
	clCount     int
	clFirst     [maxValLen]byte
	clFirstLen  int
	clValue     uint64
	clBad       bool
	teCount     int
	teChunked   bool
	oversize    bool
	folded      bool
	prevField   fieldKind

	// Current header, chunk or trailer line.
	lineLen int
	cont    bool
	colon   bool
	name    [len("transfer-encoding")]byte
	nameLen int
	field   fieldKind
	val     [maxValLen]byte
	valLen  int
	valOver bool

	// Body.
	left   uint64
	size   uint64
	digits int

	q    []Verdict // q[qh:] are pending
	qh   int
	qbuf [4]Verdict
}

func (s *scanner) kill() { s.state = stDead }

func (s *scanner) push(v Verdict) bool {
	if s.q == nil {
		s.q = s.qbuf[:0]
	}
	if len(s.q)-s.qh >= maxPending {
		return false
	}
	if s.qh > 0 && s.qh == len(s.q) {
		s.q, s.qh = s.q[:0], 0
	}
	s.q = append(s.q, v)
	return true
}

func (s *scanner) pop() (Verdict, bool) {
	if s.qh >= len(s.q) {
		return Verdict{}, false
	}
	v := s.q[s.qh]
	s.qh++
	if s.qh == len(s.q) {
		s.q, s.qh = s.q[:0], 0
	}
	return v, true
}

// scan consumes b, which net/http is about to read.
func (s *scanner) scan(b []byte) {
	for i := 0; i < len(b); {
		switch s.state {
		case stDead:
			return
		case stBody, stChunkData:
			n := uint64(len(b) - i)
			if n > s.left {
				n = s.left
			}
			i += int(n)
			s.left -= n
			if s.left == 0 {
				if s.state == stBody {
					s.endRequest()
				} else {
					s.state = stChunkDataCR
				}
			}
			continue
		case stReqLine:
			// The request target: hash it without a call per byte.
			if s.spaces == 1 && !s.pendCR {
				h, j := s.hash, i
				for ; j < len(b); j++ {
					c := b[j]
					if c == ' ' || c == '\r' || c == '\n' {
						break
					}
					h = (h ^ uint64(c)) * fnvPrime
				}
				if j > i {
					s.uriStar = s.uriLen == 0 && j-i == 1 && b[i] == '*'
					s.uriLen += j - i
					s.hash, i = h, j
					continue
				}
			}
		case stHeader, stTrailer, stChunkExt:
			// Bytes that cannot change a decision: the value of an
			// unremarkable field, a continuation line, a trailer line, a
			// chunk extension. Skip to the line end.
			if !s.pendCR && (s.state != stHeader || s.cont || s.colon && s.field == fieldOther) {
				j := i
				for j < len(b) && b[j] != '\r' && b[j] != '\n' {
					j++
				}
				if j > i {
					s.lineLen += j - i
					i = j
					if s.state == stChunkExt && s.lineLen > maxChunkLine {
						s.kill()
					}
					continue
				}
			}
		}
		s.step(b[i])
		i++
	}
}

func (s *scanner) step(c byte) {
	switch s.state {
	case stStart:
		if s.lastPOST && s.skipped < 4 && (c == '\r' || c == '\n') {
			s.skipped++
			return
		}
		s.beginRequest()
		s.lineByte(c)
	case stReqLine, stHeader, stTrailer:
		s.lineByte(c)
	case stChunkSize:
		s.lineLen++
		switch {
		case c == ';':
			s.state = stChunkExt
		case c == ' ' || c == '\t':
			s.state = stChunkWS
		case c == '\r':
			s.state = stChunkLF
		default:
			d, ok := unhex(c)
			if !ok || s.digits == 16 {
				s.kill()
				return
			}
			s.size = s.size<<4 | uint64(d)
			s.digits++
			return
		}
		if s.digits == 0 {
			s.kill() // net/http: empty hex number
		}
	case stChunkWS:
		s.lineLen++
		switch c {
		case ' ', '\t':
		case '\r':
			s.state = stChunkLF
		default:
			// "5 ;ext" and "5 x" fail parseHexUint in net/http.
			s.kill()
		}
	case stChunkExt:
		s.lineLen++
		switch c {
		case '\r':
			s.state = stChunkLF
		case '\n':
			s.kill() // bare LF is not a chunk line end
		}
	case stChunkLF:
		if c != '\n' {
			s.kill() // CR only at the end of a chunk line
			return
		}
		if s.size == 0 {
			s.state = stTrailer
			s.resetLine()
			return
		}
		s.left = s.size
		s.state = stChunkData
	case stChunkDataCR:
		if c != '\r' {
			s.kill()
			return
		}
		s.state = stChunkDataLF
	case stChunkDataLF:
		if c != '\n' {
			s.kill()
			return
		}
		s.beginChunk()
	}
	if s.lineLen > maxChunkLine && s.state >= stChunkSize && s.state <= stChunkLF {
		s.kill()
	}
}

// lineByte feeds a byte of a request line, header line or trailer line. A
// line ends at '\n'; one '\r' right before it is not part of the line.
func (s *scanner) lineByte(c byte) {
	if c == '\n' {
		s.pendCR = false
		switch s.state {
		case stReqLine:
			s.endRequestLine()
		case stHeader:
			s.endHeaderLine()
		case stTrailer:
			if s.lineLen == 0 {
				s.endRequest()
			}
			s.resetLine()
		}
		return
	}
	if s.pendCR {
		s.pendCR = false
		s.content('\r')
	}
	if c == '\r' {
		s.pendCR = true
		return
	}
	s.content(c)
}

func (s *scanner) content(c byte) {
	switch s.state {
	case stReqLine:
		s.hash = fnvByte(s.hash, c)
		if c == ' ' && s.spaces < 2 {
			s.spaces++
			return
		}
		switch s.spaces {
		case 0:
			if s.methodLen < len(s.method) {
				s.method[s.methodLen] = c
			}
			s.methodLen++
		case 1:
			s.uriLen++
			s.uriStar = s.uriLen == 1 && c == '*'
		default:
			if s.protoLen < len(s.proto) {
				s.proto[s.protoLen] = c
			}
			s.protoLen++
		}
	case stHeader:
		s.headerContent(c)
	case stTrailer:
		s.lineLen++
	}
}

func (s *scanner) headerContent(c byte) {
	s.lineLen++
	if s.lineLen == 1 && (c == ' ' || c == '\t') {
		s.cont = true // obs-fold: continues the previous field
	}
	if s.cont {
		return
	}
	if !s.colon {
		if c == ':' {
			s.colon = true
			s.field = s.fieldName()
			return
		}
		if s.nameLen < len(s.name) {
			s.name[s.nameLen] = lowerASCII(c)
		}
		s.nameLen++
		return
	}
	if s.field == fieldOther || s.valLen == 0 && (c == ' ' || c == '\t') {
		return
	}
	if s.valLen < len(s.val) {
		s.val[s.valLen] = c
		s.valLen++
	} else {
		s.valOver = true
	}
}

func (s *scanner) fieldName() fieldKind {
	if s.nameLen > len(s.name) {
		return fieldOther
	}
	switch string(s.name[:s.nameLen]) {
	case "content-length":
		return fieldCL
	case "transfer-encoding":
		return fieldTE
	}
	return fieldOther
}

func (s *scanner) beginRequest() {
	s.state = stReqLine
	s.hash = fnvOffset
	s.spaces, s.methodLen, s.uriLen, s.protoLen = 0, 0, 0, 0
	s.uriStar = false
	s.headerLines, s.clCount, s.teCount = 0, 0, 0
	s.clBad, s.teChunked, s.oversize, s.folded = false, false, false, false
	s.prevField = fieldOther
	s.resetLine()
}

func (s *scanner) resetLine() {
	s.lineLen, s.nameLen, s.valLen = 0, 0, 0
	s.cont, s.colon, s.valOver = false, false, false
	s.field = fieldOther
}

func (s *scanner) beginChunk() {
	s.state = stChunkSize
	s.size, s.digits = 0, 0
	s.lineLen = 0
}

func (s *scanner) endRequest() {
	s.state = stStart
	s.skipped = 0
}

func (s *scanner) endRequestLine() {
	// net/http: method SP target SP "HTTP/x.y"; only major version 1 is
	// served as HTTP/1 ("PRI * HTTP/2.0" starts HTTP/2; nothing to scan).
	p := s.proto[:]
	if s.spaces < 2 || s.protoLen != len(p) || string(p[:5]) != "HTTP/" || p[5] != '1' || p[6] != '.' ||
		p[7] < '0' || p[7] > '9' {
		s.kill()
		return
	}
	s.minor = p[7] - '0'
	s.state = stHeader
	s.resetLine()
}

func (s *scanner) endHeaderLine() {
	switch {
	case s.lineLen == 0:
		s.endHead()
		return
	case s.cont:
		if s.headerLines == 0 {
			s.kill() // net/http: malformed MIME header initial line
			return
		}
		if s.prevField != fieldOther {
			s.folded = true // value of a framing field continues: give up after this head
		}
	case !s.colon:
		s.kill() // net/http: missing colon
		return
	default:
		s.headerLines++
		switch s.field {
		case fieldCL:
			s.addCL()
		case fieldTE:
			s.addTE()
		}
		s.prevField = s.field
	}
	s.resetLine()
}

// value returns the stored field value with trailing whitespace removed, as
// textproto does for the line.
func (s *scanner) value() []byte {
	v := s.val[:s.valLen]
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t' || v[len(v)-1] == '\r') {
		v = v[:len(v)-1]
	}
	return v
}

func (s *scanner) addCL() {
	s.clCount++
	if s.valOver {
		s.oversize = true
		return
	}
	v := s.value()
	if s.clCount > 1 {
		// net/http allows repeats only of the identical value.
		if string(v) != string(s.clFirst[:s.clFirstLen]) {
			s.clBad = true
		}
		return
	}
	s.clFirstLen = copy(s.clFirst[:], v)
	// strconv.ParseUint(v, 10, 63)
	var n uint64
	s.clBad = len(v) == 0
	for _, c := range v {
		if c < '0' || c > '9' || n > (1<<63-1)/10 {
			s.clBad = true
			return
		}
		n = n*10 + uint64(c-'0')
		if n > 1<<63-1 {
			s.clBad = true
			return
		}
	}
	s.clValue = n
}

func (s *scanner) addTE() {
	s.teCount++
	if s.valOver {
		s.oversize = true
		return
	}
	v := s.value()
	s.teChunked = len(v) == len("chunked")
	if s.teChunked {
		for i, c := range v {
			if lowerASCII(c) != "chunked"[i] {
				s.teChunked = false
			}
		}
	}
}

// endHead records the verdict and picks the body framing exactly as
// net/http's readTransfer does.
func (s *scanner) endHead() {
	v := Verdict{
		Scanned:             true,
		HasContentLength:    s.clCount > 0,
		HasTransferEncoding: s.teCount > 0,
		Oversize:            s.oversize,
		line:                s.hash,
		optionsStar:         s.uriStar && s.methodLen == 7 && string(s.method[:7]) == "OPTIONS",
	}
	if !s.push(v) {
		s.kill()
		return
	}
	s.lastPOST = s.methodLen == 4 && string(s.method[:4]) == "POST"
	if s.oversize || s.folded || s.clCount > 0 && s.clBad {
		s.kill() // unknowable here, or net/http answers 400 and closes
		return
	}
	if s.teCount > 0 && s.minor >= 1 { // Go ignores Transfer-Encoding on HTTP/1.0
		if s.teCount != 1 || !s.teChunked {
			s.kill() // net/http answers 501 and closes
			return
		}
		s.beginChunk()
		return
	}
	if s.clCount > 0 && s.clValue > 0 {
		s.left = s.clValue
		s.state = stBody
		return
	}
	s.endRequest()
}
