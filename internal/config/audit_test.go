package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestValidateAudit(t *testing.T) {
	a := func(body string) string { return base + "audit:\n" + body } // audit body from line 6
	runErrCases(t, []errCase{
		{"policy", a("  policy: maybe\n"), `audit.policy: unknown policy "maybe"; allowed: fail_closed, fail_open`, "6:11"},
		{"type missing", a("  sinks: [{path: a.jsonl}]\n"), "audit.sinks[0].type: required: file, stdout or http", "6:11"},
		{"type unknown", a("  sinks: [{type: kafka}]\n"), `audit.sinks[0].type: unknown sink type "kafka"`, "6:18"},
		{"file path missing", a("  sinks: [{type: file}]\n"), "audit.sinks[0].path: required", "6:11"},
		{"file dir missing", a("  sinks: [{type: file, path: nope/a.jsonl}]\n"), `audit.sinks[0].path: the directory "testdata/nope" does not exist`, "6:30"},
		{"two files", a("  sinks: [{type: file, path: a.jsonl}, {name: b, type: file, path: b.jsonl}]\n"), "audit.sinks[1].type: only one file sink is allowed (also audit.sinks[0])", "6:56"},
		{"duplicate name", a("  sinks: [{type: stdout}, {name: stdout, type: file, path: a.jsonl}]\n"), `audit.sinks[1].name: sink name "stdout" is already used by audit.sinks[0]`, "6:34"},
		{"bad name", a("  sinks: [{name: \"a b\", type: stdout}]\n"), "audit.sinks[0].name:", "6:18"},
		{"url on file", a("  sinks: [{type: file, path: a.jsonl, url: \"http://c\"}]\n"), `audit.sinks[0].url: only for http sinks; this sink is "file"`, "6:44"},
		{"path on http", a("  spool: {dir: sp}\n  sinks: [{type: http, url: \"http://c\", path: x}]\n"), `audit.sinks[0].path: only for file sinks`, "7:47"},
		{"http url missing", a("  spool: {dir: sp}\n  sinks: [{type: http}]\n"), "audit.sinks[0].url: required", "7:11"},
		{"http url scheme", a("  spool: {dir: sp}\n  sinks: [{type: http, url: \"ftp://c/x\"}]\n"), `audit.sinks[0].url: invalid collector URL "ftp://c/x"`, "7:29"},
		{"http url relative", a("  spool: {dir: sp}\n  sinks: [{type: http, url: \"/collect\"}]\n"), `invalid collector URL "/collect"`, "7:29"},
		{"http url userinfo", a("  spool: {dir: sp}\n  sinks: [{type: http, url: \"https://u:pw@c/x\"}]\n"), "audit.sinks[0].url: the URL carries credentials", "7:29"},
		{"http no spool", a("  sinks: [{type: http, url: \"http://c/x\"}]\n"), "audit.sinks[0]: an http sink needs audit.spool.dir", "6:11"},
		{"batch size", a("  spool: {dir: sp}\n  sinks: [{type: http, url: \"http://c\", batch_size: 0}]\n"), "audit.sinks[0].batch_size: must be from 1 to 10000, got 0", "7:53"},
		{"timeout", a("  spool: {dir: sp}\n  sinks: [{type: http, url: \"http://c\", timeout: 0s}]\n"), `audit.sinks[0].timeout: must be greater than 0`, "7:50"},
		{"header", a("  spool: {dir: sp}\n  sinks: [{type: http, url: \"http://c\", headers: {\"X_A\": b}}]\n"), `audit.sinks[0].headers.set.X_A`, "7:41"},
		{"rotate size", a("  sinks: [{type: file, path: a.jsonl, rotate_size: 0}]\n"), "audit.sinks[0].rotate_size: must be greater than 0", "6:52"},
		{"rotate every", a("  sinks: [{type: file, path: a.jsonl, rotate_every: -1h}]\n"), "audit.sinks[0].rotate_every: must not be negative", "6:53"},
		{"spool dir missing", a("  spool: {max_bytes: 1MiB}\n"), "audit.spool.dir: required", "6:3"},
		{"spool parent", a("  spool: {dir: nope/sp}\n"), `audit.spool.dir: the directory "testdata/nope" does not exist`, "6:16"},
		{"checkpoint every", a("  checkpoint: {every: -1}\n"), "audit.checkpoint.every: must be from 0 to 1000000, got -1", "6:23"},
		{"checkpoint interval", a("  checkpoint: {interval: 1}\n"), `audit.checkpoint.interval: invalid duration "1"`, "6:26"},
		{"durability", a("  durability: always\n"), `audit.durability: unknown durability "always"; allowed: fsync, write`, "6:15"},
		{"sync interval zero", a("  sync_interval: 0s\n"), `audit.sync_interval: must be greater than 0, got "0s"`, "6:18"},
		{"sync interval with fsync", a("  durability: fsync\n  sync_interval: 1s\n"), `audit.sync_interval: only with durability "write"`, "7:18"},
	})
}

func TestAuditDefaults(t *testing.T) {
	cfg, err := LoadBytes(testFile, []byte(base+"audit:\n  sinks: [{type: file, path: a.jsonl}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Audit{
		Sinks:              []AuditSink{{Name: "file", Type: "file", Path: "testdata/a.jsonl", RotateBytes: 100 << 20, RotateEvery: 24 * time.Hour}},
		Policy:             "fail_closed",
		Durability:         "write",
		SyncInterval:       time.Second,
		SpoolMaxBytes:      1 << 30,
		CheckpointEvery:    1000,
		CheckpointInterval: time.Minute,
	}
	if diff := cmp.Diff(want, cfg.Audit); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if !cfg.Audit.Enabled() {
		t.Error("Enabled() = false with a sink")
	}
	off, err := LoadBytes(testFile, []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if off.Audit.Enabled() {
		t.Error("Enabled() = true without sinks")
	}
}
