package script

import "testing"

// TestByteStreams covers byte streams (type: 'bytes'), BYOB readers and
// ReadableByteStreamController per WHATWG Streams.
func TestByteStreams(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"byob read fills the caller's buffer", `
  const rs = new ReadableStream({ type: 'bytes', start(c) { c.enqueue(new Uint8Array([1, 2, 3, 4, 5])); c.close(); } });
  const r = rs.getReader({ mode: 'byob' });
  const buf = new Uint8Array(3);
  const a = await r.read(buf);
  const b = await r.read(new Uint8Array(8));
  const end = await r.read(new Uint8Array(4));
  return [r instanceof ReadableStreamBYOBReader, a.value.buffer === buf.buffer, [...a.value].join(''), a.done, [...b.value].join(''), end.done, end.value.byteLength].join(' ');`,
			"true true 123 false 45 true 0"},
		{"byobRequest respond from pull", `
  let n = 0, ctlKind, viewLen;
  const rs = new ReadableStream({
    type: 'bytes',
    start(c) { ctlKind = c instanceof ReadableByteStreamController; },
    pull(c) {
      const req = c.byobRequest;
      if (n === 3) { c.close(); req.respond(0); return; }
      viewLen = req.view.byteLength;
      req.view[0] = 65 + n; req.view[1] = 97 + n; n++;
      req.respond(2);
    },
  });
  const r = rs.getReader({ mode: 'byob' });
  let out = '';
  for (;;) {
    const { value, done } = await r.read(new Uint8Array(16));
    if (done) break;
    out += String.fromCharCode(...value);
  }
  return [ctlKind, viewLen, out].join(' ');`, "true 16 AaBbCc"},
		{"respondWithNewView", `
  const rs = new ReadableStream({
    type: 'bytes',
    pull(c) {
      const v = c.byobRequest.view;
      const nv = new Uint8Array(v.buffer, v.byteOffset, 2);
      nv.set([7, 9]);
      c.byobRequest.respondWithNewView(nv);
    },
  });
  const { value } = await rs.getReader({ mode: 'byob' }).read(new Uint8Array(10));
  return [...value].join(',');`, "7,9"},
		{"min waits for enough bytes", `
  let ctl;
  const rs = new ReadableStream({ type: 'bytes', start(c) { ctl = c; } });
  const p = rs.getReader({ mode: 'byob' }).read(new Uint8Array(6), { min: 4 });
  ctl.enqueue(new Uint8Array([1, 2]));
  ctl.enqueue(new Uint8Array([3, 4, 5]));
  const { value } = await p;
  return [...value].join(',');`, "1,2,3,4,5"},
		{"element size keeps partial elements queued", `
  const rs = new ReadableStream({ type: 'bytes', start(c) { c.enqueue(new Uint8Array([1, 0, 2, 0, 3])); c.close(); } });
  const r = rs.getReader({ mode: 'byob' });
  const { value } = await r.read(new Uint16Array(4));
  const rest = await r.read(new Uint8Array(4));
  return [value.constructor.name, value.length, value[0], value[1], [...rest.value].join(',')].join(' ');`, "Uint16Array 2 1 2 3"},
		{"default reader on a byte stream", `
  const rs = new ReadableStream({ type: 'bytes', start(c) { c.enqueue(new TextEncoder().encode('hi ')); c.enqueue(new TextEncoder().encode('there')); c.close(); } });
  let o = ''; for await (const c of rs.pipeThrough(new TextDecoderStream())) o += c; return o;`, "hi there"},
		{"autoAllocateChunkSize offers a buffer to default reads", `
  let size = -1;
  const rs = new ReadableStream({
    type: 'bytes', autoAllocateChunkSize: 8,
    pull(c) { const v = c.byobRequest.view; size = v.byteLength; v[0] = 42; c.byobRequest.respond(1); c.close(); },
  });
  const r = rs.getReader();
  const a = await r.read(); const b = await r.read();
  return [size, a.value.constructor.name, [...a.value].join(','), b.done].join(' ');`, "8 Uint8Array 42 true"},
		{"controller error rejects byob reads", `
  let ctl;
  const rs = new ReadableStream({ type: 'bytes', start(c) { ctl = c; } });
  const p = rs.getReader({ mode: 'byob' }).read(new Uint8Array(4));
  ctl.error(new Error('broken'));
  try { await p; return 'no'; } catch (e) { return e.message; }`, "broken"},
		{"cancel resolves pending byob reads", `
  let why;
  const rs = new ReadableStream({ type: 'bytes', cancel(r) { why = r; } });
  const r = rs.getReader({ mode: 'byob' });
  const p = r.read(new Uint8Array(4));
  await r.cancel('stop');
  const res = await p;
  return why + ' ' + res.done;`, "stop true"},
		{"argument errors", `
  const out = [];
  const t = async (f) => { try { await f(); out.push('ok'); } catch (e) { out.push(e.constructor.name); } };
  const mk = () => new ReadableStream({ type: 'bytes' });
  await t(() => mk().getReader({ mode: 'byob' }).read(new Uint8Array(0)));
  await t(() => mk().getReader({ mode: 'byob' }).read('x'));
  await t(() => mk().getReader({ mode: 'byob' }).read(new Uint8Array(2), { min: 3 }));
  await t(() => new ReadableStream({ type: 'bytes', start(c) { c.enqueue('x'); } }).getReader().read());
  await t(() => new ReadableStream({ type: 'bytes' }, { size: () => 1 }));
  await t(() => new ReadableStream({ type: 'other' }));
  await t(() => mk().getReader({ mode: 'other' }));
  await t(() => new ReadableStream({ type: 'bytes', pull(c) { c.byobRequest.respond(99); } }).getReader({ mode: 'byob' }).read(new Uint8Array(4)));
  return out.join(',');`, "TypeError,TypeError,RangeError,TypeError,RangeError,TypeError,TypeError,RangeError"},
		{"byobRequest is null without a pending read", `
  let ctl; new ReadableStream({ type: 'bytes', start(c) { ctl = c; } });
  return String(ctl.byobRequest) + ' ' + ctl.desiredSize;`, "null 0"},
		{"request body is a byte stream", `
  const r = request.body.getReader({ mode: 'byob' });
  const { value } = await r.read(new Uint8Array(6));
  return String.fromCharCode(...value) + ' ' + value.byteLength;`, "posted 6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			if tc.name == "request body is a byte stream" {
				got = runWithBody(t, tc.body, "posted body")
			} else {
				got = runJS(t, tc.body)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
