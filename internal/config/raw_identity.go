package config

// RawIdentity lists the token issuers the gateway trusts.
type RawIdentity struct{}

// RawRouteAuth says how callers of a route authenticate.
type RawRouteAuth struct{}
