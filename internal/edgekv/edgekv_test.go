package edgekv

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgegate/edgegate/internal/script"
)

const seed = `{"redirects": {"paths": {"old": {"to": "/new", "status": 301}, "text": "plain value"}}, "empty": {}}`

func newStore(t *testing.T, token string) *Store {
	t.Helper()
	s := New(Options{Token: token})
	if err := s.Load([]byte(seed)); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAPI(t *testing.T) {
	srv := httptest.NewServer(newStore(t, "secret-token"))
	defer srv.Close()
	item := srv.URL + "/api/v1/namespaces/redirects/groups/paths/items/"
	do := func(method, url, body string, hdr map[string]string) (int, string, http.Header) {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	auth := map[string]string{"X-Akamai-EdgeDB-Auth": "secret-token"}
	steps := []struct {
		name, method, url, body string
		hdr                     map[string]string
		status                  int
		want                    string
	}{
		{"json value", "GET", item + "old", "", auth, 200, `{"to":"/new","status":301}`},
		{"text value", "GET", item + "text", "", auth, 200, "plain value"},
		{"missing item", "GET", item + "nope", "", auth, 404, "EKV_NOT_FOUND"},
		{"no token", "GET", item + "old", "", nil, 401, "missing X-Akamai-EdgeDB-Auth"},
		{"wrong token", "GET", item + "old", "", map[string]string{"X-Akamai-EdgeDB-Auth": "guess"}, 403, "not valid"},
		{"reference only", "GET", item + "old", "", map[string]string{"X-Akamai-EdgeDB-Auth-Ref": "ref"}, 403, "not valid"},
		{"unknown namespace", "GET", srv.URL + "/api/v1/namespaces/other/groups/g/items/i", "", auth, 400, "namespace does not exist"},
		{"bad item name", "GET", item + "a.b", "", auth, 400, "item \\\"a.b\\\""},
		{"bad path", "GET", srv.URL + "/api/v1/namespaces/redirects", "", auth, 400, "not an EdgeKV item path"},
		{"put", "PUT", item + "fresh", "v1", auth, 200, "Item was upserted"},
		{"read back", "GET", item + "fresh", "", auth, 200, "v1"},
		{"put in new group", "PUT", srv.URL + "/api/v1/namespaces/empty/groups/g2/items/x", "{}", auth, 200, "upserted"},
		{"too large", "PUT", item + "big", strings.Repeat("x", MaxValue+1), auth, 413, "250 KB"},
		{"delete", "DELETE", item + "fresh", "", auth, 200, "marked for deletion"},
		{"deleted", "GET", item + "fresh", "", auth, 404, ""},
		{"method", "PATCH", item + "old", "", auth, 405, "not allowed"},
		{"sandbox query ignored", "GET", item + "text?sandboxId=abc&sandboxFallback=true", "", auth, 200, "plain value"},
	}
	for _, st := range steps {
		code, body, _ := do(st.method, st.url, st.body, st.hdr)
		if code != st.status || !strings.Contains(body, st.want) {
			t.Errorf("%s: %d %q, want %d containing %q", st.name, code, body, st.status, st.want)
		}
		if strings.Contains(body, "secret-token") {
			t.Errorf("%s: the token is echoed", st.name)
		}
	}
}

func TestAnyTokenWhenNoneConfigured(t *testing.T) {
	s := newStore(t, "")
	for _, tc := range []struct {
		hdr    string
		status int
	}{{"", 401}, {"anything", 200}} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "http://"+Host+"/api/v1/namespaces/redirects/groups/paths/items/text", nil)
		if tc.hdr != "" {
			req.Header.Set(AuthHeader, tc.hdr)
		}
		s.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("token %q: %d, want %d", tc.hdr, rec.Code, tc.status)
		}
	}
}

func TestLoad(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"not json", `[`, "want {"},
		{"not nested", `{"ns": "x"}`, "want {"},
		{"bad namespace", `{"a b": {}}`, `namespace "a b"`},
		{"bad group", `{"ns": {"g/1": {}}}`, `group "g/1"`},
		{"bad item", `{"ns": {"g": {"i.j": 1}}}`, `item "i.j"`},
		{"too large", `{"ns": {"g": {"i": "` + strings.Repeat("x", MaxValue+1) + `"}}}`, "250 KB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := New(Options{}).Load([]byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
	if err := New(Options{}).LoadFile(filepath.Join(t.TempDir(), "none.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	s := newStore(t, "")
	if got := strings.Join(s.Namespaces(), ","); got != "empty,redirects" {
		t.Errorf("namespaces %s", got)
	}
	if _, _, err := s.Get("nope", "g", "i"); !errors.Is(err, ErrNamespace) {
		t.Errorf("Get unknown namespace: %v", err)
	}
	if err := s.Put("nope", "g", "i", nil); !errors.Is(err, ErrNamespace) {
		t.Errorf("Put unknown namespace: %v", err)
	}
	if err := s.AddNamespace("bad ns"); err == nil {
		t.Error("AddNamespace accepted a bad name")
	}
}

// The helper file bundles carry (the shipped example's copy), run through
// the script engine with the store intercepting its sub-requests.
func TestHelperFile(t *testing.T) {
	helper, err := os.ReadFile(filepath.Join("..", "..", "examples", "edgeworkers", "edgekv-redirect", "edgekv.js"))
	if err != nil {
		t.Fatal(err)
	}
	mainJS := `
import { EdgeKV } from './edgekv.js';
const kv = new EdgeKV({ namespace: 'redirects', group: 'paths' });
const pos = new EdgeKV('redirects', 'paths');
async function steps(request) {
  const out = [];
  const step = async (name, f) => { try { out.push(name + '=' + JSON.stringify(await f())); } catch (e) { out.push(name + '!' + e.status + ':' + e.failed + (e.status === 0 ? ' (' + e.body + ')' : '')); } };
  await step('json', () => kv.getJson({ item: 'old' }));
  await step('text', () => pos.getText({ item: 'text' }));
  await step('default', () => kv.getText({ item: 'missing', default_value: 'dflt' }));
  await step('nulldefault', () => kv.getJson({ item: 'missing' }));
  await step('putJson', () => kv.putJson({ item: 'n', value: { a: 1 } }).then(() => kv.getJson({ item: 'n' })));
  await step('override', () => kv.getText({ namespace: 'empty', group: 'x', item: 'y', default_value: 'none' }));
  await step('delete', () => kv.delete({ item: 'n' }).then(() => kv.getText({ item: 'n', default_value: 'gone' })));
  await step('badname', () => kv.getText({ item: 'a.b' }));
  await step('badtimeout', () => kv.getText({ item: 'old', timeout: 5000 }));
  await step('notoken', () => kv.getText({ namespace: 'nokey', item: 'x' }));
  return out.join('\n');
}
import { createResponse } from 'create-response';
export async function responseProvider(request) { return createResponse(200, {}, await steps(request)); }
`
	tokens := `export const edgekv_access_tokens = { "namespace-redirects": { "value": "secret-token" }, "namespace-empty": { "value": "wrong" } };`
	b, err := script.LoadFiles(map[string][]byte{"bundle.json": []byte(`{"edgeworker-version":"1"}`), "main.js": []byte(mainJS), "edgekv.js": helper, "edgekv_tokens.js": []byte(tokens)})
	if err != nil {
		t.Fatal(err)
	}
	tier, _ := script.TierByName("enterprise")
	w, err := script.NewWorker(b, nil, script.Options{Tier: tier})
	if err != nil {
		t.Fatal(err)
	}
	store := newStore(t, "secret-token")
	req := &script.Request{Method: "GET", Scheme: "https", Host: "www.example.com", Path: "/", Header: http.Header{}, Vars: script.NewVariables(4096), Sub: store.Intercept(nil)}
	res := w.Run(context.Background(), script.ResponseProvider, req, nil)
	out := ""
	if res.Provided != nil {
		out = string(res.Provided.Body)
	}
	want := strings.Join([]string{
		`json={"to":"/new","status":301}`,
		`text="plain value"`,
		`default="dflt"`,
		`nulldefault=null`,
		`putJson={"a":1}`,
		`override!403:FAILED GET TEXT: 403`,
		`delete="gone"`,
		`badname!0:FAILED GET TEXT (Item is not valid. Must be 512 characters or less, consisting of A-Z a-z 0-9 _ or -)`,
		`badtimeout!0:FAILED GET TEXT (Timeout is not valid. Must be a number greater than 0 and less than 4000.)`,
		`notoken!0:FAILED GET TEXT (MISSING ACCESS TOKEN. No EdgeKV Access Token defined for namespace 'nokey'.)`,
	}, "\n")
	if out != want {
		t.Errorf("helper steps (status %s %v):\n%s\nwant:\n%s", res.Status, res.Err, out, want)
	}
}

func TestInterceptPassesOtherHosts(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "origin:"+r.URL.Path) }))
	defer origin.Close()
	sub := newStore(t, "").Intercept(&script.ClientSub{Client: origin.Client()})
	resp, err := sub.Do(context.Background(), &script.SubRequest{Method: "GET", URL: origin.URL + "/x", Header: http.Header{}, MaxBody: 100})
	if err != nil || string(resp.Body) != "origin:/x" {
		t.Fatalf("other host: %v %v", resp, err)
	}
	if _, err := newStore(t, "").Intercept(nil).Do(context.Background(), &script.SubRequest{Method: "GET", URL: origin.URL, Header: http.Header{}}); err == nil {
		t.Error("nil next accepted a sub-request")
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/api/v1/namespaces/a/groups/b/items/c", "/api/v1/namespaces//groups/b/items/c", "/api/v1/namespaces/a/groups/b/items/c/d", "/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		ns, g, it, err := ParsePath(p)
		if err != nil {
			if !errors.Is(err, ErrBadPath) {
				t.Fatalf("error %v does not wrap ErrBadPath", err)
			}
			return
		}
		if "/api/v1/namespaces/"+ns+"/groups/"+g+"/items/"+it != p {
			t.Fatalf("%q parsed as %q %q %q", p, ns, g, it)
		}
		if !nsRe.MatchString(ns) || !groupRe.MatchString(g) || !itemRe.MatchString(it) {
			t.Fatalf("%q: names not checked", p)
		}
	})
}
