package config

// RawPolicy declares roles and service identities for route rules. Rules,
// roles and service matches are CEL expressions (see docs/policy.md).
type RawPolicy struct {
	// Roles derived from the verified identity: a mapping of role name to a
	// CEL expression over identity only (no request, no time), as in
	// admin: '"platform-admins" in identity.groups'. A caller for whom the
	// expression holds has the role in identity.roles, next to the roles
	// of the token. Role names: letters, digits, "_", "-" and ".".
	Roles RawHeaderMap `yaml:"roles"`
	// Service identities: machine callers (client-credentials tokens)
	// named and given roles of their own. The first service whose match
	// holds names the caller (identity.service_name).
	Services []RawService `yaml:"services"`
	// File of policy test cases run by "edgegate policy test" when no
	// file is named on its command line (relative to the configuration
	// file's directory). The file must exist.
	TestsFile *string `yaml:"tests_file"`
}

// RawService is one service identity.
type RawService struct {
	// Name of the service, as identity.service_name: letters, digits, "_",
	// "-" and ".". Required; unique.
	Name *string `yaml:"name"`
	// CEL expression over identity that recognises the service, such as
	// identity.service && identity.client_id == "billing-svc". Required.
	Match *string `yaml:"match"`
	// Roles the service has, added to identity.roles.
	Roles []string `yaml:"roles"`
}

// RawRule is one CEL rule of a route. In the file it may also be written
// as a plain string, which is the expression.
type RawRule struct {
	// Name of the rule in decisions, audit records and metrics. When
	// absent, the rule is named by its field path, such as
	// "routes[2].allow[0]".
	Name *string `yaml:"name"`
	// CEL expression over identity, request and time that returns a bool.
	// Required.
	Expr *string `yaml:"expr"`
}
