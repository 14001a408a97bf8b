package script

import (
	"strconv"

	"github.com/dop251/goja"
)

// htmlRewriterHost makes the Go side of one HtmlRewritingStream:
// host.htmlRewriter(elementRules, textRules) with rules as [selector,
// handler] pairs; it returns {write(string) → string, close() → string}.
func (inst *instance) htmlRewriterHost(fc goja.FunctionCall) goja.Value {
	vm := inst.vm
	rules := func(v goja.Value) (sels [][]*selector, fns []goja.Callable) {
		obj, ok := v.(*goja.Object)
		if !ok {
			return nil, nil
		}
		n := int(obj.Get("length").ToInteger())
		for i := range n {
			pair := obj.Get(strconv.Itoa(i)).ToObject(vm)
			s, err := parseSelectors(pair.Get("0").String())
			if err != nil {
				inst.throw("html-rewriter: %v", err)
			}
			fn, ok := goja.AssertFunction(pair.Get("1"))
			if !ok {
				inst.throw("html-rewriter: the handler must be a function")
			}
			sels = append(sels, s)
			fns = append(fns, fn)
		}
		return sels, fns
	}
	rw := &htmlRewriter{}
	var elFns, textFns []goja.Callable
	rw.elemSel, elFns = rules(fc.Argument(0))
	rw.textSel, textFns = rules(fc.Argument(1))
	rw.onElement = func(rule int, el *rwElement) {
		if _, err := elFns[rule](goja.Undefined(), inst.elementObject(el)); err != nil {
			panic(err) // the script's exception, rethrown to the script
		}
	}
	rw.onText = func(rule int, text string) (string, bool) {
		keep, done := true, false
		o := vm.NewObject()
		_ = o.DefineAccessorProperty("text", vm.ToValue(func(goja.FunctionCall) goja.Value { return vm.ToValue(text) }), nil, goja.FLAG_FALSE, goja.FLAG_TRUE)
		_ = o.Set("replace", func(c goja.FunctionCall) goja.Value {
			if done {
				inst.throw("html-rewriter: the text chunk is only usable in its handler")
			}
			text = c.Argument(0).String()
			return goja.Undefined()
		})
		_ = o.Set("remove", func(goja.FunctionCall) goja.Value {
			if done {
				inst.throw("html-rewriter: the text chunk is only usable in its handler")
			}
			keep = false
			return goja.Undefined()
		})
		_, err := textFns[rule](goja.Undefined(), o)
		done = true
		if err != nil {
			panic(err)
		}
		return text, keep
	}
	out := vm.NewObject()
	_ = out.Set("write", func(c goja.FunctionCall) goja.Value {
		b := rw.Write([]byte(c.Argument(0).String()))
		inst.charge(inst.cur, int64(len(b)))
		return vm.ToValue(string(b))
	})
	_ = out.Set("close", func(goja.FunctionCall) goja.Value {
		b := rw.Close()
		inst.charge(inst.cur, int64(len(b)))
		return vm.ToValue(string(b))
	})
	return out
}

// elementObject is the element an onElement handler gets; it throws once
// its handler has returned.
func (inst *instance) elementObject(el *rwElement) *goja.Object {
	vm := inst.vm
	o := vm.NewObject()
	str := func(v goja.Value) string {
		if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
			return ""
		}
		return v.String()
	}
	_ = o.DefineAccessorProperty("tagName", vm.ToValue(func(goja.FunctionCall) goja.Value { return vm.ToValue(el.node.tag) }), nil, goja.FLAG_FALSE, goja.FLAG_TRUE)
	set := func(name string, fn func(c goja.FunctionCall) goja.Value) {
		_ = o.Set(name, func(c goja.FunctionCall) goja.Value {
			if el.handlerDone {
				inst.throw("html-rewriter: the element is only usable in its handler")
			}
			return fn(c)
		})
	}
	set("getAttribute", func(c goja.FunctionCall) goja.Value {
		if v, ok := el.node.attr(lower(str(c.Argument(0)))); ok {
			return vm.ToValue(v)
		}
		return goja.Null()
	})
	set("hasAttribute", func(c goja.FunctionCall) goja.Value {
		_, ok := el.node.attr(lower(str(c.Argument(0))))
		return vm.ToValue(ok)
	})
	set("setAttribute", func(c goja.FunctionCall) goja.Value {
		name := lower(str(c.Argument(0)))
		if name == "" || !validAttrName(name) {
			inst.throw("html-rewriter: setAttribute: invalid attribute name %q", name)
		}
		val := str(c.Argument(1))
		if opts, ok := c.Argument(2).(*goja.Object); ok {
			if q := opts.Get("quote"); q != nil && q.String() == "'" {
				if el.quotes == nil {
					el.quotes = map[string]bool{}
				}
				el.quotes[name] = true
			}
		}
		el.changed = true
		for i := range el.node.attrs {
			if el.node.attrs[i].Key == name {
				el.node.attrs[i].Val = val
				return goja.Undefined()
			}
		}
		el.node.attrs = append(el.node.attrs, attrOf(name, val))
		return goja.Undefined()
	})
	set("removeAttribute", func(c goja.FunctionCall) goja.Value {
		name := lower(str(c.Argument(0)))
		for i := range el.node.attrs {
			if el.node.attrs[i].Key == name {
				el.node.attrs = append(el.node.attrs[:i], el.node.attrs[i+1:]...)
				el.changed = true
				break
			}
		}
		return goja.Undefined()
	})
	add := func(name string, list *[]string) {
		set(name, func(c goja.FunctionCall) goja.Value {
			*list = append(*list, str(c.Argument(0)))
			return goja.Undefined()
		})
	}
	add("before", &el.before)
	add("prepend", &el.prepend)
	add("append", &el.append)
	add("after", &el.after)
	set("replaceChildren", func(c goja.FunctionCall) goja.Value {
		s := str(c.Argument(0))
		el.replaceChildren = &s
		return goja.Undefined()
	})
	set("replaceWith", func(c goja.FunctionCall) goja.Value {
		s := str(c.Argument(0))
		el.replaceWith = &s
		return goja.Undefined()
	})
	set("remove", func(goja.FunctionCall) goja.Value {
		s := ""
		el.replaceWith = &s
		return goja.Undefined()
	})
	return o
}
