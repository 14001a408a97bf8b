package script

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCapabilityMatrix: a call not allowed in a handler throws a TypeError
// the script can catch (edgeworkers.md §3.3).
func TestCapabilityMatrix(t *testing.T) {
	src := `
function probe(request, what) {
  try {
    switch (what) {
      case 'setHeader': request.setHeader('X-A', 'b'); break;
      case 'route': request.route({path: '/x'}); break;
      case 'cacheKey': request.cacheKey.excludeQueryString(); break;
      case 'respondWith': request.respondWith(204, {}, ''); break;
      case 'setVariable': request.setVariable('PMUSER_A', 'b'); break;
      case 'text': request.text(); break;
    }
    return 'ok';
  } catch (e) { return e instanceof TypeError ? 'TypeError' : 'other:' + e; }
}
function all(request) {
  return ['setHeader', 'route', 'cacheKey', 'respondWith', 'setVariable', 'text'].map(w => w + '=' + probe(request, w)).join(',');
}
export function onClientRequest(request) { request.setVariable('PMUSER_R', all(request)); }
export function onOriginResponse(request, response) { response.setHeader('X-R', all(request)); }
export function onClientResponse(request, response) { response.setHeader('X-R', all(request)); }
import { createResponse } from 'create-response';
export function responseProvider(request) { return createResponse(200, {'X-R': all(request)}, ''); }
`
	w := worker(t, "dynamic", mainJS(src))
	req := newReq()
	if res := run(t, w, OnClientRequest, req, nil); res.Status != StatusSuccess {
		t.Fatal(res.Err)
	}
	got, _ := req.Vars.Get("PMUSER_R")
	if want := "setHeader=ok,route=ok,cacheKey=ok,respondWith=ok,setVariable=ok,text=TypeError"; got != want {
		t.Errorf("onClientRequest: %s\nwant %s", got, want)
	}
	for _, h := range []Handler{OnOriginResponse, OnClientResponse} {
		resp := &Response{Status: 200, Header: http.Header{}}
		if res := run(t, w, h, newReq(), resp); res.Status != StatusSuccess {
			t.Fatal(res.Err)
		}
		if want := "setHeader=TypeError,route=TypeError,cacheKey=TypeError,respondWith=ok,setVariable=ok,text=TypeError"; resp.Header.Get("X-R") != want {
			t.Errorf("%s: %s\nwant %s", h, resp.Header.Get("X-R"), want)
		}
	}
	res := run(t, w, ResponseProvider, newReq(), nil)
	if res.Status != StatusSuccess || res.Provided.Header.Get("X-R") != "setHeader=TypeError,route=TypeError,cacheKey=TypeError,respondWith=TypeError,setVariable=TypeError,text=ok" {
		t.Errorf("responseProvider: %v %v", res.Err, res.Provided)
	}
}

func TestLanguageRestrictions(t *testing.T) {
	w := worker(t, "dynamic", mainJS(`
const t = (f) => { try { f(); return 'allowed'; } catch (e) { return e.name; } };
export function onClientRequest(request) {
  const before = Date.now();
  let spin = 0; for (let i = 0; i < 2000; i++) spin += i;
  request.respondWith(200, {}, [
    typeof eval, t(() => Function('return 1')), t(() => (function(){}).constructor('return 1')()),
    t(() => (async function(){}).constructor('return 1')), typeof WebAssembly, typeof SharedArrayBuffer, typeof Atomics,
    Date.now() === before, typeof setTimeout, typeof fetch,
  ].join(','));
}`))
	req := newReq()
	res := run(t, w, OnClientRequest, req, nil)
	if res.Status != StatusSuccess {
		t.Fatal(res.Err)
	}
	want := "undefined,EvalError,EvalError,EvalError,undefined,undefined,undefined,true,undefined,undefined"
	if got := string(req.Reply.Body); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestLimits(t *testing.T) {
	w := worker(t, "dynamic", mainJS(`
export async function onClientRequest(request) {
  if (request.path === '/loop') for (;;) {}
  if (request.path === '/catch') { try { for (;;) {} } catch (e) {} request.respondWith(200, {}, 'escaped'); }
  if (request.path === '/alloc') { const k = []; for (;;) k.push(new ArrayBuffer(1 << 22)); }
  if (request.path === '/str') { 'x'.repeat(64 << 20); }
  if (request.path === '/stack') { const f = () => f(); f(); }
  if (request.path === '/never') { await new Promise(() => {}); }
  if (request.path === '/throw') throw new Error('boom');
}`))
	for _, tc := range []struct{ path, status string }{
		{"/loop", StatusCPUTimeout}, {"/catch", StatusCPUTimeout}, {"/alloc", StatusResourceLimit}, {"/str", StatusResourceLimit},
		{"/stack", StatusResourceLimit}, {"/never", StatusRuntimeError}, {"/throw", StatusRuntimeError}, {"/fine", StatusSuccess},
	} {
		t.Run(tc.path, func(t *testing.T) {
			req := newReq()
			req.Path = tc.path
			start := time.Now()
			res := run(t, w, OnClientRequest, req, nil)
			// Unbounded recursion must be stopped by a limit; which one
			// comes first (stack depth or CPU, metered as engine time) depends
			// on how loaded the machine is, as under -race in CI.
			stackStopped := tc.path == "/stack" && res.Status == StatusCPUTimeout
			if res.Status != tc.status && !stackStopped {
				t.Fatalf("status %s (%v), want %s", res.Status, res.Err, tc.status)
			}
			if tc.status == StatusCPUTimeout && (res.CPU < 10*time.Millisecond || time.Since(start) > 5*time.Second) {
				t.Errorf("cpu %v", res.CPU)
			}
			if tc.path == "/throw" && !strings.Contains(res.Err.Error(), "boom") {
				t.Errorf("message %q", res.Err)
			}
		})
	}
	if n := w.Instances(); n < 5 {
		t.Errorf("instances = %d; failed instances must be discarded, not reused", n)
	}
}

func TestWallLimitOnSubrequest(t *testing.T) {
	w := worker(t, "dynamic", mainJS(`
import { httpRequest } from 'http-request';
export async function onClientRequest(request) {
  try { await httpRequest('/slow', {timeout: 20}); } catch (e) { request.setVariable('PMUSER_E', String(e.message || e)); }
  for (let i = 0; i < 5; i++) { try { await httpRequest('/x'); } catch (e) { request.setVariable('PMUSER_N', String(e.message || e)); } }
}`))
	req := newReq()
	req.Sub = subFunc(func(ctx context.Context, sr *SubRequest) (*SubResponse, error) {
		if strings.HasSuffix(sr.URL, "/slow") {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return &SubResponse{Status: 200, Header: http.Header{}, Body: []byte("x")}, nil
	})
	res := run(t, w, OnClientRequest, req, nil)
	if res.Status != StatusSuccess {
		t.Fatal(res.Err)
	}
	if e, _ := req.Vars.Get("PMUSER_E"); !strings.Contains(e, "subrequest to URL https://www.example.com/slow timed out") {
		t.Errorf("timeout message %q", e)
	}
	if n, _ := req.Vars.Get("PMUSER_N"); !strings.Contains(n, "too many sub-requests") {
		t.Errorf("limit message %q", n)
	}
}

type subFunc func(ctx context.Context, sr *SubRequest) (*SubResponse, error)

func (f subFunc) Do(ctx context.Context, sr *SubRequest) (*SubResponse, error) { return f(ctx, sr) }

func TestModules(t *testing.T) {
	w := worker(t, "dynamic", mainJS(`
import { crypto } from 'crypto';
import { base64, base64url, base16, atob, btoa, TextEncoder, TextDecoder } from 'encoding';
import { Cookies, SetCookie } from 'cookies';
import URLSearchParams from 'url-search-params';
export async function onClientRequest(request) {
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey('raw', enc.encode('secret'), {name: 'HMAC', hash: 'SHA-256'}, false, ['sign', 'verify']);
  const sig = new Uint8Array(await crypto.subtle.sign('HMAC', key, enc.encode('msg')));
  const ok = await crypto.subtle.verify('HMAC', key, sig, enc.encode('msg'));
  const dg = base16.encode(new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode('abc'))));
  const c = new Cookies(request.getHeader('Cookie')); c.add('z', '9'); c.delete('a');
  const p = new URLSearchParams('a=1&b=x+y&a=2'); p.append('c', 'é&');
  const out = [base64url.encode(sig), ok, dg.slice(0, 16), btoa('hi'), atob('aGk='), base64.decode('aGk=', 'String'),
    new TextDecoder().decode(enc.encode('ünï')), c.toHeader(), p.getAll('a').join('|'), p.get('b'), p.toString(),
    new SetCookie('s=1; Path=/').toHeader() + '; Secure', new TextDecoder('iso-8859-2').decode(new Uint8Array([0xb1]))];
  request.respondWith(200, {}, out.join(' ; '));
}`))
	req := newReq()
	res := run(t, w, OnClientRequest, req, nil)
	if res.Status != StatusSuccess {
		t.Fatal(res.Err)
	}
	want := "_k-cQY9oPwNPavkNHdW4asA1XdljMsWcx0WY0HNhB_Y ; true ; ba7816bf8f01cfea ; aGk= ; hi ; hi ; ünï ; b=2; z=9 ; 1|2 ; x y ; a=1&b=x+y&a=2&c=%C3%A9%26 ; s=1; Path=/; Secure ; ą"
	if got := string(req.Reply.Body); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestBundleErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		code  string
		at    string
	}{
		{"syntax", map[string]string{"main.js": "export function onClientRequest(r) {\n  r.x(;\n}"}, CodeSyntax, "main.js:2:7"},
		{"missing file", map[string]string{"main.js": "import {a} from './nope.js';\nexport function onClientRequest(r) {}"}, CodeUnknownModule, "main.js:1:17"},
		{"unknown module", map[string]string{"main.js": "import fs from 'fs';\nexport function onClientRequest(r) {}"}, CodeUnknownModule, "main.js:1:16"},
		{"no handler", map[string]string{"main.js": "export const x = 1;"}, CodeNoHandler, "main.js"},
		{"manifest", map[string]string{"main.js": "export function onClientRequest(r) {}", "bundle.json": "{\"edgeworker-version\": \"1\",}"}, CodeInvalidManifest, "bundle.json:1:28"},
		{"manifest version", map[string]string{"main.js": "export function onClientRequest(r) {}", "bundle.json": "{\"description\": \"x\"}"}, CodeInvalidManifest, "bundle.json"},
		{"too large", map[string]string{"main.js": "export function onClientRequest(r) {}\n//" + strings.Repeat("x", MaxUncompressedBytes)}, CodeTooLarge, ""},
		{"init throws", map[string]string{"main.js": "throw new Error('init');\nexport function onClientRequest(r) {}"}, CodeInit, "main.js"},
		{"init loop", map[string]string{"main.js": "for(;;){}\nexport function onClientRequest(r) {}"}, CodeInit, "main.js"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := map[string][]byte{"bundle.json": []byte(`{"edgeworker-version":"1"}`)}
			for k, v := range tc.files {
				fs[k] = []byte(v)
			}
			b, err := LoadFiles(fs)
			if err == nil {
				_, err = NewWorker(b, nil, Options{})
			}
			var be BundleErrors
			if !errors.As(err, &be) || !errors.Is(err, ErrInvalidBundle) {
				t.Fatalf("err = %v", err)
			}
			if be[0].Code != tc.code || !strings.HasPrefix(be[0].Error(), tc.at) {
				t.Errorf("got %v, want %s at %s", be[0], tc.code, tc.at)
			}
		})
	}
}

func TestArchive(t *testing.T) {
	var buf strings.Builder
	files := map[string][]byte{"bundle.json": []byte(`{"edgeworker-version":"7"}`), "main.js": []byte("import d from './d.json'; export function onClientRequest(r){ r.respondWith(200,{},d.v) }"), "d.json": []byte(`{"v":"data"}`)}
	bw := &byteWriter{}
	if err := WriteArchive(bw, files); err != nil {
		t.Fatal(err)
	}
	_ = buf
	got, err := ReadArchive(strings.NewReader(string(bw.b)))
	if err != nil || len(got) != 3 {
		t.Fatalf("%v %d", err, len(got))
	}
	b, err := LoadFiles(got)
	if err != nil || b.Version != "7" {
		t.Fatal(err)
	}
	if _, err := ReadArchive(strings.NewReader("not gzip")); !errors.Is(err, ErrInvalidBundle) || !strings.Contains(err.Error(), CodeInvalidGzip) {
		t.Errorf("not gzip: %v", err)
	}
}

type byteWriter struct{ b []byte }

func (w *byteWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

func TestRequestObjectDoesNotOutliveRequest(t *testing.T) {
	w := worker(t, "dynamic", mainJS(`
let kept;
export function onClientRequest(request) {
  if (kept) { try { kept.path; } catch (e) { request.setVariable('PMUSER_OLD', e.name); } }
  kept = request;
}`))
	run(t, w, OnClientRequest, newReq(), nil)
	req := newReq()
	run(t, w, OnClientRequest, req, nil)
	if v, _ := req.Vars.Get("PMUSER_OLD"); v != "TypeError" {
		t.Errorf("old request object usable: %q", v)
	}
}

func BenchmarkNoopCall(b *testing.B) {
	w := worker(b, "dynamic", mainJS(`export function onClientRequest(request) {}`))
	req := newReq()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		w.Run(ctx, OnClientRequest, req, nil)
	}
}

func BenchmarkHeaderRewrite(b *testing.B) {
	w := worker(b, "dynamic", mainJS(`export function onClientRequest(request) { request.setHeader('X-A', request.getHeader('User-Agent')[0] + request.path); }`))
	req := newReq()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		w.Run(ctx, OnClientRequest, req, nil)
	}
}

func FuzzModuleBoundary(f *testing.F) {
	w := worker(f, "dynamic", mainJS(`
import { Cookies } from 'cookies';
import URLSearchParams from 'url-search-params';
import { base64, base64url, atob } from 'encoding';
export function onClientRequest(request) {
  const v = request.getHeader('X-In')[0];
  const out = [];
  const t = (f) => { try { out.push(String(f())); } catch (e) { out.push(e.name); } };
  t(() => new Cookies(v).toHeader());
  t(() => new URLSearchParams(v).toString());
  t(() => base64.decode(v, 'String'));
  t(() => base64url.decode(v).length);
  t(() => atob(v));
  t(() => request.setHeader('X-Out', v));
  // respondWith bodies are capped (16 KB on Akamai): keep the echo short.
  request.respondWith(200, {}, out.join('\n').slice(0, 8000));
}`))
	for _, s := range []string{"a=1; b=2", "q=%ZZ&x=+", "aGk=", "-_-_", "\x00\r\n", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		req := newReq()
		req.Header.Set("X-In", s)
		res := w.Run(context.Background(), OnClientRequest, req, nil)
		if res.Status == StatusCPUTimeout {
			// The CPU limit is metered as engine run time, so two fuzz
			// workers on two cores can push a long input past it; this
			// target checks what crosses the module boundary, not speed
			// (the limits have their own tests).
			t.Skip("CPU limit reached on a loaded machine")
		}
		if res.Status != StatusSuccess {
			t.Fatalf("status %s: %v", res.Status, res.Err)
		}
		if out := req.Header.Get("X-Out"); out != "" && strings.ContainsAny(out, "\r\n\x00") {
			t.Fatalf("header value with control characters: %q", out)
		}
	})
}
