// Package accesslog writes one JSON line per request, off the request path.
//
// The schema is stable and documented in docs/access-log.md: fields are
// only ever added. Records go through a bounded channel to one writer
// goroutine so a slow disk or terminal never holds a request; when the
// channel is full the record is counted as dropped rather than blocking the
// request (the audit trail, not the access log, is the no-loss record).
package accesslog

import (
	"io"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/internal/jsonstr"
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
	// ScriptStatus is how the route's edge script ran ("" without one):
	// see docs/access-log.md for the values.
	ScriptStatus string
	TraceID      string
	// ScriptMS is the time the edge-script handlers ran (wall time, added
	// over all handlers of the request), in milliseconds. It overlaps
	// OriginMS for the handlers that run around the origin.
	ScriptMS float64
}

// Logger queues records for one writer goroutine. Log renders the line on
// the caller's goroutine and appends it to a shared buffer; the writer
// swaps the buffer out and writes it with one write call. Under load a
// write carries many lines and a request costs no goroutine handoff of its
// own, only the wake-up of an idle writer (issue #7: the access log's CPU
// per request).
type Logger struct {
	out    io.Writer // what the lines are written to
	closer io.Closer // the file the logger owns, or nil
	max    int       // most records waiting; more are dropped
	// wake tells an idle writer that lines are waiting (or that the logger
	// closed); it holds at most one signal.
	wake    chan struct{}
	done    chan struct{}
	dropped atomic.Int64
	// writeErrors counts failed writes (a full disk); their records are
	// lost, and counted, rather than blocking requests.
	writeErrors atomic.Int64
	lines       sync.Pool // *[]byte scratch buffers for Log

	// mu guards the waiting lines and closed. A hijacked connection's
	// handler (a WebSocket) can still log after the server has shut down.
	mu     sync.Mutex
	buf    []byte // lines not yet written; guarded by mu
	n      int    // records in buf; guarded by mu
	closed bool   // guarded by mu
}

// New starts a logger writing to w with room for queue records.
func New(w io.Writer, queue int) *Logger {
	l := &Logger{out: w, max: max(queue, 1), wake: make(chan struct{}, 1), done: make(chan struct{})}
	l.lines.New = func() any { b := make([]byte, 0, 1024); return &b }
	go l.run()
	return l
}

// NewOwned is New for a writer the logger owns: Close closes it.
func NewOwned(w io.WriteCloser, queue int) *Logger {
	l := New(w, queue)
	l.closer = w
	return l
}

// WriteErrors is how many writes failed.
func (l *Logger) WriteErrors() int64 { return l.writeErrors.Load() }

// Log queues rec; it never blocks on the writer.
func (l *Logger) Log(rec Record) {
	bp := l.lines.Get().(*[]byte)
	line := Append((*bp)[:0], &rec)
	l.mu.Lock()
	if l.closed || l.n >= l.max {
		l.mu.Unlock()
		l.dropped.Add(1)
	} else {
		l.buf = append(l.buf, line...)
		l.n++
		first := l.n == 1
		l.mu.Unlock()
		if first {
			l.signal()
		}
	}
	*bp = line
	l.lines.Put(bp)
}

func (l *Logger) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Dropped is how many records were dropped because the queue was full.
func (l *Logger) Dropped() int64 { return l.dropped.Load() }

// Close writes what is queued and stops the writer.
func (l *Logger) Close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.signal()
	<-l.done
	if l.closer != nil {
		_ = l.closer.Close()
	}
}

func (l *Logger) run() {
	defer close(l.done)
	var spare []byte
	for range l.wake {
		// Let the goroutines that are ready to run log first, so one
		// write carries all their lines (on one CPU the writer would
		// otherwise run after every request).
		runtime.Gosched()
		for {
			l.mu.Lock()
			buf, closed := l.buf, l.closed
			l.buf, l.n = spare[:0], 0
			l.mu.Unlock()
			if len(buf) == 0 {
				if closed {
					return
				}
				spare = buf
				break
			}
			if _, err := l.out.Write(buf); err != nil {
				l.writeErrors.Add(1)
			}
			// Keep a buffer grown by a burst from pinning its memory.
			if cap(buf) > 1<<20 {
				buf = nil
			}
			spare = buf
		}
	}
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
	b = msField(b, "script_ms", rec.ScriptMS)
	return append(b, "}\n"...)
}

func str(b []byte, key, val string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return jsonstr.Append(b, val)
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
