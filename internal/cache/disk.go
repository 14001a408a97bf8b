package cache

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// diskMagic starts every object file and names its format version; a
// file without it is ignored. Version 2 keeps Vary values as digests;
// files of an older version (diskMagicFamily with another digit) are
// removed at startup rather than read.
const (
	diskMagic       = "EGC2"
	diskMagicFamily = "EGC"
)

// errOldFormat marks a cache file of an earlier format version.
var errOldFormat = errors.New("cache file of an older format")

// diskTier keeps entries as files named by the SHA-256 of their key. Each
// file holds a small header (key, URLs, tags) and then the entry, so the
// index is rebuilt at startup by reading headers only; bodies are read when
// a request needs them. Writes go through a bounded queue and a background
// writer: a slow or full disk drops writes, it never delays a request.
//
// The disk never holds an entry older than what the store has since
// replaced or removed: every queued write carries a sequence number, a
// removal leaves a tombstone that makes the writes queued before it void
// (checked and renamed into place under mu, as removals happen under it),
// and a write that cannot be queued removes the file it would replace.
type diskTier struct {
	dir   string
	max   int64
	store *Store

	mu    sync.Mutex
	files map[string]diskRec // by file name
	total int64
	// seq numbers queued writes; pending counts those not yet done, and
	// tombs holds, per file name, the last seq a removal voided (cleared
	// whenever nothing is pending).
	seq     uint64
	pending int
	tombs   map[string]uint64
	ready   atomic.Bool // the startup scan finished

	queue  chan diskWrite
	qmu    sync.RWMutex // guards sends against close
	closed bool
	wg     sync.WaitGroup
	// create opens a file for writing (a seam for tests of a full disk).
	create func(name string) (io.WriteCloser, error)

	lastErrLog atomic.Int64
}

type diskWrite struct {
	e   *entry
	seq uint64
}

type diskRec struct {
	key   string
	size  int64
	atime time.Time
}

type diskHeader struct {
	Key  string
	URLs []string
	Tags []string
}

func openDisk(dir string, max int64, s *Store) (*diskTier, error) {
	if max <= 0 {
		return nil, errors.New("cache: disk tier size must be greater than 0")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cache: disk tier: %w", err)
	}
	d := &diskTier{dir: dir, max: max, store: s, files: map[string]diskRec{}, tombs: map[string]uint64{}, queue: make(chan diskWrite, diskQueue)}
	d.create = func(name string) (io.WriteCloser, error) {
		return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	}
	// Leftovers of writes a crash cut short go before the writer starts:
	// removing them later, in scan, could remove a file the writer of this
	// very store is writing.
	if ents, err := os.ReadDir(dir); err == nil {
		for _, de := range ents {
			if strings.HasPrefix(de.Name(), ".tmp") {
				_ = os.Remove(filepath.Join(dir, de.Name()))
			}
		}
	}
	d.wg.Add(2)
	go d.scan()
	go d.writer()
	return d, nil
}

// diskQueue bounds the writes waiting for the disk.
const diskQueue = 256

func fileName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16])
}

// scan rebuilds the index from file headers.
func (d *diskTier) scan() {
	defer d.wg.Done()
	defer d.ready.Store(true)
	ents, err := os.ReadDir(d.dir)
	if err != nil {
		d.fail("scan", err)
		return
	}
	for _, de := range ents {
		name := de.Name()
		if strings.HasPrefix(name, ".tmp") {
			continue // being written now (leftovers were removed at open)
		}
		if len(name) != 32 {
			continue
		}
		fi, err := de.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		path := filepath.Join(d.dir, name)
		h, err := readHeader(path)
		if errors.Is(err, errOldFormat) {
			// Written by an earlier version: never read, and not left to
			// take space outside the tier's bound.
			d.mu.Lock()
			if _, ok := d.files[name]; !ok {
				_ = os.Remove(path)
			}
			d.mu.Unlock()
			continue
		}
		if err != nil || fileName(h.Key) != name {
			continue
		}
		d.mu.Lock()
		_, known := d.files[name]
		// Removals happen under mu: the file may have gone since it was read.
		if _, err := os.Lstat(path); !known && err == nil {
			d.files[name] = diskRec{key: h.Key, size: fi.Size(), atime: fi.ModTime()}
			d.total += fi.Size()
		}
		d.mu.Unlock()
		d.store.index(&entry{Key: h.Key, Objects: headerObjects(h)}, tierDisk)
	}
	d.report()
	d.evict()
}

// headerObjects makes index-only objects (URL and tags) from a header.
func headerObjects(h diskHeader) []*Object {
	out := make([]*Object, 0, len(h.URLs))
	for i, u := range h.URLs {
		o := &Object{URL: u}
		if i == 0 {
			o.Tags = h.Tags
		}
		out = append(out, o)
	}
	if len(out) == 0 && len(h.Tags) > 0 {
		out = append(out, &Object{Tags: h.Tags})
	}
	return out
}

func readHeader(path string) (diskHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return diskHeader{}, err
	}
	defer f.Close()
	h, _, err := decodeHeader(bufio.NewReader(f))
	return h, err
}

func decodeHeader(r io.Reader) (diskHeader, io.Reader, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return diskHeader{}, nil, err
	}
	if string(pre[:4]) != diskMagic {
		if string(pre[:3]) == diskMagicFamily && pre[3] >= '0' && pre[3] <= '9' {
			return diskHeader{}, nil, errOldFormat
		}
		return diskHeader{}, nil, errors.New("not a cache file")
	}
	n := binary.BigEndian.Uint32(pre[4:])
	if n > 1<<20 {
		return diskHeader{}, nil, errors.New("header too large")
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return diskHeader{}, nil, err
	}
	var h diskHeader
	if err := gob.NewDecoder(bytes.NewReader(buf)).Decode(&h); err != nil {
		return diskHeader{}, nil, err
	}
	return h, r, nil
}

// get reads the entry stored for key, nil when absent or unreadable.
func (d *diskTier) get(key string) *entry {
	name := fileName(key)
	if d.ready.Load() {
		d.mu.Lock()
		_, ok := d.files[name]
		d.mu.Unlock()
		if !ok {
			return nil
		}
	}
	f, err := os.Open(filepath.Join(d.dir, name))
	if err != nil {
		return nil
	}
	defer f.Close()
	h, rest, err := decodeHeader(bufio.NewReader(f))
	if err != nil || h.Key != key {
		return nil
	}
	var e entry
	if err := gob.NewDecoder(rest).Decode(&e); err != nil || e.Key != key {
		d.fail("read", err)
		return nil
	}
	d.mu.Lock()
	if rec, ok := d.files[name]; ok {
		rec.atime = time.Now()
		d.files[name] = rec
	}
	d.mu.Unlock()
	return &e
}

// put queues e for writing. When the queue is full the write is dropped
// and what the disk holds for the key is removed at once: it is older than
// e (an invalidating purge's copy, a 304's update) and must not come back
// after a restart or a memory eviction.
func (d *diskTier) put(e *entry) {
	d.qmu.RLock()
	defer d.qmu.RUnlock()
	if d.closed {
		return
	}
	d.mu.Lock()
	d.seq++
	w := diskWrite{e: e, seq: d.seq}
	d.pending++
	d.mu.Unlock()
	select {
	case d.queue <- w:
		return
	default:
	}
	d.mu.Lock()
	d.pending--
	d.mu.Unlock()
	d.remove(e.Key)
	d.store.unindex(e.Key, tierDisk)
}

func (d *diskTier) writer() {
	defer d.wg.Done()
	for w := range d.queue {
		if w.e.Key != "" {
			d.write(w)
		}
		d.mu.Lock()
		d.pending--
		if d.pending == 0 {
			clear(d.tombs)
		}
		d.mu.Unlock()
	}
}

// voided reports whether a removal came after w was queued. Call with mu.
func (d *diskTier) voided(name string, w diskWrite) bool {
	return w.seq <= d.tombs[name]
}

func (d *diskTier) write(w diskWrite) {
	e := w.e
	name := fileName(e.Key)
	d.mu.Lock()
	gone := d.voided(name, w)
	d.mu.Unlock()
	if gone {
		return
	}
	var hb bytes.Buffer
	if err := gob.NewEncoder(&hb).Encode(diskHeader{Key: e.Key, URLs: e.urls(), Tags: e.tags()}); err != nil {
		d.fail("encode", err)
		return
	}
	tmp := filepath.Join(d.dir, ".tmp-"+name)
	f, err := d.create(tmp)
	if err != nil {
		d.fail("write", err)
		return
	}
	cw := &countWriter{w: bufio.NewWriterSize(f, 64<<10)}
	var pre [8]byte
	copy(pre[:], diskMagic)
	binary.BigEndian.PutUint32(pre[4:], uint32(hb.Len()))
	_, err = cw.Write(pre[:])
	if err == nil {
		_, err = cw.Write(hb.Bytes())
	}
	if err == nil {
		err = gob.NewEncoder(cw).Encode(e)
	}
	if err == nil {
		err = cw.w.(*bufio.Writer).Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		d.fail("write", err)
		return
	}
	d.mu.Lock()
	if d.voided(name, w) {
		// Removed while being written: the file must not appear now.
		d.mu.Unlock()
		_ = os.Remove(tmp)
		return
	}
	if err := os.Rename(tmp, filepath.Join(d.dir, name)); err != nil {
		d.mu.Unlock()
		_ = os.Remove(tmp)
		d.fail("write", err)
		return
	}
	if old, ok := d.files[name]; ok {
		d.total -= old.size
	}
	d.files[name] = diskRec{key: e.Key, size: cw.n, atime: time.Now()}
	d.total += cw.n
	d.mu.Unlock()
	d.store.index(e, tierDisk)
	d.evict()
	d.report()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// evict removes the least recently used files until the tier fits.
func (d *diskTier) evict() {
	d.mu.Lock()
	if d.total <= d.max {
		d.mu.Unlock()
		return
	}
	type victim struct {
		name string
		rec  diskRec
	}
	all := make([]victim, 0, len(d.files))
	for n, r := range d.files {
		all = append(all, victim{n, r})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].rec.atime.Before(all[j].rec.atime) })
	var gone []string
	for _, v := range all {
		if d.total <= d.max {
			break
		}
		delete(d.files, v.name)
		d.total -= v.rec.size
		gone = append(gone, v.rec.key)
		_ = os.Remove(filepath.Join(d.dir, v.name))
	}
	d.mu.Unlock()
	for _, k := range gone {
		if d.store.hooks.Evicted != nil {
			d.store.hooks.Evicted("disk")
		}
		d.store.unindex(k, tierDisk)
	}
}

// remove deletes key's file and voids the writes of it still queued.
func (d *diskTier) remove(key string) {
	name := fileName(key)
	d.mu.Lock()
	if d.pending > 0 {
		d.tombs[name] = d.seq
	}
	if rec, ok := d.files[name]; ok {
		d.total -= rec.size
		delete(d.files, name)
	}
	// Under mu, as a write's rename is: one of the two comes first.
	_ = os.Remove(filepath.Join(d.dir, name))
	d.mu.Unlock()
	d.report()
}

func (d *diskTier) report() {
	if d.store.hooks.Bytes != nil {
		d.mu.Lock()
		n := d.total
		d.mu.Unlock()
		d.store.hooks.Bytes("disk", n)
	}
}

// fail counts a disk error and logs it at most every 10 seconds: the
// memory tier keeps serving.
func (d *diskTier) fail(op string, err error) {
	if err == nil {
		return
	}
	if d.store.hooks.DiskError != nil {
		d.store.hooks.DiskError()
	}
	now := time.Now().UnixNano()
	last := d.lastErrLog.Load()
	if now-last > int64(10*time.Second) && d.lastErrLog.CompareAndSwap(last, now) {
		d.store.log.Error("cache disk tier failed; serving from memory", "op", op, "dir", d.dir, "err", err)
	}
}

func (d *diskTier) close() {
	d.qmu.Lock()
	if !d.closed {
		d.closed = true
		close(d.queue)
	}
	d.qmu.Unlock()
	d.wg.Wait()
}

// parseAbsolute parses an absolute http or https URL.
func parseAbsolute(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not a URL", ErrBadPurge, raw)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("%w: %q must be an absolute http(s) URL without userinfo or fragment", ErrBadPurge, raw)
	}
	return u, nil
}
