package config

// Policy is the validated roles and service identities.
type Policy struct{}

// Rule is one validated route rule.
type Rule struct{}

func (v *validator) policy(raw *RawConfig) Policy { return Policy{} }

func (v *validator) routeRules(rp string, r *RawRoute) (allow, deny []Rule) { return nil, nil }
