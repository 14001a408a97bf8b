package script

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dop251/goja"
	"golang.org/x/text/encoding/htmlindex"
)

// LogEntry is one line a script logged.
type LogEntry struct {
	// Level is T, D, I, W or E.
	Level byte
	File  string
	Line  int
	Msg   string
}

// String is the debug-header form: "<L>:<file>:<line> <url-encoded message>".
func (e LogEntry) String() string {
	return fmt.Sprintf("%c:%s:%d %s", e.Level, e.File, e.Line, url.QueryEscape(e.Msg))
}

// sandbox runs the prelude: removes what EdgeWorkers removes, installs the
// allocation accounting and builds require().
func (inst *instance) sandbox() error {
	prog := inst.w.prelude
	vm := inst.vm
	inst.builtins.uint8Array = vm.Get("Uint8Array")
	inst.builtins.arrayBuffer = vm.Get("ArrayBuffer")
	jp, _ := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("parse"))
	inst.builtins.jsonParse = jp
	fnVal, err := vm.RunProgram(prog)
	if err != nil {
		return err
	}
	fn, ok := goja.AssertFunction(fnVal)
	if !ok {
		return errors.New("prelude is not a function")
	}
	host := inst.hostObject()
	req, err := fn(goja.Undefined(), host)
	if err != nil {
		return err
	}
	inst.requireFn = req
	return nil
}

func (inst *instance) throw(format string, args ...any) {
	panic(inst.vm.NewTypeError(fmt.Sprintf(format, args...)))
}

// bytesOf reads an ArrayBuffer, a typed array or a DataView (or a string,
// as UTF-8).
func (inst *instance) bytesOf(v goja.Value) []byte {
	switch x := v.Export().(type) {
	case goja.ArrayBuffer:
		return x.Bytes()
	case []byte:
		return x
	case string:
		return []byte(x)
	}
	if obj, ok := v.(*goja.Object); ok {
		if ab, ok := obj.Get("buffer").Export().(goja.ArrayBuffer); ok {
			off, n := obj.Get("byteOffset").ToInteger(), obj.Get("byteLength").ToInteger()
			b := ab.Bytes()
			if off >= 0 && n >= 0 && off+n <= int64(len(b)) {
				return b[off : off+n]
			}
		}
	}
	inst.throw("expected an ArrayBuffer or a typed array")
	return nil
}

// newU8 makes a Uint8Array over a copy-free buffer of b.
func (inst *instance) newU8(b []byte) goja.Value {
	inst.charge(inst.cur, int64(len(b)))
	o, err := inst.vm.New(inst.builtins.uint8Array, inst.vm.ToValue(inst.vm.NewArrayBuffer(b)))
	if err != nil {
		panic(err)
	}
	return o
}

func (inst *instance) newStream(b []byte) goja.Value {
	o, err := inst.builtins.fromBytes(goja.Undefined(), inst.newU8(append([]byte(nil), b...)))
	if err != nil {
		panic(err)
	}
	return o
}

// isStream reports whether v is a ReadableStream.
func (inst *instance) isStream(v goja.Value) bool {
	if _, ok := v.(*goja.Object); !ok || inst.isStreamFn == nil {
		return false
	}
	r, err := inst.isStreamFn(goja.Undefined(), v)
	return err == nil && r.ToBoolean()
}

// streamBytes returns the bytes of one of our readable streams, or nil.
func (inst *instance) streamBytes(v goja.Value) []byte {
	obj, ok := v.(*goja.Object)
	if !ok || inst.streamData == nil {
		return nil
	}
	d, err := inst.streamData(goja.Undefined(), obj)
	if err != nil || goja.IsUndefined(d) {
		return nil
	}
	return append([]byte{}, inst.bytesOf(d)...)
}

func (inst *instance) hostObject() *goja.Object {
	vm := inst.vm
	h := vm.NewObject()
	set := func(name string, fn func(fc goja.FunctionCall) goja.Value) { _ = h.Set(name, vm.ToValue(fn)) }
	set("charge", func(fc goja.FunctionCall) goja.Value {
		inst.charge(inst.cur, fc.Argument(0).ToInteger())
		return goja.Undefined()
	})
	set("bytes", func(fc goja.FunctionCall) goja.Value {
		return inst.newU8(append([]byte(nil), inst.bytesOf(fc.Argument(0))...))
	})
	set("u8", func(fc goja.FunctionCall) goja.Value {
		return inst.newU8(append([]byte(nil), inst.bytesOf(fc.Argument(0))...))
	})
	set("setStream", func(fc goja.FunctionCall) goja.Value {
		inst.builtins.fromBytes, _ = goja.AssertFunction(fc.Argument(0))
		inst.streamData, _ = goja.AssertFunction(fc.Argument(1))
		inst.isStreamFn, _ = goja.AssertFunction(fc.Argument(2))
		return goja.Undefined()
	})
	set("htmlRewriter", inst.htmlRewriterHost)
	set("checkSelector", func(fc goja.FunctionCall) goja.Value {
		if _, err := parseSelectors(fc.Argument(0).String()); err != nil {
			inst.throw("html-rewriter: %v", err)
		}
		return goja.Undefined()
	})
	set("fromU8", func(fc goja.FunctionCall) goja.Value { return inst.newStream(inst.bytesOf(fc.Argument(0))) })
	set("utf8Encode", func(fc goja.FunctionCall) goja.Value { return inst.newU8([]byte(fc.Argument(0).String())) })
	set("utf8Decode", func(fc goja.FunctionCall) goja.Value {
		b := inst.bytesOf(fc.Argument(0))
		inst.charge(inst.cur, int64(len(b))*2)
		return vm.ToValue(strings.ToValidUTF8(string(b), "\uFFFD"))
	})
	set("encodingLabel", func(fc goja.FunctionCall) goja.Value {
		label := strings.ToLower(strings.TrimSpace(fc.Argument(0).String()))
		if label == "utf8" || label == "utf-8" || label == "unicode-1-1-utf-8" {
			return vm.ToValue("utf-8")
		}
		enc, err := htmlindex.Get(label)
		if err != nil {
			panic(vm.NewGoError(fmt.Errorf("RangeError: the encoding %q is not supported", label)))
		}
		name, _ := htmlindex.Name(enc)
		return vm.ToValue(name)
	})
	set("decode", func(fc goja.FunctionCall) goja.Value {
		label := fc.Argument(0).String()
		b := inst.bytesOf(fc.Argument(1))
		fatal, ignoreBOM := fc.Argument(2).ToBoolean(), fc.Argument(3).ToBoolean()
		inst.charge(inst.cur, int64(len(b))*2)
		if label == "utf-8" {
			if !ignoreBOM {
				b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
			}
			if fatal && !utf8.Valid(b) {
				inst.throw("The encoded data was not valid for encoding utf-8")
			}
			return vm.ToValue(strings.ToValidUTF8(string(b), "\uFFFD"))
		}
		enc, err := htmlindex.Get(label)
		if err != nil {
			inst.throw("unsupported encoding %q", label)
		}
		out, err := enc.NewDecoder().Bytes(b)
		if err != nil {
			inst.throw("The encoded data was not valid for encoding %s", label)
		}
		return vm.ToValue(string(out))
	})
	set("encode", func(fc goja.FunctionCall) goja.Value {
		b := inst.bytesOf(fc.Argument(1))
		switch fc.Argument(0).String() {
		case "base64":
			return vm.ToValue(base64.StdEncoding.EncodeToString(b))
		case "base64url":
			return vm.ToValue(base64.RawURLEncoding.EncodeToString(b))
		default:
			return vm.ToValue(hex.EncodeToString(b))
		}
	})
	set("decodeBase", func(fc goja.FunctionCall) goja.Value {
		kind, s, format := fc.Argument(0).String(), fc.Argument(1).String(), fc.Argument(2).String()
		b, err := DecodeBase(kind, s)
		if err != nil {
			inst.throw("%s.decode: %v", kind, err)
		}
		switch format {
		case "String":
			return vm.ToValue(string(b))
		case "Uint8Array":
			return inst.newU8(b)
		}
		inst.throw("%s.decode: format must be 'String' or 'Uint8Array'", kind)
		return nil
	})
	set("atob", func(fc goja.FunctionCall) goja.Value {
		s, err := Atob(fc.Argument(0).String())
		if err != nil {
			panic(vm.NewGoError(fmt.Errorf("InvalidCharacterError: %w", err)))
		}
		return vm.ToValue(s)
	})
	set("btoa", func(fc goja.FunctionCall) goja.Value {
		s, err := Btoa(fc.Argument(0).String())
		if err != nil {
			panic(vm.NewGoError(fmt.Errorf("InvalidCharacterError: %w", err)))
		}
		return vm.ToValue(s)
	})
	set("random", func(fc goja.FunctionCall) goja.Value {
		b := inst.bytesOf(fc.Argument(0))
		if len(b) > 65536 {
			inst.throw("getRandomValues: at most 65536 bytes")
		}
		_, _ = rand.Read(b)
		return goja.Undefined()
	})
	set("uuid", func(fc goja.FunctionCall) goja.Value { return vm.ToValue(rand.Text()) })
	set("pem2ab", func(fc goja.FunctionCall) goja.Value {
		b, err := Pem2ab(fc.Argument(0).String())
		if err != nil {
			inst.throw("pem2ab: %v", err)
		}
		return vm.ToValue(vm.NewArrayBuffer(b))
	})
	inst.cryptoHost(h)
	set("log", func(fc goja.FunctionCall) goja.Value {
		inst.log(fc.Argument(0).String()[0], fc.Argument(1).String())
		return goja.Undefined()
	})
	set("createResponse", func(fc goja.FunctionCall) goja.Value {
		c := inst.cur
		if c == nil {
			inst.throw("createResponse is only usable in responseProvider")
		}
		inst.require(c, capCreateResponse, "createResponse")
		r := inst.reply(fc.Argument(0), fc.Argument(1), fc.Argument(2), fc.Argument(3), MaxProviderBody, "createResponse")
		o := vm.NewObject()
		_ = o.Set("status", r.Status)
		if c.replies == nil {
			c.replies = map[*goja.Object]*Reply{}
		}
		c.replies[o] = r
		return o
	})
	set("httpRequest", func(fc goja.FunctionCall) goja.Value {
		return inst.httpRequest(fc.Argument(0).String(), fc.Argument(1))
	})
	return h
}

// log records a script log line, within the per-handler budget.
func (inst *instance) log(level byte, msg string) {
	c := inst.cur
	file, line := "main.js", 0
	for _, f := range inst.vm.CaptureCallStack(8, nil) {
		p := f.Position()
		if p.Filename != "" && !strings.HasPrefix(p.Filename, "edgegate:") {
			file, line = strings.TrimPrefix(p.Filename, "bundle:"), p.Line
			break
		}
	}
	e := LogEntry{Level: level, File: file, Line: line, Msg: msg}
	if inst.w.opts.Logger.Enabled(context.Background(), -4) {
		inst.w.opts.Logger.Debug("script log", "bundle", inst.w.opts.Name, "level", string(level), "at", fmt.Sprintf("%s:%d", file, line), "msg", msg)
	}
	if c == nil || c.res == nil {
		return
	}
	n := len(e.String())
	if c.logBytes+n > MaxLogPerHandler {
		return // truncated, as Akamai's log header is
	}
	c.logBytes += n
	c.res.Logs = append(c.res.Logs, e)
}

// providedResponse is the createResponse result a responseProvider
// resolved to.
func (inst *instance) providedResponse(v goja.Value) (*Reply, error) {
	c := inst.cur
	obj, ok := v.(*goja.Object)
	if !ok || c == nil || c.replies[obj] == nil {
		return nil, scriptError("responseProvider must return (or resolve to) a createResponse() result")
	}
	return c.replies[obj], nil
}

// httpRequest starts a sub-request; the promise settles on the handler's
// goroutine.
func (inst *instance) httpRequest(raw string, opts goja.Value) goja.Value {
	vm := inst.vm
	c := inst.cur
	if c == nil || c.req == nil {
		inst.throw("httpRequest is only usable in an event handler")
	}
	if c.subsLeft <= 0 {
		inst.throw("httpRequest: too many sub-requests (the %s tier allows %d per %s)", inst.w.opts.Tier.Name, c.lim.SubRequests, c.h)
	}
	if c.subsNow >= c.lim.SubParallel {
		inst.throw("httpRequest: too many sub-requests in parallel (at most %d)", c.lim.SubParallel)
	}
	base := &url.URL{Scheme: c.req.Scheme, Host: c.req.Host, Path: c.req.Path}
	u, err := base.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		inst.throw("httpRequest: invalid URL %q (absolute http(s) or relative to the request)", raw)
	}
	sr := &SubRequest{Method: http.MethodGet, URL: u.String(), Header: http.Header{}, MaxBody: c.lim.SubSize}
	timeout := c.lim.SubWall
	if o, ok := opts.(*goja.Object); ok {
		if m := o.Get("method"); m != nil && !goja.IsUndefined(m) {
			sr.Method = strings.ToUpper(m.String())
		}
		if hv, ok := o.Get("headers").(*goja.Object); ok {
			for _, k := range hv.Keys() {
				n := inst.headerName(vm.ToValue(k))
				sr.Header[n] = inst.headerValues(n, hv.Get(k))
			}
		}
		if b := o.Get("body"); b != nil && !goja.IsUndefined(b) && !goja.IsNull(b) {
			if sb := inst.streamBytes(b); sb != nil {
				sr.Body = sb
			} else {
				sr.Body = []byte(b.String())
			}
		}
		if t := o.Get("timeout"); t != nil && !goja.IsUndefined(t) {
			if ms := t.ToInteger(); ms > 0 && time.Duration(ms)*time.Millisecond < timeout {
				timeout = time.Duration(ms) * time.Millisecond
			}
		}
	}
	c.subsLeft--
	c.subsNow++
	c.pending++
	p, resolve, reject := vm.NewPromise()
	sub := c.req.Sub
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	start := time.Now()
	go func() {
		defer cancel()
		var resp *SubResponse
		var err error
		if sub == nil {
			err = errors.New("sub-requests are not available here")
		} else {
			resp, err = sub.Do(ctx, sr)
		}
		if ctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("subrequest to URL %s timed out", sr.URL)
		}
		inst.done <- func() error {
			c.subsNow--
			info := SubrequestInfo{Method: sr.Method, URL: sr.URL, Duration: time.Since(start)}
			if err != nil {
				c.res.Subrequests = append(c.res.Subrequests, info)
				return reject(vm.NewGoError(err))
			}
			info.Status = resp.Status
			c.res.Subrequests = append(c.res.Subrequests, info)
			inst.charge(c, int64(len(resp.Body)))
			o := vm.NewObject()
			_ = o.Set("status", resp.Status)
			_ = o.Set("url", sr.URL)
			hdr := vm.NewObject()
			for k, vv := range resp.Header {
				_ = hdr.Set(strings.ToLower(k), inst.strings(vv))
			}
			_ = o.Set("headers", hdr)
			_ = o.Set("body", inst.newU8(resp.Body))
			return resolve(o)
		}
	}()
	return vm.ToValue(p)
}

// DecodeBase decodes base64 (padding optional), base64url (padding
// optional) or base16.
func DecodeBase(kind, s string) ([]byte, error) {
	switch kind {
	case "base64":
		return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	case "base64url":
		return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	case "base16":
		return hex.DecodeString(s)
	}
	return nil, fmt.Errorf("unknown encoding %q", kind)
}

// Atob decodes base64 into a binary string (one char per byte), ignoring
// ASCII whitespace, as the HTML standard's forgiving base64 does.
func Atob(s string) (string, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' || r == '\f' || r == '\r' {
			return -1
		}
		return r
	}, s)
	if len(s)%4 == 0 {
		s = strings.TrimSuffix(strings.TrimSuffix(s, "="), "=")
	}
	if len(s)%4 == 1 {
		return "", errors.New("the string to be decoded is not correctly encoded")
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return "", errors.New("the string to be decoded is not correctly encoded")
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r), nil
}

// Btoa encodes a binary string (every char below U+0100) as base64.
func Btoa(s string) (string, error) {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return "", errors.New("the string to be encoded contains characters outside of the Latin1 range")
		}
		b = append(b, byte(r))
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// Pem2ab strips PEM armour and decodes the base64 inside.
func Pem2ab(s string) ([]byte, error) {
	if blk, _ := pem.Decode([]byte(strings.TrimSpace(s))); blk != nil {
		return blk.Bytes, nil
	}
	var body strings.Builder
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "-----") {
			continue
		}
		body.WriteString(line)
	}
	b, err := base64.StdEncoding.DecodeString(body.String())
	if err != nil {
		return nil, fmt.Errorf("not PEM or base64: %w", err)
	}
	return b, nil
}
