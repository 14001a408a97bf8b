package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/edgegate/edgegate/internal/edgekv"
	"github.com/edgegate/edgegate/internal/script"
)

// Defaults of the scripts section.
const (
	DefaultScriptNetwork        = "production"
	DefaultScriptActivationFile = "edgegate-activations.json"
)

// Scripts is the validated edge-script configuration.
type Scripts struct {
	Bundles []ScriptBundle
	// Network is "production" or "staging".
	Network string
	// ActivationFile is the resolved path of the activation overrides.
	ActivationFile string
	// LocationHeader is the canonical header name, "" when off.
	LocationHeader string
	// EdgeKV is the embedded EdgeKV store; nil when off.
	EdgeKV *EdgeKV
	// GeoIPFile is the resolved .mmdb path ("" when off) and GeoIPHash its
	// content hash, so a reload reuses the loaded database.
	GeoIPFile, GeoIPHash string
	DeviceDetection      bool
}

// EdgeKV is the validated embedded EdgeKV configuration.
type EdgeKV struct {
	// DataFile is the resolved seed file ("" for none) and DataHash the
	// SHA-256 of its content, so a reload keeps the store while the file
	// is unchanged.
	DataFile, DataHash string
	Namespaces         []string
	// TokenEnv names the environment variable of the access token ("":
	// any non-empty token).
	TokenEnv string
}

// Bundle returns the named bundle, or nil.
func (s *Scripts) Bundle(name string) *ScriptBundle {
	for i := range s.Bundles {
		if s.Bundles[i].Name == name {
			return &s.Bundles[i]
		}
	}
	return nil
}

// ScriptBundle is one bundle with its versions, each checked at load.
type ScriptBundle struct {
	Name string
	Tier string
	// Versions are the loadable versions in file order.
	Versions []ScriptVersion
	// Production and Staging are the active version ids per network.
	Production, Staging string
}

// ScriptVersion is one version of a bundle.
type ScriptVersion struct {
	// ID is bundle.json's edgeworker-version.
	ID string
	// Path is the resolved directory or .tgz.
	Path string
	// Hash is the content hash of the bundle's files.
	Hash string
}

// Version returns the version with id, or nil.
func (b *ScriptBundle) Version(id string) *ScriptVersion {
	for i := range b.Versions {
		if b.Versions[i].ID == id {
			return &b.Versions[i]
		}
	}
	return nil
}

// RouteScript is a route's validated script setting; the zero value runs none.
type RouteScript struct {
	// Bundle is "" when the route runs no script.
	Bundle string
	// Version pins a version ("" follows the active one).
	Version         string
	ContinueOnError bool
	DebugTokenEnv   string
	Variables       []ScriptVariable
	// Origins maps route({origin}) ids to pool names (pool names map to
	// themselves without an entry).
	Origins map[string]string
}

// ScriptVariable is one initial PMUSER variable.
type ScriptVariable struct {
	Name, Value string
}

var bundleNameRE = regexp.MustCompile(`^[a-z0-9_-]+$`)

func (v *validator) scripts(raw *RawConfig) Scripts {
	r := raw.Scripts
	s := Scripts{Network: str(r.Network, DefaultScriptNetwork)}
	if s.Network != "production" && s.Network != "staging" {
		v.errorf("scripts.network", "must be \"production\" or \"staging\", got %q", s.Network)
	}
	af := str(r.ActivationFile, DefaultScriptActivationFile)
	if af == "" {
		v.errorf("scripts.activation_file", "must not be empty; give a file path")
	} else {
		s.ActivationFile = v.resolve(af)
		if ok, err := statDir(filepath.Dir(s.ActivationFile)); r.ActivationFile != nil && (err != nil || !ok) {
			v.errorf("scripts.activation_file", "directory of %q does not exist", s.ActivationFile)
		}
	}
	if r.LocationHeader != nil {
		if canon, ok := v.editableHeader("scripts.location_header", *r.LocationHeader); ok {
			s.LocationHeader = canon
		}
	}
	if r.EdgeKV != nil {
		s.EdgeKV = v.edgeKV(r.EdgeKV)
	}
	if r.GeoIPFile != nil {
		s.GeoIPFile = v.resolve(*r.GeoIPFile)
		data, err := os.ReadFile(s.GeoIPFile)
		if err == nil {
			_, err = script.OpenGeoDB(s.GeoIPFile)
		}
		if err != nil {
			v.errorf("scripts.geoip_file", "%v", err)
		} else {
			sum := sha256.Sum256(data)
			s.GeoIPHash = hex.EncodeToString(sum[:])
		}
	}
	s.DeviceDetection = r.DeviceDetection != nil && *r.DeviceDetection
	names := map[string]bool{}
	for i, rb := range r.Bundles {
		bp := idx("scripts.bundles", i)
		b := ScriptBundle{Tier: str(rb.Tier, script.DefaultTier)}
		switch {
		case rb.Name == nil:
			v.errorf(bp, "name is required")
		case !bundleNameRE.MatchString(*rb.Name):
			v.errorf(bp+".name", "%q must be lower-case letters, digits, \"_\" and \"-\"", *rb.Name)
		case names[*rb.Name]:
			v.errorf(bp+".name", "duplicate bundle name %q", *rb.Name)
		default:
			b.Name = *rb.Name
			names[b.Name] = true
		}
		if _, ok := script.TierByName(b.Tier); !ok {
			v.errorf(bp+".tier", "unknown tier %q; use %s", b.Tier, strings.Join(script.TierNames[:], ", "))
		}
		type src struct{ path, name string }
		var srcs []src
		switch {
		case rb.Path != nil && len(rb.Versions) > 0:
			v.errorf(bp+".versions", "give path or versions, not both")
		case rb.Path != nil:
			srcs = append(srcs, src{bp + ".path", *rb.Path})
		case len(rb.Versions) > 0:
			for j, p := range rb.Versions {
				srcs = append(srcs, src{idx(bp+".versions", j), p})
			}
		default:
			v.errorf(bp, "path or versions is required")
		}
		for _, sr := range srcs {
			if sr.name == "" {
				v.errorf(sr.path, "must not be empty; give a bundle directory or .tgz")
				continue
			}
			file := sr.name
			if !script.IsEmbedded(file) {
				file = v.resolve(sr.name)
			}
			bundle, err := script.LoadBundle(file)
			if err != nil {
				var be script.BundleErrors
				if errors.As(err, &be) {
					for _, e := range be {
						v.errorf(sr.path, "bundle %q: %v", file, e)
					}
				} else {
					v.errorf(sr.path, "%v", err)
				}
				continue
			}
			if b.Version(bundle.Version) != nil {
				v.errorf(sr.path, "version %q is listed twice (edgeworker-version of %q)", bundle.Version, file)
				continue
			}
			b.Versions = append(b.Versions, ScriptVersion{ID: bundle.Version, Path: file, Hash: bundle.Hash})
		}
		if len(b.Versions) > 0 {
			b.Production = b.Versions[len(b.Versions)-1].ID
			if rb.Production != nil {
				if b.Version(*rb.Production) == nil {
					v.errorf(bp+".production", "no version %q; the versions are %s", *rb.Production, versionList(b))
				}
				b.Production = *rb.Production
			}
			b.Staging = b.Production
			if rb.Staging != nil {
				if b.Version(*rb.Staging) == nil {
					v.errorf(bp+".staging", "no version %q; the versions are %s", *rb.Staging, versionList(b))
				}
				b.Staging = *rb.Staging
			}
		}
		s.Bundles = append(s.Bundles, b)
	}
	return s
}

var kvNamespaceRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

func (v *validator) edgeKV(r *RawEdgeKV) *EdgeKV {
	kv := &EdgeKV{}
	if r.DataFile != nil {
		if *r.DataFile == "" {
			v.errorf("scripts.edgekv.data_file", "must not be empty; give a JSON file or leave data_file out")
		} else {
			kv.DataFile = v.resolve(*r.DataFile)
			data, err := os.ReadFile(kv.DataFile)
			if err != nil {
				v.errorf("scripts.edgekv.data_file", "%v", err)
			} else if err := edgekv.New(edgekv.Options{}).Load(data); err != nil {
				v.errorf("scripts.edgekv.data_file", "%s: %v", kv.DataFile, err)
			} else {
				sum := sha256.Sum256(data)
				kv.DataHash = hex.EncodeToString(sum[:])
			}
		}
	}
	for i, ns := range r.Namespaces {
		if !kvNamespaceRE.MatchString(ns) {
			v.errorf(idx("scripts.edgekv.namespaces", i), "%q must be 1-32 characters of A-Z a-z 0-9 _ -", ns)
			continue
		}
		kv.Namespaces = append(kv.Namespaces, ns)
	}
	if r.TokenEnv != nil {
		if !validEnvName(*r.TokenEnv) {
			v.errorf("scripts.edgekv.token_env", "%q is not an environment variable name", *r.TokenEnv)
		} else {
			kv.TokenEnv = *r.TokenEnv
		}
	}
	return kv
}

func versionList(b ScriptBundle) string {
	ids := make([]string, len(b.Versions))
	for i, ver := range b.Versions {
		ids[i] = `"` + ver.ID + `"`
	}
	return strings.Join(ids, ", ")
}

func (v *validator) routeScript(rp string, r *RawRoute) RouteScript {
	rs := r.Script
	if rs == nil {
		return RouteScript{}
	}
	p := rp + ".script"
	out := RouteScript{ContinueOnError: boolOr(rs.ContinueOnError, false)}
	var bundle *RawBundle
	if rs.Bundle == nil || *rs.Bundle == "" {
		v.errorf(p, "bundle is required")
	} else {
		out.Bundle = *rs.Bundle
		for i, rb := range v.raw.Scripts.Bundles {
			if rb.Name != nil && *rb.Name == out.Bundle {
				bundle = &v.raw.Scripts.Bundles[i]
			}
		}
		if bundle == nil {
			v.errorf(p+".bundle", "no bundle %q in scripts.bundles", out.Bundle)
		}
	}
	if rs.Version != nil {
		out.Version = *rs.Version
		if bundle != nil && !v.hasVersion(bundle, out.Version) {
			v.errorf(p+".version", "bundle %q has no version %q", out.Bundle, out.Version)
		}
	}
	if rs.DebugTokenEnv != nil {
		if !validEnvName(*rs.DebugTokenEnv) {
			v.errorf(p+".debug_token_env", "%q is not an environment variable name; the token itself never goes in the file", *rs.DebugTokenEnv)
		}
		out.DebugTokenEnv = *rs.DebugTokenEnv
	}
	vars := script.NewVariables(0)
	for _, kv := range rs.Variables {
		if err := vars.Set(kv.Name, kv.Value); err != nil {
			v.errorf(p+".variables."+kv.Name, "%v", err)
			continue
		}
		out.Variables = append(out.Variables, ScriptVariable{Name: kv.Name, Value: kv.Value})
	}
	pools := map[string]bool{}
	for _, rp := range v.raw.Pools {
		if rp.Name != nil {
			pools[*rp.Name] = true
		}
	}
	for _, kv := range rs.Origins {
		if kv.Name == "" || strings.ContainsAny(kv.Name, " \t\r\n") {
			v.errorf(p+".origins", "invalid origin id %q", kv.Name)
			continue
		}
		if !pools[kv.Value] {
			v.errorf(p+".origins."+kv.Name, "no pool %q", kv.Value)
			continue
		}
		if out.Origins == nil {
			out.Origins = map[string]string{}
		}
		out.Origins[kv.Name] = kv.Value
	}
	return out
}

// hasVersion reads the manifests of a bundle's sources (cheap: no
// bundling) to check a pinned version.
func (v *validator) hasVersion(rb *RawBundle, id string) bool {
	paths := rb.Versions
	if rb.Path != nil {
		paths = []string{*rb.Path}
	}
	for _, p := range paths {
		if !script.IsEmbedded(p) {
			p = v.resolve(p)
		}
		if ver, err := script.ReadVersion(p); err == nil && ver == id {
			return true
		}
	}
	return false
}
