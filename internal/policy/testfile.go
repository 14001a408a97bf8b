package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edgegate/edgegate/internal/identity"
)

// TestCase is one case of a policy test file (edgegate policy test): a
// request, an identity and the decision expected for them.
type TestCase struct {
	Name    string      `yaml:"name"`
	Request TestRequest `yaml:"request"`
	// Identity is absent for an anonymous caller.
	Identity *TestIdentity `yaml:"identity"`
	// Time is the decision time, RFC 3339; default: now.
	Time   string     `yaml:"time"`
	Expect TestExpect `yaml:"expect"`
	// Line is where the case starts in its file.
	Line int `yaml:"-"`
}

// TestRequest is the request of a test case.
type TestRequest struct {
	// Method defaults to GET.
	Method string `yaml:"method"`
	// URL is absolute: its host and path choose the route.
	URL     string            `yaml:"url"`
	Headers map[string]string `yaml:"headers"`
	// ClientIP defaults to 127.0.0.1.
	ClientIP string `yaml:"client_ip"`
}

// TestIdentity is the verified caller of a test case.
type TestIdentity struct {
	// Method defaults to bearer.
	Method     string         `yaml:"method"`
	Subject    string         `yaml:"subject"`
	Email      string         `yaml:"email"`
	Name       string         `yaml:"name"`
	Issuer     string         `yaml:"issuer"`
	IssuerName string         `yaml:"issuer_name"`
	ClientID   string         `yaml:"client_id"`
	Service    bool           `yaml:"service"`
	Groups     []string       `yaml:"groups"`
	Roles      []string       `yaml:"roles"`
	Scopes     []string       `yaml:"scopes"`
	Claims     map[string]any `yaml:"claims"`
}

// TestExpect is the expected outcome; reason and rule are checked only
// when given.
type TestExpect struct {
	// Decision is "allow" or "deny".
	Decision string `yaml:"decision"`
	Reason   string `yaml:"reason"`
	Rule     string `yaml:"rule"`
}

// Identity returns the identity.Identity the case describes (anonymous
// for nil).
func (ti *TestIdentity) Identity() *identity.Identity {
	if ti == nil {
		return &identity.Anonymous
	}
	m := identity.Method(ti.Method)
	if m == "" {
		m = identity.MethodBearer
	}
	return &identity.Identity{Method: m, Subject: ti.Subject, Email: ti.Email, Name: ti.Name, Issuer: ti.Issuer,
		IssuerName: ti.IssuerName, ClientID: ti.ClientID, Service: ti.Service, Groups: ti.Groups, Roles: ti.Roles,
		Scopes: ti.Scopes, Claims: ti.Claims}
}

// DecisionTime returns the case's time, or now when it has none.
func (tc *TestCase) DecisionTime(now time.Time) (time.Time, error) {
	if tc.Time == "" {
		return now, nil
	}
	return time.Parse(time.RFC3339, tc.Time)
}

// ParseTests reads a test file: a YAML list of cases. Unknown fields,
// missing names or expectations and duplicate names are errors, reported
// with their line.
func ParseTests(data []byte) (cases []TestCase, err error) {
	defer func() {
		// The YAML library is not expected to panic; a test file must
		// never crash the command all the same.
		if r := recover(); r != nil {
			cases, err = nil, fmt.Errorf("invalid YAML: %v", r)
		}
	}()
	var nodes []yaml.Node
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, errors.New("the file holds no test cases; write a list of cases")
	}
	root := doc.Content[0]
	if root.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: want a list of test cases", root.Line)
	}
	for _, n := range root.Content {
		nodes = append(nodes, *n)
	}
	var errs []error
	seen := map[string]int{}
	for _, n := range nodes {
		var tc TestCase
		// Re-encode so the strict decoder can reject unknown fields.
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		if err := enc.Encode(&n); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", n.Line, err))
			continue
		}
		dec := yaml.NewDecoder(&buf)
		dec.KnownFields(true)
		if err := dec.Decode(&tc); err != nil && !errors.Is(err, io.EOF) {
			errs = append(errs, fmt.Errorf("line %d: %s", n.Line, strings.TrimPrefix(err.Error(), "yaml: ")))
			continue
		}
		tc.Line = n.Line
		switch {
		case tc.Name == "":
			errs = append(errs, fmt.Errorf("line %d: name is required", n.Line))
		case seen[tc.Name] != 0:
			errs = append(errs, fmt.Errorf("line %d: name %q is already used at line %d", n.Line, tc.Name, seen[tc.Name]))
		case tc.Request.URL == "":
			errs = append(errs, fmt.Errorf("line %d: %s: request.url is required", n.Line, tc.Name))
		case tc.Expect.Decision != "allow" && tc.Expect.Decision != "deny":
			errs = append(errs, fmt.Errorf("line %d: %s: expect.decision must be allow or deny", n.Line, tc.Name))
		case tc.Expect.Reason != "" && !validReason(tc.Expect.Reason):
			errs = append(errs, fmt.Errorf("line %d: %s: unknown expect.reason %q", n.Line, tc.Name, tc.Expect.Reason))
		default:
			if _, err := tc.DecisionTime(time.Time{}); err != nil {
				errs = append(errs, fmt.Errorf("line %d: %s: time: %w", n.Line, tc.Name, err))
				continue
			}
			seen[tc.Name] = n.Line
			cases = append(cases, tc)
		}
	}
	return cases, errors.Join(errs...)
}

func validReason(s string) bool {
	for _, r := range Reasons {
		if string(r) == s {
			return true
		}
	}
	return false
}
