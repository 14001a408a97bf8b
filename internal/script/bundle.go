// Package script runs Akamai EdgeWorkers code bundles unchanged: it loads
// and validates bundles (a directory or a .tgz with main.js and
// bundle.json), bundles their ES modules (and TypeScript) into one program
// with esbuild at load time, and runs the event handlers in pooled goja
// engine instances with the request and response objects, the built-in
// modules and the per-tier CPU, wall and memory limits of EdgeWorkers.
//
// The package knows nothing of the gateway: a caller describes a request
// with *Request, runs a handler with Worker.Run and applies what the
// handler asked for (headers, route, cache key, a synthetic response).
package script

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/evanw/esbuild/pkg/api"

	examples "github.com/edgegate/edgegate/examples/edgeworkers"
)

// Bundle size limits of EdgeWorkers (product limits).
const (
	MaxCompressedBytes   = 512 << 10
	MaxUncompressedBytes = 1 << 20
	maxFiles             = 2000
)

// Validation codes: Akamai's where Akamai has one.
const (
	CodeInvalidPermission = "INVALID_FILE_PERMISSION"
	CodeInvalidGzip       = "INVALID_GZIP_FORMAT"
	CodeInvalidTar        = "INVALID_TAR_ARCHIVE"
	CodeInvalidManifest   = "INVALID_MANIFEST"
	CodeEmptyTarball      = "EMPTY_TARBALL"
	CodeTooLarge          = "BUNDLE_TOO_LARGE"
	CodeMissingFile       = "MISSING_FILE"
	CodeSyntax            = "SYNTAX_ERROR"
	CodeUnknownModule     = "UNKNOWN_MODULE"
	CodeNoHandler         = "NO_EVENT_HANDLER"
	CodeInit              = "INITIALIZATION_ERROR"
)

// ErrInvalidBundle is wrapped by every bundle validation error.
var ErrInvalidBundle = errors.New("invalid code bundle")

// BundleError is one validation problem, positioned in the bundle's file
// when it has a position (Line and Column are 1-based; 0 when unknown).
type BundleError struct {
	Code   string
	File   string
	Line   int
	Column int
	Msg    string
}

func (e *BundleError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
			if e.Column > 0 {
				b.WriteString(":" + strconv.Itoa(e.Column))
			}
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Code + ": " + e.Msg)
	return b.String()
}

func (e *BundleError) Unwrap() error { return ErrInvalidBundle }

// BundleErrors lists every problem of one bundle.
type BundleErrors []*BundleError

func (l BundleErrors) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

func (l BundleErrors) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// Manifest is bundle.json.
type Manifest struct {
	EdgeWorkerVersion string          `json:"edgeworker-version"`
	BundleVersion     *int            `json:"bundle-version,omitempty"`
	APIVersion        string          `json:"api-version,omitempty"`
	Description       string          `json:"description,omitempty"`
	Misc              json.RawMessage `json:"misc,omitempty"`
	Config            json.RawMessage `json:"config,omitempty"`
	// InvokeForEdgeWorkerClients lets the bundle run as a subWorker.
	InvokeForEdgeWorkerClients bool `json:"invoke-for-edgeworker-clients,omitempty"`
}

// Bundle is a loaded, validated and bundled code bundle.
type Bundle struct {
	// Source is the path it was loaded from ("" for LoadFiles).
	Source   string
	Manifest Manifest
	// Version is Manifest.EdgeWorkerVersion.
	Version string
	// Hash is the SHA-256 of the files (names and contents), hex.
	Hash string
	// Code is the bundled CommonJS program with an inline source map.
	Code string
	// Size is the uncompressed size of the files.
	Size int64
}

// builtinModules are the specifiers EdgeWorkers resolves itself.
var builtinModules = map[string]bool{
	"create-response": true, "http-request": true, "log": true, "cookies": true,
	"url-search-params": true, "encoding": true, "crypto": true, "streams": true,
	"text-encode-transform": true, "html-rewriter": true,
}

// EmbeddedPrefix marks the path of a bundle carried in the binary:
// "embedded:dev" is the directory dev of examples/edgeworkers.
const EmbeddedPrefix = "embedded:"

// IsEmbedded reports whether p names an embedded bundle.
func IsEmbedded(p string) bool { return strings.HasPrefix(p, EmbeddedPrefix) }

// LoadBundle loads a bundle from a directory or a .tgz (.tar.gz) file,
// or, for "embedded:<name>", from the example bundles in the binary.
func LoadBundle(p string) (*Bundle, error) {
	if IsEmbedded(p) {
		name := strings.TrimPrefix(p, EmbeddedPrefix)
		if !fs.ValidPath(name) || strings.Contains(name, "/") || name == "." {
			return nil, fmt.Errorf("load bundle %s: %w", p, fs.ErrNotExist)
		}
		b, err := LoadFS(examples.FS(), name)
		if err != nil {
			return nil, fmt.Errorf("load bundle %s: %w", p, err)
		}
		b.Source = p
		return b, nil
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("load bundle %s: %w", p, err)
	}
	var files map[string][]byte
	if fi.IsDir() {
		files, err = readDir(p)
	} else {
		var f *os.File
		if f, err = os.Open(p); err == nil {
			defer f.Close()
			files, err = ReadArchive(io.LimitReader(f, MaxCompressedBytes+1))
		}
	}
	if err != nil {
		return nil, err
	}
	b, err := LoadFiles(files)
	if err != nil {
		return nil, err
	}
	b.Source = p
	return b, nil
}

// LoadFS loads the bundle in directory dir of fsys, with the checks of a
// directory on disk (size, no executable files; dot files are skipped).
func LoadFS(fsys fs.FS, dir string) (*Bundle, error) {
	files, err := readFS(fsys, dir)
	if err != nil {
		return nil, err
	}
	return LoadFiles(files)
}

func readDir(root string) (map[string][]byte, error) {
	files, err := readFS(os.DirFS(root), ".")
	var be BundleErrors
	if err != nil && !errors.As(err, &be) {
		return nil, fmt.Errorf("read bundle directory %s: %w", root, err)
	}
	return files, err
}

// readFS reads the files of the bundle in directory dir of fsys, applying
// the rules of a bundle directory: dot files and node_modules are skipped,
// only regular, non-executable files, within the size limits.
func readFS(fsys fs.FS, dir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	var total int64
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := p
		switch {
		case p == dir:
			rel = "."
		case dir != ".":
			rel = strings.TrimPrefix(p, dir+"/")
		}
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") {
				return fs.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			return nil // ._ files are ignored by Akamai; dot files are editor state
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return &BundleError{Code: CodeInvalidPermission, File: rel, Msg: "not a regular file"}
		}
		if fi.Mode().Perm()&0o111 != 0 {
			return &BundleError{Code: CodeInvalidPermission, File: rel, Msg: "executable files are not allowed in a bundle (chmod -x)"}
		}
		total += fi.Size()
		if total > MaxUncompressedBytes || len(files) >= maxFiles {
			return &BundleError{Code: CodeTooLarge, Msg: fmt.Sprintf("the bundle is larger than %d bytes uncompressed", MaxUncompressedBytes)}
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files[rel] = data
		return nil
	})
	if err != nil {
		var be *BundleError
		if errors.As(err, &be) {
			return nil, BundleErrors{be}
		}
		return nil, err
	}
	return files, nil
}

// ReadArchive reads a gzip-compressed tar archive, applying Akamai's
// archive rules and size limits.
func ReadArchive(r io.Reader) (map[string][]byte, error) {
	comp, err := io.ReadAll(io.LimitReader(r, MaxCompressedBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read bundle archive: %w", err)
	}
	fail := func(code, file, format string, args ...any) (map[string][]byte, error) {
		return nil, BundleErrors{{Code: code, File: file, Msg: fmt.Sprintf(format, args...)}}
	}
	if len(comp) > MaxCompressedBytes {
		return fail(CodeTooLarge, "", "the archive is larger than %d bytes compressed", MaxCompressedBytes)
	}
	zr, err := gzip.NewReader(bytes.NewReader(comp))
	if err != nil {
		return fail(CodeInvalidGzip, "", "not a gzip file: %v", err)
	}
	tr := tar.NewReader(zr)
	files := map[string][]byte{}
	var total int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fail(CodeInvalidGzip, "", "corrupt gzip stream: %v", err)
			}
			return fail(CodeInvalidTar, "", "not a tar archive: %v", err)
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		base := path.Base(name)
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			if strings.HasPrefix(base, "._") || h.Typeflag == tar.TypeXGlobalHeader {
				continue
			}
			return fail(CodeInvalidTar, h.Name, "only regular files and directories are allowed (links and devices are not)")
		}
		if strings.HasPrefix(base, "._") || name == "" || name == "." {
			continue
		}
		if h.Name != name && h.Name != "./"+name {
			return fail(CodeInvalidTar, h.Name, "file names must be relative and stay inside the bundle")
		}
		if h.Mode&0o111 != 0 {
			return fail(CodeInvalidPermission, name, "executable files are not allowed in a bundle")
		}
		total += h.Size
		if total > MaxUncompressedBytes || len(files) >= maxFiles {
			return fail(CodeTooLarge, "", "the bundle is larger than %d bytes uncompressed", MaxUncompressedBytes)
		}
		data, err := io.ReadAll(io.LimitReader(tr, h.Size))
		if err != nil {
			return fail(CodeInvalidGzip, name, "read: %v", err)
		}
		files[name] = data
	}
	if len(files) == 0 {
		return fail(CodeEmptyTarball, "", "the archive holds no files")
	}
	return files, nil
}

// WriteArchive packs files into a .tgz the way Akamai's CLI does.
func WriteArchive(w io.Writer, files map[string][]byte) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	names := sortedKeys(files)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// LoadFiles validates and bundles the files of a bundle (names relative to
// its root, "/"-separated).
func LoadFiles(files map[string][]byte) (*Bundle, error) {
	var errs BundleErrors
	var total int64
	for _, d := range files {
		total += int64(len(d))
	}
	if total > MaxUncompressedBytes {
		return nil, BundleErrors{{Code: CodeTooLarge, Msg: fmt.Sprintf("the bundle is %d bytes uncompressed; the limit is %d", total, MaxUncompressedBytes)}}
	}
	b := &Bundle{Size: total}
	manifest, ok := files["bundle.json"]
	if !ok {
		errs = append(errs, &BundleError{Code: CodeMissingFile, File: "bundle.json", Msg: "the bundle has no bundle.json"})
	} else if m, e := parseManifest(manifest); e != nil {
		errs = append(errs, e)
	} else {
		b.Manifest, b.Version = m, m.EdgeWorkerVersion
	}
	entry := ""
	for _, n := range []string{"main.js", "main.ts", "main.mjs"} {
		if _, ok := files[n]; ok {
			entry = n
			break
		}
	}
	if entry == "" {
		errs = append(errs, &BundleError{Code: CodeMissingFile, File: "main.js", Msg: "the bundle has no main.js"})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	code, berrs := build(files, entry)
	if len(berrs) > 0 {
		return nil, berrs
	}
	b.Code = code
	h := sha256.New()
	for _, n := range sortedKeys(files) {
		fmt.Fprintf(h, "%d:%s%d:", len(n), n, len(files[n]))
		h.Write(files[n])
	}
	b.Hash = hex.EncodeToString(h.Sum(nil))
	return b, nil
}

// parseManifest checks bundle.json; a syntax error is positioned.
func parseManifest(data []byte) (Manifest, *BundleError) {
	var m Manifest
	bad := func(off int64, format string, args ...any) (Manifest, *BundleError) {
		e := &BundleError{Code: CodeInvalidManifest, File: "bundle.json", Msg: fmt.Sprintf(format, args...)}
		if off >= 0 {
			e.Line, e.Column = lineCol(data, off)
		}
		return m, e
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return bad(se.Offset-1, "not valid JSON: %v", err)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return bad(te.Offset-1, "must be a JSON object")
		}
		return bad(-1, "not valid JSON: %v", err)
	}
	for k := range raw {
		switch k {
		case "edgeworker-version", "bundle-version", "api-version", "description", "misc", "config", "invoke-for-edgeworker-clients":
		default:
			return bad(fieldOffset(data, k), "unknown field %q (allowed: edgeworker-version, bundle-version, api-version, description, misc, config, invoke-for-edgeworker-clients)", k)
		}
	}
	if err := json.Unmarshal(data, &m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return bad(fieldOffset(data, te.Field), "field %q must be %s", te.Field, jsonKind(te.Type.Kind().String()))
		}
		return bad(-1, "%v", err)
	}
	if _, ok := raw["edgeworker-version"]; !ok {
		return bad(-1, `"edgeworker-version" is required (a string such as "1.0")`)
	}
	if m.EdgeWorkerVersion == "" || len(m.EdgeWorkerVersion) > 64 || strings.ContainsFunc(m.EdgeWorkerVersion, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '/' }) {
		return bad(fieldOffset(data, "edgeworker-version"), `"edgeworker-version" must be a non-empty string of at most 64 printable characters without spaces or "/"`)
	}
	if len(m.Misc) > 0 && m.Misc[0] != '{' {
		return bad(fieldOffset(data, "misc"), `"misc" must be an object`)
	}
	if len(m.Config) > 0 && m.Config[0] != '{' {
		return bad(fieldOffset(data, "config"), `"config" must be an object`)
	}
	return m, nil
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int", "ptr":
		return "an integer"
	case "bool":
		return "true or false"
	}
	return "of another type"
}

func fieldOffset(data []byte, field string) int64 {
	if i := bytes.Index(data, []byte(`"`+field+`"`)); i >= 0 {
		return int64(i)
	}
	return -1
}

func lineCol(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line, col = 1, 1
	for _, c := range data[:max(off, 0)] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// build bundles the entry and its relative imports into one CommonJS
// program; the built-in modules stay as require() calls.
func build(files map[string][]byte, entry string) (string, BundleErrors) {
	plugin := api.Plugin{Name: "edgeworkers", Setup: func(pb api.PluginBuild) {
		pb.OnResolve(api.OnResolveOptions{Filter: ".*"}, func(a api.OnResolveArgs) (api.OnResolveResult, error) {
			if a.Kind == api.ResolveEntryPoint {
				return api.OnResolveResult{Path: a.Path, Namespace: "bundle"}, nil
			}
			if builtinModules[a.Path] {
				return api.OnResolveResult{Path: a.Path, External: true}, nil
			}
			if p, ok := resolveFile(files, a.Importer, a.Path); ok {
				return api.OnResolveResult{Path: p, Namespace: "bundle"}, nil
			}
			kind := "module"
			if strings.HasPrefix(a.Path, ".") || strings.HasPrefix(a.Path, "/") {
				kind = "file"
			}
			return api.OnResolveResult{Errors: []api.Message{{Text: fmt.Sprintf("%s: cannot resolve %s %q: not a file of the bundle nor a built-in module (create-response, http-request, log, cookies, url-search-params, encoding, crypto, streams, text-encode-transform, html-rewriter)", CodeUnknownModule, kind, a.Path)}}}, nil
		})
		pb.OnLoad(api.OnLoadOptions{Filter: ".*", Namespace: "bundle"}, func(a api.OnLoadArgs) (api.OnLoadResult, error) {
			src := string(files[a.Path])
			loader := api.LoaderJS
			switch path.Ext(a.Path) {
			case ".ts", ".mts":
				loader = api.LoaderTS
			case ".json":
				loader = api.LoaderJSON
			case ".txt", ".html", ".pem":
				loader = api.LoaderText
			}
			return api.OnLoadResult{Contents: &src, Loader: loader}, nil
		})
	}}
	res := api.Build(api.BuildOptions{
		EntryPoints:    []string{entry},
		Bundle:         true,
		Write:          false,
		Format:         api.FormatCommonJS,
		Platform:       api.PlatformNeutral,
		Target:         api.ES2020,
		Supported:      engineSupport,
		Sourcemap:      api.SourceMapInline,
		SourcesContent: api.SourcesContentExclude,
		Outfile:        "main.bundle.js",
		Plugins:        []api.Plugin{plugin},
		LogLevel:       api.LogLevelSilent,
		Charset:        api.CharsetUTF8,
		LegalComments:  api.LegalCommentsNone,
	})
	if len(res.Errors) > 0 {
		out := make(BundleErrors, 0, len(res.Errors))
		for _, m := range res.Errors {
			e := &BundleError{Code: CodeSyntax, Msg: m.Text}
			if c, rest, ok := strings.Cut(m.Text, ": "); ok && c == CodeUnknownModule {
				e.Code, e.Msg = c, rest
			}
			if m.Location != nil {
				e.File, e.Line, e.Column = m.Location.File, m.Location.Line, m.Location.Column+1
				e.File = strings.TrimPrefix(e.File, "bundle:")
			}
			out = append(out, e)
		}
		return "", out
	}
	if len(res.OutputFiles) != 1 {
		return "", BundleErrors{{Code: CodeSyntax, Msg: "bundling produced no output"}}
	}
	return string(res.OutputFiles[0].Contents), nil
}

// engineSupport tells esbuild what goja lacks, so that it lowers it.
var engineSupport = map[string]bool{
	"async-generator": false,
	"for-await":       false,
	"top-level-await": false,
}

// resolveFile finds spec, imported from importer, among the bundle's files.
// Akamai resolves "utils/lib.js" against the bundle root as well as
// "./utils/lib.js"; TypeScript sources may be imported as ".js".
func resolveFile(files map[string][]byte, importer, spec string) (string, bool) {
	var cands []string
	dir := path.Dir(importer)
	if strings.HasPrefix(spec, "./") || strings.HasPrefix(spec, "../") {
		cands = append(cands, path.Join(dir, spec))
	} else if strings.HasPrefix(spec, "/") {
		cands = append(cands, strings.TrimPrefix(path.Clean(spec), "/"))
	} else {
		cands = append(cands, path.Clean(spec))
	}
	for _, c := range cands {
		if strings.HasPrefix(c, "../") || c == ".." {
			continue
		}
		for _, alt := range []string{c, c + ".js", c + ".ts", strings.TrimSuffix(c, ".js") + ".ts", c + "/index.js"} {
			if _, ok := files[alt]; ok {
				return alt, true
			}
		}
	}
	return "", false
}

// ReadVersion returns the edgeworker-version of the bundle at p without
// bundling its code.
func ReadVersion(p string) (string, error) {
	if IsEmbedded(p) {
		b, err := LoadBundle(p)
		if err != nil {
			return "", err
		}
		return b.Version, nil
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("read bundle %s: %w", p, err)
	}
	var files map[string][]byte
	if fi.IsDir() {
		data, err := os.ReadFile(filepath.Join(p, "bundle.json"))
		if err != nil {
			return "", fmt.Errorf("read bundle %s: %w", p, err)
		}
		files = map[string][]byte{"bundle.json": data}
	} else {
		f, err := os.Open(p)
		if err != nil {
			return "", fmt.Errorf("read bundle %s: %w", p, err)
		}
		defer f.Close()
		if files, err = ReadArchive(f); err != nil {
			return "", err
		}
	}
	m, be := parseManifest(files["bundle.json"])
	if be != nil {
		return "", BundleErrors{be}
	}
	return m.EdgeWorkerVersion, nil
}
