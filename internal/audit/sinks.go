package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sink delivers record lines, in order. write returns nil once the lines
// are durable (a file: written, and fsynced unless the trail's durability
// is "write") or accepted (a collector answered 2xx).
type sink interface {
	write(ctx context.Context, buf []byte, n int, first, last uint64) error
	close() error
}

// fileSink appends to a JSON Lines file and rotates it. The trail decides
// when to rotate (between batches) and marks the first record of the new
// file with its index; the sink switches files when it writes that record,
// so a rotation survives a detour through the spool.
type fileSink struct {
	path        string
	rotateBytes int64
	rotateEvery time.Duration
	// syncEach fsyncs every write (DurabilityFsync); otherwise the trail
	// calls sync every SyncInterval.
	syncEach bool

	mu     sync.Mutex
	f      *os.File
	size   int64
	opened time.Time
	index  int // index of the file being written
	last   lastRec
	dirty  bool // written since the last fsync; guarded by mu
}

// openFileSink opens path for append, creating it, after cutting a torn
// last line. repaired is the number of bytes cut.
func openFileSink(path string, rotateBytes int64, rotateEvery time.Duration, syncEach bool) (s *fileSink, repaired int64, err error) {
	s = &fileSink{path: path, rotateBytes: rotateBytes, rotateEvery: rotateEvery, syncEach: syncEach, index: 1}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("audit file %s: %w", path, err)
	}
	s.f = f
	if repaired, err = repairTail(path); err != nil {
		f.Close()
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("audit file %s: %w", path, err)
	}
	s.size = fi.Size()
	s.opened = fi.ModTime()
	if s.size == 0 {
		s.opened = time.Now()
	}
	if s.last, err = lastRecordIn(path); err != nil {
		f.Close()
		return nil, 0, err
	}
	s.index = currentFileIndex(path)
	return s, repaired, nil
}

// currentFileIndex is the index the first record of the file names, or
// one more than the highest rotated file beside it.
func currentFileIndex(path string) int {
	if f, err := os.Open(path); err == nil {
		defer f.Close()
		buf := make([]byte, 256)
		n, _ := f.Read(buf)
		if n > 0 {
			if idx := lineFile(buf[:n]); idx > 0 {
				return idx
			}
		}
	}
	return highestRotated(path) + 1
}

func highestRotated(path string) int {
	matches, _ := filepath.Glob(path + ".*")
	hi := 0
	for _, m := range matches {
		if n, err := strconv.Atoi(strings.TrimPrefix(m, path+".")); err == nil && n > hi {
			hi = n
		}
	}
	return hi
}

// due reports whether the next record should open a new file, and its index.
func (s *fileSink) due(now time.Time) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.size == 0 {
		return 0, false
	}
	if s.rotateBytes > 0 && s.size >= s.rotateBytes || s.rotateEvery > 0 && now.Sub(s.opened) >= s.rotateEvery {
		return s.index + 1, true
	}
	return 0, false
}

func (s *fileSink) write(_ context.Context, buf []byte, _ int, _, _ uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(buf) > 0 {
		// Write up to the next record that opens a file.
		end := 0
		var rotateTo int
		for end < len(buf) {
			line := buf[end:]
			if i := bytes.IndexByte(line, '\n'); i >= 0 {
				line = line[:i+1]
			}
			if idx := lineFile(line); idx > 0 && (end > 0 || s.size > 0) && idx != s.index {
				rotateTo = idx
				break
			}
			end += len(line)
		}
		if end > 0 {
			if err := s.appendLocked(buf[:end]); err != nil {
				return err
			}
			buf = buf[end:]
		}
		if rotateTo > 0 {
			if err := s.rotateLocked(rotateTo); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *fileSink) appendLocked(buf []byte) error {
	if s.f == nil {
		return fmt.Errorf("audit file %s: closed", s.path)
	}
	if _, err := s.f.Write(buf); err != nil {
		// Leave no torn line behind: the records will be written again.
		_ = s.f.Truncate(s.size)
		return fmt.Errorf("audit file %s: %w", s.path, err)
	}
	if s.syncEach {
		if err := s.f.Sync(); err != nil {
			_ = s.f.Truncate(s.size)
			return fmt.Errorf("audit file %s: %w", s.path, err)
		}
	} else {
		s.dirty = true
	}
	s.size += int64(len(buf))
	return nil
}

// sync fsyncs what was written since the last fsync (DurabilityWrite).
func (s *fileSink) sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncLocked()
}

func (s *fileSink) syncLocked() error {
	if !s.dirty || s.f == nil {
		return nil
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("audit file %s: %w", s.path, err)
	}
	s.dirty = false
	return nil
}

// rotateLocked renames the current file to path.<index> and starts a new
// one that will hold file index next.
func (s *fileSink) rotateLocked(next int) error {
	rotated := s.path + "." + strconv.Itoa(s.index)
	if _, err := os.Stat(rotated); err == nil {
		return fmt.Errorf("audit file %s: cannot rotate: %s exists", s.path, rotated)
	}
	// A file is complete on disk before the next one starts, so a machine
	// crash under DurabilityWrite can only lose the newest records, never
	// leave a hole in the middle of the chain.
	if err := s.syncLocked(); err != nil {
		return err
	}
	if err := os.Rename(s.path, rotated); err != nil {
		return fmt.Errorf("audit file %s: rotate: %w", s.path, err)
	}
	_ = s.f.Close()
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		s.f = nil
		return fmt.Errorf("audit file %s: %w", s.path, err)
	}
	syncDir(filepath.Dir(s.path))
	s.f, s.size, s.opened, s.index = f, 0, time.Now(), next
	return nil
}

func (s *fileSink) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.syncLocked()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f = nil
	return err
}

// writerSink writes lines to a stream (standard output). It cannot fsync;
// whatever reads the stream owns durability from there.
type writerSink struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *writerSink) write(_ context.Context, buf []byte, _ int, _, _ uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(buf); err != nil {
		return fmt.Errorf("audit stdout: %w", err)
	}
	return nil
}

func (s *writerSink) close() error { return nil }

// httpSink posts batches of lines (application/x-ndjson, the bytes of the
// trail unchanged so the collector can check hashes) to a collector. A
// batch counts as delivered on a 2xx answer only.
type httpSink struct {
	url     string
	header  http.Header
	client  *http.Client
	timeout time.Duration
}

// Headers of every batch: the seqs it holds, so a collector can drop a
// batch it has already stored (delivery is at least once across crashes).
const (
	HeaderFirstSeq = "Edgegate-Audit-First-Seq"
	HeaderLastSeq  = "Edgegate-Audit-Last-Seq"
)

// errStatus is a collector's non-2xx answer.
var errStatus = errors.New("collector refused the batch")

func (s *httpSink) write(ctx context.Context, buf []byte, n int, first, last uint64) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(buf))
	if err != nil {
		return fmt.Errorf("audit http: %w", err)
	}
	for k, vv := range s.header {
		req.Header[k] = vv
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set(HeaderFirstSeq, strconv.FormatUint(first, 10))
	req.Header.Set(HeaderLastSeq, strconv.FormatUint(last, 10))
	resp, err := s.client.Do(req)
	if err != nil {
		// The URL may carry credentials in its query; *url.Error quotes it.
		return fmt.Errorf("audit http: post to collector: %w", unwrapURLError(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("audit http: %w: status %d", errStatus, resp.StatusCode)
	}
	return nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (s *httpSink) close() error {
	s.client.CloseIdleConnections()
	return nil
}
