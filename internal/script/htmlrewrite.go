package script

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	xhtml "golang.org/x/net/html"
)

// The html-rewriter module: a streaming HTML rewriter over
// golang.org/x/net/html's tokenizer. Untouched tokens are copied byte for
// byte (Raw), so a rewriter without a match changes nothing. Chunks may
// end anywhere: the text from the last unfinished tag on is held back
// until the next chunk.

// selector is a compound-selector chain: "div.note > p a[href^=x]" is
// three compounds joined by ">" and " ".
type selector struct {
	parts []compound
	// child[i] is true when parts[i] must be the parent (">") of
	// parts[i+1], false for any ancestor (" ").
	child []bool
}

type compound struct {
	tag     string // "" or "*": any
	id      string
	classes []string
	attrs   []attrTest
}

type attrTest struct {
	name, op, val string // op: "" (present), "=", "~=", "^=", "$=", "*="
}

var errSelector = errors.New("invalid selector")

// parseSelectors parses a comma-separated list of selectors with type,
// universal, #id, .class and [attr], [attr=v], [attr~=v], [attr^=v],
// [attr$=v], [attr*=v] simple selectors and the descendant and child
// combinators.
func parseSelectors(s string) ([]*selector, error) {
	var out []*selector
	for _, part := range strings.Split(s, ",") {
		sel, err := parseSelector(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("%w %q: %v", errSelector, s, err)
		}
		out = append(out, sel)
	}
	return out, nil
}

func isIdent(c byte) bool {
	return c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func parseSelector(s string) (*selector, error) {
	if s == "" {
		return nil, errors.New("empty selector")
	}
	sel := &selector{}
	i := 0
	ident := func() string {
		j := i
		for i < len(s) && isIdent(s[i]) {
			i++
		}
		return s[j:i]
	}
	pendingChild := false
	for i < len(s) {
		var c compound
		start := i
		if s[i] == '*' {
			c.tag = "*"
			i++
		} else if isIdent(s[i]) {
			c.tag = strings.ToLower(ident())
		}
	simple:
		for i < len(s) {
			switch s[i] {
			case '#':
				i++
				if c.id = ident(); c.id == "" {
					return nil, errors.New("empty #id")
				}
			case '.':
				i++
				cl := ident()
				if cl == "" {
					return nil, errors.New("empty .class")
				}
				c.classes = append(c.classes, cl)
			case '[':
				i++
				a := attrTest{name: strings.ToLower(ident())}
				if a.name == "" {
					return nil, errors.New("empty [attribute]")
				}
				if i < len(s) && s[i] != ']' {
					for _, op := range []string{"=", "~=", "^=", "$=", "*="} {
						if strings.HasPrefix(s[i:], op) {
							a.op = op
							i += len(op)
							break
						}
					}
					if a.op == "" {
						return nil, fmt.Errorf("unknown attribute operator at %d", i)
					}
					if i < len(s) && (s[i] == '"' || s[i] == '\'') {
						q := s[i]
						end := strings.IndexByte(s[i+1:], q)
						if end < 0 {
							return nil, errors.New("unterminated quoted value")
						}
						a.val = s[i+1 : i+1+end]
						i += end + 2
					} else {
						a.val = ident()
					}
				}
				if i >= len(s) || s[i] != ']' {
					return nil, errors.New("missing ]")
				}
				i++
				c.attrs = append(c.attrs, a)
			default:
				break simple
			}
		}
		if i == start {
			return nil, fmt.Errorf("unexpected %q at %d", s[i], i)
		}
		if len(sel.parts) > 0 {
			sel.child = append(sel.child, pendingChild)
		}
		sel.parts = append(sel.parts, c)
		// Combinator.
		j := i
		for i < len(s) && s[i] == ' ' {
			i++
		}
		pendingChild = false
		if i < len(s) && s[i] == '>' {
			pendingChild = true
			i++
			for i < len(s) && s[i] == ' ' {
				i++
			}
			if i >= len(s) {
				return nil, errors.New("a selector cannot end with >")
			}
		} else if i < len(s) && i == j {
			return nil, fmt.Errorf("unexpected %q at %d", s[i], i)
		}
	}
	return sel, nil
}

// rwNode is an element as selectors see it.
type rwNode struct {
	tag   string
	attrs []xhtml.Attribute
}

func (n *rwNode) attr(name string) (string, bool) {
	for _, a := range n.attrs {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

func (c *compound) matches(n *rwNode) bool {
	if c.tag != "" && c.tag != "*" && c.tag != n.tag {
		return false
	}
	if c.id != "" {
		if v, _ := n.attr("id"); v != c.id {
			return false
		}
	}
	if len(c.classes) > 0 {
		v, _ := n.attr("class")
		have := strings.Fields(v)
	next:
		for _, want := range c.classes {
			for _, h := range have {
				if h == want {
					continue next
				}
			}
			return false
		}
	}
	for _, a := range c.attrs {
		v, ok := n.attr(a.name)
		if !ok {
			return false
		}
		switch a.op {
		case "=":
			ok = v == a.val
		case "~=":
			ok = false
			for _, f := range strings.Fields(v) {
				ok = ok || f == a.val
			}
		case "^=":
			ok = a.val != "" && strings.HasPrefix(v, a.val)
		case "$=":
			ok = a.val != "" && strings.HasSuffix(v, a.val)
		case "*=":
			ok = a.val != "" && strings.Contains(v, a.val)
		}
		if !ok {
			return false
		}
	}
	return true
}

// match reports whether the element at the top of path (path[len-1])
// matches sel.
func (sel *selector) match(path []*rwNode) bool {
	return sel.matchAt(len(sel.parts)-1, path, len(path)-1)
}

func (sel *selector) matchAt(pi int, path []*rwNode, ni int) bool {
	if ni < 0 || !sel.parts[pi].matches(path[ni]) {
		return false
	}
	if pi == 0 {
		return true
	}
	if sel.child[pi-1] {
		return sel.matchAt(pi-1, path, ni-1)
	}
	for a := ni - 1; a >= 0; a-- {
		if sel.matchAt(pi-1, path, a) {
			return true
		}
	}
	return false
}

// rwElement is an element handed to an onElement handler: the start tag
// and what to insert around it.
type rwElement struct {
	node                *rwNode
	selfClosing, isVoid bool
	changed             bool
	// quotes are the attributes setAttribute asked to quote with '.
	quotes          map[string]bool
	before, prepend []string
	append, after   []string
	replaceChildren *string
	replaceWith     *string
	// handlerDone: the handlers ran; the element object is stale.
	handlerDone bool
}

// rwOpen is an open element on the rewriter's stack.
type rwOpen struct {
	node *rwNode
	el   *rwElement // nil when no handler touched it
	// skip: its children are not copied (replaceChildren/replaceWith).
	skip bool
}

// htmlRewriter is one stream's rewriter state.
type htmlRewriter struct {
	elemSel []([]*selector)
	textSel []([]*selector)
	// onElement and onText call the script's handlers.
	onElement func(rule int, el *rwElement)
	onText    func(rule int, text string) (string, bool)

	pending []byte
	stack   []*rwOpen
	rawTag  string
	out     bytes.Buffer
	// skipping counts open elements whose content is being dropped.
	skipping int
}

var voidElements = map[string]bool{"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true, "input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true}

var rawTextElements = map[string]bool{"script": true, "style": true, "textarea": true, "title": true, "xmp": true, "iframe": true, "noembed": true, "noframes": true, "plaintext": true}

// safeCut is how much of b can be tokenized now: up to the last "<" that
// may start a tag not finished within b.
func safeCut(b []byte) int {
	lt := bytes.LastIndexByte(b, '<')
	if lt < 0 {
		return len(b)
	}
	rest := b[lt:]
	gt := bytes.IndexByte(rest, '>')
	if gt < 0 {
		return lt
	}
	// A ">" inside a quoted attribute value does not end the tag.
	var q byte
	for _, c := range rest[:gt] {
		switch {
		case q == 0 && (c == '"' || c == '\''):
			q = c
		case q == c:
			q = 0
		}
	}
	if q != 0 {
		return lt
	}
	return len(b)
}

// Write rewrites the next chunk and returns the output ready so far.
func (r *htmlRewriter) Write(p []byte) []byte {
	r.pending = append(r.pending, p...)
	r.process(false)
	return r.take()
}

// Close rewrites what is held back and closes the open elements.
func (r *htmlRewriter) Close() []byte {
	r.process(true)
	for len(r.stack) > 0 {
		r.closeImplicit(r.pop())
	}
	return r.take()
}

// process tokenizes what can be: all of it when final. Inside a raw-text
// element (script, style, ...) the content is copied up to its end tag,
// which the tokenizer cannot find across chunks by itself.
func (r *htmlRewriter) process(final bool) {
	for len(r.pending) > 0 {
		if r.rawTag != "" {
			end := rawEnd(r.pending, r.rawTag, final)
			if end < 0 {
				n := len(r.pending)
				if !final {
					n -= len(r.rawTag) + 2 // maybe the start of its end tag
				}
				if n > 0 {
					r.emit(r.pending[:n])
					r.pending = append(r.pending[:0], r.pending[n:]...)
				}
				return
			}
			r.emit(r.pending[:end])
			r.pending = append(r.pending[:0], r.pending[end:]...)
			r.rawTag = ""
			continue
		}
		cut := len(r.pending)
		if !final {
			cut = safeCut(r.pending)
		}
		if cut == 0 {
			return
		}
		r.tokenize(r.pending[:cut])
		r.pending = append(r.pending[:0], r.pending[cut:]...)
		if r.rawTag == "" && !final {
			return
		}
	}
}

// rawEnd finds the end tag of a raw-text element, or -1.
func rawEnd(b []byte, tag string, final bool) int {
	lb := bytes.ToLower(b)
	needle := []byte("</" + tag)
	off := 0
	for {
		i := bytes.Index(lb[off:], needle)
		if i < 0 {
			return -1
		}
		i += off
		j := i + len(needle)
		if j == len(lb) {
			if final {
				return i
			}
			return -1
		}
		switch lb[j] {
		case ' ', '\t', '\n', '\f', '\r', '/', '>':
			return i
		}
		off = j
	}
}

func (r *htmlRewriter) take() []byte {
	b := bytes.Clone(r.out.Bytes())
	r.out.Reset()
	return b
}

func (r *htmlRewriter) emit(s []byte) {
	if r.skipping == 0 {
		r.out.Write(s)
	}
}

func (r *htmlRewriter) emitString(s string) {
	if r.skipping == 0 {
		r.out.WriteString(s)
	}
}

func (r *htmlRewriter) tokenize(b []byte) {
	if len(b) == 0 {
		return
	}
	z := xhtml.NewTokenizer(bytes.NewReader(b))
	used := 0
	for {
		tt := z.Next()
		if tt == xhtml.ErrorToken {
			// The tokenizer drops an unfinished tag at the end: copy it.
			if used < len(b) {
				r.emit(b[used:])
			}
			return
		}
		raw := z.Raw()
		used += len(raw)
		switch tt {
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			r.rawTag = ""
			name, hasAttr := z.TagName()
			n := &rwNode{tag: string(name)}
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				n.attrs = append(n.attrs, xhtml.Attribute{Key: string(k), Val: string(v)})
			}
			r.start(n, raw, tt == xhtml.SelfClosingTagToken)
			if rawTextElements[n.tag] && tt == xhtml.StartTagToken {
				r.rawTag = n.tag
			}
		case xhtml.EndTagToken:
			name, _ := z.TagName()
			r.rawTag = ""
			r.end(string(name), raw)
		case xhtml.TextToken:
			r.text(raw)
		default:
			r.emit(raw)
		}
	}
}

func (r *htmlRewriter) path(n *rwNode) []*rwNode {
	p := make([]*rwNode, 0, len(r.stack)+1)
	for _, o := range r.stack {
		p = append(p, o.node)
	}
	return append(p, n)
}

func matchAny(sels []*selector, path []*rwNode) bool {
	for _, s := range sels {
		if s.match(path) {
			return true
		}
	}
	return false
}

// impliedEnd reports whether a start tag of next ends an open open
// element (HTML's optional end tags: <li> after <li>, block elements
// after <p>, ...).
func impliedEnd(open, next string) bool {
	switch open {
	case "p":
		return pClosers[next]
	case "li":
		return next == "li"
	case "dt", "dd":
		return next == "dt" || next == "dd"
	case "option":
		return next == "option" || next == "optgroup"
	case "tr":
		return next == "tr"
	case "td", "th":
		return next == "td" || next == "th" || next == "tr"
	}
	return false
}

var pClosers = map[string]bool{"address": true, "article": true, "aside": true, "blockquote": true, "div": true, "dl": true, "fieldset": true, "footer": true, "form": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true, "header": true, "hr": true, "main": true, "nav": true, "ol": true, "p": true, "pre": true, "section": true, "table": true, "ul": true}

func (r *htmlRewriter) start(n *rwNode, raw []byte, selfClosing bool) {
	for len(r.stack) > 0 && impliedEnd(r.stack[len(r.stack)-1].node.tag, n.tag) {
		r.closeImplicit(r.pop())
	}
	isVoid := voidElements[n.tag]
	var el *rwElement
	if r.skipping == 0 && len(r.elemSel) > 0 {
		path := r.path(n)
		for i, sels := range r.elemSel {
			if matchAny(sels, path) {
				if el == nil {
					el = &rwElement{node: n, selfClosing: selfClosing, isVoid: isVoid}
				}
				r.onElement(i, el)
			}
		}
	}
	if el == nil {
		r.emit(raw)
		if !isVoid && !selfClosing {
			r.stack = append(r.stack, &rwOpen{node: n})
		}
		return
	}
	el.handlerDone = true
	for _, s := range el.before {
		r.emitString(s)
	}
	open := &rwOpen{node: n, el: el}
	switch {
	case el.replaceWith != nil:
		r.emitString(*el.replaceWith)
		open.skip = true
	default:
		if el.changed {
			r.emitString(startTag(n, el.quotes, selfClosing))
		} else {
			r.emit(raw)
		}
		if isVoid || selfClosing {
			for _, s := range el.after {
				r.emitString(s)
			}
			return
		}
		for _, s := range el.prepend {
			r.emitString(s)
		}
		if el.replaceChildren != nil {
			r.emitString(*el.replaceChildren)
			open.skip = true
		}
	}
	r.stack = append(r.stack, open)
	if open.skip {
		r.skipping++
	}
}

// pop closes the innermost open element (its end tag, explicit or
// implied, has been reached).
func (r *htmlRewriter) pop() *rwOpen {
	o := r.stack[len(r.stack)-1]
	r.stack = r.stack[:len(r.stack)-1]
	if o.skip {
		r.skipping--
	}
	return o
}

func (r *htmlRewriter) end(name string, raw []byte) {
	idx := -1
	for i := len(r.stack) - 1; i >= 0; i-- {
		if r.stack[i].node.tag == name {
			idx = i
			break
		}
	}
	if idx < 0 {
		r.emit(raw) // a stray end tag: copied as is
		return
	}
	for len(r.stack) > idx+1 {
		r.closeImplicit(r.pop())
	}
	o := r.pop()
	el := o.el
	if el != nil && el.replaceWith != nil {
		for _, s := range el.after {
			r.emitString(s)
		}
		return
	}
	if el != nil {
		for _, s := range el.append {
			r.emitString(s)
		}
	}
	r.emit(raw)
	if el != nil {
		for _, s := range el.after {
			r.emitString(s)
		}
	}
}

// closeImplicit ends an element whose end tag was left out (such as a
// <p> or <li>): what goes at its end is inserted where it ends.
func (r *htmlRewriter) closeImplicit(o *rwOpen) {
	if o.el == nil || o.el.replaceWith != nil {
		return
	}
	for _, s := range o.el.append {
		r.emitString(s)
	}
	for _, s := range o.el.after {
		r.emitString(s)
	}
}

func (r *htmlRewriter) text(raw []byte) {
	if r.skipping > 0 || len(r.textSel) == 0 || len(r.stack) == 0 || len(raw) == 0 {
		r.emit(raw)
		return
	}
	path := r.path(nil)[:len(r.stack)]
	s := string(raw)
	for i, sels := range r.textSel {
		if matchAny(sels, path) {
			var keep bool
			if s, keep = r.onText(i, s); !keep {
				return
			}
		}
	}
	r.emitString(s)
}

// attrEscape escapes an attribute value for the given quote: "&" and
// the quote itself, so a value can never end the tag early.
func attrEscape(v string, quote byte) string {
	v = strings.ReplaceAll(v, "&", "&amp;")
	if quote == '\'' {
		return strings.ReplaceAll(v, "'", "&#39;")
	}
	return strings.ReplaceAll(v, `"`, "&quot;")
}

// startTag serializes a changed start tag.
func startTag(n *rwNode, quotes map[string]bool, selfClosing bool) string {
	var b strings.Builder
	b.WriteByte('<')
	b.WriteString(n.tag)
	for _, a := range n.attrs {
		b.WriteByte(' ')
		b.WriteString(a.Key)
		b.WriteByte('=')
		quote := byte('"')
		if quotes[a.Key] {
			quote = '\''
		}
		b.WriteByte(quote)
		b.WriteString(attrEscape(a.Val, quote))
		b.WriteByte(quote)
	}
	if selfClosing {
		b.WriteString(" /")
	}
	b.WriteByte('>')
	return b.String()
}

func lower(s string) string { return strings.ToLower(s) }

func attrOf(k, v string) xhtml.Attribute { return xhtml.Attribute{Key: k, Val: v} }

// validAttrName refuses names that would break the tag.
func validAttrName(s string) bool {
	return !strings.ContainsAny(s, " \t\n\f\r/>\"'=<\x00")
}
