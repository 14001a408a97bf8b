package config

// Login is the validated browser login configuration.
type Login struct{}

// DevProvider is the validated embedded provider configuration.
type DevProvider struct{}

func (v *validator) login(raw *RawConfig) *Login { return nil }

func (v *validator) devProvider(raw *RawConfig) *DevProvider { return nil }
