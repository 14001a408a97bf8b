// Package audit records every security decision of the gateway
// (authentication failures, policy allows and denies, script denies, key
// rotations, configuration activations, purges, admin actions) as events,
// and delivers them to the audit trail.
//
// Stages emit an Event through a Recorder; they never format or write
// records themselves, so the durable, tamper-evident trail can change
// without touching them.
package audit

import (
	"context"
	"time"
)

// Kind names what an event records.
type Kind string

const (
	KindAuthnFailure   Kind = "authn.failure"
	KindAuthnSuccess   Kind = "authn.success"
	KindPolicyAllow    Kind = "policy.allow"
	KindPolicyDeny     Kind = "policy.deny"
	KindScriptDeny     Kind = "script.deny"
	KindKeyRotation    Kind = "keys.rotation"
	KindConfigActivate Kind = "config.activate"
	KindPurge          Kind = "cache.purge"
	KindAdmin          Kind = "admin"
)

// Event is one decision. Fields that do not apply stay empty. No field may
// hold a secret: credentials appear only as fingerprints
// (identity.Fingerprint).
type Event struct {
	Time      time.Time `json:"time"`
	Kind      Kind      `json:"kind"`
	RequestID string    `json:"request_id,omitempty"`
	Route     string    `json:"route,omitempty"`
	ClientIP  string    `json:"client_ip,omitempty"`
	Method    string    `json:"method,omitempty"`
	Host      string    `json:"host,omitempty"`
	Path      string    `json:"path,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	Issuer    string    `json:"issuer,omitempty"`
	Roles     []string  `json:"roles,omitempty"`
	// Decision is "allow", "deny" or "fail" (an error decided it).
	Decision string `json:"decision,omitempty"`
	// Reason is a typed reason code such as "expired" or "no_allow_rule".
	Reason string `json:"reason,omitempty"`
	// Rule names the rule or check that decided, e.g. "routes[2].deny[0]".
	Rule string `json:"rule,omitempty"`
	// Fingerprint identifies the credential without revealing it.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Detail holds short, non-secret extra facts (key IDs, config hash).
	Detail map[string]string `json:"detail,omitempty"`
}

// Recorder takes events. Record returns an error only when the event could
// not be accepted and the configured policy says the request must then be
// refused (a full spool with fail-closed delivery); callers on the request
// path turn that error into a 503.
type Recorder interface {
	Record(ctx context.Context, e Event) error
}

// RecorderFunc adapts a function to Recorder.
type RecorderFunc func(ctx context.Context, e Event) error

// Record calls f.
func (f RecorderFunc) Record(ctx context.Context, e Event) error { return f(ctx, e) }
