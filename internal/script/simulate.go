package script

import (
	"context"
	"errors"
	"io"
	"net/http"
)

// Origin is the origin response a simulation uses for the origin-side
// handlers (`edgegate worker test --response-status ...`).
type Origin struct {
	Status int
	Header http.Header
	Body   []byte
}

// Trace is what a simulated request went through: every handler's
// result, the request as the origin would see it and the response the
// client would get.
type Trace struct {
	Results []*Result
	// Request is the request after the request-side handlers (headers,
	// variables, route(), cacheKey).
	Request *Request
	// OriginHeader is the header sent to the origin (after
	// onOriginRequest); nil when no origin was contacted.
	OriginHeader http.Header
	Status       int
	Header       http.Header
	Body         []byte
	// Source says who produced the response: "origin",
	// "respondWith(onClientRequest)", "responseProvider", "failure(...)".
	Source string
}

// Failed reports whether any handler failed.
func (t *Trace) Failed() bool {
	for _, r := range t.Results {
		if r.Failed() {
			return true
		}
	}
	return false
}

// Simulate runs a request through the handlers the way the gateway's
// pipeline does on a cache miss, with origin standing in for the origin
// server. only restricts the run to one handler (NumHandlers: all). req
// is changed in place. A failing handler ends the request with a 500 as
// a route without continue_on_error does; a failing responseProvider
// falls back to the origin.
func (w *Worker) Simulate(ctx context.Context, req *Request, origin Origin, only Handler) *Trace {
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if req.Vars == nil {
		req.Vars = NewVariables(w.opts.Tier.Variables)
	}
	if origin.Status == 0 {
		origin.Status = http.StatusOK
	}
	if origin.Header == nil {
		origin.Header = http.Header{}
	}
	tr := &Trace{Request: req}
	runs := func(h Handler) bool { return (only == NumHandlers || only == h) && w.Has(h) }
	exec := func(h Handler, r *Request, resp *Response) *Result {
		res := w.Run(ctx, h, r, resp)
		tr.Results = append(tr.Results, res)
		return res
	}
	fail := func(res *Result) *Trace {
		tr.Status, tr.Header = http.StatusInternalServerError, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
		tr.Body = []byte("edge script failed\n")
		tr.Source = "failure(" + res.Handler.String() + ")"
		return tr
	}
	reply := func(rep *Reply, src string) {
		tr.Status, tr.Header, tr.Body, tr.Source = rep.Status, rep.Header.Clone(), rep.Body, src
	}
	if runs(OnClientRequest) {
		res := exec(OnClientRequest, req, nil)
		if res.Failed() {
			return fail(res)
		}
		if req.Reply != nil {
			// Akamai answers at once: no origin and no onClientResponse.
			reply(req.Reply, "respondWith(onClientRequest)")
			return tr
		}
	}
	provided := false
	if runs(ResponseProvider) {
		preq := *req
		res := exec(ResponseProvider, &preq, nil)
		if res.Status == StatusSuccess && res.Provided != nil {
			reply(res.Provided, "responseProvider")
			provided = true
			if st := res.Provided.Stream; st != nil {
				// Drain the body stream as the gateway would send it; a
				// failure mid-stream truncates it.
				var body []byte
				for {
					chunk, err := st.Next(ctx)
					if err != nil {
						if !errors.Is(err, io.EOF) {
							res.Status, res.Err = st.Status(), err
							tr.Source = "responseProvider (stream failed: body truncated)"
						}
						break
					}
					body = append(body, chunk...)
				}
				st.Close()
				tr.Body = body
			}
		}
	}
	if !provided {
		answered := false
		oreq := *req
		oreq.Header = req.Header.Clone()
		oreq.Reply = nil
		if runs(OnOriginRequest) {
			res := exec(OnOriginRequest, &oreq, nil)
			switch {
			case res.Failed():
				return fail(res)
			case oreq.Reply != nil:
				reply(oreq.Reply, "respondWith(onOriginRequest)")
				answered = true
			}
		}
		if !answered {
			tr.OriginHeader = oreq.Header
			resp := &Response{Status: origin.Status, Header: origin.Header.Clone()}
			tr.Status, tr.Header, tr.Body, tr.Source = resp.Status, resp.Header, origin.Body, "origin"
			if runs(OnOriginResponse) {
				rreq := *req
				rreq.Reply = nil
				res := exec(OnOriginResponse, &rreq, resp)
				switch {
				case res.Failed():
					return fail(res)
				case rreq.Reply != nil:
					reply(rreq.Reply, "respondWith(onOriginResponse)")
				default:
					tr.Status = resp.Status
				}
			}
		}
	}
	if runs(OnClientResponse) {
		resp := &Response{Status: tr.Status, Header: tr.Header}
		creq := *req
		creq.Reply = nil
		res := exec(OnClientResponse, &creq, resp)
		switch {
		case res.Failed():
			return fail(res)
		case creq.Reply != nil:
			reply(creq.Reply, "respondWith(onClientResponse)")
		default:
			tr.Status = resp.Status
		}
	}
	return tr
}

// HandlerByName returns the handler with the exported name.
func HandlerByName(name string) (Handler, bool) {
	for h := range NumHandlers {
		if handlerNames[h] == name {
			return h, true
		}
	}
	return 0, false
}
