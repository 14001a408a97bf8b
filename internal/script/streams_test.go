package script

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// runJS runs src's responseProvider body (an async function body that
// returns a string) and returns the string.
func runJS(t *testing.T, body string) string {
	t.Helper()
	src := `
import { ReadableStream, WritableStream, TransformStream, CountQueuingStrategy, ByteLengthQueuingStrategy, ReadableStreamBYOBReader, ReadableByteStreamController, ReadableStreamBYOBRequest } from 'streams';
import { TextEncoderStream, TextDecoderStream } from 'text-encode-transform';
import { TextEncoder, TextDecoder } from 'encoding';
import { createResponse } from 'create-response';
async function main(request) {` + body + `}
export async function responseProvider(request) {
  let out;
  try { out = String(await main(request)); } catch (e) { out = 'threw ' + e; }
  return createResponse(200, {}, out);
}`
	w := worker(t, "enterprise", mainJS(src))
	res := run(t, w, ResponseProvider, newReq(), nil)
	if res.Status != StatusSuccess || res.Provided == nil {
		t.Fatalf("status %s: %v", res.Status, res.Err)
	}
	return string(res.Provided.Body)
}

func TestStreams(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"reader start pull close", `
  let n = 0;
  const rs = new ReadableStream({ pull(c) { n++; if (n > 3) c.close(); else c.enqueue('c' + n); } });
  const r = rs.getReader(); const got = [];
  for (;;) { const { value, done } = await r.read(); if (done) break; got.push(value); }
  return got.join(',') + ' locked=' + rs.locked;`, "c1,c2,c3 locked=true"},
		{"async iteration", `
  const rs = new ReadableStream({ start(c) { c.enqueue(1); c.enqueue(2); c.close(); } });
  let s = 0; for await (const x of rs) s += x; return s + ' ' + rs.locked;`, "3 false"},
		{"locked", `
  const rs = new ReadableStream(); rs.getReader();
  try { rs.getReader(); return 'no'; } catch (e) { return e.constructor.name; }`, "TypeError"},
		{"error rejects reads", `
  const rs = new ReadableStream({ start(c) { c.error(new Error('bad')); } });
  try { await rs.getReader().read(); return 'no'; } catch (e) { return e.message; }`, "bad"},
		{"cancel calls source", `
  let why; const rs = new ReadableStream({ cancel(r) { why = r; } });
  await rs.cancel('enough'); const { done } = await rs.getReader().read(); return why + ' ' + done;`, "enough true"},
		{"desiredSize and strategies", `
  let ctl; new ReadableStream({ start(c) { ctl = c; } }, new CountQueuingStrategy({ highWaterMark: 3 }));
  const a = ctl.desiredSize; ctl.enqueue('x'); const b = ctl.desiredSize;
  let bc; new ReadableStream({ start(c) { bc = c; } }, new ByteLengthQueuingStrategy({ highWaterMark: 10 }));
  bc.enqueue(new Uint8Array(4));
  return [a, b, bc.desiredSize].join(',');`, "3,2,6"},
		{"tee", `
  const [a, b] = new ReadableStream({ start(c) { c.enqueue('x'); c.enqueue('y'); c.close(); } }).tee();
  const read = async (s) => { let o = ''; for await (const v of s) o += v; return o; };
  return (await read(a)) + '|' + (await read(b));`, "xy|xy"},
		{"pipeTo writable", `
  const got = []; let closed = false;
  const ws = new WritableStream({ write(c) { got.push(c); }, close() { closed = true; } });
  await new ReadableStream({ start(c) { c.enqueue('a'); c.enqueue('b'); c.close(); } }).pipeTo(ws);
  return got.join('') + ' ' + closed;`, "ab true"},
		{"pipeTo preventClose", `
  let closed = false;
  const ws = new WritableStream({ close() { closed = true; } });
  await new ReadableStream({ start(c) { c.close(); } }).pipeTo(ws, { preventClose: true });
  return closed + ' ' + ws.locked;`, "false false"},
		{"source error aborts destination", `
  let aborted;
  const ws = new WritableStream({ abort(r) { aborted = r.message; } });
  const rs = new ReadableStream({ pull(c) { c.error(new Error('src')); } });
  try { await rs.pipeTo(ws); return 'no'; } catch (e) { return e.message + ' ' + aborted; }`, "src src"},
		{"sink error cancels source", `
  let canceled;
  const rs = new ReadableStream({ pull(c) { c.enqueue(1); }, cancel(r) { canceled = r.message; } });
  const ws = new WritableStream({ write() { throw new Error('sink'); } });
  try { await rs.pipeTo(ws); return 'no'; } catch (e) { return e.message + ' ' + canceled; }`, "sink sink"},
		{"writer sequence", `
  const log = [];
  const ws = new WritableStream({ async write(c) { await null; log.push(c); }, close() { log.push('closed'); } });
  const w = ws.getWriter(); w.write(1); w.write(2); await w.close();
  return log.join(',');`, "1,2,closed"},
		{"transform pipeThrough", `
  const upper = new TransformStream({ transform(c, ctl) { ctl.enqueue(String(c).toUpperCase()); }, flush(ctl) { ctl.enqueue('!'); } });
  const rs = new ReadableStream({ start(c) { c.enqueue('ab'); c.enqueue('cd'); c.close(); } }).pipeThrough(upper);
  let o = ''; for await (const v of rs) o += v; return o;`, "ABCD!"},
		{"identity transform", `
  const t = new TransformStream();
  const w = t.writable.getWriter(); w.write('x'); w.close();
  let o = ''; for await (const v of t.readable) o += v; return o;`, "x"},
		{"transform error", `
  const t = new TransformStream({ transform() { throw new Error('tx'); } });
  const rs = new ReadableStream({ start(c) { c.enqueue(1); c.close(); } }).pipeThrough(t);
  try { for await (const v of rs) {} return 'no'; } catch (e) { return e.message; }`, "tx"},
		{"text streams split multibyte", `
  const bytes = new TextEncoder().encode('grüße €');
  const parts = [bytes.slice(0, 3), bytes.slice(3, 9), bytes.slice(9)];
  const rs = new ReadableStream({ start(c) { for (const p of parts) c.enqueue(p); c.close(); } })
    .pipeThrough(new TextDecoderStream()).pipeThrough(new TextEncoderStream()).pipeThrough(new TextDecoderStream());
  let o = ''; for await (const v of rs) o += v; return o;`, "grüße €"},
		{"TextDecoder stream option", `
  const d = new TextDecoder(); const b = new TextEncoder().encode('€');
  return d.decode(b.slice(0, 1), { stream: true }) + '|' + d.decode(b.slice(1), { stream: true }) + '|' + d.decode();`, "|€|"},
		{"byob needs a byte stream", `
  try { new ReadableStream().getReader({ mode: 'byob' }); return 'no'; } catch (e) { return e.constructor.name; }`, "TypeError"},
		{"request body stream", `
  let o = ''; for await (const c of request.body.pipeThrough(new TextDecoderStream())) o += c; return o;`, "posted body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.body
			got := ""
			if tc.name == "request body stream" {
				got = runWithBody(t, src, "posted body")
			} else {
				got = runJS(t, src)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func runWithBody(t *testing.T, body, reqBody string) string {
	t.Helper()
	src := `
import { TextDecoderStream } from 'text-encode-transform';
import { createResponse } from 'create-response';
export async function responseProvider(request) {` + "\n  const out = await (async () => {" + body + "})();\n" + `  return createResponse(200, {}, out);
}`
	w := worker(t, "dynamic", mainJS(src))
	req := newReq()
	req.Body = []byte(reqBody)
	res := run(t, w, ResponseProvider, req, nil)
	if res.Provided == nil {
		t.Fatalf("status %s: %v", res.Status, res.Err)
	}
	return string(res.Provided.Body)
}

// findReplace is the streaming find-and-replace responseProvider: the
// origin body through TextDecoderStream, a TransformStream and
// TextEncoderStream, straight into createResponse.
const findReplace = `
import { httpRequest } from 'http-request';
import { createResponse } from 'create-response';
import { TransformStream } from 'streams';
import { TextEncoderStream, TextDecoderStream } from 'text-encode-transform';
export async function responseProvider(request) {
  const resp = await httpRequest('/origin');
  let n = 0;
  const replace = new TransformStream({
    transform(chunk, c) {
      n++;
      if (request.getHeader('X-Fail')) throw new Error('broke mid-stream');
      c.enqueue(chunk.replaceAll('cat', 'dog'));
    },
  });
  const body = resp.body.pipeThrough(new TextDecoderStream()).pipeThrough(replace).pipeThrough(new TextEncoderStream());
  return createResponse(200, { 'Content-Type': ['text/plain'] }, body);
}`

func TestStreamingCreateResponse(t *testing.T) {
	w := worker(t, "dynamic", mainJS(findReplace))
	for _, tc := range []struct {
		name, fail string
		want       string
		wantErr    bool
	}{
		{"whole body", "", "the dog sat; dog food", false},
		{"error mid-stream", "1", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newReq()
			if tc.fail != "" {
				req.Header.Set("X-Fail", "1")
			}
			req.Sub = subFunc(func(ctx context.Context, sr *SubRequest) (*SubResponse, error) {
				return &SubResponse{Status: 200, Header: http.Header{}, Body: []byte("the cat sat; cat food")}, nil
			})
			res := run(t, w, ResponseProvider, req, nil)
			if res.Status != StatusSuccess || res.Provided == nil || res.Provided.Stream == nil {
				t.Fatalf("status %s %v, provided %+v", res.Status, res.Err, res.Provided)
			}
			st := res.Provided.Stream
			defer st.Close()
			var body []byte
			var err error
			for {
				var chunk []byte
				chunk, err = st.Next(context.Background())
				if err != nil {
					break
				}
				body = append(body, chunk...)
			}
			if tc.wantErr {
				if !errors.Is(err, ErrStreamFailed) || !strings.Contains(err.Error(), "broke mid-stream") || st.Status() != StatusRuntimeError {
					t.Errorf("err %v status %s", err, st.Status())
				}
				return
			}
			if !errors.Is(err, io.EOF) || string(body) != tc.want {
				t.Errorf("body %q err %v", body, err)
			}
		})
	}
	// The instance came back (or was replaced) and works for the next request.
	req := newReq()
	req.Sub = subFunc(func(ctx context.Context, sr *SubRequest) (*SubResponse, error) {
		return &SubResponse{Status: 200, Header: http.Header{}, Body: []byte("cat")}, nil
	})
	tr := w.Simulate(context.Background(), req, Origin{}, NumHandlers)
	if string(tr.Body) != "dog" || tr.Source != "responseProvider" {
		t.Errorf("simulated: %q from %s", tr.Body, tr.Source)
	}
}

// An endless stream is cut at the responseProvider's wall limit.
func TestStreamLimits(t *testing.T) {
	src := `
import { createResponse } from 'create-response';
import { ReadableStream } from 'streams';
export function responseProvider(request) {
  return createResponse(200, {}, new ReadableStream({ pull(c) { for (;;) {} } }, { highWaterMark: 0 }));
}`
	w := worker(t, "basic", mainJS(src))
	res := run(t, w, ResponseProvider, newReq(), nil)
	if res.Provided == nil || res.Provided.Stream == nil {
		t.Fatalf("status %s %v", res.Status, res.Err)
	}
	_, err := res.Provided.Stream.Next(context.Background())
	res.Provided.Stream.Close()
	if !errors.Is(err, ErrStreamFailed) || res.Provided.Stream.Status() != StatusCPUTimeout {
		t.Errorf("endless stream: %v %s", err, res.Provided.Stream.Status())
	}
	// respondWith does not take a stream.
	w2 := worker(t, "basic", mainJS(`
import { ReadableStream } from 'streams';
export function onClientRequest(request) { request.respondWith(200, {}, new ReadableStream()); }`))
	if res := run(t, w2, OnClientRequest, newReq(), nil); res.Status != StatusRuntimeError || !strings.Contains(res.Err.Error(), "body must be a string") {
		t.Errorf("respondWith stream: %s %v", res.Status, res.Err)
	}
}
