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
}

// Logger queues records for one writer goroutine.
type Logger struct {
	ch      chan Record
	w       *bufio.Writer
	dropped atomic.Int64
	done    chan struct{}

	// mu makes Log and Close safe together: a hijacked connection's handler
	// (a WebSocket) can still log after the server has shut down.
	mu     sync.RWMutex
	closed bool // guarded by mu
}

// New starts a logger writing to w with room for queue records.
func New(w io.Writer, queue int) *Logger {
	l := &Logger{ch: make(chan Record, queue), w: bufio.NewWriterSize(w, 64<<10), done: make(chan struct{})}
	go l.run()
	return l
}

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
}

func (l *Logger) run() {
	defer close(l.done)
	buf := make([]byte, 0, 1024)
	for rec := range l.ch {
		buf = Append(buf[:0], &rec)
		_, _ = l.w.Write(buf)
		// Flush when the queue is drained so lines appear promptly at low
		// load and are batched at high load.
		if len(l.ch) == 0 {
			_ = l.w.Flush()
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
	return append(b, "}\n"...)
}

func str(b []byte, key, val string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendJSONString(b, val)
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
