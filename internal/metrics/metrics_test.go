package metrics

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const docFile = "../../docs/metrics.md"

// metricDoc is one metric as the doc's reference table or the registry
// describes it.
type metricDoc struct {
	Type   string
	Labels []string // sorted
}

// touchAll creates one child of every vector in m, so that Gather reports
// every family; it returns how many collectors it found. It walks the
// struct, including the per-stage groups (Authn, Session, ...), rather than
// naming fields, so a new collector cannot be forgotten here.
func touchAll(t *testing.T, m *Metrics) int {
	t.Helper()
	return touchStruct(t, "Metrics", reflect.ValueOf(m).Elem())
}

func touchStruct(t *testing.T, path string, v reflect.Value) int {
	t.Helper()
	n := 0
	for i := range v.NumField() {
		f := v.Field(i)
		name := path + "." + v.Type().Field(i).Name
		if !v.Type().Field(i).IsExported() {
			// Plumbing, not a collector (the registered-vs-gathered
			// count in TestMetricsDocInStep catches a hidden collector).
			if strings.Contains(f.Type().String(), "atomic.") {
				continue
			}
			t.Fatalf("%s: unexported field; touchAll cannot reach it", name)
		}
		if v.Type().Field(i).Tag.Get("metrics") == "derived" {
			continue // children of a vector that is itself a field
		}
		if f.Kind() == reflect.Struct {
			n += touchStruct(t, name, f)
			continue
		}
		var try func(...string) error
		switch c := f.Interface().(type) {
		case *prometheus.Registry:
			continue
		case *prometheus.CounterVec:
			try = func(l ...string) error { _, err := c.GetMetricWithLabelValues(l...); return err }
		case *prometheus.GaugeVec:
			try = func(l ...string) error { _, err := c.GetMetricWithLabelValues(l...); return err }
		case *prometheus.HistogramVec:
			try = func(l ...string) error { _, err := c.GetMetricWithLabelValues(l...); return err }
		case *prometheus.SummaryVec:
			try = func(l ...string) error { _, err := c.GetMetricWithLabelValues(l...); return err }
		case prometheus.Metric:
			// A collector without labels (Counter, Gauge, Histogram, ...)
			// is gathered as it is.
			n++
			continue
		default:
			t.Fatalf("%s: unhandled collector type %T; teach touchAll about it", name, f.Interface())
		}
		// The label count is not exported; find it by trying.
		ok := false
		for arity := 0; arity <= 8 && !ok; arity++ {
			labels := make([]string, arity)
			for j := range labels {
				labels[j] = fmt.Sprintf("sample%d", j)
			}
			ok = try(labels...) == nil
		}
		if !ok {
			t.Fatalf("%s: no label count from 0 to 8 accepted", name)
		}
		n++
	}
	return n
}

// registered returns the edgegate_* metric names the registry describes.
func registered(reg *prometheus.Registry) []string {
	ch := make(chan *prometheus.Desc)
	go func() { reg.Describe(ch); close(ch) }()
	re := regexp.MustCompile(`fqName: "([^"]*)"`)
	var names []string
	for d := range ch {
		if m := re.FindStringSubmatch(d.String()); m != nil && strings.HasPrefix(m[1], "edgegate_") {
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	return names
}

func gathered(t *testing.T, m *Metrics) map[string]metricDoc {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := map[string]metricDoc{}
	for _, mf := range families {
		if !strings.HasPrefix(mf.GetName(), "edgegate_") {
			continue
		}
		var labels []string
		for _, lp := range mf.GetMetric()[0].GetLabel() {
			labels = append(labels, lp.GetName())
		}
		slices.Sort(labels)
		out[mf.GetName()] = metricDoc{Type: strings.ToLower(mf.GetType().String()), Labels: labels}
	}
	return out
}

// documented parses the reference table: rows of the form
// "| `name` | type | `label`, `label` | meaning |".
func documented(t *testing.T) map[string]metricDoc {
	t.Helper()
	src, err := os.ReadFile(docFile)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]metricDoc{}
	for _, line := range strings.Split(string(src), "\n") {
		if !strings.HasPrefix(line, "| `edgegate_") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 5 {
			t.Fatalf("%s: malformed row %q", docFile, line)
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		var labels []string
		for l := range strings.SplitSeq(cells[3], ",") {
			if l = strings.Trim(strings.TrimSpace(l), "`"); l != "" && l != "-" {
				labels = append(labels, l)
			}
		}
		slices.Sort(labels)
		if _, dup := out[name]; dup {
			t.Errorf("%s documents %s twice", docFile, name)
		}
		out[name] = metricDoc{Type: strings.TrimSpace(cells[2]), Labels: labels}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no metric table found", docFile)
	}
	return out
}

// TestMetricsDocInStep keeps docs/metrics.md and New in step: the same
// edgegate_* metrics, each with the same type and label names.
func TestMetricsDocInStep(t *testing.T) {
	m := New()
	touched := touchAll(t, m)
	got := gathered(t, m)
	if reg := registered(m.Registry); len(reg) != len(got) {
		t.Fatalf("registered %v but only %d gathered: a collector is not a field of Metrics", reg, len(got))
	}
	if touched != len(got) {
		t.Errorf("touched %d vectors, gathered %d edgegate_* families", touched, len(got))
	}
	if diff := cmp.Diff(documented(t), got); diff != "" {
		t.Errorf("%s (-) vs registry of New() (+):\n%s", docFile, diff)
	}
}

// TestRegistriesAreSeparate is the reason New makes a registry per gateway:
// two gateways in one process must not see each other's numbers.
func TestRegistriesAreSeparate(t *testing.T) {
	a, b := New(), New()
	a.Requests.WithLabelValues("api", "200").Add(3)
	b.Requests.WithLabelValues("api", "200").Add(5)
	for _, tc := range []struct {
		m    *Metrics
		want float64
	}{{a, 3}, {b, 5}} {
		families, err := tc.m.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var got float64
		found := false
		for _, mf := range families {
			if mf.GetName() == "edgegate_requests_total" && mf.GetType() == dto.MetricType_COUNTER {
				got, found = mf.GetMetric()[0].GetCounter().GetValue(), true
			}
		}
		if !found || got != tc.want {
			t.Errorf("edgegate_requests_total = %v (found %v), want %v", got, found, tc.want)
		}
	}
}

func TestHandler(t *testing.T) {
	m := New()
	m.PoolInFlight.WithLabelValues("app").Set(7)
	m.ConfigInfo.WithLabelValues("abc123").Set(1)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want the text exposition format", ct)
	}
	for _, want := range []string{
		`edgegate_pool_in_flight_requests{pool="app"} 7`,
		`edgegate_config_info{hash="abc123"} 1`,
		"# TYPE edgegate_pool_in_flight_requests gauge",
		"go_goroutines ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
