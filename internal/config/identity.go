package config

// Identity is the validated trusted-issuer configuration.
type Identity struct{}

// RouteAuth is a route's validated authentication setting; the zero value is public.
type RouteAuth struct{}

func (v *validator) identity(raw *RawConfig) Identity { return Identity{} }

func (v *validator) routeAuth(rp string, r *RawRoute) RouteAuth { return RouteAuth{} }
