// SPDX-License-Identifier: Apache-2.0

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
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// metricRef matches a metric name in a PromQL expression of the shipped
// dashboard and alerts.
var metricRef = regexp.MustCompile(`\b(?:hooksupd|process|go)_[a-z0-9_]+\b`)

// Every metric that dist/grafana/hooksupd.json and dist/prometheus/*.yml
// query exists in the /metrics output of a real server with an exec and a
// daemon hook that have fired, and the 250ms bucket edge the latency alert
// divides by is one of the histogram's.
func TestDistQueriesUseRealMetrics(t *testing.T) {
	dir := testutil.HookDir(t)
	ts := startServerIn(t, dir, slowFastConfig(t, dir, "0", ""), nil)
	msock := filepath.Join(dir, "metrics.sock")
	m, err := StartMetrics(ts.srv, msock, ts.srv.log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m.Close(ctx)
	}()
	c := dial(t, ts.sock)
	c.RoundTrip(`{"id":1,"op":"fire","event":"pre_store"}`)
	c.RoundTrip(`{"id":2,"op":"fire","event":"pre_delete"}`)
	text := scrape(t, msock)

	// The series names /metrics has: every sample's name, so a
	// histogram's _bucket, _sum and _count are there as they are queried.
	have := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		have[name] = true
	}
	if !strings.Contains(text, `hooksupd_hook_duration_seconds_bucket{event="pre_delete",hook="slow",le="0.25"}`) {
		t.Errorf(`no le="0.25" bucket, which HookLatencyOverBudget divides by`)
	}

	var dash any
	files := []string{"../dist/grafana/hooksupd.json", "../dist/prometheus/alerts.yml", "../dist/prometheus/alerts_test.yml"}
	refs := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".json") {
			if err := json.Unmarshal(data, &dash); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		}
		var missing []string
		seen := map[string]bool{}
		for _, name := range metricRef.FindAllString(string(data), -1) {
			if seen[name] {
				continue
			}
			seen[name] = true
			refs++
			// A histogram is named by its family in descriptions.
			if !have[name] && !have[name+"_count"] {
				missing = append(missing, name)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("%s queries metrics that /metrics does not have: %v", f, missing)
		}
	}
	if refs < 15 {
		t.Errorf("only %d metric names found in %v: is the pattern still right?", refs, files)
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", text)
	}
}

// scrape GETs /metrics from the endpoint on a unix socket.
func scrape(t *testing.T, sock string) string {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("http://hooksupd/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}
