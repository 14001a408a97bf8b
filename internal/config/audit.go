package config

import (
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Audit is the validated audit trail configuration. It is off when Sinks
// is empty.
type Audit struct {
	Sinks []AuditSink
	// Policy is "fail_closed" or "fail_open".
	Policy string
	// Durability is "fsync" or "write"; SyncInterval is how often the file
	// is fsynced under "write".
	Durability   string
	SyncInterval time.Duration
	// SpoolDir is "" when no spool is configured.
	SpoolDir      string
	SpoolMaxBytes int64
	// CheckpointEvery (records) and CheckpointInterval: 0 turns a trigger off.
	CheckpointEvery    int
	CheckpointInterval time.Duration
}

// Enabled reports whether the trail is configured.
func (a Audit) Enabled() bool { return len(a.Sinks) > 0 }

// AuditSink is one validated sink.
type AuditSink struct {
	Name string
	// Type is "file", "stdout" or "http".
	Type string
	// File sinks.
	Path        string
	RotateBytes int64
	RotateEvery time.Duration
	// HTTP sinks.
	URL       string
	Headers   []Header
	BatchSize int
	Timeout   time.Duration
}

func (v *validator) audit(raw *RawConfig) Audit {
	r := raw.Audit
	a := Audit{
		Policy:             str(r.Policy, DefaultAuditPolicy),
		Durability:         str(r.Durability, DefaultAuditDurability),
		SpoolMaxBytes:      DefaultAuditSpoolMaxBytes,
		CheckpointEvery:    DefaultAuditCheckpointEvery,
		CheckpointInterval: DefaultAuditCheckpointInterval,
	}
	if a.Policy != "fail_closed" && a.Policy != "fail_open" {
		v.errorf("audit.policy", "unknown policy %q; allowed: fail_closed, fail_open", a.Policy)
	}
	switch a.Durability {
	case "write":
		a.SyncInterval = v.duration("audit.sync_interval", r.SyncInterval, DefaultAuditSyncInterval, positive)
	case "fsync":
		if r.SyncInterval != nil {
			v.errorf("audit.sync_interval", "only with durability \"write\" (under \"fsync\" every group is fsynced)")
		}
	default:
		v.errorf("audit.durability", "unknown durability %q; allowed: fsync, write", a.Durability)
	}
	if r.Spool != nil {
		if r.Spool.Dir == nil {
			v.errorf("audit.spool.dir", "required: the directory records wait in while a sink is down")
		} else if *r.Spool.Dir == "" {
			v.errorf("audit.spool.dir", "must not be empty")
		} else {
			a.SpoolDir = v.resolve(*r.Spool.Dir)
			v.parentDir("audit.spool.dir", a.SpoolDir)
		}
		a.SpoolMaxBytes = v.size("audit.spool.max_bytes", r.Spool.MaxBytes, DefaultAuditSpoolMaxBytes)
	}
	if c := r.Checkpoint; c != nil {
		a.CheckpointEvery = v.intIn("audit.checkpoint.every", c.Every, DefaultAuditCheckpointEvery, 0, 1_000_000)
		a.CheckpointInterval = v.duration("audit.checkpoint.interval", c.Interval, DefaultAuditCheckpointInterval, nonNegative)
	}
	names := map[string]string{}
	types := map[string]string{}
	for i, rs := range r.Sinks {
		sp := idx("audit.sinks", i)
		s := AuditSink{}
		if rs.Type == nil {
			v.errorf(sp+".type", "required: file, stdout or http")
		} else {
			s.Type = *rs.Type
		}
		s.Name = str(rs.Name, s.Type)
		if rs.Name != nil {
			if err := checkName(s.Name); err != nil {
				v.errorf(sp+".name", "%v", err)
			}
		}
		if first, dup := names[s.Name]; dup && s.Name != "" {
			v.errorf(sp+".name", "sink name %q is already used by %s; give each sink its own name", s.Name, first)
		} else {
			names[s.Name] = sp
		}
		only := func(field string, set bool, typ string) {
			if set && s.Type != typ {
				v.errorf(sp+"."+field, "only for %s sinks; this sink is %q", typ, s.Type)
			}
		}
		only("path", rs.Path != nil, "file")
		only("rotate_size", rs.RotateSize != nil, "file")
		only("rotate_every", rs.RotateEvery != nil, "file")
		only("url", rs.URL != nil, "http")
		only("headers", rs.Headers != nil, "http")
		only("batch_size", rs.BatchSize != nil, "http")
		only("timeout", rs.Timeout != nil, "http")
		switch s.Type {
		case "file", "stdout":
			if first, dup := types[s.Type]; dup {
				v.errorf(sp+".type", "only one %s sink is allowed (also %s)", s.Type, first)
			}
			types[s.Type] = sp
		case "http":
		case "":
		default:
			v.errorf(sp+".type", "unknown sink type %q; allowed: file, stdout, http", s.Type)
		}
		switch s.Type {
		case "file":
			s.RotateBytes = v.size(sp+".rotate_size", rs.RotateSize, DefaultAuditRotateBytes)
			s.RotateEvery = v.duration(sp+".rotate_every", rs.RotateEvery, DefaultAuditRotateEvery, nonNegative)
			switch {
			case rs.Path == nil:
				v.errorf(sp+".path", "required: the file records are appended to")
			case *rs.Path == "":
				v.errorf(sp+".path", "must not be empty")
			default:
				s.Path = v.resolve(*rs.Path)
				v.parentDir(sp+".path", s.Path)
			}
		case "http":
			s.BatchSize = v.intIn(sp+".batch_size", rs.BatchSize, DefaultAuditBatchSize, 1, 10000)
			s.Timeout = v.duration(sp+".timeout", rs.Timeout, DefaultAuditTimeout, positive)
			s.Headers = v.headerOps(sp+".headers", RawHeaderOps{Set: rs.Headers}).Set
			if rs.URL == nil {
				v.errorf(sp+".url", "required: the collector URL batches are posted to")
			} else {
				s.URL = *rs.URL
				u, err := url.Parse(s.URL)
				switch {
				case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
					v.errorf(sp+".url", "invalid collector URL %q: want an absolute http:// or https:// URL", redactURL(s.URL))
				case u.User != nil:
					v.errorf(sp+".url", "the URL carries credentials; put them in headers (Authorization) instead")
				}
			}
			if r.Spool == nil {
				v.errorf(sp, "an http sink needs audit.spool.dir: records wait there while the collector is down")
			}
		}
		a.Sinks = append(a.Sinks, s)
	}
	return a
}

// parentDir reports a path whose directory does not exist.
func (v *validator) parentDir(path, file string) {
	dir := filepath.Dir(file)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		v.errorf(path, "the directory %q does not exist", dir)
	}
}
