package config

// RawAssertion configures the signed identity assertion sent to origins.
type RawAssertion struct{}

// RawRouteAssertion is a route's assertion settings.
type RawRouteAssertion struct{}

// RawKeys configures the gateway's key ring.
type RawKeys struct{}
