package metrics

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

const dashboardFile = "../../deploy/grafana/edgegate.json"

// grafanaDurations are the built-in Grafana variables that stand for a
// range or step; a query may use them only where PromQL takes a duration.
var grafanaDurations = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "15s",
	"__range":         "1h",
}

// grafanaVarRE matches the three spellings of a Grafana variable: $name,
// ${name} (optionally ${name:format}) and [[name]].
var grafanaVarRE = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)\]\]`)

// expandGrafana replaces Grafana's variables in a panel query with values
// Prometheus would see, so the query can go to the real PromQL parser:
// durations for the interval variables, a regex that matches anything for
// dashboard variables (they are used in =~ matchers). An unknown variable
// is an error: Grafana would send it to Prometheus unexpanded.
func expandGrafana(expr string, vars map[string]bool) (string, error) {
	var bad []string
	out := grafanaVarRE.ReplaceAllStringFunc(expr, func(m string) string {
		sub := grafanaVarRE.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[3]
		if d, ok := grafanaDurations[name]; ok {
			return d
		}
		if vars[name] {
			return ".+"
		}
		bad = append(bad, m)
		return m
	})
	if len(bad) > 0 {
		return "", fmt.Errorf("unknown Grafana variable %s", strings.Join(bad, ", "))
	}
	return out, nil
}

// scrapeLabels are added by Prometheus to every series it scrapes.
var scrapeLabels = []string{"instance", "job"}

// checkPromQL parses expr with Prometheus's own parser and checks it
// against the documented metrics: every selector names an edgegate metric
// (a histogram by its _bucket, _sum or _count series), every matcher a label
// that series has, and every by/without label one of the series it
// aggregates has.
func checkPromQL(expr string, known map[string]metricDoc) []string {
	ast, err := parser.ParseExpr(expr)
	if err != nil {
		return []string{fmt.Sprintf("does not parse: %v", err)}
	}
	var problems []string
	// seriesLabels is the label set of a selector's series, nil when the
	// selector names no edgegate metric.
	seriesLabels := func(vs *parser.VectorSelector) []string {
		name := vs.Name
		d, ok := known[name]
		extra := []string(nil)
		if !ok {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if b, cut := strings.CutSuffix(name, suf); cut {
					if hd, isHist := known[b]; isHist && hd.Type == "histogram" {
						d, ok = hd, true
						if suf == "_bucket" {
							extra = []string{"le"}
						}
					}
				}
			}
		}
		if !ok {
			return nil
		}
		return slices.Concat(d.Labels, extra, scrapeLabels)
	}
	selectors := 0
	parser.Inspect(ast, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			selectors++
			if n.Name == "" {
				problems = append(problems, fmt.Sprintf("selector %s names no metric", n))
				return nil
			}
			labels := seriesLabels(n)
			if labels == nil {
				problems = append(problems, fmt.Sprintf("%s is not a metric edgegate exports", n.Name))
				return nil
			}
			for _, m := range n.LabelMatchers {
				if m.Name != "__name__" && !slices.Contains(labels, m.Name) {
					problems = append(problems, fmt.Sprintf("%s has no label %q", n.Name, m.Name))
				}
			}
		case *parser.AggregateExpr:
			var under []string
			parser.Inspect(n.Expr, func(inner parser.Node, _ []parser.Node) error {
				if vs, ok := inner.(*parser.VectorSelector); ok {
					under = append(under, seriesLabels(vs)...)
				}
				return nil
			})
			for _, l := range n.Grouping {
				if !slices.Contains(under, l) {
					problems = append(problems, fmt.Sprintf("%s groups by %q, which none of its series has", n.Op, l))
				}
			}
		}
		return nil
	})
	if selectors == 0 {
		problems = append(problems, "names no metric")
	}
	return problems
}

// TestDashboardQueriesNameRealMetrics loads the Grafana dashboard and checks
// that it is well-formed and that every query is valid PromQL (parsed by
// Prometheus's parser once Grafana's variables are expanded) over metrics
// and labels the gateway exports (as documented in docs/metrics.md, which
// TestMetricsDocInStep keeps equal to the registry).
func TestDashboardQueriesNameRealMetrics(t *testing.T) {
	src, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr  string `json:"expr"`
				RefID string `json:"refId"`
			} `json:"targets"`
			GridPos struct{ X, Y, W, H int } `json:"gridPos"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(src, &dash); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardFile, err)
	}
	if dash.Title == "" || dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard lacks title, uid or panels")
	}
	known := documented(t)
	vars := map[string]bool{}
	for _, v := range dash.Templating.List {
		vars[v.Name] = true
	}
	ids := map[int]bool{}
	queries := 0
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q has a bad grid position %+v", p.Title, p.GridPos)
		}
		for _, tg := range p.Targets {
			queries++
			expr, err := expandGrafana(tg.Expr, vars)
			if err != nil {
				t.Errorf("panel %q: %v in %s", p.Title, err, tg.Expr)
				continue
			}
			for _, problem := range checkPromQL(expr, known) {
				t.Errorf("panel %q: %s\n\tquery: %s", p.Title, problem, tg.Expr)
			}
		}
	}
	if queries < 10 {
		t.Errorf("only %d queries in the dashboard", queries)
	}
}

// TestMetricsDocQueries parses the example queries of docs/metrics.md
// (the ```promql blocks, one query per paragraph) the same way.
func TestMetricsDocQueries(t *testing.T) {
	src, err := os.ReadFile(docFile)
	if err != nil {
		t.Fatal(err)
	}
	known := documented(t)
	n := 0
	for _, block := range strings.Split(string(src), "```promql\n")[1:] {
		body, _, ok := strings.Cut(block, "```")
		if !ok {
			t.Fatalf("%s: unterminated promql block", docFile)
		}
		for _, para := range strings.Split(body, "\n\n") {
			var lines []string
			for _, l := range strings.Split(para, "\n") {
				if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
					lines = append(lines, l)
				}
			}
			if len(lines) == 0 {
				continue
			}
			n++
			q := strings.Join(lines, " ")
			for _, problem := range checkPromQL(q, known) {
				t.Errorf("%s: %s\n\tquery: %s", docFile, problem, q)
			}
		}
	}
	if n < 4 {
		t.Errorf("%s: only %d example queries found", docFile, n)
	}
}

// TestCheckPromQLCatchesMistakes proves the checks fail on the mistakes
// they are there for, starting with the one a dashboard once shipped.
func TestCheckPromQLCatchesMistakes(t *testing.T) {
	known := map[string]metricDoc{
		"edgegate_cache_requests_total":     {Type: "counter", Labels: []string{"status"}},
		"edgegate_request_duration_seconds": {Type: "histogram", Labels: []string{"route"}},
	}
	vars := map[string]bool{"instance": true}
	for _, tc := range []struct {
		name, expr string
		ok         bool
	}{
		{"valid ratio", `sum(rate(edgegate_cache_requests_total{instance=~"$instance",status="hit"}[$__rate_interval])) / sum(rate(edgegate_cache_requests_total{instance=~"$instance"}[$__rate_interval]))`, true},
		{"valid histogram", `histogram_quantile(0.99, sum by (le, route) (rate(edgegate_request_duration_seconds_bucket{instance=~"${instance}"}[5m])))`, true},
		{"stray brace", `sum(rate(edgegate_cache_requests_total{instance=~"$instance"},status="hit"}[$__rate_interval]))`, false},
		{"unbalanced parenthesis", `sum(rate(edgegate_cache_requests_total[5m])`, false},
		{"bad matcher", `edgegate_cache_requests_total{status=hit}`, false},
		{"unknown metric", `rate(edgegate_cache_request_total[5m])`, false},
		{"unknown label", `edgegate_cache_requests_total{tier="memory"}`, false},
		{"le on a counter", `sum by (le) (edgegate_cache_requests_total)`, false},
		{"_bucket of a counter", `edgegate_cache_requests_total_bucket`, false},
		{"unknown variable", `rate(edgegate_cache_requests_total{instance=~"$node"}[5m])`, false},
		{"variable as a duration", `rate(edgegate_cache_requests_total[$instance])`, false},
		{"no metric", `vector(1)`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var problems []string
			expr, err := expandGrafana(tc.expr, vars)
			if err != nil {
				problems = []string{err.Error()}
			} else {
				problems = checkPromQL(expr, known)
			}
			if ok := len(problems) == 0; ok != tc.ok {
				t.Errorf("%s: problems %q, want ok=%v", tc.expr, problems, tc.ok)
			}
		})
	}
}
