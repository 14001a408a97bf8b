package script

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"
)

// Handler is an EdgeWorkers event handler.
type Handler int

// The event handlers, in pipeline order.
const (
	OnClientRequest Handler = iota
	OnOriginRequest
	OnOriginResponse
	OnClientResponse
	ResponseProvider
	NumHandlers
)

var handlerNames = [NumHandlers]string{"onClientRequest", "onOriginRequest", "onOriginResponse", "onClientResponse", "responseProvider"}

// String is the exported name of the handler, such as "onClientRequest".
func (h Handler) String() string {
	if h >= 0 && h < NumHandlers {
		return handlerNames[h]
	}
	return "handler(?)"
}

// Execution status names, as in Akamai's reports, CLI and debug headers.
const (
	StatusSuccess       = "success"
	StatusUnimplemented = "unimplementedEventHandler"
	StatusRuntimeError  = "runtimeError"
	StatusExecution     = "executionError"
	StatusCPUTimeout    = "cpuTimeoutError"
	StatusWallTimeout   = "wallTimeoutError"
	StatusResourceLimit = "resourceLimitHit"
	StatusInitCPU       = "initCpuTimeoutError"
	StatusInitWall      = "initWallTimeoutError"
)

// Interrupt reasons: the uncatchable ends of a handler.
var (
	errCPU    = errors.New("cpu time limit exceeded")
	errWall   = errors.New("wall time limit exceeded")
	errMemory = errors.New("memory limit exceeded")
	errSubs   = errors.New("sub-request limit exceeded")
)

// ErrNoHandler is returned by NewWorker for a bundle exporting no handler.
var ErrNoHandler = errors.New("the bundle exports no event handler")

// Options configures a Worker.
type Options struct {
	Tier Tier
	// Logger receives the script's log lines (at debug level) and failures.
	Logger *slog.Logger
	// MaxIdle bounds the pooled idle instances; 0 means 8.
	MaxIdle int
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
	// Name labels log lines (the bundle name).
	Name string
}

// Worker runs one bundle version. Its instances are never shared with
// another Worker. It is safe for concurrent use.
type Worker struct {
	bundle   *Bundle
	prog     *goja.Program
	prelude  *goja.Program
	opts     Options
	handlers [NumHandlers]bool
	idle     chan *instance
	// Init is the CPU and wall time of the first initialization.
	initCPU, initWall time.Duration
	created           atomic.Int64
	// realClock: opts.Now is the real clock, so the one reading taken at
	// the start of a call also freezes Date.now.
	realClock bool
}

// Compile parses a bundle's code once; the program is shared by every
// instance (and may be shared by Workers of the same bundle hash).
func Compile(b *Bundle) (*goja.Program, error) {
	ast, err := goja.Parse("main.js", "(function(module, exports, require){"+b.Code+"\n})", parser.WithSourceMapLoader(func(string) ([]byte, error) {
		return nil, errors.New("external source maps are not loaded")
	}))
	if err != nil {
		return nil, BundleErrors{{Code: CodeSyntax, File: "main.js", Msg: err.Error()}}
	}
	prog, err := goja.CompileAST(ast, true)
	if err != nil {
		return nil, BundleErrors{{Code: CodeSyntax, File: "main.js", Msg: err.Error()}}
	}
	return prog, nil
}

// NewWorker compiles (or reuses prog, when not nil) and initializes one
// instance to check the bundle: its module code must run within the
// tier's init limits and export at least one handler.
func NewWorker(b *Bundle, prog *goja.Program, opts Options) (*Worker, error) {
	if opts.Tier.Name == "" {
		opts.Tier = tiers[DefaultTier]
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxIdle <= 0 {
		opts.MaxIdle = 8
	}
	realClock := opts.Now == nil
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if prog == nil {
		var err error
		if prog, err = Compile(b); err != nil {
			return nil, err
		}
	}
	prelude, err := goja.Compile("edgegate:prelude.js", preludeSource, true)
	if err != nil {
		return nil, fmt.Errorf("compile prelude: %w", err)
	}
	w := &Worker{bundle: b, prog: prog, prelude: prelude, opts: opts, idle: make(chan *instance, opts.MaxIdle), realClock: realClock}
	start := time.Now()
	inst, err := w.newInstance()
	if err != nil {
		return nil, err
	}
	w.initWall = time.Since(start)
	w.initCPU = w.initWall
	any := false
	for h := range NumHandlers {
		w.handlers[h] = inst.exports[h] != nil
		any = any || w.handlers[h]
	}
	if !any {
		return nil, BundleErrors{{Code: CodeNoHandler, File: "main.js", Msg: "main.js must export at least one of onClientRequest, onOriginRequest, onOriginResponse, onClientResponse, responseProvider"}}
	}
	w.put(inst)
	return w, nil
}

// Bundle returns the worker's bundle.
func (w *Worker) Bundle() *Bundle { return w.bundle }

// Program returns the compiled program, for reuse by a Worker of the same
// bundle hash.
func (w *Worker) Program() *goja.Program { return w.prog }

// Tier returns the worker's resource tier.
func (w *Worker) Tier() Tier { return w.opts.Tier }

// Has reports whether the bundle exports h.
func (w *Worker) Has(h Handler) bool { return h >= 0 && h < NumHandlers && w.handlers[h] }

// InitTime is the wall time the bundle's module code took to initialize
// the first instance.
func (w *Worker) InitTime() time.Duration { return w.initWall }

// Instances counts the engine instances created so far.
func (w *Worker) Instances() int64 { return w.created.Load() }

func (w *Worker) get() (*instance, error) {
	select {
	case inst := <-w.idle:
		return inst, nil
	default:
		return w.newInstance()
	}
}

func (w *Worker) put(inst *instance) {
	if inst.broken {
		return
	}
	select {
	case w.idle <- inst:
	default:
	}
}

// Result is what one handler run did.
type Result struct {
	Handler Handler
	// Status is one of the Status* names.
	Status string
	// Err is the failure (nil on success); its message is safe to show
	// in debug headers (it is the script's own error text).
	Err error
	// CPU is the time the engine ran; Wall includes waits on sub-requests.
	CPU, Wall time.Duration
	// Memory is the bytes charged to the handler's allocations.
	Memory int64
	Logs   []LogEntry
	// Provided is the response a responseProvider created.
	Provided *Reply
	// Subrequests lists the handler's sub-requests, for debug headers.
	Subrequests []SubrequestInfo
}

// Failed reports whether the handler ended in error.
func (r *Result) Failed() bool { return r.Status != StatusSuccess && r.Status != StatusUnimplemented }

// SubrequestInfo describes one sub-request for the debug header.
type SubrequestInfo struct {
	Method, URL string
	Status      int
	Duration    time.Duration
}

// Run runs handler h on req (and resp for the response handlers). It
// never panics: a script error, a limit or a broken instance is reported
// in the Result, and the instance it ran in is discarded.
func (w *Worker) Run(ctx context.Context, h Handler, req *Request, resp *Response) *Result {
	res := &Result{Handler: h}
	if !w.Has(h) {
		res.Status = StatusUnimplemented
		return res
	}
	inst, err := w.get()
	if err != nil {
		res.Status, res.Err = StatusExecution, err
		return res
	}
	inst.run(ctx, h, req, resp, res)
	if res.Provided != nil && res.Provided.Stream != nil {
		return res // the stream owns the instance until its Close
	}
	w.put(inst)
	return res
}

// instance is one engine with the bundle's module initialized.
type instance struct {
	w       *Worker
	vm      *goja.Runtime
	exports [NumHandlers]goja.Callable
	// protos of the per-call host objects.
	reqProto, respProto *goja.Object
	modules             map[string]goja.Value
	requireFn           goja.Value
	builtins            builtins
	streamData          goja.Callable
	isStreamFn          goja.Callable
	// now is Date.now() during a handler (frozen at its start).
	now time.Time
	cur *call
	// broken instances are not returned to the pool.
	broken bool
	// done receives completions of async host operations; they run on the
	// handler's goroutine.
	done chan func() error
	// reason is why the engine was interrupted.
	reason atomic.Pointer[error]
	wd     watchdog
	// callBuf is the state of the call running on the instance.
	callBuf call
	args    [2]goja.Value
}

// builtins are constructors captured before the script can replace them.
type builtins struct {
	uint8Array  goja.Value
	arrayBuffer goja.Value
	fromBytes   goja.Callable // makes a host-backed ReadableStream
	jsonParse   goja.Callable
}

// call is the state of one handler run.
type call struct {
	h        Handler
	req      *Request
	resp     *Response
	res      *Result
	lim      Limits
	ctx      context.Context
	wallEnd  time.Time
	cpuStart time.Time
	cpuUsed  time.Duration
	// lastEnd is when the last engine segment ended.
	lastEnd time.Time
	// waited is set once the handler's promise was awaited.
	waited   bool
	reqObj   *goja.Object
	respObj  *goja.Object
	logBytes int
	pending  int // async host operations in flight
	subsLeft int
	subsNow  int
	mem      int64
	replies  map[*goja.Object]*Reply
	// streaming: a createResponse body stream took over the instance.
	streaming bool
}

func (w *Worker) newInstance() (*instance, error) {
	vm := goja.New()
	inst := &instance{w: w, vm: vm, modules: map[string]goja.Value{}, done: make(chan func() error, 64)}
	w.created.Add(1)
	inst.now = w.opts.Now()
	vm.SetTimeSource(func() time.Time { return inst.now })
	vm.SetMaxCallStackSize(2000)
	if err := inst.sandbox(); err != nil {
		return nil, fmt.Errorf("prepare engine: %w", err)
	}
	inst.setupObjects()

	// The module's top-level code runs under the init limits.
	lim := Limits{CPU: w.opts.Tier.InitCPU, Wall: w.opts.Tier.InitWall, Memory: w.opts.Tier.Handler.Memory * 4}
	c := &call{h: -1, lim: lim, ctx: context.Background(), res: &Result{}}
	inst.begin(c, time.Now())
	var fnVal goja.Value
	var exports *goja.Object
	err := inst.guard(func() error {
		v, err := vm.RunProgram(w.prog)
		if err != nil {
			return err
		}
		fnVal = v
		fn, ok := goja.AssertFunction(fnVal)
		if !ok {
			return errors.New("bundle did not compile to a module function")
		}
		module := vm.NewObject()
		exports = vm.NewObject()
		_ = module.Set("exports", exports)
		if _, err := fn(goja.Undefined(), module, exports, inst.requireFn); err != nil {
			return err
		}
		exports = module.Get("exports").ToObject(vm)
		return nil
	})
	inst.end(c)
	if err != nil {
		status, msg := inst.classify(err)
		switch status {
		case StatusCPUTimeout:
			status = StatusInitCPU
		case StatusWallTimeout:
			status = StatusInitWall
		}
		return nil, BundleErrors{{Code: CodeInit, File: "main.js", Msg: status + ": " + msg}}
	}
	for h := range NumHandlers {
		if fn, ok := goja.AssertFunction(exports.Get(handlerNames[h])); ok {
			inst.exports[h] = fn
		}
	}
	return inst, nil
}

// begin starts a handler's clocks at now (one clock reading serves
// Date.now, the wall deadline and the first CPU segment).
func (inst *instance) begin(c *call, now time.Time) {
	inst.cur = c
	if inst.w.realClock {
		inst.now = now
	} else {
		inst.now = inst.w.opts.Now()
	}
	c.wallEnd = now.Add(c.lim.Wall)
	if dl, ok := c.ctx.Deadline(); ok && dl.Before(c.wallEnd) {
		c.wallEnd = dl
	}
	c.subsLeft = c.lim.SubRequests
}

func (inst *instance) end(c *call) {
	inst.cur = nil
}

// watchdog enforces the CPU and wall deadlines of the running segment
// without a timer per call: one timer per instance, made once, fires at
// most once per limit period. A segment only publishes its deadline
// (arm); the timer, when it fires, interrupts the engine if a segment is
// running past its deadline, re-arms itself for a running segment that
// still has time, and goes idle otherwise. It is re-armed by a segment
// only when idle or scheduled later than the segment's deadline.
type watchdog struct {
	mu       sync.Mutex
	timer    *time.Timer
	armed    bool      // the timer is scheduled (or its callback is due)
	at       time.Time // when it is scheduled to fire
	active   bool      // a segment is running
	deadline time.Time
	reason   *error
	fired    bool // the running segment was interrupted
}

// arm publishes the running segment's deadline, now+left.
func (inst *instance) arm(now time.Time, left time.Duration, reason *error) {
	wd := &inst.wd
	deadline := now.Add(left)
	wd.mu.Lock()
	wd.active, wd.deadline, wd.reason, wd.fired = true, deadline, reason, false
	if !wd.armed || deadline.Before(wd.at) {
		if wd.timer == nil {
			wd.timer = time.AfterFunc(left, inst.watch)
		} else {
			wd.timer.Reset(left)
		}
		wd.armed, wd.at = true, deadline
	}
	wd.mu.Unlock()
}

// disarm ends the segment; it reports whether the watchdog interrupted it.
func (inst *instance) disarm() bool {
	wd := &inst.wd
	wd.mu.Lock()
	wd.active = false
	fired := wd.fired
	wd.mu.Unlock()
	return fired
}

// watch is the watchdog timer's callback.
func (inst *instance) watch() {
	wd := &inst.wd
	wd.mu.Lock()
	defer wd.mu.Unlock()
	if !wd.active {
		wd.armed = false
		return
	}
	now := time.Now()
	if left := wd.deadline.Sub(now); left > 0 {
		wd.timer.Reset(left)
		wd.armed, wd.at = true, wd.deadline
		return
	}
	wd.armed, wd.fired = false, true
	inst.reason.CompareAndSwap(nil, wd.reason)
	inst.vm.Interrupt(*wd.reason)
}

// guard runs fn on the engine with the CPU and wall limits armed: the
// watchdog interrupts the engine when either runs out. The CPU clock only
// runs while the engine does.
func (inst *instance) guard(fn func() error) error {
	return inst.guardAt(time.Now(), fn)
}

// guardAt is guard with the clock already read (now).
func (inst *instance) guardAt(now time.Time, fn func() error) (err error) {
	c := inst.cur
	left := c.lim.CPU - c.cpuUsed
	wallLeft := c.wallEnd.Sub(now)
	reason := &errCPU
	if wallLeft < left {
		left, reason = wallLeft, &errWall
	}
	if left <= 0 {
		inst.reason.Store(reason)
		return &goja.InterruptedError{}
	}
	c.cpuStart = now
	inst.arm(now, left, reason)
	defer func() {
		if inst.disarm() {
			// The engine may still hold the interrupt: this instance is
			// not reused.
			inst.broken = true
		}
		c.lastEnd = time.Now()
		c.cpuUsed += c.lastEnd.Sub(c.cpuStart)
		if r := recover(); r != nil {
			inst.broken = true
			err = fmt.Errorf("engine panic: %v", r)
		}
	}()
	return fn()
}

// interrupt stops the engine for reason (memory, sub-requests): the
// script cannot catch it.
func (inst *instance) interrupt(reason *error) {
	inst.reason.CompareAndSwap(nil, reason)
	inst.vm.Interrupt(*reason)
}

// classify turns an engine error into a status and a message.
func (inst *instance) classify(err error) (status, msg string) {
	var ie *goja.InterruptedError
	if r := inst.reason.Load(); errors.As(err, &ie) || r != nil {
		inst.broken = true
		switch {
		case r == nil:
			return StatusExecution, "interrupted"
		case *r == errCPU:
			return StatusCPUTimeout, "CPU time limit exceeded"
		case *r == errWall:
			return StatusWallTimeout, "wall time limit exceeded"
		case *r == errMemory:
			return StatusResourceLimit, "memory limit exceeded"
		case *r == errSubs:
			return StatusResourceLimit, "sub-request limit exceeded"
		}
		return StatusExecution, (*r).Error()
	}
	var se scriptError
	if errors.As(err, &se) {
		inst.broken = true
		return StatusRuntimeError, string(se)
	}
	var so *goja.StackOverflowError
	if errors.As(err, &so) {
		inst.broken = true
		return StatusResourceLimit, "maximum call stack size exceeded"
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		inst.broken = true
		return StatusRuntimeError, exceptionMessage(ex)
	}
	inst.broken = true
	return StatusExecution, err.Error()
}

func exceptionMessage(ex *goja.Exception) string {
	msg := ex.Value().String()
	if obj, ok := ex.Value().(*goja.Object); ok {
		if s := obj.Get("stack"); s != nil && !goja.IsUndefined(s) {
			lines := strings.SplitN(s.String(), "\n", 3)
			if len(lines) > 1 {
				msg = lines[0] + " (" + strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(lines[1]), "at ")) + ")"
			}
		}
	}
	if len(msg) > 512 {
		msg = msg[:512] + "…"
	}
	return msg
}

// run calls handler h and waits for its promise, running completions of
// async operations on this goroutine.
func (inst *instance) run(ctx context.Context, h Handler, req *Request, resp *Response, res *Result) {
	lim := inst.w.opts.Tier.Handler
	if h == ResponseProvider {
		lim = inst.w.opts.Tier.Provider
	}
	// One call runs on an instance at a time (a stream keeps the instance
	// until its Close), so the call state is reused, not allocated.
	c := &inst.callBuf
	*c = call{h: h, req: req, resp: resp, res: res, lim: lim, ctx: ctx}
	start := time.Now()
	inst.begin(c, start)
	defer func() {
		inst.end(c)
		res.CPU = c.cpuUsed
		if c.waited {
			res.Wall = time.Since(start)
		} else {
			res.Wall = c.lastEnd.Sub(start)
		}
		if c.pending > 0 && !c.streaming {
			// Completions still on their way would land in a later call.
			inst.broken = true
		}
	}()
	if req != nil {
		req.handler = h
	}
	var ret goja.Value
	err := inst.guardAt(start, func() error {
		c.reqObj = inst.vm.CreateObject(inst.reqProto)
		args := inst.args[:1]
		args[0] = c.reqObj
		if h == OnOriginResponse || h == OnClientResponse {
			c.respObj = inst.vm.CreateObject(inst.respProto)
			args = inst.args[:2]
			args[1] = c.respObj
		}
		var err error
		ret, err = inst.exports[h](goja.Undefined(), args...)
		args[0] = nil
		if len(args) > 1 {
			args[1] = nil
		}
		return err
	})
	if err == nil {
		ret, err = inst.await(c, ret)
	}
	res.Memory = c.mem
	if err != nil {
		status, msg := inst.classify(err)
		res.Status, res.Err = status, scriptError(msg)
		return
	}
	if h == ResponseProvider {
		reply, perr := inst.providedResponse(ret)
		if perr != nil {
			res.Status, res.Err = StatusRuntimeError, perr
			inst.broken = true
			return
		}
		if reply.reader != nil {
			reply.Stream = &BodyStream{inst: inst, c: c, reader: reply.reader}
			reply.reader = nil
			c.streaming = true
		}
		res.Provided = reply
	}
	res.Status = StatusSuccess
}

// scriptError is a script failure message.
type scriptError string

func (e scriptError) Error() string { return string(e) }

// rejection describes the reason a handler's promise was rejected with.
func rejection(v goja.Value) error {
	if v == nil || goja.IsUndefined(v) {
		return scriptError("Uncaught (in promise) undefined")
	}
	msg := v.String()
	if obj, ok := v.(*goja.Object); ok {
		if s := obj.Get("stack"); s != nil && !goja.IsUndefined(s) {
			lines := strings.SplitN(s.String(), "\n", 3)
			if len(lines) > 1 {
				msg = lines[0] + " (" + strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(lines[1]), "at ")) + ")"
			}
		}
	}
	if len(msg) > 512 {
		msg = msg[:512] + "…"
	}
	return scriptError("Uncaught (in promise) " + msg)
}

// await waits for v when it is a promise.
func (inst *instance) await(c *call, v goja.Value) (goja.Value, error) {
	obj, ok := v.(*goja.Object)
	if !ok {
		return v, nil
	}
	p, ok := obj.Export().(*goja.Promise)
	if !ok {
		return v, nil
	}
	c.waited = true
	for {
		switch p.State() {
		case goja.PromiseStateFulfilled:
			return p.Result(), nil
		case goja.PromiseStateRejected:
			return nil, rejection(p.Result())
		}
		if c.pending == 0 {
			return nil, scriptError("the handler's promise never settles (nothing is pending)")
		}
		wait := time.Until(c.wallEnd)
		if wait <= 0 {
			inst.reason.CompareAndSwap(nil, &errWall)
			return nil, &goja.InterruptedError{}
		}
		t := time.NewTimer(wait)
		select {
		case job := <-inst.done:
			t.Stop()
			c.pending--
			if err := inst.guard(job); err != nil {
				return nil, err
			}
			if r := inst.reason.Load(); r != nil {
				return nil, &goja.InterruptedError{}
			}
		case <-t.C:
			inst.reason.CompareAndSwap(nil, &errWall)
			return nil, &goja.InterruptedError{}
		case <-c.ctx.Done():
			t.Stop()
			inst.reason.CompareAndSwap(nil, &errWall)
			return nil, &goja.InterruptedError{}
		}
	}
}
