package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/internal/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// Policy is what the trail does when a sink cannot take records and its
// spool is full (or it has none).
type Policy string

const (
	// FailClosed refuses the records: Record returns ErrUnavailable and the
	// gateway answers 503 on the routes whose decisions it audits.
	FailClosed Policy = "fail_closed"
	// FailOpen drops the records for that sink, counts them, logs, and
	// writes a gap record into the trail when the sink takes records again.
	FailOpen Policy = "fail_open"
)

// Durability is when Record returns, for the file sink.
type Durability string

const (
	// DurabilityFsync acknowledges a record once its group is written and
	// fsynced: nothing acknowledged is lost even when the machine loses
	// power. Each group costs an fsync, on the request path.
	DurabilityFsync Durability = "fsync"
	// DurabilityWrite acknowledges a record once it is written to the
	// operating system: nothing acknowledged is lost when the gateway
	// crashes or is killed, and the trail fsyncs the file every
	// SyncInterval, so a machine crash can lose at most that much.
	DurabilityWrite Durability = "write"
)

// Sink types.
const (
	SinkFile   = "file"
	SinkStdout = "stdout"
	SinkHTTP   = "http"
)

var (
	// ErrUnavailable is returned by Record under FailClosed when a sink
	// cannot take the record.
	ErrUnavailable = errors.New("audit trail cannot accept records")
	// ErrClosed is returned by Record after Close.
	ErrClosed = errors.New("audit trail closed")
	// ErrReservedKind is returned for events of a kind the trail writes itself.
	ErrReservedKind = errors.New("event kind is reserved for the audit trail")
	// ErrOptions wraps every problem Open finds in its Options.
	ErrOptions = errors.New("invalid audit options")
)

// SinkOptions configures one sink.
type SinkOptions struct {
	// Name labels the sink in metrics, logs and gap records; it also names
	// its spool directory.
	Name string
	// Type is SinkFile, SinkStdout or SinkHTTP.
	Type string

	// Path, RotateBytes and RotateEvery configure a file sink: rotated
	// files are renamed Path.<index>. Zero turns a rotation trigger off.
	Path        string
	RotateBytes int64
	RotateEvery time.Duration

	// Writer replaces standard output for a stdout sink (tests).
	Writer io.Writer

	// URL, Header, BatchSize and Timeout configure an http sink.
	URL       string
	Header    http.Header
	BatchSize int
	Timeout   time.Duration
}

// Options configures Open.
type Options struct {
	Sinks []SinkOptions
	// SpoolDir holds one spool directory per sink. Required with an http
	// sink; without it a failing file or stdout sink loses records (and
	// Policy applies at once).
	SpoolDir string
	// SpoolMaxBytes bounds each sink's spool.
	SpoolMaxBytes int64
	Policy        Policy
	// CheckpointEvery and CheckpointInterval: a checkpoint follows every
	// CheckpointEvery records, and at least every CheckpointInterval while
	// records arrive. Zero turns a trigger off.
	CheckpointEvery    int
	CheckpointInterval time.Duration
	// Signer signs checkpoints; nil writes them unsigned.
	Signer  Signer
	Logger  *slog.Logger
	Metrics *metrics.AuditMetrics
	// Client posts to http sinks; nil uses a client of its own.
	Client *http.Client
	// BackoffMin and BackoffMax bound the wait between delivery attempts
	// to a failing sink (defaults 100ms and 30s).
	BackoffMin, BackoffMax time.Duration
	// CloseTimeout is how long Close waits for spools to drain (default 5s).
	CloseTimeout time.Duration
	// Durability applies to the file sink (default DurabilityFsync);
	// spools are fsynced on every append whatever it says, and stdout
	// and http sinks are not affected.
	Durability Durability
	// SyncInterval is how often the file sink is fsynced under
	// DurabilityWrite (default 1s).
	SyncInterval time.Duration
}

// Trail is the tamper-evident audit trail: it numbers and chains records,
// commits them to its sinks in groups (one write, and under
// DurabilityFsync one fsync, per group), spools for
// sinks that are down, and writes signed checkpoints. It is safe for
// concurrent use.
type Trail struct {
	opts    Options
	log     *slog.Logger
	m       *metrics.AuditMetrics
	outlets []*outlet
	file    *fileSink

	reqs    chan *pending
	pool    sync.Pool
	quit    chan struct{}
	done    chan struct{}
	closing atomic.Bool
	once    sync.Once

	drainCtx    context.Context
	stopDrain   context.CancelFunc
	drainers    sync.WaitGroup
	closeResult error

	// Committer state: only the committer goroutine touches it after Open.
	seq       uint64
	head      string
	sinceCkpt uint64
	buf       []byte
	// rec and errs are the committer's scratch: one record being encoded
	// and a group's results, reused so a group does not allocate them.
	rec       Record
	errs      []error
	lostLog   time.Time
	lostCount uint64
}

type outlet struct {
	name  string
	sink  sink
	async bool
	spool *spool
	batch int
	wake  chan struct{}
	up    atomic.Bool
	// records and upGauge are the sink's metrics, looked up once: every
	// group updates them.
	records prometheus.Counter
	upGauge prometheus.Gauge
	// lost is the range of seqs this sink missed, to be declared in a gap
	// record; committer only.
	lostFrom, lostTo, lostN uint64
}

type pending struct {
	e    Event
	done chan error
}

const maxGroup = 1024

// Open opens every sink (creating files and spool directories), repairs a
// torn last line left by a crash, continues the chain where it ended, and
// starts delivery. An unwritable path or an invalid URL is an error naming
// the sink.
func Open(opts Options) (*Trail, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	if opts.Policy == "" {
		opts.Policy = FailClosed
	}
	if opts.Policy != FailClosed && opts.Policy != FailOpen {
		return nil, fmt.Errorf("%w: unknown policy %q", ErrOptions, opts.Policy)
	}
	if opts.SpoolMaxBytes <= 0 {
		opts.SpoolMaxBytes = 1 << 30
	}
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = 100 * time.Millisecond
	}
	if opts.BackoffMax < opts.BackoffMin {
		opts.BackoffMax = max(30*time.Second, opts.BackoffMin)
	}
	if opts.CloseTimeout <= 0 {
		opts.CloseTimeout = 5 * time.Second
	}
	if opts.Durability == "" {
		opts.Durability = DurabilityFsync
	}
	if opts.Durability != DurabilityFsync && opts.Durability != DurabilityWrite {
		return nil, fmt.Errorf("%w: unknown durability %q", ErrOptions, opts.Durability)
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = time.Second
	}
	if len(opts.Sinks) == 0 {
		return nil, fmt.Errorf("%w: no sinks", ErrOptions)
	}
	t := &Trail{opts: opts, log: opts.Logger, m: opts.Metrics, reqs: make(chan *pending, 4096),
		quit: make(chan struct{}), done: make(chan struct{})}
	t.pool.New = func() any { return &pending{done: make(chan error, 1)} }
	var recovered []Event
	fail := func(err error) (*Trail, error) {
		for _, o := range t.outlets {
			_ = o.sink.close()
			if o.spool != nil {
				o.spool.close()
			}
		}
		return nil, err
	}
	names := map[string]bool{}
	for _, so := range opts.Sinks {
		if so.Name == "" {
			so.Name = so.Type
		}
		if names[so.Name] {
			return fail(fmt.Errorf("%w: sink name %q used twice", ErrOptions, so.Name))
		}
		names[so.Name] = true
		o := &outlet{name: so.Name, batch: so.BatchSize, wake: make(chan struct{}, 1)}
		switch so.Type {
		case SinkFile:
			if t.file != nil {
				return fail(fmt.Errorf("%w: sink %q: only one file sink is supported", ErrOptions, so.Name))
			}
			fs, cut, err := openFileSink(so.Path, so.RotateBytes, so.RotateEvery, opts.Durability == DurabilityFsync)
			if err != nil {
				return fail(fmt.Errorf("sink %q: %w", so.Name, err))
			}
			if cut > 0 {
				recovered = append(recovered, recoveredEvent(so.Path, cut))
			}
			t.file, o.sink = fs, fs
		case SinkStdout:
			w := so.Writer
			if w == nil {
				w = os.Stdout
			}
			o.sink = &writerSink{w: w}
		case SinkHTTP:
			u, err := url.Parse(so.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fail(fmt.Errorf("%w: sink %q: url must be an absolute http(s) URL", ErrOptions, so.Name))
			}
			if opts.SpoolDir == "" {
				return fail(fmt.Errorf("%w: sink %q: an http sink needs a spool directory", ErrOptions, so.Name))
			}
			client := opts.Client
			if client == nil {
				client = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 2}}
			}
			timeout := so.Timeout
			if timeout <= 0 {
				timeout = 10 * time.Second
			}
			o.sink = &httpSink{url: so.URL, header: so.Header, client: client, timeout: timeout}
			o.async = true
		default:
			return fail(fmt.Errorf("%w: sink %q: unknown type %q", ErrOptions, so.Name, so.Type))
		}
		if o.batch <= 0 {
			o.batch = 500
		}
		if opts.SpoolDir != "" {
			dir := filepath.Join(opts.SpoolDir, so.Name)
			sp, cut, err := openSpool(dir, opts.SpoolMaxBytes)
			if err != nil {
				_ = o.sink.close()
				return fail(fmt.Errorf("sink %q: %w", so.Name, err))
			}
			if cut > 0 {
				recovered = append(recovered, recoveredEvent(dir, cut))
			}
			o.spool = sp
		}
		if t.m != nil {
			o.records = t.m.Records.WithLabelValues(o.name)
			o.upGauge = t.m.SinkUp.WithLabelValues(o.name)
		}
		o.up.Store(true)
		t.outlets = append(t.outlets, o)
	}
	// Spools are written before the file (see commit), so after a crash
	// a spool may be ahead of the file; async sinks first, too.
	ordered := make([]*outlet, 0, len(t.outlets))
	for _, o := range t.outlets {
		if o.async {
			ordered = append(ordered, o)
		}
	}
	for _, o := range t.outlets {
		if !o.async {
			ordered = append(ordered, o)
		}
	}
	t.outlets = ordered
	if err := t.resume(); err != nil {
		return fail(err)
	}
	for _, o := range t.outlets {
		t.setUp(o, true)
	}
	t.updateDepth()
	t.drainCtx, t.stopDrain = context.WithCancel(context.Background())
	for _, o := range t.outlets {
		if o.async {
			t.drainers.Add(1)
			go t.drain(o)
		}
	}
	go t.run()
	for _, e := range recovered {
		t.log.Warn("audit: cut a torn last line left by a crash", "file", e.Detail["file"], "bytes", e.Detail["truncated_bytes"])
		t.record(context.Background(), e, true)
	}
	return t, nil
}

func recoveredEvent(file string, cut int64) Event {
	return Event{Time: time.Now().UTC(), Kind: KindRecovered, Decision: "fail", Reason: "torn_line",
		Detail: map[string]string{"file": file, "truncated_bytes": strconv.FormatInt(cut, 10)}}
}

// resume finds where the chain ended (the furthest of the file and the
// spools) and brings every sink that is behind up to it, from the spool
// that holds the missing records.
func (t *Trail) resume() error {
	type pos struct {
		o    *outlet
		last lastRec
	}
	var all []pos
	var best pos
	for _, o := range t.outlets {
		var l lastRec
		if fs, ok := o.sink.(*fileSink); ok {
			l = fs.last
		}
		if o.spool != nil {
			if sl := o.spool.lastRecord(); sl.seq > l.seq {
				l = sl
			}
		}
		all = append(all, pos{o, l})
		if l.seq > best.last.seq {
			best = pos{o, l}
		}
	}
	t.seq, t.head = best.last.seq, best.last.hash
	if best.o != nil {
		var paths []string
		if fs, ok := best.o.sink.(*fileSink); ok && fs.last == best.last {
			paths = []string{fs.path}
		} else if best.o.spool != nil {
			for _, sg := range best.o.spool.segs {
				paths = append(paths, sg.path)
			}
		}
		// Checkpoint counts continue across a crash.
		t.sinceCkpt = countSinceCheckpoint(paths)
	}
	for _, p := range all {
		if p.last.seq >= best.last.seq || p.o == best.o {
			continue
		}
		if _, isStdout := p.o.sink.(*writerSink); isStdout && p.o.spool == nil {
			continue
		}
		if best.o.spool == nil {
			t.log.Error("audit: a sink is behind the chain and no spool holds the missing records", "sink", p.o.name,
				"sink_seq", p.last.seq, "head_seq", best.last.seq)
			continue
		}
		lines, err := best.o.spool.linesAfter(p.last.seq)
		if err != nil {
			return err
		}
		if len(lines) == 0 {
			continue
		}
		first, _ := lineSeq(lines[0])
		if first != p.last.seq+1 {
			t.log.Error("audit: a sink is behind the chain and the spool no longer holds every missing record",
				"sink", p.o.name, "sink_seq", p.last.seq, "available_from", first)
		}
		var buf []byte
		for _, l := range lines {
			buf = append(buf, l...)
		}
		last, _ := lineSeq(lines[len(lines)-1])
		if p.o.spool != nil && (p.o.async || p.o.spool.pending() > 0) {
			err = p.o.spool.append(buf, len(lines), first, best.last)
		} else {
			err = p.o.sink.write(context.Background(), buf, len(lines), first, last)
		}
		if err != nil {
			return fmt.Errorf("sink %q: bring up to date after a crash: %w", p.o.name, err)
		}
		t.log.Warn("audit: brought a sink up to date after a crash", "sink", p.o.name, "records", len(lines))
	}
	return nil
}

// Record appends e to the trail and returns once every sink has it
// durably: written and fsynced to the file (written only, under
// DurabilityWrite), written to stdout, or in a fsynced spool. It fills e.Time
// when zero and replaces anything in e that looks like a credential with
// its fingerprint. Under FailClosed it returns ErrUnavailable when a sink
// cannot take the record; under FailOpen it returns nil and counts the loss.
func (t *Trail) Record(ctx context.Context, e Event) error {
	if reservedKind(e.Kind) {
		return fmt.Errorf("%w: %q", ErrReservedKind, e.Kind)
	}
	return t.record(ctx, e, false)
}

var _ Recorder = (*Trail)(nil)

func (t *Trail) record(ctx context.Context, e Event, internal bool) error {
	if t.closing.Load() {
		return ErrClosed
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if !internal {
		redactEvent(&e)
	}
	p := t.pool.Get().(*pending)
	p.e = e
	// The queue has room nearly always: try it without the cost of a
	// three-way select.
	select {
	case t.reqs <- p:
	default:
		select {
		case t.reqs <- p:
		case <-t.done:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	select {
	case err := <-p.done:
		p.e = Event{}
		t.pool.Put(p)
		return err
	case <-t.done:
		select {
		case err := <-p.done:
			return err
		default:
			return ErrClosed
		}
	case <-ctx.Done():
		// The committer still owns p; it is not reused.
		return ctx.Err()
	}
}

// run is the committer: it takes every record waiting, commits them as one
// group, and acknowledges them together.
func (t *Trail) run() {
	defer close(t.done)
	var ckC <-chan time.Time
	if t.opts.CheckpointInterval > 0 {
		tk := time.NewTicker(t.opts.CheckpointInterval)
		defer tk.Stop()
		ckC = tk.C
	}
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	var syncC <-chan time.Time
	if t.file != nil && t.opts.Durability == DurabilityWrite {
		tk := time.NewTicker(t.opts.SyncInterval)
		defer tk.Stop()
		syncC = tk.C
	}
	group := make([]*pending, 0, 64)
	for {
		select {
		case p := <-t.reqs:
			// Let every goroutine that is ready to run reach its Record
			// first, so they share this group's write (and fsync). Without
			// it, on one CPU (GOMAXPROCS=1) the committer runs as soon as
			// the first record wakes it and every record pays a write of
			// its own (issue #7: the trail's CPU cost per request).
			runtime.Gosched()
			group = append(group[:0], p)
			group = t.gather(group)
			t.commit(group, false)
		case <-ckC:
			t.commit(nil, true)
		case <-retry.C:
			// Retry sync sinks that are spooling, and rotate by time.
			t.commit(nil, false)
		case <-syncC:
			if err := t.file.sync(); err != nil {
				// The kernel may have dropped the pages: records written
				// since the last fsync may not survive a machine crash.
				t.log.Error("audit: fsync of the trail file failed", "err", err.Error())
			}
		case <-t.quit:
			for {
				group = t.gather(group[:0])
				if len(group) == 0 {
					break
				}
				t.commit(group, false)
			}
			t.commit(nil, true)
			return
		}
	}
}

func (t *Trail) gather(group []*pending) []*pending {
	for len(group) < maxGroup {
		select {
		case p := <-t.reqs:
			group = append(group, p)
		default:
			return group
		}
	}
	return group
}

// canAccept reports whether o can take n more bytes now: directly (a sync
// sink with nothing spooled is tried optimistically) or in its spool.
func (o *outlet) canAccept(n int) bool {
	if !o.async && (o.spool == nil || o.spool.pending() == 0) {
		return true
	}
	return o.spool != nil && o.spool.free() >= int64(n)
}

func (t *Trail) commit(group []*pending, forceCkpt bool) {
	now := time.Now().UTC()
	for _, o := range t.outlets {
		if !o.async && o.spool != nil && o.spool.pending() > 0 {
			t.drainSync(o)
		}
	}
	seq, head, since := t.seq, t.head, t.sinceCkpt
	buf := t.buf[:0]
	lines := 0
	fileIdx := 0
	if t.file != nil {
		if idx, ok := t.file.due(now); ok {
			fileIdx = idx
		}
	}
	var encErr error
	var add func(r *Record)
	checkpoint := func() {
		var sig string
		if t.opts.Signer != nil {
			payload, _ := json.Marshal(CheckpointPayload{Seq: seq, Head: head, Count: since})
			var err error
			if sig, err = t.opts.Signer.SignJWS(payload); err != nil {
				t.log.Error("audit: cannot sign checkpoint; writing it unsigned", "err", err.Error())
				sig = ""
			}
		}
		add(&Record{Event: Event{Time: now, Kind: KindCheckpoint}, Head: head, Count: since, Signature: sig})
		since = 0
	}
	add = func(r *Record) {
		seq++
		r.Seq, r.Prev = seq, head
		if fileIdx > 0 {
			r.File, fileIdx = fileIdx, 0
		}
		var err error
		if buf, err = encodeRecord(buf, r); err != nil {
			encErr = err
			seq--
			return
		}
		head = r.Hash
		lines++
	}
	// A file is sealed with a checkpoint before the next one opens.
	if fileIdx > 0 && since > 0 {
		idx := fileIdx
		fileIdx = 0
		checkpoint()
		fileIdx = idx
	}
	var gaps []*outlet
	for _, o := range t.outlets {
		if o.lostN > 0 && (len(group) > 0 || forceCkpt) && o.canAccept(1024) {
			add(&Record{Event: Event{Time: now, Kind: KindGap, Decision: "fail", Reason: "sink_lost_records"},
				Sink: o.name, From: o.lostFrom, To: o.lostTo, Dropped: o.lostN})
			gaps = append(gaps, o)
		}
	}
	errs := slices.Grow(t.errs[:0], len(group))[:len(group)]
	clear(errs)
	t.errs = errs
	for i, p := range group {
		before := seq
		t.rec = Record{Event: p.e}
		add(&t.rec)
		if seq == before {
			errs[i] = encErr
			continue
		}
		since++
		if t.opts.CheckpointEvery > 0 && since >= uint64(t.opts.CheckpointEvery) {
			checkpoint()
		}
	}
	if forceCkpt && since > 0 {
		checkpoint()
	}
	t.buf = buf
	if lines == 0 {
		ack(group, errs, nil)
		return
	}
	first := t.seq + 1
	if t.opts.Policy == FailClosed && len(group) > 0 {
		for _, o := range t.outlets {
			if !o.canAccept(len(buf)) {
				t.refused(o, len(group))
				ack(group, errs, ErrUnavailable)
				return
			}
		}
	}
	anyLost := false
	last := lastRec{seq: seq, hash: head}
	for _, o := range t.outlets {
		if t.deliver(o, buf, lines, first, last) {
			continue
		}
		anyLost = true
		if o.lostN == 0 {
			o.lostFrom = first
		}
		o.lostTo = seq
		o.lostN += uint64(lines)
		t.dropped(o, lines)
	}
	t.seq, t.head, t.sinceCkpt = seq, head, since
	for _, o := range gaps {
		if o.lostTo < first {
			o.lostFrom, o.lostTo, o.lostN = 0, 0, 0
		}
	}
	t.updateDepth()
	var err error
	if anyLost && t.opts.Policy == FailClosed {
		err = ErrUnavailable
	}
	ack(group, errs, err)
}

func ack(group []*pending, errs []error, err error) {
	for i, p := range group {
		e := err
		if errs[i] != nil {
			e = errs[i]
		}
		p.done <- e
	}
}

// deliver hands one group to o and reports whether o took it.
func (t *Trail) deliver(o *outlet, buf []byte, lines int, first uint64, last lastRec) bool {
	if o.async {
		if err := o.spool.append(buf, lines, first, last); err != nil {
			return false
		}
		select {
		case o.wake <- struct{}{}:
		default:
		}
		return true
	}
	if o.spool == nil || o.spool.pending() == 0 {
		err := o.sink.write(context.Background(), buf, lines, first, last.seq)
		if err == nil {
			t.setUp(o, true)
			t.count(o, lines)
			return true
		}
		if o.up.Load() {
			t.log.Error("audit: sink failed; spooling its records", "sink", o.name, "err", err.Error())
		}
		t.setUp(o, false)
	}
	return o.spool != nil && o.spool.append(buf, lines, first, last) == nil
}

// drainSync writes a sync sink's spooled records to it, a bounded amount
// per group so acknowledgements are not held up for long.
func (t *Trail) drainSync(o *outlet) {
	for range 16 {
		buf, n, err := o.spool.peek(o.batch*4, 4<<20)
		if err != nil || n == 0 {
			return
		}
		first, _ := lineSeq(buf)
		if err := o.sink.write(context.Background(), buf, n, first, 0); err != nil {
			t.setUp(o, false)
			return
		}
		o.spool.advance(int64(len(buf)), n)
		t.setUp(o, true)
		t.count(o, n)
	}
}

// drain delivers an async sink's spool, in order, with exponential backoff
// while it fails. A batch leaves the spool only after the sink took it.
func (t *Trail) drain(o *outlet) {
	defer t.drainers.Done()
	backoff := t.opts.BackoffMin
	wait := func(d time.Duration) bool {
		// Full jitter keeps gateways from retrying in step.
		d = d/2 + rand.N(d/2+1)
		tm := time.NewTimer(d)
		defer tm.Stop()
		select {
		case <-tm.C:
			return true
		case <-t.drainCtx.Done():
			return false
		}
	}
	for {
		buf, n, err := o.spool.peek(o.batch, 4<<20)
		if err != nil {
			t.log.Error("audit: cannot read spool", "sink", o.name, "err", err.Error())
			if !wait(t.opts.BackoffMax) {
				return
			}
			continue
		}
		if n == 0 {
			select {
			case <-o.wake:
				continue
			case <-t.drainCtx.Done():
				return
			}
		}
		first, _ := lineSeq(buf)
		lastLine := buf[:len(buf)-1]
		for i := len(lastLine) - 1; i >= 0; i-- {
			if lastLine[i] == '\n' {
				lastLine = lastLine[i+1:]
				break
			}
		}
		last, _ := lineSeq(lastLine)
		if err := o.sink.write(t.drainCtx, buf, n, first, last); err != nil {
			if t.drainCtx.Err() != nil {
				return
			}
			if o.up.Load() {
				t.log.Error("audit: sink failed; records wait in its spool", "sink", o.name, "err", err.Error())
			}
			t.setUp(o, false)
			if !wait(backoff) {
				return
			}
			backoff = min(backoff*2, t.opts.BackoffMax)
			continue
		}
		o.spool.advance(int64(len(buf)), n)
		if !o.up.Load() {
			t.log.Info("audit: sink is back", "sink", o.name)
		}
		t.setUp(o, true)
		t.count(o, n)
		t.updateDepth()
		backoff = t.opts.BackoffMin
	}
}

func (t *Trail) setUp(o *outlet, up bool) {
	o.up.Store(up)
	if o.upGauge != nil {
		v := 0.0
		if up {
			v = 1
		}
		o.upGauge.Set(v)
	}
}

func (t *Trail) count(o *outlet, n int) {
	if o.records != nil {
		o.records.Add(float64(n))
	}
}

func (t *Trail) updateDepth() {
	if t.m == nil {
		return
	}
	var d int64
	for _, o := range t.outlets {
		if o.spool != nil {
			d += o.spool.pending()
		}
	}
	t.m.SpoolDepth.Set(float64(d))
}

// dropped and refused count and log (at most every 10 seconds) records a
// sink could not take.
func (t *Trail) dropped(o *outlet, n int) {
	if t.m != nil && t.opts.Policy == FailOpen {
		t.m.Dropped.Add(float64(n))
	}
	t.lossLog(o, n, "audit: records lost for a sink (spool full or no spool); a gap record will follow")
}

func (t *Trail) refused(o *outlet, n int) {
	if t.m != nil {
		t.m.Refused.Add(float64(n))
	}
	t.lossLog(o, n, "audit: refusing records (fail_closed): a sink is down and its spool is full")
}

func (t *Trail) lossLog(o *outlet, n int, msg string) {
	t.lostCount += uint64(n)
	if time.Since(t.lostLog) < 10*time.Second {
		return
	}
	t.log.Error(msg, "sink", o.name, "policy", string(t.opts.Policy), "records", t.lostCount)
	t.lostLog, t.lostCount = time.Now(), 0
}

// Close commits what is waiting, writes a last checkpoint, gives spooled
// records a few seconds to reach their sinks (the rest stays spooled for
// the next start) and closes everything.
func (t *Trail) Close() error {
	t.once.Do(func() {
		t.closing.Store(true)
		close(t.quit)
		<-t.done
		deadline := time.Now().Add(t.opts.CloseTimeout)
		for time.Now().Before(deadline) {
			pending := int64(0)
			// A sink that is down may be back any moment (its retry is
			// in backoff): give it until the deadline too. What is left
			// stays in the spool and goes out at the next start.
			for _, o := range t.outlets {
				if o.async {
					pending += o.spool.pending()
				}
			}
			if pending == 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.stopDrain()
		t.drainers.Wait()
		for _, o := range t.outlets {
			if err := o.sink.close(); err != nil && t.closeResult == nil {
				t.closeResult = fmt.Errorf("audit: close sink %q: %w", o.name, err)
			}
			if o.spool != nil {
				o.spool.close()
			}
		}
	})
	return t.closeResult
}

// countSinceCheckpoint counts the event records after the last checkpoint
// in files (read in order). Kinds are found by their bytes: a JSON string
// value cannot contain the unescaped quotes of "kind":"checkpoint".
func countSinceCheckpoint(paths []string) uint64 {
	var n uint64
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		r := bufio.NewReaderSize(f, 64<<10)
		for {
			line, err := readLine(r)
			if err != nil {
				break
			}
			switch {
			case bytes.Contains(line, []byte(`"kind":"checkpoint"`)):
				n = 0
			case bytes.Contains(line, []byte(`"kind":"gap"`)):
			default:
				n++
			}
		}
		f.Close()
	}
	return n
}
