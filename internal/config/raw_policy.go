package config

// RawPolicy declares roles and service identities for route rules.
type RawPolicy struct{}

// RawRule is one CEL rule of a route.
type RawRule struct{}
