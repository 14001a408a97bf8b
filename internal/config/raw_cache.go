package config

// RawCache configures the edge cache.
type RawCache struct{}

// RawRouteCache configures caching on a route.
type RawRouteCache struct{}
