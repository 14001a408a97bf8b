// Package testpeer starts the real third-party servers that tests talk to
// (today the npm oidc-provider, e2e/oidc-provider.mjs) and speaks their test
// admin protocol. It lives outside _test files so that every package's tests
// share one launcher instead of near-copies; it imports no testing package,
// so callers turn its errors into t.Fatal themselves.
package testpeer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ErrMissing reports that node or the e2e npm packages are not installed.
// It is a failure, not a reason to skip: scripts/test-all installs them.
var ErrMissing = errors.New("run scripts/test-all (it installs nodejs and runs npm ci --prefix e2e)")

// OIDCProvider is e2e/oidc-provider.mjs running on loopback: a real
// oidc-provider with a client_credentials client ("svc") and an admin
// endpoint that rotates and retires its signing keys.
type OIDCProvider struct {
	Issuer string `json:"issuer"`
	Admin  string `json:"admin"`
	Kid    string `json:"kid"`

	cancel context.CancelFunc
	cmd    *exec.Cmd
}

// ModuleRoot walks up from the working directory to the directory holding
// go.mod, where e2e/ lives.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testpeer: no go.mod above the working directory")
		}
		dir = parent
	}
}

// StartOIDCProvider starts the provider with args (e.g. "--alg", "ES256")
// and waits up to 30 s for the JSON line that announces its URLs. Close
// stops it.
func StartOIDCProvider(args ...string) (*OIDCProvider, error) {
	root, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node is not on PATH: %w", ErrMissing)
	}
	if _, err := os.Stat(filepath.Join(root, "e2e", "node_modules", "oidc-provider")); err != nil {
		return nil, fmt.Errorf("e2e/node_modules/oidc-provider is missing: %w", ErrMissing)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join(root, "e2e", "oidc-provider.mjs")}, args...)...)
	stderr := &Buffer{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("start oidc-provider: %w", err)
	}
	p := &OIDCProvider{cancel: cancel, cmd: cmd}
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case l, ok := <-line:
		if !ok || json.Unmarshal([]byte(l), p) != nil || p.Issuer == "" {
			p.Close()
			return nil, fmt.Errorf("oidc-provider did not start: %q\n%s", l, stderr.String())
		}
	case <-time.After(30 * time.Second):
		p.Close()
		return nil, fmt.Errorf("oidc-provider did not start within 30s\n%s", stderr.String())
	}
	return p, nil
}

// Close stops the provider and waits for it to exit.
func (p *OIDCProvider) Close() {
	p.cancel()
	_ = p.cmd.Wait()
}

// Token gets an access token for scope by the client_credentials grant.
func (p *OIDCProvider) Token(scope string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	req, err := http.NewRequest(http.MethodPost, p.Issuer+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.SetBasicAuth("svc", "svc-secret")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("token endpoint: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		return "", fmt.Errorf("token endpoint: status %d, error %q", resp.StatusCode, body.Error)
	}
	return body.AccessToken, nil
}

// AdminAction calls the test admin endpoint ("rotate" makes a new signing
// key current, "retire" drops the previous one) and returns the current kid.
func (p *OIDCProvider) AdminAction(action string) (string, error) {
	resp, err := http.Post(p.Admin+"/"+action, "application/json", nil)
	if err != nil {
		return "", fmt.Errorf("%s: %w", action, err)
	}
	defer resp.Body.Close()
	var st struct {
		Current string `json:"current"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: status %d, decode: %v", action, resp.StatusCode, err)
	}
	return st.Current, nil
}

// Buffer is a bytes.Buffer that a test may read while a server or child
// process is still writing to it from another goroutine.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
