package audit

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"
)

// unsynced reports whether the trail's file holds writes not yet fsynced.
func unsynced(tr *Trail) bool {
	tr.file.mu.Lock()
	defer tr.file.mu.Unlock()
	return tr.file.dirty
}

// TestDurability checks when each durability fsyncs the file: "fsync"
// before Record returns; "write" not before Record returns (the record is
// in the file, the fsync waits) but every SyncInterval and at Close.
func TestDurability(t *testing.T) {
	tests := []struct {
		name          string
		durability    Durability
		interval      time.Duration
		wantUnsynced  bool // right after Record returns
		wantSyncedBy  time.Duration
		wantByClosing bool
	}{
		{name: "default is fsync", wantUnsynced: false},
		{name: "fsync", durability: DurabilityFsync, wantUnsynced: false},
		{name: "write, synced on the interval", durability: DurabilityWrite, interval: 20 * time.Millisecond,
			wantUnsynced: true, wantSyncedBy: 10 * time.Second},
		{name: "write, synced at close", durability: DurabilityWrite, interval: time.Hour,
			wantUnsynced: true, wantByClosing: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a.jsonl")
			tr := mustOpen(t, Options{Sinks: []SinkOptions{{Type: SinkFile, Path: path}}, CheckpointEvery: 0,
				Durability: tt.durability, SyncInterval: tt.interval})
			closed := false
			defer func() {
				if !closed {
					tr.Close()
				}
			}()
			e := event(1)
			if err := tr.Record(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			// Acknowledged means written to the file, whatever the mode.
			if !bytes.Contains(mustRead(t, path), []byte(`"request_id":"req-1"`)) {
				t.Fatal("Record returned before the record was written to the file")
			}
			// A write with an hour-long interval cannot have been synced
			// yet; with 20ms it may already be, which is fine.
			if got := unsynced(tr); got != tt.wantUnsynced && !(got == false && tt.interval < time.Second) {
				t.Errorf("unsynced after Record = %v, want %v", got, tt.wantUnsynced)
			}
			if tt.wantSyncedBy > 0 {
				waitFor(t, "the periodic fsync", func() bool { return !unsynced(tr) })
			}
			if tt.wantByClosing {
				if !unsynced(tr) {
					t.Fatal("synced before the interval and before Close")
				}
				if err := tr.Close(); err != nil {
					t.Fatal(err)
				}
				closed = true
				if tr.file.dirty {
					t.Error("Close left the file unsynced")
				}
			}
			if !closed {
				if err := tr.Close(); err != nil {
					t.Fatal(err)
				}
				closed = true
			}
			if rep := verifyFiles(t, []string{path}, nil); !rep.OK() {
				t.Errorf("trail does not verify: %v", rep.Problems)
			}
		})
	}
}

// TestWriteDurabilitySyncsBeforeRotating: under "write" a file is fsynced
// before the next one starts, so a machine crash can only lose the newest
// records, never a stretch in the middle of the chain.
func TestWriteDurabilitySyncsBeforeRotating(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.jsonl")
	fs, _, err := openFileSink(path, 0, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.close()
	first := Record{Seq: 1, Event: event(1)}
	buf, err := encodeRecord(nil, &first)
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.write(context.Background(), buf, 1, 1, 1); err != nil {
		t.Fatal(err)
	}
	if !fs.dirty {
		t.Fatal("a write under \"write\" durability was fsynced at once")
	}
	second := Record{Seq: 2, Prev: first.Hash, File: 2, Event: event(2)}
	if buf, err = encodeRecord(nil, &second); err != nil {
		t.Fatal(err)
	}
	// The sink rotates when it meets the record that opens file 2; the
	// new file is written (dirty again) after the old one was synced, so
	// look at the rotation alone.
	fs.mu.Lock()
	err = fs.rotateLocked(2)
	dirty := fs.dirty
	fs.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if dirty {
		t.Error("the old file was not fsynced before the rotation")
	}
	if err := fs.write(context.Background(), buf, 1, 2, 2); err != nil {
		t.Fatal(err)
	}
	if rep := verifyFiles(t, []string{path + ".1", path}, nil); !rep.OK() {
		t.Errorf("rotated trail does not verify: %v", rep.Problems)
	}
}
