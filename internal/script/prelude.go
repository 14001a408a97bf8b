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

  // ---- streams (minimal: host-backed readable bodies) ----
  const streamData = new WeakMap();
  class ReadableStream {
    constructor(src) {
      if (src !== undefined && !(src instanceof U8)) throw new TypeError("streams: constructing a ReadableStream from an underlying source is not implemented yet in edgegate");
      streamData.set(this, { data: src || new U8(0), locked: false, read: false });
    }
    get locked() { return streamData.get(this).locked; }
    getReader() {
      const s = streamData.get(this);
      if (s.locked) throw new TypeError("ReadableStream is locked");
      s.locked = true;
      return {
        read: async () => {
          if (s.read) return { value: undefined, done: true };
          s.read = true;
          return s.data.length ? { value: s.data, done: false } : { value: undefined, done: true };
        },
        releaseLock: () => { s.locked = false; },
        cancel: async () => { s.read = true; },
        closed: Promise.resolve(undefined),
      };
    }
    async cancel() { streamData.get(this).read = true; }
    pipeThrough() { throw new TypeError("streams: pipeThrough is not implemented yet in edgegate"); }
    pipeTo() { throw new TypeError("streams: pipeTo is not implemented yet in edgegate"); }
    tee() { const d = streamData.get(this).data; return [new ReadableStream(d), new ReadableStream(d)]; }
  }
  host.setStream(ReadableStream, (s) => { const d = streamData.get(s); if (!d) return undefined; d.read = true; return d.data; });
  const notYet = (mod, name) => class { constructor() { throw new TypeError(mod + ": " + name + " is not implemented yet in edgegate"); } };

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
    decode(buf, opts) { return buf === undefined ? "" : host.decode(this.#label, buf, this.#fatal, this.#ignoreBOM); }
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
    get body() { this.#use(); return new ReadableStream(this.#r.body); }
    #use() { if (this.#used) throw new TypeError("body already used"); this.#used = true; }
    async text() { this.#use(); return host.utf8Decode(this.#r.body); }
    async json() { this.#use(); return JSON.parse(host.utf8Decode(this.#r.body)); }
    async arrayBuffer() { this.#use(); return this.#r.body.slice().buffer; }
  }
  const httpRequest = (url, opts = {}) =>
    host.httpRequest(String(url), opts || {}).then((r) => new HttpResponse(r));

  const modules = {
    "create-response": { createResponse },
    "http-request": { httpRequest },
    log: { logger },
    cookies: { Cookies, SetCookie },
    "url-search-params": { default: URLSearchParams, URLSearchParams },
    encoding,
    crypto: cryptoModule,
    streams: {
      ReadableStream, WritableStream: notYet("streams", "WritableStream"), TransformStream: notYet("streams", "TransformStream"),
      ByteLengthQueuingStrategy: notYet("streams", "ByteLengthQueuingStrategy"), CountQueuingStrategy: notYet("streams", "CountQueuingStrategy"),
    },
    "text-encode-transform": { TextEncoderStream: notYet("text-encode-transform", "TextEncoderStream"), TextDecoderStream: notYet("text-encode-transform", "TextDecoderStream") },
    "html-rewriter": { HtmlRewritingStream: notYet("html-rewriter", "HtmlRewritingStream") },
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
