package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// errSpoolFull is returned by spool.append when the records do not fit.
var errSpoolFull = errors.New("audit spool is full")

// spool is a bounded on-disk queue of record lines for one sink: a
// directory of segment files named by the seq of their first record, and a
// cursor file naming the first line not yet delivered. Appends are fsynced
// before they count as accepted; the cursor is not (after a crash a batch
// may be delivered twice, and its seqs let the collector drop the repeat).
//
// The newest segment is kept even once delivered, so the last record ever
// spooled is always on disk: Open uses it to continue the chain and to
// bring other sinks up to date after a crash.
type spool struct {
	dir    string
	max    int64
	segMax int64

	mu     sync.Mutex
	segs   []*segment // oldest first; the last one is appended to
	w      *os.File   // the last segment, open for append
	size   int64      // bytes in all segments
	depth  int64      // records not yet delivered
	cursor int64      // offset of the first undelivered byte in segs[0]
	last   lastRec    // the last record appended
}

type segment struct {
	path  string
	first uint64
	size  int64
}

type lastRec struct {
	seq  uint64
	hash string
}

const cursorFile = "cursor"

func segName(first uint64) string { return fmt.Sprintf("%020d.seg", first) }

// openSpool opens (creating) the spool in dir, repairing a torn last line.
// repaired is the number of bytes cut.
func openSpool(dir string, maxBytes int64) (s *spool, repaired int64, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, 0, fmt.Errorf("audit spool %s: %w", dir, err)
	}
	s = &spool{dir: dir, max: maxBytes, segMax: min(max(maxBytes/8, 4<<10), 64<<20)}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, fmt.Errorf("audit spool %s: %w", dir, err)
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".seg") || !e.Type().IsRegular() {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(name, ".seg"), 10, 64)
		if err != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return nil, 0, fmt.Errorf("audit spool %s: %w", dir, err)
		}
		s.segs = append(s.segs, &segment{path: filepath.Join(dir, name), first: first, size: fi.Size()})
	}
	slices.SortFunc(s.segs, func(a, b *segment) int { return cmpU64(a.first, b.first) })
	if n := len(s.segs); n > 0 {
		lastSeg := s.segs[n-1]
		cut, err := repairTail(lastSeg.path)
		if err != nil {
			return nil, 0, err
		}
		repaired = cut
		lastSeg.size -= cut
		if s.last, err = lastRecordIn(lastSeg.path); err != nil {
			return nil, 0, err
		}
		s.w, err = os.OpenFile(lastSeg.path, os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, 0, fmt.Errorf("audit spool: %w", err)
		}
	}
	for _, sg := range s.segs {
		s.size += sg.size
	}
	s.readCursor()
	// Count what is left to deliver.
	for i, sg := range s.segs {
		off := int64(0)
		if i == 0 {
			off = s.cursor
		}
		n, err := countLines(sg.path, off)
		if err != nil {
			return nil, 0, err
		}
		s.depth += n
	}
	return s, repaired, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s *spool) readCursor() {
	s.cursor = 0
	b, err := os.ReadFile(filepath.Join(s.dir, cursorFile))
	if err != nil || len(s.segs) == 0 {
		return
	}
	name, off, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
	if !ok {
		return
	}
	n, err := strconv.ParseInt(off, 10, 64)
	if err != nil || n < 0 {
		return
	}
	// Segments before the cursor's were delivered; drop them.
	for len(s.segs) > 1 && filepath.Base(s.segs[0].path) != name {
		if filepath.Base(s.segs[0].path) > name {
			return
		}
		_ = os.Remove(s.segs[0].path)
		s.segs = s.segs[1:]
	}
	if filepath.Base(s.segs[0].path) == name && n <= s.segs[0].size {
		s.cursor = n
	}
}

func (s *spool) writeCursorLocked() {
	if len(s.segs) == 0 {
		return
	}
	tmp := filepath.Join(s.dir, cursorFile+".tmp")
	data := filepath.Base(s.segs[0].path) + " " + strconv.FormatInt(s.cursor, 10) + "\n"
	if os.WriteFile(tmp, []byte(data), 0o600) == nil {
		_ = os.Rename(tmp, filepath.Join(s.dir, cursorFile))
	}
}

// free is how many more bytes fit. Only undelivered bytes count: the
// delivered part of the oldest segment is on disk until the segment goes.
func (s *spool) free() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max - (s.size - s.cursor)
}

func (s *spool) pending() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.depth
}

func (s *spool) lastRecord() lastRec {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// append adds lines (whole records, each ending in a newline; first is the
// seq of the first) and fsyncs them.
func (s *spool) append(buf []byte, n int, first uint64, last lastRec) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.size-s.cursor+int64(len(buf)) > s.max {
		return errSpoolFull
	}
	if s.w == nil || s.segs[len(s.segs)-1].size >= s.segMax {
		path := filepath.Join(s.dir, segName(first))
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("audit spool: %w", err)
		}
		if s.w != nil {
			_ = s.w.Close()
		}
		s.w = f
		s.segs = append(s.segs, &segment{path: path, first: first})
		syncDir(s.dir)
	}
	sg := s.segs[len(s.segs)-1]
	if _, err := s.w.Write(buf); err != nil {
		_ = s.w.Truncate(sg.size)
		return fmt.Errorf("audit spool: %w", err)
	}
	if err := s.w.Sync(); err != nil {
		_ = s.w.Truncate(sg.size)
		return fmt.Errorf("audit spool: %w", err)
	}
	sg.size += int64(len(buf))
	s.size += int64(len(buf))
	s.depth += int64(n)
	s.last = last
	return nil
}

// peek returns up to maxLines undelivered lines (at most maxBytes, but at
// least one line), without removing them.
func (s *spool) peek(maxLines int, maxBytes int64) (buf []byte, n int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.segs) > 0 {
		sg := s.segs[0]
		if s.cursor < sg.size {
			break
		}
		if len(s.segs) == 1 {
			return nil, 0, nil
		}
		// Fully delivered and not the newest: remove it.
		_ = os.Remove(sg.path)
		s.size -= sg.size
		s.segs = s.segs[1:]
		s.cursor = 0
		s.writeCursorLocked()
	}
	if len(s.segs) == 0 {
		return nil, 0, nil
	}
	sg := s.segs[0]
	f, err := os.Open(sg.path)
	if err != nil {
		return nil, 0, fmt.Errorf("audit spool: %w", err)
	}
	defer f.Close()
	want := min(sg.size-s.cursor, maxBytes)
	buf = make([]byte, want)
	if _, err := f.ReadAt(buf, s.cursor); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("audit spool: %w", err)
	}
	end := 0
	for end < len(buf) && n < maxLines {
		i := bytes.IndexByte(buf[end:], '\n')
		if i < 0 {
			break
		}
		end += i + 1
		n++
	}
	if n == 0 {
		// One line longer than maxBytes: read it whole.
		r := bufio.NewReader(io.NewSectionReader(f, s.cursor, sg.size-s.cursor))
		line, err := r.ReadBytes('\n')
		if err != nil {
			return nil, 0, fmt.Errorf("audit spool: %w", err)
		}
		return line, 1, nil
	}
	return buf[:end], n, nil
}

// advance marks the first n lines (nbytes bytes) as delivered.
func (s *spool) advance(nbytes int64, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cursor += nbytes
	s.depth -= int64(n)
	s.writeCursorLocked()
}

// linesAfter returns the spooled lines whose seq is greater than after, in
// order, for bringing another sink up to date at start.
func (s *spool) linesAfter(after uint64) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]byte
	for _, sg := range s.segs {
		data, err := os.ReadFile(sg.path)
		if err != nil {
			return nil, fmt.Errorf("audit spool: %w", err)
		}
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break
			}
			line := data[:i+1]
			data = data[i+1:]
			if seq, ok := lineSeq(line); ok && seq > after {
				out = append(out, line)
			}
		}
	}
	return out, nil
}

func (s *spool) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w != nil {
		_ = s.w.Close()
		s.w = nil
	}
}

// repairTail cuts an incomplete last line (a write torn by a crash) from
// the file at path and returns how many bytes it cut.
func repairTail(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	size := fi.Size()
	if size == 0 {
		return 0, nil
	}
	// Walk back to the last newline.
	const chunk = 64 << 10
	end := size
	for end > 0 {
		start := max(end-chunk, 0)
		buf := make([]byte, end-start)
		if _, err := f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("audit: %w", err)
		}
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			keep := start + int64(i) + 1
			if keep == size {
				return 0, nil
			}
			if err := f.Truncate(keep); err != nil {
				return 0, fmt.Errorf("audit: repair %s: %w", path, err)
			}
			return size - keep, f.Sync()
		}
		end = start
	}
	if err := f.Truncate(0); err != nil {
		return 0, fmt.Errorf("audit: repair %s: %w", path, err)
	}
	return size, f.Sync()
}

// lastRecordIn returns the seq and hash of the last line of a file.
func lastRecordIn(path string) (lastRec, error) {
	f, err := os.Open(path)
	if err != nil {
		return lastRec{}, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return lastRec{}, fmt.Errorf("audit: %w", err)
	}
	size := fi.Size()
	if size == 0 {
		return lastRec{}, nil
	}
	start := max(size-(1<<20), 0)
	buf := make([]byte, size-start)
	if _, err := f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
		return lastRec{}, fmt.Errorf("audit: %w", err)
	}
	buf = bytes.TrimSuffix(buf, []byte("\n"))
	line := buf[bytes.LastIndexByte(buf, '\n')+1:]
	r, _, err := ParseLine(line)
	if err != nil {
		return lastRec{}, fmt.Errorf("audit: last record of %s: %w", path, err)
	}
	return lastRec{seq: r.Seq, hash: r.Hash}, nil
}

func countLines(path string, off int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	var n int64
	buf := make([]byte, 64<<10)
	for {
		k, err := f.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("audit: %w", err)
		}
	}
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// lineSeq reads the seq of a record line without parsing it: every line
// starts with {"seq":<digits>.
func lineSeq(line []byte) (uint64, bool) {
	const pre = `{"seq":`
	if !bytes.HasPrefix(line, []byte(pre)) {
		return 0, false
	}
	var n uint64
	i := len(pre)
	for ; i < len(line) && line[i] >= '0' && line[i] <= '9'; i++ {
		n = n*10 + uint64(line[i]-'0')
	}
	return n, i > len(pre)
}

// lineFile reads the "file" index a record line opens, or 0: it follows
// {"seq":N,"prev":"<hash or empty>", directly.
func lineFile(line []byte) int {
	i := bytes.Index(line, []byte(`,"prev":"`))
	if i < 0 || i > 30 {
		return 0
	}
	i += len(`,"prev":"`)
	j := bytes.IndexByte(line[i:], '"')
	if j < 0 {
		return 0
	}
	rest := line[i+j+1:]
	const pre = `,"file":`
	if !bytes.HasPrefix(rest, []byte(pre)) {
		return 0
	}
	n := 0
	for _, c := range rest[len(pre):] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}
