package service

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// scrape returns the metric names of one real /metrics response.
func scrape(t *testing.T, ts *testServer) map[string]bool {
	t.Helper()
	msock := filepath.Join(ts.dir, "metrics.sock")
	m, err := StartMetrics(ts.srv, msock, ts.srv.log)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", msock)
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("http://hooksupd/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	names := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

// queried lists the hooksupd_* and process_* metric names an expression
// text uses.
var metricName = regexp.MustCompile(`\b(hooksupd_[a-z_]+|process_[a-z_]+)\b`)

// The shipped Grafana dashboard and Prometheus alerts query only metrics
// the service exports: a renamed metric breaks this test, not a dashboard
// nobody looks at until the day it matters.
func TestDashboardsQueryRealMetrics(t *testing.T) {
	dir := t.TempDir()
	ts := startServerIn(t, dir, slowFastConfig(t, dir, "0", ""), nil)
	c := dial(t, ts.sock)
	c.RoundTrip(`{"id":1,"op":"fire","event":"pre_store"}`)
	c.RoundTrip(`{"id":2,"op":"fire","event":"pre_delete"}`)
	have := scrape(t, ts)

	var exprs []string
	raw, err := os.ReadFile("../dist/grafana/hooksupd.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(string); ok {
			exprs = append(exprs, q)
		}
	}
	alerts, err := os.ReadFile("../dist/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	exprs = append(exprs, string(alerts))

	var used []string
	for _, e := range exprs {
		used = append(used, metricName.FindAllString(e, -1)...)
	}
	slices.Sort(used)
	used = slices.Compact(used)
	if len(used) < 10 {
		t.Fatalf("only %d metric names found in the dashboard and alerts: %v", len(used), used)
	}
	for _, name := range used {
		if !have[name] {
			t.Errorf("the dashboard or alerts query %s, which /metrics does not export", name)
		}
	}
}
