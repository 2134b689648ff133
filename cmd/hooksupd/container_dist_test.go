// SPDX-License-Identifier: Apache-2.0

//go:build unix

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hooksupd/hooksupd/config"
)

// TestContainerDist keeps the Dockerfile and dist/k8s in step with the
// binary: the ConfigMap's hooks.toml is a valid configuration, the
// commands the image and the pod run take the flags they are given, and
// what the Dockerfile copies exists. (test/container runs hooksupd the
// way the pod does, in the v2 VM.)
func TestContainerDist(t *testing.T) {
	root := filepath.Join("..", "..")
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	ds := read("dist/k8s/daemonset.yaml")
	m := regexp.MustCompile(`(?m)^  hooks\.toml: \|\n((?:    .*\n|\n)+)`).FindStringSubmatch(ds)
	if m == nil {
		t.Fatal("dist/k8s/daemonset.yaml has no hooks.toml in its ConfigMap")
	}
	toml := regexp.MustCompile(`(?m)^    `).ReplaceAllString(m[1], "")
	cfg, err := config.Parse("daemonset.yaml:hooks.toml", []byte(toml))
	if err != nil {
		t.Fatalf("the ConfigMap's hooks.toml: %v", err)
	}
	if cfg.Server.MetricsListen == "" {
		t.Error("the ConfigMap's hooks.toml sets no [server] metrics_listen for Prometheus")
	}
	if !strings.Contains(ds, `containerPort: 9464`) || !strings.Contains(cfg.Server.MetricsListen, ":9464") {
		t.Errorf("metrics_listen %q and the pod's metrics port disagree", cfg.Server.MetricsListen)
	}

	// Commands: the pod's args and the image's CMD, each checked by
	// parsing its flags (--help after them exits 0 only if they parse).
	var cmds [][]string
	for _, a := range regexp.MustCompile(`(?m)^\s+args: (\[.*\])$`).FindAllStringSubmatch(ds, -1) {
		var argv []string
		if err := json.Unmarshal([]byte(a[1]), &argv); err != nil {
			t.Fatalf("args %s: %v", a[1], err)
		}
		cmds = append(cmds, argv)
	}
	df := read("Dockerfile")
	if c := regexp.MustCompile(`(?m)^CMD (\[.*\])$`).FindStringSubmatch(df); c != nil {
		var argv []string
		if err := json.Unmarshal([]byte(c[1]), &argv); err != nil {
			t.Fatalf("CMD %s: %v", c[1], err)
		}
		cmds = append(cmds, argv)
	} else {
		t.Error("the Dockerfile has no CMD")
	}
	if len(cmds) < 2 {
		t.Fatalf("found %d commands in the Dockerfile and the DaemonSet", len(cmds))
	}
	for _, argv := range cmds {
		if r := hooksupd(t, "", append(argv, "--help")...); r.code != 0 {
			t.Errorf("hooksupd %v: exit %d: %s", argv, r.code, r.stderr)
		}
	}

	// What the Dockerfile copies from the tree.
	for _, c := range regexp.MustCompile(`(?m)^COPY (?:--chmod=\S+ )?([^-\s]\S*) `).FindAllStringSubmatch(df, -1) {
		if c[1] == "." || c[1] == "go.mod" {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, c[1])); err != nil {
			t.Errorf("the Dockerfile copies %s: %v", c[1], err)
		}
	}
}
