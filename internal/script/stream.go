package script

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/dop251/goja"
)

// BodyStream is the body of a streamed createResponse: each Next runs the
// script's stream on the engine instance that made it (still under the
// responseProvider's CPU and wall limits) until it yields a chunk. The
// instance stays checked out until Close.
type BodyStream struct {
	inst   *instance
	c      *call
	reader *goja.Object
	start  time.Time
	done   bool
	err    error
	status string
	closed bool
}

// ErrStreamFailed wraps a failure of the script mid-stream: the header is
// already sent, so the response can only be cut short.
var ErrStreamFailed = errors.New("edge script stream failed")

// Next returns the next chunk, io.EOF at the end, or an error wrapping
// ErrStreamFailed (the script threw, or a limit stopped it).
func (s *BodyStream) Next(ctx context.Context) ([]byte, error) {
	if s.done {
		if s.err != nil {
			return nil, s.err
		}
		return nil, io.EOF
	}
	inst, c := s.inst, s.c
	inst.cur = c
	defer func() { inst.cur = nil }()
	if ctx != nil {
		c.ctx = ctx
	}
	var p goja.Value
	err := inst.guard(func() error {
		read, ok := goja.AssertFunction(s.reader.Get("read"))
		if !ok {
			return scriptError("the body stream's reader has no read()")
		}
		var err error
		p, err = read(s.reader)
		return err
	})
	var v goja.Value
	if err == nil {
		v, err = inst.await(c, p)
	}
	var chunk []byte
	if err == nil {
		err = inst.guard(func() error {
			obj, ok := v.(*goja.Object)
			if !ok {
				return scriptError("the body stream's read() did not give {value, done}")
			}
			if obj.Get("done").ToBoolean() {
				s.done = true
				return nil
			}
			val := obj.Get("value")
			if s, ok := val.Export().(string); ok {
				chunk = []byte(s)
				return nil
			}
			var rerr error
			func() {
				defer func() {
					if r := recover(); r != nil {
						rerr = scriptError("TypeError: a body stream chunk must be a Uint8Array or a string")
					}
				}()
				chunk = append([]byte(nil), inst.bytesOf(val)...)
			}()
			return rerr
		})
	}
	if err != nil {
		status, msg := inst.classify(err)
		s.done, s.status = true, status
		s.err = &streamError{status: status, msg: msg}
		return nil, s.err
	}
	if s.done {
		return nil, io.EOF
	}
	return chunk, nil
}

type streamError struct{ status, msg string }

func (e *streamError) Error() string { return e.status + ": " + e.msg }
func (e *streamError) Unwrap() error { return ErrStreamFailed }

// Status is the stream's end status so far: success, or the status name
// of its failure.
func (s *BodyStream) Status() string {
	if s.status == "" {
		return StatusSuccess
	}
	return s.status
}

// Close ends the stream (cancelling what the script did not deliver) and
// releases the engine instance: back to the pool unless it failed.
func (s *BodyStream) Close() {
	if s.closed {
		return
	}
	s.closed = true
	inst := s.inst
	if !s.done || s.c.pending > 0 {
		// Not read to the end (the client left): the script's promises
		// would land in a later request; discard the instance.
		inst.broken = true
	}
	inst.w.put(inst)
}
