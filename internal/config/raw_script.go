package config

// RawScripts configures edge-script bundles.
type RawScripts struct{}

// RawRouteScript names the bundle a route runs.
type RawRouteScript struct{}
