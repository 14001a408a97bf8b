package script

import (
	"context"
	"testing"
	"time"
)

// TestWatchdogShorterLimitAfterLongerOne runs a handler with a long limit
// (responseProvider: 10 s here) and then, on the same instance, one with
// a short limit (onClientRequest: 20 ms) that loops forever. The
// watchdog's timer is still scheduled for the long limit: it must be
// brought forward, or the loop would run for 10 s.
func TestWatchdogShorterLimitAfterLongerOne(t *testing.T) {
	files := map[string][]byte{"bundle.json": []byte(`{"edgeworker-version":"1.0"}`), "main.js": []byte(`
import { createResponse } from 'create-response';
export function responseProvider(request) { return createResponse(200, {}, 'ok'); }
export function onClientRequest(request) { if (request.path === '/loop') for (;;) {} }
`)}
	b, err := LoadFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	tier, _ := TierByName("dynamic")
	tier.Provider.CPU, tier.Provider.Wall = 10*time.Second, 10*time.Second
	tier.Handler.CPU = 20 * time.Millisecond
	w, err := NewWorker(b, nil, Options{Tier: tier, MaxIdle: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Let the timer armed by the initialization fire and go idle, so the
	// responseProvider arms it for 10 s.
	time.Sleep(100 * time.Millisecond)
	for i := range 3 {
		if res := w.Run(ctx, ResponseProvider, newReq(), nil); res.Status != StatusSuccess {
			t.Fatalf("responseProvider %d: %s %v", i, res.Status, res.Err)
		}
	}
	req := newReq()
	req.Path = "/loop"
	start := time.Now()
	res := w.Run(ctx, OnClientRequest, req, nil)
	if res.Status != StatusCPUTimeout {
		t.Fatalf("status %s (%v), want %s", res.Status, res.Err, StatusCPUTimeout)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the loop ran %v: the 20 ms limit was not brought forward from the 10 s one", took)
	}
	if n := w.Instances(); n != 1 {
		t.Errorf("instances = %d, want the one instance reused until it failed", n)
	}
	// The failed instance is discarded; the next call gets a fresh one that
	// is not left interrupted.
	for i := range 3 {
		if res := w.Run(ctx, OnClientRequest, newReq(), nil); res.Status != StatusSuccess {
			t.Fatalf("after the failure, call %d: %s %v", i, res.Status, res.Err)
		}
	}
}

// TestWatchdogManyCallsThenLoop checks that the timer shared by many
// quick calls (armed once, not per call) still stops a later loop, also
// after it went idle.
func TestWatchdogManyCallsThenLoop(t *testing.T) {
	w := worker(t, "dynamic", mainJS(`export function onClientRequest(request) { if (request.path === '/loop') for (;;) {} }`))
	ctx := context.Background()
	for i := range 2000 {
		if res := w.Run(ctx, OnClientRequest, newReq(), nil); res.Status != StatusSuccess {
			t.Fatalf("call %d: %s %v", i, res.Status, res.Err)
		}
	}
	// Long enough for the timer to fire with no call running and go idle.
	time.Sleep(100 * time.Millisecond)
	for i := range 2 {
		req := newReq()
		req.Path = "/loop"
		res := w.Run(ctx, OnClientRequest, req, nil)
		if res.Status != StatusCPUTimeout {
			t.Fatalf("loop %d: status %s (%v), want %s", i, res.Status, res.Err, StatusCPUTimeout)
		}
	}
}
