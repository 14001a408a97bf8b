package script

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	xhtml "golang.org/x/net/html"
)

// rewriteAll runs a Go-level rewriter over src in chunks of size n (0:
// one chunk).
func rewriteAll(rw *htmlRewriter, src string, n int) string {
	var out []byte
	if n <= 0 {
		n = len(src) + 1
	}
	for i := 0; i < len(src); i += n {
		out = append(out, rw.Write([]byte(src[i:min(i+n, len(src))]))...)
	}
	return string(append(out, rw.Close()...))
}

func mustSel(t testing.TB, s string) []*selector {
	sel, err := parseSelectors(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

func TestHTMLRewriterGo(t *testing.T) {
	page := `<!DOCTYPE html><html><head><title>a<b</title><script>if (a<b && c>d) x("<p>")</script></head>` +
		`<body><h1 class="t big" id=top>Hello</h1><p>one<p>two<img src="/a.png"><div><a href="http://x/">x</a></div>` +
		`<!-- <h1>not</h1> --><ul><li>1<li>2</ul></body></html>`
	tests := []struct {
		name string
		sel  string
		fn   func(el *rwElement)
		want []string
		not  []string
	}{
		{"no match copies bytes", "video", func(el *rwElement) {}, []string{page}, nil},
		{"set attribute", "h1.big#top", func(el *rwElement) { el.node.attrs = append(el.node.attrs, attrOf("data-x", `a"b`)); el.changed = true },
			[]string{`<h1 class="t big" id="top" data-x="a&quot;b">Hello</h1>`}, nil},
		{"append prepend before after", "h1", func(el *rwElement) {
			el.before = append(el.before, "[B]")
			el.prepend = append(el.prepend, "[P]")
			el.append = append(el.append, "[A]")
			el.after = append(el.after, "[F]")
		}, []string{`[B]<h1 class="t big" id=top>[P]Hello[A]</h1>[F]`}, []string{"<h1>not[A]"}},
		{"replace children", "div", func(el *rwElement) { s := "<b>new</b>"; el.replaceChildren = &s }, []string{`<div><b>new</b></div>`}, []string{`href="http://x/"`}},
		{"replace with", "a[href^=http]", func(el *rwElement) { s := "LINK"; el.replaceWith = &s }, []string{`<div>LINK</div>`}, []string{"</a>"}},
		{"implicit close", "li", func(el *rwElement) { el.append = append(el.append, "!") }, []string{`<li>1!<li>2!</ul>`}, nil},
		{"void element after", "img", func(el *rwElement) { el.after = append(el.after, "(img)") }, []string{`<img src="/a.png">(img)`}, nil},
		{"child combinator", "div > a", func(el *rwElement) { el.before = append(el.before, "*") }, []string{`<div>*<a`}, nil},
		{"descendant", "body a", func(el *rwElement) { el.before = append(el.before, "*") }, []string{`<div>*<a`}, nil},
		{"no descendant match", "head a", func(el *rwElement) { el.before = append(el.before, "*") }, []string{`<div><a`}, nil},
		{"raw text not parsed", "p", func(el *rwElement) { el.before = append(el.before, "#") }, []string{`x("<p>")</script>`, `#<p>one#<p>two`}, nil},
	}
	for _, tc := range tests {
		for _, n := range []int{0, 1, 3, 7, 64} {
			rw := &htmlRewriter{elemSel: [][]*selector{mustSel(t, tc.sel)}, onElement: func(_ int, el *rwElement) { tc.fn(el) }}
			got := rewriteAll(rw, page, n)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%s (chunks of %d): output lacks %q:\n%s", tc.name, n, w, got)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(got, w) {
					t.Errorf("%s (chunks of %d): output has %q:\n%s", tc.name, n, w, got)
				}
			}
		}
	}
	// Text handlers.
	rw := &htmlRewriter{textSel: [][]*selector{mustSel(t, "h1, li")}, onText: func(_ int, s string) (string, bool) { return strings.ToUpper(s), s != "2" }}
	if got := rewriteAll(rw, page, 5); !strings.Contains(got, ">HELLO</h1>") || !strings.Contains(got, "<li>1<li></ul>") || !strings.Contains(got, "<p>one") {
		t.Errorf("text handler: %s", got)
	}
}

func TestSelectors(t *testing.T) {
	good := []string{"a", "*", "#x", ".a.b", "div > p", "ul li a", "a[href]", `a[href="x y"]`, "a[rel~=nofollow]", "img[src$='.png']", "h1, h2", "x-y_z"}
	for _, s := range good {
		if _, err := parseSelectors(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	bad := []string{"", "a,", "#", ".", "a[", "a[x", "a[x|=y]", "a >", "a:hover", "a::before", "a[x='y]", "> a", "a + b"}
	for _, s := range bad {
		if _, err := parseSelectors(s); !errors.Is(err, errSelector) {
			t.Errorf("%q: err %v, want errSelector", s, err)
		}
	}
}

func FuzzSelector(f *testing.F) {
	for _, s := range []string{"a", "div > p.x#y[z^=w]", "a[b='c d']", "*", "a b c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sels, err := parseSelectors(s)
		if err != nil {
			return
		}
		path := []*rwNode{{tag: "div", attrs: []xhtml.Attribute{{Key: "class", Val: "x"}}}, {tag: "p"}}
		for _, sel := range sels {
			_ = sel.match(path)
		}
	})
}

// FuzzHTMLRewriter: any input, any chunking: never a panic, and with no
// matching handler the bytes come out unchanged.
func FuzzHTMLRewriter(f *testing.F) {
	f.Add("<p a='>'>x</p><script><p></script>", 3)
	f.Add("<div><<>></div>", 1)
	f.Add("<!-- <a> -->", 2)
	f.Fuzz(func(t *testing.T, src string, n int) {
		if n < 0 {
			n = -n
		}
		n = n%32 + 1
		rw := &htmlRewriter{elemSel: [][]*selector{mustSel(t, "nomatch")}, onElement: func(int, *rwElement) {}}
		if got := rewriteAll(rw, src, n); got != src {
			t.Fatalf("chunks of %d changed %q into %q", n, src, got)
		}
		rw = &htmlRewriter{elemSel: [][]*selector{mustSel(t, "*")}, onElement: func(_ int, el *rwElement) { el.after = append(el.after, "|") }}
		_ = rewriteAll(rw, src, n)
	})
}

func TestHTMLRewriterJS(t *testing.T) {
	src := `
import { HtmlRewritingStream } from 'html-rewriter';
import { ReadableStream } from 'streams';
import { TextEncoder } from 'encoding';
import { createResponse } from 'create-response';
export function responseProvider(request) {
  const rw = new HtmlRewritingStream();
  rw.onElement('a[href^="http://"]', (el) => { el.setAttribute('href', el.getAttribute('href').replace('http://', 'https://')); el.setAttribute('rel', 'noopener', { quote: "'" }); });
  rw.onElement('h1', (el) => { el.prepend('<span>'); el.append('</span>'); el.after('<hr>'); });
  rw.onElement('.ad', (el) => el.remove());
  rw.onElement('#menu', (el) => el.replaceChildren('<li>Home</li>'));
  rw.onElement('img', (el) => { el.removeAttribute('width'); if (el.hasAttribute('alt')) el.before('[alt]'); el.tagName === 'img' && el.after('!'); });
  rw.onText('p', (t) => t.replace(t.text.replaceAll('colour', 'color')));
  let kept;
  rw.onElement('footer', (el) => { kept = el; });
  rw.onElement('main', (el) => { try { kept.append('x'); el.append('no-throw'); } catch (e) { el.append(e.constructor.name); } });
  const enc = new TextEncoder();
  const parts = ['<h1>T', 'itle</h1><p>colour</p><a hr', 'ef="http://e.com/">e</a><div class="ad">buy</div>',
    '<ul id="menu"><li>a</li></ul><img width=3 alt="x" src="i.png"><footer></footer><main></main>'];
  const body = new ReadableStream({ start(c) { for (const p of parts) c.enqueue(enc.encode(p)); c.close(); } });
  return createResponse(200, {}, body.pipeThrough(rw));
}`
	w := worker(t, "dynamic", mainJS(src))
	req := newReq()
	req.Header = http.Header{}
	tr := w.Simulate(t.Context(), req, Origin{}, ResponseProvider)
	want := `<h1><span>Title</span></h1><hr><p>color</p><a href="https://e.com/" rel='noopener'>e</a>` +
		`<ul id="menu"><li>Home</li></ul>[alt]<img alt="x" src="i.png">!<footer></footer><main>TypeError</main>`
	if got := string(tr.Body); got != want || tr.Failed() {
		t.Errorf("got  %s\nwant %s\n(%s)", got, want, tr.Source)
	}
	// A stale element throws, a bad selector throws at onElement.
	w2 := worker(t, "dynamic", mainJS(`
import { HtmlRewritingStream } from 'html-rewriter';
export function onClientRequest(request) {
  try { new HtmlRewritingStream().onElement('a:hover', () => {}); } catch (e) { request.setVariable('PMUSER_E', e.message); }
}`))
	req = newReq()
	if res := run(t, w2, OnClientRequest, req, nil); res.Status != StatusSuccess {
		t.Fatal(res.Err)
	}
	if v, _ := req.Vars.Get("PMUSER_E"); !strings.Contains(v, "invalid selector") {
		t.Errorf("bad selector: %q", v)
	}
}
