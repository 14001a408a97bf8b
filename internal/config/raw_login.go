package config

// RawLogin configures browser login and sessions.
type RawLogin struct{}

// RawDevProvider configures the embedded development OpenID provider.
type RawDevProvider struct{}
