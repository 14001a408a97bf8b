package config

// Scripts is the validated edge-script configuration.
type Scripts struct{}

// RouteScript is a route's validated script setting; the zero value runs none.
type RouteScript struct{}

func (v *validator) scripts(raw *RawConfig) Scripts { return Scripts{} }

func (v *validator) routeScript(rp string, r *RawRoute) RouteScript { return RouteScript{} }
