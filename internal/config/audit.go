package config

// Audit is the validated audit trail configuration.
type Audit struct{}

func (v *validator) audit(raw *RawConfig) Audit { return Audit{} }
