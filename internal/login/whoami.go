package login

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/edgegate/edgegate/internal/identity"
	"github.com/edgegate/edgegate/internal/session"
)

// Whoami is what /.edgegate/whoami shows: the identity and the session's
// timing, never a token.
type Whoami struct {
	Method         string    `json:"method"`
	Issuer         string    `json:"issuer"`
	IssuerName     string    `json:"issuer_name,omitempty"`
	Subject        string    `json:"subject"`
	Email          string    `json:"email,omitempty"`
	Name           string    `json:"name,omitempty"`
	Groups         []string  `json:"groups,omitempty"`
	Roles          []string  `json:"roles,omitempty"`
	Scopes         []string  `json:"scopes,omitempty"`
	SessionCreated time.Time `json:"session_created"`
	SessionExpires time.Time `json:"session_expires"`
	AbsoluteExpiry time.Time `json:"session_absolute_expiry"`
	TokenExpires   time.Time `json:"token_expires"`
	Refreshes      int       `json:"refreshes"`
}

// WhoamiOf describes s, whose identity is id (from Resolve or Identity).
func (m *Manager) WhoamiOf(s *session.Session, id *identity.Identity) Whoami {
	return Whoami{
		Method: string(id.Method), Issuer: id.Issuer, IssuerName: id.IssuerName, Subject: id.Subject,
		Email: id.Email, Name: id.Name, Groups: id.Groups, Roles: id.Roles, Scopes: id.Scopes,
		SessionCreated: s.Created, SessionExpires: s.Expiry(m.c.IdleTimeout), AbsoluteExpiry: s.Absolute,
		TokenExpires: s.TokenExpiry, Refreshes: s.Refreshed,
	}
}

var whoamiPage = template.Must(template.New("whoami").Parse(`<!doctype html><html><head><meta charset=utf-8><title>edgegate · who am I</title></head>
<body><h1>Signed in</h1><dl>
<dt>Subject</dt><dd id=subject>{{.Subject}}</dd>
<dt>Issuer</dt><dd id=issuer>{{.Issuer}}</dd>
{{if .Email}}<dt>Email</dt><dd id=email>{{.Email}}</dd>{{end}}
{{if .Name}}<dt>Name</dt><dd id=name>{{.Name}}</dd>{{end}}
<dt>Groups</dt><dd id=groups>{{range $i, $g := .Groups}}{{if $i}}, {{end}}{{$g}}{{end}}</dd>
<dt>Roles</dt><dd id=roles>{{range $i, $g := .Roles}}{{if $i}}, {{end}}{{$g}}{{end}}</dd>
{{if .Scopes}}<dt>Scopes</dt><dd id=scopes>{{range $i, $g := .Scopes}}{{if $i}}, {{end}}{{$g}}{{end}}</dd>{{end}}
<dt>Session expires</dt><dd id=session-expires>{{.SessionExpires.UTC.Format "2006-01-02T15:04:05Z07:00"}}</dd>
<dt>Token expires</dt><dd id=token-expires>{{.TokenExpires.UTC.Format "2006-01-02T15:04:05Z07:00"}}</dd>
<dt>Refreshes</dt><dd id=refreshes>{{.Refreshes}}</dd>
</dl><p><a id=logout href="/.edgegate/logout">Sign out</a></p></body></html>
`))

// ServeWhoami writes the whoami page (HTML for browsers, JSON otherwise).
func (m *Manager) ServeWhoami(w http.ResponseWriter, r *http.Request, s *session.Session, id *identity.Identity) {
	info := m.WhoamiOf(s, id)
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'")
		_ = whoamiPage.Execute(w, info)
		return
	}
	h.Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(info)
}

// SignedOutPage is shown after a local logout with nowhere to go.
const SignedOutPage = `<!doctype html><html><head><meta charset=utf-8><title>edgegate · signed out</title></head><body><h1 id=signed-out>Signed out</h1><p><a href="/">Continue</a></p></body></html>
`
