package config

// Assertion is the validated identity assertion configuration.
type Assertion struct{}

// RouteAssertion is a route's validated assertion settings.
type RouteAssertion struct{}

// Keys is the validated key ring configuration.
type Keys struct{}

func (v *validator) assertion(raw *RawConfig) Assertion { return Assertion{} }

func (v *validator) routeAssertion(rp string, r *RawRoute) RouteAssertion { return RouteAssertion{} }

func (v *validator) keys(raw *RawConfig) Keys { return Keys{} }
