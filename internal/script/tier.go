package script

import "time"

// Limits are the resource limits of one kind of handler.
type Limits struct {
	CPU    time.Duration
	Wall   time.Duration
	Memory int64
	// SubRequests is how many httpRequest calls one handler may make, and
	// SubParallel how many may be in flight at once.
	SubRequests int
	SubParallel int
	SubWall     time.Duration
	SubSize     int64
}

// Tier is a resource tier of EdgeWorkers (resource tier limitations page,
// 2026-03-01). Unverified cells use the next lower tier's value.
type Tier struct {
	Name     string
	InitCPU  time.Duration
	InitWall time.Duration
	// Handler applies to onClientRequest, onOriginRequest,
	// onOriginResponse and onClientResponse.
	Handler Limits
	// Provider applies to responseProvider.
	Provider Limits
	// Variables is the budget, in characters, of all PMUSER variables.
	Variables int
}

const (
	mb = 1 << 20
	kb = 1 << 10
)

var tiers = map[string]Tier{
	"basic": {
		Name: "basic", InitCPU: 60 * time.Millisecond, InitWall: 200 * time.Millisecond,
		Handler:   Limits{CPU: 10 * time.Millisecond, Wall: 4 * time.Second, Memory: 1536 * kb, SubRequests: 2, SubParallel: 2, SubWall: 4 * time.Second, SubSize: 5 * mb},
		Provider:  Limits{CPU: 100 * time.Millisecond, Wall: 4 * time.Second, Memory: 2 * mb, SubRequests: 50, SubParallel: 5, SubWall: 4 * time.Second, SubSize: 5 * mb},
		Variables: 1024,
	},
	"dynamic": {
		Name: "dynamic", InitCPU: 60 * time.Millisecond, InitWall: 500 * time.Millisecond,
		Handler:   Limits{CPU: 20 * time.Millisecond, Wall: 5500 * time.Millisecond, Memory: 2560 * kb, SubRequests: 4, SubParallel: 4, SubWall: 5500 * time.Millisecond, SubSize: 5 * mb},
		Provider:  Limits{CPU: 200 * time.Millisecond, Wall: 8 * time.Second, Memory: 4 * mb, SubRequests: 50, SubParallel: 5, SubWall: 8 * time.Second, SubSize: 5 * mb},
		Variables: 1024,
	},
	"enterprise": {
		Name: "enterprise", InitCPU: 300 * time.Millisecond, InitWall: 500 * time.Millisecond,
		Handler:   Limits{CPU: 70 * time.Millisecond, Wall: 10 * time.Second, Memory: 4 * mb, SubRequests: 10, SubParallel: 10, SubWall: 10 * time.Second, SubSize: 8 * mb},
		Provider:  Limits{CPU: 300 * time.Millisecond, Wall: 10 * time.Second, Memory: 5 * mb, SubRequests: 50, SubParallel: 5, SubWall: 8 * time.Second, SubSize: 8 * mb},
		Variables: 1024,
	},
}

// TierNames lists the tiers in order of size.
var TierNames = [...]string{"basic", "dynamic", "enterprise"}

// DefaultTier is Akamai's default, Dynamic Compute.
const DefaultTier = "dynamic"

// TierByName returns the named tier.
func TierByName(name string) (Tier, bool) {
	t, ok := tiers[name]
	return t, ok
}
