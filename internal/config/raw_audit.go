package config

// RawAudit configures the audit trail: one hash-chained JSON record per
// security decision, with signed checkpoints (see docs/audit.md). The trail
// is off when no sink is given.
type RawAudit struct {
	// Where records go; several sinks may be given and each gets every
	// record. At most one file and one stdout sink. No sinks: no trail.
	Sinks []RawAuditSink `yaml:"sinks"`
	// What happens when a sink is down and its spool is full (or it has no
	// spool): "fail_closed" refuses requests on audited routes with 503
	// until records can be written again; "fail_open" keeps serving, counts
	// the lost records (edgegate_audit_dropped_total), logs them, and writes
	// a gap record into the trail when the sink is back. Default:
	// "fail_closed".
	Policy *string `yaml:"policy"`
	// When a decision counts as recorded in the file sink (the request
	// waits for it): "fsync" once its group of concurrent records is
	// written and fsynced, which survives a power loss but costs an fsync
	// on the request path; "write" once it is written to the operating
	// system, which survives a crash or kill of the gateway, while the file
	// is fsynced every sync_interval, so a machine crash or power loss can
	// lose up to that much. Spools are fsynced on every append either way.
	// See docs/audit.md for the trade-off. Default: "write".
	Durability *string `yaml:"durability"`
	// With durability "write": how often the file sink is fsynced. Must be
	// greater than 0. Default: 1s.
	SyncInterval *Duration `yaml:"sync_interval"`
	// On-disk queue where records wait for a sink that is down. Required
	// with an http sink.
	Spool *RawAuditSpool `yaml:"spool"`
	// How often a checkpoint record, signed with the gateway's key ring,
	// seals the head of the chain.
	Checkpoint *RawAuditCheckpoint `yaml:"checkpoint"`
}

// RawAuditSink is one destination of audit records.
type RawAuditSink struct {
	// Name used in metrics, logs and gap records, and for the sink's spool
	// directory: letters, digits, "_", "-" and "."; unique. Default: the
	// type ("file", "stdout", "http").
	Name *string `yaml:"name"`
	// "file" (a JSON Lines file, see durability), "stdout" (standard
	// output) or "http" (batches posted to a collector). Required.
	Type *string `yaml:"type"`
	// File sinks: the file to append to (relative to the configuration
	// file's directory). Rotated files are renamed <path>.1, <path>.2, ...
	// Its directory must exist and be writable. Required for a file sink.
	Path *string `yaml:"path"`
	// File sinks: rotate when the file reaches this size. Default: 100MiB.
	RotateSize *Size `yaml:"rotate_size"`
	// File sinks: rotate when the file is this old; "0s" rotates by size
	// only. Default: 24h.
	RotateEvery *Duration `yaml:"rotate_every"`
	// HTTP sinks: the collector URL, http or https, that batches of records
	// are POSTed to as application/x-ndjson. Credentials belong in headers,
	// not in the URL. Required for an http sink.
	URL *string `yaml:"url"`
	// HTTP sinks: headers sent with every batch, such as Authorization.
	Headers RawHeaderMap `yaml:"headers"`
	// HTTP sinks: most records in one batch, 1 to 10000. Default: 500.
	BatchSize *int `yaml:"batch_size"`
	// HTTP sinks: time allowed for one batch to be answered. Default: 10s.
	Timeout *Duration `yaml:"timeout"`
}

// RawAuditSpool is the on-disk queue of records waiting for sinks.
type RawAuditSpool struct {
	// Directory of the spool (one subdirectory per sink), relative to the
	// configuration file's directory; created if missing. Its parent must
	// exist.
	Dir *string `yaml:"dir"`
	// Most bytes each sink's spool may hold. Default: 1GiB.
	MaxBytes *Size `yaml:"max_bytes"`
}

// RawAuditCheckpoint sets when checkpoints are written.
type RawAuditCheckpoint struct {
	// A checkpoint follows this many records; 0 turns the count trigger
	// off. Default: 1000.
	Every *int `yaml:"every"`
	// A checkpoint is written at least this often while records arrive;
	// "0s" turns the time trigger off. Default: 1m.
	Interval *Duration `yaml:"interval"`
}
