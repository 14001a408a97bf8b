package config

// RawAudit configures the audit trail.
type RawAudit struct{}
