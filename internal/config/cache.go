package config

// Cache is the validated edge cache configuration.
type Cache struct{}

// RouteCache is a route's validated cache setting; the zero value does not cache.
type RouteCache struct{}

func (v *validator) cache(raw *RawConfig) Cache { return Cache{} }

func (v *validator) routeCache(rp string, r *RawRoute) RouteCache { return RouteCache{} }
