// Package accesslog writes one JSON line per request, off the request path.
//
// The schema is stable and documented in docs/access-log.md: fields are
// only ever added. Records go through a bounded channel to one writer
// goroutine so a slow disk or terminal never holds a request; when the
// channel is full the record is counted as dropped rather than blocking the
// request (the audit trail, not the access log, is the no-loss record).
package accesslog

import (
	"bufio"
	"encoding/json"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Record is one request. Field names are the JSON schema.
type Record struct {
	Time        time.Time
	RequestID   string
	ClientIP    string
	Proto       string
	Host        string
	Method      string
	Path        string
	Route       string
	Pool        string
	Origin      string
	Attempts    int
	Status      int
	BytesIn     int64
	BytesOut    int64
	Duration    time.Duration
	CacheStatus string
	Error       string // the error code (httperr.Error.Code), never a cause
	UserAgent   string
	// Verified caller (empty when anonymous).
	Subject    string
	AuthMethod string
	// Time spent in each pipeline stage, in milliseconds.
	HygieneMS, RouteMS, AuthnMS, PolicyMS, OriginMS float64
	ScriptStatus                                    string
	TraceID                                         string
}

// Logger queues records for one writer goroutine.
type Logger struct {
	ch      chan Record
	w       *bufio.Writer
	out     io.Writer // what w writes to
	closer  io.Closer // the file the logger owns, or nil
	dropped atomic.Int64
	// writeErrors counts failed writes (a full disk); the records are lost,
	// and counted, rather than blocking requests.
	writeErrors atomic.Int64
	done        chan struct{}

	// mu makes Log and Close safe together: a hijacked connection's handler
	// (a WebSocket) can still log after the server has shut down.
	mu     sync.RWMutex
	closed bool // guarded by mu
}

// New starts a logger writing to w with room for queue records.
func New(w io.Writer, queue int) *Logger {
	l := &Logger{ch: make(chan Record, queue), w: bufio.NewWriterSize(w, 64<<10), out: w, done: make(chan struct{})}
	go l.run()
	return l
}

// NewOwned is New for a writer the logger owns: Close closes it.
func NewOwned(w io.WriteCloser, queue int) *Logger {
	l := New(w, queue)
	l.closer = w
	return l
}

// WriteErrors is how many records could not be written.
func (l *Logger) WriteErrors() int64 { return l.writeErrors.Load() }

// Log queues rec; it never blocks.
func (l *Logger) Log(rec Record) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		l.dropped.Add(1)
		return
	}
	select {
	case l.ch <- rec:
	default:
		l.dropped.Add(1)
	}
}

// Dropped is how many records were dropped because the queue was full.
func (l *Logger) Dropped() int64 { return l.dropped.Load() }

// Close writes what is queued and stops the writer.
func (l *Logger) Close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.ch)
	}
	l.mu.Unlock()
	<-l.done
	if l.closer != nil {
		_ = l.closer.Close()
	}
}

func (l *Logger) run() {
	defer close(l.done)
	buf := make([]byte, 0, 1024)
	for rec := range l.ch {
		buf = Append(buf[:0], &rec)
		if _, err := l.w.Write(buf); err != nil {
			l.writeErrors.Add(1)
		}
		// Flush when the queue is drained so lines appear promptly at low
		// load and are batched at high load.
		if len(l.ch) == 0 {
			if err := l.w.Flush(); err != nil {
				l.writeErrors.Add(1)
				// bufio keeps an error for good; start afresh so a
				// transient failure (a full disk) does not stop the log.
				l.w.Reset(l.out)
			}
		}
	}
	_ = l.w.Flush()
}

// Append renders rec as one JSON line (with the trailing newline).
func Append(b []byte, rec *Record) []byte {
	b = append(b, `{"time":"`...)
	b = rec.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = str(b, "request_id", rec.RequestID)
	b = str(b, "client_ip", rec.ClientIP)
	b = str(b, "proto", rec.Proto)
	b = str(b, "host", rec.Host)
	b = str(b, "method", rec.Method)
	b = str(b, "path", rec.Path)
	b = str(b, "route", rec.Route)
	b = str(b, "pool", rec.Pool)
	b = str(b, "origin", rec.Origin)
	b = num(b, "attempts", int64(rec.Attempts))
	b = num(b, "status", int64(rec.Status))
	b = num(b, "bytes_in", rec.BytesIn)
	b = num(b, "bytes_out", rec.BytesOut)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(rec.Duration.Microseconds())/1000, 'f', 3, 64)
	b = str(b, "cache_status", rec.CacheStatus)
	b = str(b, "error", rec.Error)
	b = str(b, "user_agent", rec.UserAgent)
	b = str(b, "subject", rec.Subject)
	b = str(b, "auth_method", rec.AuthMethod)
	b = msField(b, "hygiene_ms", rec.HygieneMS)
	b = msField(b, "route_ms", rec.RouteMS)
	b = msField(b, "authn_ms", rec.AuthnMS)
	b = msField(b, "policy_ms", rec.PolicyMS)
	b = msField(b, "origin_ms", rec.OriginMS)
	b = str(b, "script_status", rec.ScriptStatus)
	b = str(b, "trace_id", rec.TraceID)
	return append(b, "}\n"...)
}

func str(b []byte, key, val string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendJSONString(b, val)
}

func msField(b []byte, key string, v float64) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendFloat(b, v, 'f', 3, 64)
}

func num(b []byte, key string, v int64) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, v, 10)
}

// appendJSONString quotes s; the common case (printable ASCII without
// quotes or backslashes) is copied as is, anything else goes through
// encoding/json so escaping is always right.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
