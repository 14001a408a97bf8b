package script

// preludeSource is the sandbox and the built-in modules written in
// JavaScript (kept as a Go constant so it is immutable).
const preludeSource = `// The sandbox and the built-in modules written in JavaScript. It runs once
// per engine instance, before the bundle; host is the Go side.
(function (host) {
  "use strict";
  const charge = host.charge;
  const G = globalThis;

  // No code generation from strings (EdgeWorkers removes eval and new
  // Function), no shared memory, no WebAssembly.
  const blocked = function Function() {
    throw new EvalError("Code generation from strings disallowed for this context");
  };
  const FP = Object.getPrototypeOf(function () {});
  for (const f of [function () {}, async function () {}, function* () {}]) {
    Object.defineProperty(Object.getPrototypeOf(f), "constructor", { value: blocked, writable: true, configurable: true });
  }
  blocked.prototype = FP;
  Object.defineProperty(G, "Function", { value: blocked, writable: true, configurable: true });
  for (const n of ["eval", "SharedArrayBuffer", "Atomics", "WebAssembly"]) delete G[n];

  // Memory accounting of explicit allocations: buffers and big strings.
  const U8 = Uint8Array, AB = ArrayBuffer;
  const wrap = (C, per) => new Proxy(C, {
    construct(t, args, nt) {
      const a = args[0];
      if (typeof a === "number") charge(a * per);
      else if (a != null && typeof a === "object" && !(a instanceof AB) && typeof a.length === "number") charge(a.length * per);
      return Reflect.construct(t, args, nt);
    },
  });
  G.ArrayBuffer = wrap(AB, 1);
  for (const C of [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array]) {
    G[C.name] = wrap(C, C.BYTES_PER_ELEMENT);
  }
  for (const m of ["repeat", "padStart", "padEnd"]) {
    const orig = String.prototype[m];
    Object.defineProperty(String.prototype, m, {
      value: function (n, ...rest) {
        const len = m === "repeat" ? this.length * Number(n) : Number(n);
        if (len > 0) charge(len * 2);
        return orig.call(this, n, ...rest);
      }, writable: true, configurable: true,
    });
  }

  const bytes = (v) => host.bytes(v);
  const u8 = (v) => (v instanceof U8 ? v : host.u8(v));


  // ---- encoding ----
  class TextEncoder {
    get encoding() { return "utf-8"; }
    encode(s = "") { return host.utf8Encode(String(s)); }
    encodeInto(s, dest) {
      const b = host.utf8Encode(String(s));
      const n = Math.min(b.length, dest.length);
      dest.set(b.subarray(0, n));
      return { read: String(s).length, written: n };
    }
  }
  class TextDecoder {
    #label; #fatal; #ignoreBOM;
    constructor(label = "utf-8", opts = {}) {
      this.#label = host.encodingLabel(String(label));
      this.#fatal = !!(opts && opts.fatal);
      this.#ignoreBOM = !!(opts && opts.ignoreBOM);
    }
    get encoding() { return this.#label; }
    get fatal() { return this.#fatal; }
    get ignoreBOM() { return this.#ignoreBOM; }
    #pending = null; #bomSeen = false;
    decode(buf, opts) {
      const stream = !!(opts && opts.stream);
      let b = buf === undefined ? new U8(0) : host.u8(buf);
      if (this.#pending) { const m = new U8(this.#pending.length + b.length); m.set(this.#pending); m.set(b, this.#pending.length); b = m; this.#pending = null; }
      if (stream && this.#label === "utf-8") {
        const cut = utf8Tail(b);
        if (cut < b.length) { this.#pending = b.slice(cut); b = b.subarray(0, cut); }
      }
      // The BOM is stripped once per stream, at its start.
      const ignoreBOM = this.#ignoreBOM || this.#bomSeen;
      if (b.length) this.#bomSeen = stream;
      const out = b.length ? host.decode(this.#label, b, this.#fatal, ignoreBOM) : "";
      if (!stream) this.#bomSeen = false;
      return out;
    }
  }
  const codec = (name) => ({
    encode: (b) => host.encode(name, b),
    decode: (s, fmt = "Uint8Array") => host.decodeBase(name, String(s), fmt),
  });
  const encoding = {
    TextEncoder, TextDecoder,
    atob: (s) => host.atob(String(s)),
    btoa: (s) => host.btoa(String(s)),
    base64: codec("base64"), base64url: codec("base64url"), base16: codec("base16"),
  };

  // goja has no Symbol.asyncIterator; esbuild's for-await lowering looks
  // for Symbol.for("Symbol.asyncIterator") then, so that is the one.
  if (!Symbol.asyncIterator) Object.defineProperty(Symbol, "asyncIterator", { value: Symbol.for("Symbol.asyncIterator") });

  // ---- streams (WHATWG Streams, default readers; see docs/edgeworkers.md) ----
  const RS = new WeakMap(), WS = new WeakMap();
  const isU8 = (v) => v instanceof U8;
  const sizeOf = (strategy) => (strategy && typeof strategy.size === "function" ? strategy.size : () => 1);
  const hwmOf = (strategy, def) => {
    const h = strategy && strategy.highWaterMark !== undefined ? Number(strategy.highWaterMark) : def;
    if (Number.isNaN(h) || h < 0) throw new RangeError("highWaterMark must be a non-negative number");
    return h;
  };
  const deferred = () => { let resolve, reject; const promise = new Promise((a, b) => { resolve = a; reject = b; }); return { promise, resolve, reject }; };
  const settled = (p) => { p.catch(() => {}); return p; };

  function rsError(s, e) {
    if (s.state !== "readable") return;
    s.state = "errored"; s.error = e; s.queue = []; s.qsize = 0;
    if (s.bytes) { s.pullIntos = []; bsInvalidate(s); }
    if (s.reader) {
      for (const r of s.reader.reads.splice(0)) r.reject(e);
      s.reader.closed.reject(e);
    }
  }
  // rsFinishClose closes s. Pending BYOB reads stay pending (the source
  // answers them with byobRequest.respond(0)) unless the stream is
  // cancelled.
  function rsFinishClose(s, cancel) {
    if (s.state !== "readable") return;
    s.state = "closed";
    if (s.reader) {
      if (!s.reader.byob || cancel) for (const r of s.reader.reads.splice(0)) r.resolve({ value: undefined, done: true });
      s.reader.closed.resolve(undefined);
    }
  }
  function rsDesired(s) {
    if (s.state === "errored") return null;
    if (s.state === "closed") return 0;
    return s.hwm - s.qsize;
  }
  function rsPull(s) {
    if (!s.started || s.state !== "readable" || s.closeRequested || !s.source.pull) return;
    const waiting = s.reader && s.reader.reads.length > 0;
    if (!waiting && rsDesired(s) <= 0) return;
    if (s.pulling) { s.pullAgain = true; return; }
    s.pulling = true;
    let p;
    try { p = Promise.resolve(s.source.pull.call(s.source, s.controller)); } catch (e) { p = Promise.reject(e); }
    p.then(() => {
      s.pulling = false;
      if (s.pullAgain) { s.pullAgain = false; rsPull(s); }
    }, (e) => rsError(s, e));
  }
  class ReadableStreamDefaultController {
    constructor() { throw new TypeError("Illegal constructor"); }
    get desiredSize() { return rsDesired(RS.get(this)); }
    enqueue(chunk) {
      const s = RS.get(this);
      if (s.closeRequested || s.state !== "readable") throw new TypeError("the stream is closed or errored; cannot enqueue");
      if (s.reader && s.reader.reads.length > 0) {
        s.reader.reads.shift().resolve({ value: chunk, done: false });
      } else {
        let n = 1;
        try { n = Number(s.size(chunk)); } catch (e) { rsError(s, e); throw e; }
        s.queue.push([chunk, n]); s.qsize += n;
      }
      rsPull(s);
    }
    close() {
      const s = RS.get(this);
      if (s.closeRequested || s.state !== "readable") throw new TypeError("the stream is already closing or closed");
      s.closeRequested = true;
      if (s.queue.length === 0) rsFinishClose(s);
    }
    error(e) { rsError(RS.get(this), e); }
  }
  function rsAcquire(reader, stream, byob) {
    const s = RS.get(stream);
    if (!s || s.controller === undefined) throw new TypeError("not a ReadableStream");
    if (byob && !s.bytes) throw new TypeError("a BYOB reader needs a byte stream (type: 'bytes')");
    if (s.reader) throw new TypeError("ReadableStream is locked");
    const r = { reads: [], closed: deferred(), stream: s, byob };
    settled(r.closed.promise);
    if (s.state === "closed") r.closed.resolve(undefined);
    if (s.state === "errored") r.closed.reject(s.error);
    s.reader = r;
    RS.set(reader, r);
  }
  function rsRelease(r) {
    const s = r.stream;
    if (s.reader !== r) return;
    const e = new TypeError("the reader was released");
    for (const d of r.reads.splice(0)) d.reject(e);
    if (s.state === "readable") r.closed.reject(e);
    if (s.bytes) { bsInvalidate(s); for (const p of s.pullIntos) p.readerType = "none"; }
    s.reader = null;
  }
  class ReadableStreamDefaultReader {
    constructor(stream) { rsAcquire(this, stream, false); }
    get closed() { return RS.get(this).closed.promise; }
    read() {
      const r = RS.get(this), s = r.stream;
      if (s.reader !== r) return Promise.reject(new TypeError("the reader was released"));
      s.disturbed = true;
      if (s.queue.length > 0) {
        const [chunk, n] = s.queue.shift();
        s.qsize -= n;
        if (s.closeRequested && s.queue.length === 0) rsFinishClose(s); else rsPull(s);
        return Promise.resolve({ value: chunk, done: false });
      }
      if (s.state === "closed") return Promise.resolve({ value: undefined, done: true });
      if (s.state === "errored") return Promise.reject(s.error);
      const d = deferred();
      r.reads.push(d);
      if (s.bytes && s.autoAllocate > 0) {
        // A byte stream with autoAllocateChunkSize offers the source a
        // buffer (byobRequest) for a default read too.
        charge(s.autoAllocate);
        s.pullIntos.push({ buffer: new AB(s.autoAllocate), byteOffset: 0, byteLength: s.autoAllocate, bytesFilled: 0, minFill: 1, elementSize: 1, ctor: U8, readerType: "default" });
      }
      rsPull(s);
      return d.promise;
    }
    releaseLock() { rsRelease(RS.get(this)); }
    cancel(reason) {
      const r = RS.get(this);
      if (r.stream.reader !== r) return Promise.reject(new TypeError("the reader was released"));
      return rsCancel(r.stream, reason);
    }
  }
  function rsCancel(s, reason) {
    s.disturbed = true;
    if (s.state === "closed") return Promise.resolve(undefined);
    if (s.state === "errored") return Promise.reject(s.error);
    s.queue = []; s.qsize = 0;
    if (s.bytes) { s.pullIntos = []; bsInvalidate(s); }
    rsFinishClose(s, true);
    try { return Promise.resolve(s.source.cancel ? s.source.cancel.call(s.source, reason) : undefined).then(() => undefined); } catch (e) { return Promise.reject(e); }
  }

  // ---- byte streams (type: 'bytes'), BYOB readers (WHATWG Streams) ----
  // Buffers are not transferred (goja cannot detach an ArrayBuffer): a
  // BYOB read fills the caller's buffer and answers a new view of it, and
  // an enqueued chunk is kept by reference, not copied.
  const viewCtor = (v) => (v instanceof DataView ? DataView : Object.getPrototypeOf(v).constructor);
  const makeView = (p, n) => (p.ctor === DataView ? new DataView(p.buffer, p.byteOffset, n) : new p.ctor(p.buffer, p.byteOffset, n / p.elementSize));
  function bsInvalidate(s) {
    if (s.byobRequest) { RS.get(s.byobRequest).p = null; s.byobRequest = null; }
  }
  // bsFill copies queued bytes into pull-into p; true when p reached its
  // minimum fill.
  function bsFill(s, p) {
    const maxBytes = Math.min(s.qsize, p.byteLength - p.bytesFilled);
    const maxFilled = p.bytesFilled + maxBytes;
    const aligned = maxFilled - (maxFilled % p.elementSize);
    let left = maxBytes, ready = false;
    if (aligned >= p.minFill) { left = aligned - p.bytesFilled; ready = true; }
    const dst = new U8(p.buffer, p.byteOffset, p.byteLength);
    while (left > 0) {
      const head = s.queue[0][0];
      const n = Math.min(left, head.byteLength);
      dst.set(new U8(head.buffer, head.byteOffset, n), p.bytesFilled);
      if (n === head.byteLength) s.queue.shift();
      else s.queue[0] = [new U8(head.buffer, head.byteOffset + n, head.byteLength - n), head.byteLength - n];
      s.qsize -= n; p.bytesFilled += n; left -= n;
    }
    return ready;
  }
  // bsCommit answers the read waiting for pull-into p.
  function bsCommit(s, p) {
    const done = s.state === "closed";
    const r = s.reader;
    if (p.readerType === "none" || !r || r.reads.length === 0) return;
    if (p.readerType === "default") {
      r.reads.shift().resolve(done ? { value: undefined, done: true } : { value: new U8(p.buffer, p.byteOffset, p.bytesFilled), done: false });
      return;
    }
    r.reads.shift().resolve({ value: makeView(p, p.bytesFilled), done });
  }
  function bsEnqueueCopy(s, buffer, offset, n) {
    if (n <= 0) return;
    const c = new U8(n);
    c.set(new U8(buffer, offset, n));
    s.queue.push([c, n]); s.qsize += n;
  }
  // bsProcess fills waiting BYOB reads from the queue.
  function bsProcess(s) {
    while (s.pullIntos.length > 0 && s.qsize > 0) {
      const p = s.pullIntos[0];
      if (!bsFill(s, p)) break;
      s.pullIntos.shift();
      bsCommit(s, p);
    }
    if (s.closeRequested && s.qsize === 0 && s.state === "readable") rsFinishClose(s);
  }
  function bsRespond(s, n) {
    const p = s.pullIntos[0];
    bsInvalidate(s);
    if (s.state === "closed") {
      if (n !== 0) throw new TypeError("bytesWritten must be 0 once the stream is closed");
      if (p.readerType === "none") s.pullIntos.shift();
      while (s.reader && s.reader.byob && s.reader.reads.length > 0 && s.pullIntos.length > 0) bsCommit(s, s.pullIntos.shift());
      return;
    }
    if (n === 0) throw new TypeError("bytesWritten must be positive while the stream is readable");
    if (p.bytesFilled + n > p.byteLength) throw new RangeError("bytesWritten is larger than the view");
    p.bytesFilled += n;
    if (p.readerType === "none") {
      s.pullIntos.shift();
      bsEnqueueCopy(s, p.buffer, p.byteOffset, p.bytesFilled);
      bsProcess(s);
    } else if (p.bytesFilled >= p.minFill) {
      s.pullIntos.shift();
      const rem = p.bytesFilled % p.elementSize;
      if (rem > 0) bsEnqueueCopy(s, p.buffer, p.byteOffset + p.bytesFilled - rem, rem);
      p.bytesFilled -= rem;
      bsCommit(s, p);
      bsProcess(s);
    }
    rsPull(s);
  }
  class ReadableStreamBYOBRequest {
    constructor() { throw new TypeError("Illegal constructor"); }
    get view() { const q = RS.get(this); return q.p ? q.view : null; }
    respond(bytesWritten) {
      const q = RS.get(this);
      if (!q.p) throw new TypeError("this byobRequest was already answered");
      const n = Number(bytesWritten);
      if (!Number.isInteger(n) || n < 0) throw new TypeError("bytesWritten must be a non-negative integer");
      bsRespond(q.s, n);
    }
    respondWithNewView(view) {
      const q = RS.get(this), p = q.p;
      if (!p) throw new TypeError("this byobRequest was already answered");
      if (!AB.isView(view)) throw new TypeError("respondWithNewView takes an ArrayBufferView");
      if (view.byteOffset !== p.byteOffset + p.bytesFilled) throw new RangeError("the view must start where byobRequest.view starts");
      if (view.byteLength > p.byteLength - p.bytesFilled) throw new RangeError("the view is larger than byobRequest.view");
      if (view.buffer.byteLength !== p.buffer.byteLength) throw new RangeError("the view's buffer must have the length of byobRequest.view's");
      p.buffer = view.buffer;
      bsRespond(q.s, view.byteLength);
    }
  }
  class ReadableByteStreamController {
    constructor() { throw new TypeError("Illegal constructor"); }
    get byobRequest() {
      const s = RS.get(this);
      if (s.byobRequest === null && s.pullIntos.length > 0) {
        const p = s.pullIntos[0];
        const req = Object.create(ReadableStreamBYOBRequest.prototype);
        RS.set(req, { s, p, view: new U8(p.buffer, p.byteOffset + p.bytesFilled, p.byteLength - p.bytesFilled) });
        s.byobRequest = req;
      }
      return s.byobRequest;
    }
    get desiredSize() { return rsDesired(RS.get(this)); }
    enqueue(chunk) {
      const s = RS.get(this);
      if (!AB.isView(chunk)) throw new TypeError("enqueue takes an ArrayBufferView (such as a Uint8Array)");
      if (chunk.byteLength === 0) throw new TypeError("cannot enqueue an empty chunk");
      if (s.closeRequested || s.state !== "readable") throw new TypeError("the stream is closed or errored; cannot enqueue");
      const bytes = new U8(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      bsInvalidate(s);
      if (s.pullIntos.length > 0 && s.pullIntos[0].readerType === "default") {
        // The buffer offered to a default read goes unused.
        const p = s.pullIntos.shift();
        bsEnqueueCopy(s, p.buffer, p.byteOffset, p.bytesFilled);
      }
      const r = s.reader;
      if (r && !r.byob && r.reads.length > 0 && s.qsize === 0) {
        r.reads.shift().resolve({ value: bytes, done: false });
      } else {
        s.queue.push([bytes, bytes.byteLength]); s.qsize += bytes.byteLength;
        if (r && r.byob) bsProcess(s);
        else if (r) while (r.reads.length > 0 && s.queue.length > 0) { const [c, n] = s.queue.shift(); s.qsize -= n; r.reads.shift().resolve({ value: c, done: false }); }
      }
      rsPull(s);
    }
    close() {
      const s = RS.get(this);
      if (s.closeRequested || s.state !== "readable") throw new TypeError("the stream is already closing or closed");
      s.closeRequested = true;
      if (s.qsize > 0) return;
      const p = s.pullIntos[0];
      if (p && p.bytesFilled % p.elementSize !== 0) {
        const e = new TypeError("the stream closed in the middle of an element of a BYOB read");
        rsError(s, e);
        throw e;
      }
      rsFinishClose(s);
    }
    error(e) { rsError(RS.get(this), e); }
  }
  class ReadableStreamBYOBReader {
    constructor(stream) { rsAcquire(this, stream, true); }
    get closed() { return RS.get(this).closed.promise; }
    read(view, opts) {
      const r = RS.get(this);
      if (!r) return Promise.reject(new TypeError("not a ReadableStreamBYOBReader"));
      const s = r.stream;
      if (!AB.isView(view)) return Promise.reject(new TypeError("read takes an ArrayBufferView (such as a Uint8Array)"));
      if (view.byteLength === 0) return Promise.reject(new TypeError("the view is empty"));
      const ctor = viewCtor(view);
      const elementSize = ctor === DataView ? 1 : view.BYTES_PER_ELEMENT;
      const min = opts && opts.min !== undefined ? Number(opts.min) : 1;
      if (!Number.isInteger(min) || min <= 0) return Promise.reject(new TypeError("min must be a positive integer"));
      if (min * elementSize > view.byteLength) return Promise.reject(new RangeError("min is larger than the view"));
      if (s.reader !== r) return Promise.reject(new TypeError("the reader was released"));
      s.disturbed = true;
      if (s.state === "errored") return Promise.reject(s.error);
      const p = { buffer: view.buffer, byteOffset: view.byteOffset, byteLength: view.byteLength, bytesFilled: 0, minFill: min * elementSize, elementSize, ctor, readerType: "byob" };
      const d = deferred();
      if (s.pullIntos.length > 0) { s.pullIntos.push(p); r.reads.push(d); return d.promise; }
      if (s.state === "closed") return Promise.resolve({ value: makeView(p, 0), done: true });
      if (s.qsize > 0) {
        if (bsFill(s, p)) {
          if (s.closeRequested && s.qsize === 0) rsFinishClose(s); else rsPull(s);
          return Promise.resolve({ value: makeView(p, p.bytesFilled), done: false });
        }
        if (s.closeRequested) {
          const e = new TypeError("the stream closed in the middle of an element of a BYOB read");
          rsError(s, e);
          return Promise.reject(e);
        }
      }
      s.pullIntos.push(p);
      r.reads.push(d);
      rsPull(s);
      return d.promise;
    }
    releaseLock() { rsRelease(RS.get(this)); }
    cancel(reason) {
      const r = RS.get(this);
      if (r.stream.reader !== r) return Promise.reject(new TypeError("the reader was released"));
      return rsCancel(r.stream, reason);
    }
  }
  class ReadableStream {
    constructor(source = {}, strategy = {}) {
      if (source === null || typeof source !== "object") source = {};
      const bytes = source.type !== undefined && String(source.type) === "bytes";
      if (source.type !== undefined && !bytes) throw new TypeError("unknown stream type " + JSON.stringify(String(source.type)));
      const s = { state: "readable", queue: [], qsize: 0, hwm: hwmOf(strategy, bytes ? 0 : 1), size: sizeOf(strategy), source, pulling: false, pullAgain: false, started: false, closeRequested: false, error: undefined, reader: null, disturbed: false, host: null, bytes };
      if (bytes) {
        if (strategy && strategy.size !== undefined) throw new RangeError("a byte stream's queuing strategy cannot have a size function");
        const aa = source.autoAllocateChunkSize;
        if (aa !== undefined && !(Number.isInteger(aa) && aa > 0)) throw new TypeError("autoAllocateChunkSize must be a positive integer");
        s.autoAllocate = aa || 0; s.pullIntos = []; s.byobRequest = null;
      }
      const controller = Object.create((bytes ? ReadableByteStreamController : ReadableStreamDefaultController).prototype);
      RS.set(controller, s);
      s.controller = controller;
      RS.set(this, s);
      let p;
      try { p = Promise.resolve(source.start ? source.start.call(source, controller) : undefined); } catch (e) { p = Promise.reject(e); }
      p.then(() => { s.started = true; rsPull(s); }, (e) => rsError(s, e));
    }
    get locked() { return RS.get(this).reader !== null; }
    getReader(opts) {
      const mode = opts && opts.mode !== undefined ? String(opts.mode) : undefined;
      if (mode === "byob") return new ReadableStreamBYOBReader(this);
      if (mode !== undefined) throw new TypeError("getReader: mode must be \"byob\" or undefined");
      return new ReadableStreamDefaultReader(this);
    }
    cancel(reason) {
      const s = RS.get(this);
      if (s.reader) return Promise.reject(new TypeError("ReadableStream is locked"));
      return rsCancel(s, reason);
    }
    pipeThrough(pair, opts) {
      if (!pair || !(RS.has(pair.readable)) || !(WS.has(pair.writable))) throw new TypeError("pipeThrough: want {writable, readable}");
      settled(this.pipeTo(pair.writable, opts));
      return pair.readable;
    }
    pipeTo(dest, opts = {}) {
      if (!WS.has(dest)) return Promise.reject(new TypeError("pipeTo: the destination is not a WritableStream"));
      if (this.locked) return Promise.reject(new TypeError("ReadableStream is locked"));
      if (dest.locked) return Promise.reject(new TypeError("WritableStream is locked"));
      const { preventClose = false, preventAbort = false, preventCancel = false } = opts || {};
      const reader = this.getReader(), writer = dest.getWriter();
      const run = async () => {
        for (;;) {
          let step;
          try { step = await reader.read(); } catch (e) {
            if (!preventAbort) await writer.abort(e).catch(() => {});
            throw e;
          }
          if (step.done) break;
          try { await writer.write(step.value); } catch (e) {
            if (!preventCancel) await reader.cancel(e).catch(() => {});
            throw e;
          }
        }
        if (!preventClose) await writer.close();
      };
      return run().finally(() => { reader.releaseLock(); writer.releaseLock(); });
    }
    tee() {
      const reader = this.getReader();
      let c1, c2, canceled1 = false, canceled2 = false, reading = false, reason1, reason2;
      const done = deferred();
      const pull = () => {
        if (reading) return Promise.resolve();
        reading = true;
        return reader.read().then(({ value, done: end }) => {
          reading = false;
          if (end) {
            try { if (!canceled1) c1.close(); } catch (e) {}
            try { if (!canceled2) c2.close(); } catch (e) {}
            done.resolve();
            return;
          }
          if (!canceled1) c1.enqueue(value);
          if (!canceled2) c2.enqueue(value);
        }, (e) => { c1.error(e); c2.error(e); done.resolve(); });
      };
      const cancel = (which) => (reason) => {
        if (which === 1) { canceled1 = true; reason1 = reason; } else { canceled2 = true; reason2 = reason; }
        if (canceled1 && canceled2) return reader.cancel([reason1, reason2]);
        return done.promise;
      };
      return [
        new ReadableStream({ start(c) { c1 = c; }, pull, cancel: cancel(1) }, { highWaterMark: 0 }),
        new ReadableStream({ start(c) { c2 = c; }, pull, cancel: cancel(2) }, { highWaterMark: 0 }),
      ];
    }
    values(opts) {
      const reader = this.getReader();
      const preventCancel = !!(opts && opts.preventCancel);
      return {
        next: () => reader.read().then((r) => { if (r.done) reader.releaseLock(); return r; }),
        return: async (v) => { if (!preventCancel) await reader.cancel(v); reader.releaseLock(); return { value: v, done: true }; },
        [Symbol.asyncIterator]() { return this; },
      };
    }
    [Symbol.asyncIterator]() { return this.values(); }
  }
  // A host-backed stream: bytes edgegate already has (request and
  // sub-request bodies); untouched, they pass through without JS.
  const fromBytes = (u8) => {
    const rs = new ReadableStream({ type: "bytes", start(c) { if (u8.length) c.enqueue(u8); c.close(); } });
    RS.get(rs).host = u8;
    return rs;
  };
  const hostBytes = (rs) => {
    const s = RS.get(rs);
    if (!s || s.host === null || s.disturbed || s.reader) return undefined;
    s.disturbed = true; s.queue = []; s.qsize = 0; rsFinishClose(s);
    return s.host;
  };
  const isStream = (v) => RS.has(v);

  function wsError(w, e) {
    if (w.state === "errored" || w.state === "closed") return;
    w.state = "errored"; w.error = e;
    if (w.writer) { w.writer.closed.reject(e); w.writer.ready.reject(e); }
  }
  class WritableStreamDefaultController {
    constructor() { throw new TypeError("Illegal constructor"); }
    error(e) { wsError(WS.get(this), e); }
    get signal() { return undefined; }
  }
  class WritableStreamDefaultWriter {
    constructor(stream) {
      const w = WS.get(stream);
      if (!w) throw new TypeError("not a WritableStream");
      if (w.writer) throw new TypeError("WritableStream is locked");
      const wr = { stream: w, closed: deferred(), ready: deferred() };
      settled(wr.closed.promise); settled(wr.ready.promise);
      wr.ready.resolve(undefined);
      if (w.state === "closed") wr.closed.resolve(undefined);
      if (w.state === "errored") { wr.closed.reject(w.error); wr.ready = deferred(); settled(wr.ready.promise); wr.ready.reject(w.error); }
      w.writer = wr;
      WS.set(this, wr);
    }
    get closed() { return WS.get(this).closed.promise; }
    get ready() { return WS.get(this).ready.promise; }
    get desiredSize() { const w = WS.get(this).stream; return w.state === "errored" ? null : w.state === "closed" ? 0 : w.hwm - w.inflight; }
    write(chunk) {
      const wr = WS.get(this), w = wr.stream;
      if (w.writer !== wr) return Promise.reject(new TypeError("the writer was released"));
      if (w.state === "errored") return Promise.reject(w.error);
      if (w.state !== "writable") return Promise.reject(new TypeError("the stream is closing or closed"));
      w.inflight++;
      const p = w.chain.then(() => {
        if (w.state === "errored") throw w.error;
        return w.sink.write ? w.sink.write.call(w.sink, chunk, w.controller) : undefined;
      }).then(() => { w.inflight--; }, (e) => { w.inflight--; wsError(w, e); throw e; });
      w.chain = settled(p.then(() => {}, () => {}));
      return p;
    }
    close() {
      const wr = WS.get(this), w = wr.stream;
      if (w.writer !== wr) return Promise.reject(new TypeError("the writer was released"));
      if (w.state !== "writable") return Promise.reject(w.state === "errored" ? w.error : new TypeError("the stream is closing or closed"));
      w.state = "closing";
      return w.chain.then(() => {
        if (w.state === "errored") throw w.error;
        return w.sink.close ? w.sink.close.call(w.sink) : undefined;
      }).then(() => { w.state = "closed"; if (w.writer) w.writer.closed.resolve(undefined); }, (e) => { w.state = "writable"; wsError(w, e); throw e; });
    }
    abort(reason) { return wsAbort(WS.get(this).stream, reason); }
    releaseLock() {
      const wr = WS.get(this), w = wr.stream;
      if (w.writer !== wr) return;
      if (w.state === "writable" || w.state === "closing") wr.closed.reject(new TypeError("the writer was released"));
      w.writer = null;
    }
  }
  function wsAbort(w, reason) {
    if (w.state === "closed" || w.state === "errored") return Promise.resolve(undefined);
    wsError(w, reason);
    try { return Promise.resolve(w.sink.abort ? w.sink.abort.call(w.sink, reason) : undefined).then(() => undefined); } catch (e) { return Promise.reject(e); }
  }
  class WritableStream {
    constructor(sink = {}, strategy = {}) {
      if (sink === null || typeof sink !== "object") sink = {};
      const w = { state: "writable", sink, hwm: hwmOf(strategy, 1), inflight: 0, writer: null, error: undefined };
      const controller = Object.create(WritableStreamDefaultController.prototype);
      WS.set(controller, w);
      w.controller = controller;
      let p;
      try { p = Promise.resolve(sink.start ? sink.start.call(sink, controller) : undefined); } catch (e) { p = Promise.reject(e); }
      w.chain = settled(p.then(() => {}, (e) => { wsError(w, e); }));
      WS.set(this, w);
    }
    get locked() { return WS.get(this).writer !== null; }
    getWriter() { return new WritableStreamDefaultWriter(this); }
    abort(reason) {
      const w = WS.get(this);
      if (w.writer) return Promise.reject(new TypeError("WritableStream is locked"));
      return wsAbort(w, reason);
    }
    close() {
      if (this.locked) return Promise.reject(new TypeError("WritableStream is locked"));
      const wr = this.getWriter();
      return wr.close().finally(() => wr.releaseLock());
    }
  }

  class TransformStream {
    #readable; #writable;
    constructor(transformer = {}, writableStrategy = {}, readableStrategy = {}) {
      if (transformer === null || typeof transformer !== "object") transformer = {};
      let rc, backpressure = true, bpChange = deferred(), terminated = false;
      const setBackpressure = (b) => { if (backpressure !== b) { bpChange.resolve(); bpChange = deferred(); } backpressure = b; };
      this.#readable = new ReadableStream({
        start(c) { rc = c; },
        pull() { setBackpressure(false); },
        cancel(reason) { terminated = true; wsError(WS.get(writable), reason); },
      }, { highWaterMark: hwmOf(readableStrategy, 0), size: readableStrategy && readableStrategy.size });
      const controller = {
        enqueue(chunk) {
          if (terminated) throw new TypeError("the TransformStream is terminated");
          rc.enqueue(chunk);
          if (rc.desiredSize <= 0) setBackpressure(true);
        },
        error(e) { terminated = true; rc.error(e); wsError(WS.get(writable), e); },
        terminate() { if (!terminated) { terminated = true; try { rc.close(); } catch (e) {} wsError(WS.get(writable), new TypeError("the TransformStream was terminated")); } },
        get desiredSize() { return rc.desiredSize; },
      };
      const writable = new WritableStream({
        start() { return transformer.start ? transformer.start.call(transformer, controller) : undefined; },
        async write(chunk) {
          while (backpressure && !terminated) await bpChange.promise;
          if (terminated) throw new TypeError("the TransformStream is terminated");
          try {
            if (transformer.transform) await transformer.transform.call(transformer, chunk, controller);
            else controller.enqueue(chunk);
          } catch (e) {
            // A failing transform errors both sides, so readers see it.
            if (!terminated) { terminated = true; rc.error(e); }
            throw e;
          }
        },
        async close() {
          try {
            if (transformer.flush) await transformer.flush.call(transformer, controller);
          } catch (e) {
            if (!terminated) { terminated = true; rc.error(e); }
            throw e;
          }
          if (!terminated) { terminated = true; rc.close(); }
        },
        abort(reason) { terminated = true; rc.error(reason); },
      }, writableStrategy);
      this.#writable = writable;
    }
    get readable() { return this.#readable; }
    get writable() { return this.#writable; }
  }
  class CountQueuingStrategy {
    constructor({ highWaterMark } = {}) { this.highWaterMark = highWaterMark; }
    size() { return 1; }
  }
  class ByteLengthQueuingStrategy {
    constructor({ highWaterMark } = {}) { this.highWaterMark = highWaterMark; }
    size(chunk) { return chunk.byteLength; }
  }
  host.setStream(fromBytes, hostBytes, isStream);

  // ---- text-encode-transform ----
  // utf8Tail is where an incomplete UTF-8 sequence at the end of b starts
  // (b.length when it ends complete): decoders carry it to the next chunk.
  const utf8Tail = (b) => {
    for (let i = b.length - 1; i >= 0 && i >= b.length - 4; i--) {
      const x = b[i];
      if ((x & 0xc0) === 0x80) continue;
      const need = x >= 0xf0 ? 4 : x >= 0xe0 ? 3 : x >= 0xc0 ? 2 : 1;
      return b.length - i < need ? i : b.length;
    }
    return b.length;
  };
  class TextEncoderStream extends TransformStream {
    constructor() {
      super({ transform(chunk, c) { const s = String(chunk); if (s.length) c.enqueue(host.utf8Encode(s)); } });
    }
    get encoding() { return "utf-8"; }
  }
  class TextDecoderStream extends TransformStream {
    #dec;
    constructor(label = "utf-8", opts = {}) {
      const dec = new TextDecoder(label, opts);
      super({
        transform(chunk, c) { const s = dec.decode(chunk, { stream: true }); if (s.length) c.enqueue(s); },
        flush(c) { const s = dec.decode(); if (s.length) c.enqueue(s); },
      });
      this.#dec = dec;
    }
    get encoding() { return this.#dec.encoding; }
    get fatal() { return this.#dec.fatal; }
    get ignoreBOM() { return this.#dec.ignoreBOM; }
  }

  // ---- html-rewriter ----
  class HtmlRewritingStream extends TransformStream {
    #rules;
    constructor() {
      const rules = { el: [], text: [] };
      let rw = null;
      const dec = new TextDecoder();
      const emit = (c, s) => { if (s.length) c.enqueue(host.utf8Encode(s)); };
      super({
        transform(chunk, c) {
          if (!rw) rw = host.htmlRewriter(rules.el, rules.text);
          emit(c, rw.write(typeof chunk === "string" ? chunk : dec.decode(chunk, { stream: true })));
        },
        flush(c) {
          if (!rw) rw = host.htmlRewriter(rules.el, rules.text);
          emit(c, rw.write(dec.decode()) + rw.close());
        },
      });
      this.#rules = rules;
    }
    onElement(selector, handler) {
      host.checkSelector(String(selector));
      if (typeof handler !== "function") throw new TypeError("onElement: the handler must be a function");
      this.#rules.el.push([String(selector), handler]);
    }
    onText(selector, handler) {
      host.checkSelector(String(selector));
      if (typeof handler !== "function") throw new TypeError("onText: the handler must be a function");
      this.#rules.text.push([String(selector), handler]);
    }
  }

  // ---- crypto ----
  const keys = new WeakMap();
  class CryptoKey {
    constructor() { throw new TypeError("Illegal constructor"); }
    get type() { return keys.get(this).type; }
    get extractable() { return keys.get(this).extractable; }
    get algorithm() { return keys.get(this).algorithm; }
    get usages() { return keys.get(this).usages.slice(); }
  }
  const mkKey = (k, extractable, usages) => {
    const o = Object.create(CryptoKey.prototype);
    keys.set(o, { type: k.type, algorithm: k.algorithm, handle: k.handle, extractable: !!extractable, usages: Array.from(usages || []) });
    return o;
  };
  const keyOf = (k, usage) => {
    const d = k && keys.get(k);
    if (!d) throw new TypeError("crypto.subtle: key is not a CryptoKey");
    if (usage && !d.usages.includes(usage)) throw new DOMException("key does not allow " + usage, "InvalidAccessError");
    return d;
  };
  const algo = (a) => (typeof a === "string" ? { name: a } : a);
  class DOMException extends Error {
    constructor(message, name = "Error") { super(message); this.name = name; }
  }
  const subtle = {
    async importKey(format, data, alg, extractable, usages) {
      const k = host.importKey(String(format), format === "jwk" ? JSON.stringify(data) : data, algo(alg), Array.from(usages || []));
      return mkKey(k, extractable, usages);
    },
    async sign(alg, key, data) { return host.sign(algo(alg), keyOf(key, "sign").handle, data); },
    async verify(alg, key, sig, data) { return host.verify(algo(alg), keyOf(key, "verify").handle, sig, data); },
    async digest(alg, data) { return host.digest(algo(alg), data); },
    async encrypt(alg, key, data) { return host.cipher(true, algo(alg), keyOf(key, "encrypt").handle, data); },
    async decrypt(alg, key, data) { return host.cipher(false, algo(alg), keyOf(key, "decrypt").handle, data); },
  };
  const crypto = {
    subtle,
    getRandomValues(a) { host.random(a); return a; },
    randomUUID() { return host.uuid(); },
  };
  const cryptoModule = { crypto, pem2ab: (pem) => host.pem2ab(String(pem)), CryptoKey };

  // ---- cookies ----
  class Cookies {
    #list = [];
    constructor(header, opts) {
      const dec = opts && typeof opts.decode === "function" ? opts.decode : (s) => s;
      if (Array.isArray(header)) header = header.join("; ");
      if (header == null) return;
      for (const part of String(header).split(";")) {
        const i = part.indexOf("=");
        if (i < 0) continue;
        const name = part.slice(0, i).trim();
        if (!name) continue;
        let value = part.slice(i + 1).trim();
        if (value.length >= 2 && value[0] === '"' && value[value.length - 1] === '"') value = value.slice(1, -1);
        this.#list.push([name, dec(value)]);
      }
    }
    toHeader() { return this.#list.map(([n, v]) => n + "=" + v).join("; "); }
    get(name) { const e = this.#list.find(([n]) => n === name); return e ? e[1] : undefined; }
    getAll(name) { return this.#list.filter(([n]) => n === name).map(([, v]) => v); }
    names() { return [...new Set(this.#list.map(([n]) => n))]; }
    add(name, value) { this.#list.push([String(name), String(value)]); }
    delete(name) { this.#list = this.#list.filter(([n]) => n !== name); }
  }
  class SetCookie {
    constructor(opts) {
      if (typeof opts === "string") opts = SetCookie.#parse(opts);
      opts = opts || {};
      for (const k of ["name", "value", "maxAge", "domain", "path", "expires", "httpOnly", "secure", "sameSite"]) this[k] = opts[k];
      this.extra = opts.extra || [];
    }
    static #parse(s) {
      const parts = s.split(";");
      const first = parts.shift() || "";
      const i = first.indexOf("=");
      const o = { name: i < 0 ? first.trim() : first.slice(0, i).trim(), value: i < 0 ? "" : first.slice(i + 1).trim(), extra: [] };
      for (const p of parts) {
        const j = p.indexOf("=");
        const k = (j < 0 ? p : p.slice(0, j)).trim().toLowerCase();
        const v = j < 0 ? "" : p.slice(j + 1).trim();
        if (k === "max-age") o.maxAge = Number(v);
        else if (k === "domain") o.domain = v;
        else if (k === "path") o.path = v;
        else if (k === "expires") o.expires = { toUTCString: () => v };
        else if (k === "httponly") o.httpOnly = true;
        else if (k === "secure") o.secure = true;
        else if (k === "samesite") o.sameSite = v;
        else if (k) o.extra.push(p.trim());
      }
      return o;
    }
    toHeader() {
      if (!this.name) throw new TypeError("SetCookie: name is required");
      let s = this.name + "=" + (this.value ?? "");
      if (this.maxAge !== undefined) s += "; Max-Age=" + Math.trunc(Number(this.maxAge));
      if (this.domain) s += "; Domain=" + this.domain;
      if (this.path) s += "; Path=" + this.path;
      if (this.expires) s += "; Expires=" + this.expires.toUTCString();
      if (this.httpOnly) s += "; HttpOnly";
      if (this.secure) s += "; Secure";
      if (this.sameSite) s += "; SameSite=" + (this.sameSite === true ? "Strict" : this.sameSite);
      for (const e of this.extra) s += "; " + e;
      return s;
    }
  }

  // ---- url-search-params ----
  const qsDecode = (s) => { try { return decodeURIComponent(s.replace(/\+/g, " ")); } catch (e) { return s; } };
  const qsEncode = (s) => encodeURIComponent(s).replace(/%20/g, "+").replace(/[!'()~]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  class URLSearchParams {
    #list = [];
    constructor(init) {
      if (init instanceof URLSearchParams) { this.#list = [...init.entries()]; return; }
      if (init == null) return;
      if (typeof init === "object") {
        const it = typeof init[Symbol.iterator] === "function" ? init : Object.entries(init);
        for (const [k, v] of it) this.#list.push([String(k), String(v)]);
        return;
      }
      let s = String(init);
      if (s[0] === "?") s = s.slice(1);
      for (const part of s.split("&")) {
        if (!part) continue;
        const i = part.indexOf("=");
        this.#list.push(i < 0 ? [qsDecode(part), ""] : [qsDecode(part.slice(0, i)), qsDecode(part.slice(i + 1))]);
      }
    }
    append(k, v) { this.#list.push([String(k), String(v)]); }
    delete(k) { k = String(k); this.#list = this.#list.filter(([n]) => n !== k); }
    get(k) { k = String(k); const e = this.#list.find(([n]) => n === k); return e ? e[1] : null; }
    getAll(k) { k = String(k); return this.#list.filter(([n]) => n === k).map(([, v]) => v); }
    has(k) { k = String(k); return this.#list.some(([n]) => n === k); }
    set(k, v) {
      k = String(k); v = String(v);
      const i = this.#list.findIndex(([n]) => n === k);
      if (i < 0) { this.#list.push([k, v]); return; }
      this.#list[i] = [k, v];
      this.#list = this.#list.filter(([n], j) => n !== k || j === i);
    }
    sort() { this.#list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); }
    forEach(fn, self) { for (const [k, v] of this.#list) fn.call(self, v, k, this); }
    *entries() { for (const e of this.#list) yield [e[0], e[1]]; }
    *keys() { for (const e of this.#list) yield e[0]; }
    *values() { for (const e of this.#list) yield e[1]; }
    [Symbol.iterator]() { return this.entries(); }
    get size() { return this.#list.length; }
    toString() { return this.#list.map(([k, v]) => qsEncode(k) + "=" + qsEncode(v)).join("&"); }
  }

  // ---- log ----
  const fmt = (args) => {
    if (args.length === 0) return "";
    let f = args[0], i = 1;
    const show = (v) => { try { return typeof v === "string" ? v : JSON.stringify(v) ?? String(v); } catch (e) { return String(v); } };
    if (typeof f !== "string") return args.map(show).join(" ");
    let out = f.replace(/%[sdifoO%]/g, (m) => {
      if (m === "%%") return "%";
      if (i >= args.length) return m;
      const v = args[i++];
      switch (m) {
        case "%s": return String(v);
        case "%d": case "%i": return String(Math.trunc(Number(v)));
        case "%f": return String(Number(v));
        default: return show(v);
      }
    });
    for (; i < args.length; i++) out += " " + show(args[i]);
    return out;
  };
  const logger = {};
  for (const [name, lvl] of [["log", "D"], ["trace", "T"], ["debug", "D"], ["info", "I"], ["warn", "W"], ["error", "E"]]) {
    logger[name] = (...args) => host.log(lvl, fmt(args));
  }

  // ---- create-response ----
  const createResponse = (a, b, c, d) => {
    if (typeof a === "number") return host.createResponse(a, b, c, d);
    const o = b || {};
    return host.createResponse(o.status === undefined ? 200 : o.status, o.headers, a !== undefined ? a : o.body, o.denyReason);
  };

  // ---- http-request ----
  class HttpResponse {
    #r; #used = false;
    constructor(r) { this.#r = r; }
    get status() { return this.#r.status; }
    get ok() { return this.#r.status >= 200 && this.#r.status < 300; }
    get headers() { return this.getHeaders(); }
    get url() { return this.#r.url; }
    getHeader(n) { const v = this.#r.headers[String(n).toLowerCase()]; return v ? v.slice() : null; }
    getHeaders() { const o = {}; for (const k in this.#r.headers) o[k] = this.#r.headers[k].slice(); return o; }
    get body() { this.#use(); return fromBytes(this.#r.body); }
    #use() { if (this.#used) throw new TypeError("body already used"); this.#used = true; }
    async text() { this.#use(); return host.utf8Decode(this.#r.body); }
    async json() { this.#use(); return JSON.parse(host.utf8Decode(this.#r.body)); }
    async arrayBuffer() { this.#use(); return this.#r.body.slice().buffer; }
  }
  const collect = async (rs) => {
    const parts = [];
    let n = 0;
    const reader = rs.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const b = typeof value === "string" ? host.utf8Encode(value) : host.u8(value);
      parts.push(b); n += b.length;
    }
    const out = new U8(n);
    let off = 0;
    for (const b of parts) { out.set(b, off); off += b.length; }
    return out;
  };
  const httpRequest = (url, opts = {}) => {
    opts = opts || {};
    // A body stream made by the script is read to its end first.
    if (isStream(opts.body) && RS.get(opts.body).host === null) {
      return collect(opts.body).then((b) => httpRequest(url, { ...opts, body: host.fromU8(b) }));
    }
    return host.httpRequest(String(url), opts).then((r) => new HttpResponse(r));
  };

  const modules = {
    "create-response": { createResponse },
    "http-request": { httpRequest },
    log: { logger },
    cookies: { Cookies, SetCookie },
    "url-search-params": { default: URLSearchParams, URLSearchParams },
    encoding,
    crypto: cryptoModule,
    streams: {
      ReadableStream, WritableStream, TransformStream, ByteLengthQueuingStrategy, CountQueuingStrategy,
      ReadableStreamDefaultReader, WritableStreamDefaultWriter,
      ReadableStreamBYOBReader, ReadableByteStreamController, ReadableStreamBYOBRequest,
    },
    "text-encode-transform": { TextEncoderStream, TextDecoderStream },
    "html-rewriter": { HtmlRewritingStream },
  };
  for (const k in modules) {
    const m = modules[k];
    Object.defineProperty(m, "__esModule", { value: true });
    Object.freeze(m);
  }
  return function require(name) {
    const m = modules[name];
    if (!m) throw new TypeError("Cannot find module '" + name + "'");
    return m;
  };
});
`
