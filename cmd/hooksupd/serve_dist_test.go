// SPDX-License-Identifier: Apache-2.0

//go:build unix

package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/service"
)

// The example production config that `make install` installs is valid,
// keeps the spawn policy strict and matches the documented defaults.
func TestDistConfig(t *testing.T) {
	cfg, err := config.Load("../../dist/hooks.toml")
	if err != nil {
		t.Fatalf("dist/hooks.toml: %v", err)
	}
	if !cfg.Policy.StrictModes {
		t.Error("dist/hooks.toml turns strict_modes off")
	}
	s := cfg.Server
	if s.Socket != service.DefaultSocket || s.MaxLineBytes != 1<<20 || s.MaxInflightPerConn != 256 ||
		s.MaxInflight != 4096 || s.DrainTimeout != 10*time.Second {
		t.Errorf("[server] differs from the defaults it documents: %+v", s)
	}
	for _, h := range cfg.Hooks {
		if h.Enabled {
			t.Errorf("example hook %s is enabled; its program is not installed", h.Name)
		}
	}
}

// The unit starts the binary and config `make install` installs, with the
// directives the service depends on.
func TestDistUnits(t *testing.T) {
	svc, err := os.ReadFile("../../dist/systemd/hooksupd.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Type=notify", "ExecStart=/usr/local/bin/hooksupd serve -c " + defaultConfigPath,
		`ExecReload=/bin/sh -c 'kill -HUP "$MAINPID"'`, "Delegate=yes", "KillMode=control-group",
		"WatchdogSec=", "RuntimeDirectory=hooksupd", "RuntimeDirectoryPreserve=yes",
	} {
		if !strings.Contains(string(svc), "\n"+want) {
			t.Errorf("hooksupd.service lacks %q", want)
		}
	}
	if strings.Contains(string(svc), "\nProtectControlGroups=yes") {
		t.Error("ProtectControlGroups=yes makes the delegated cgroup read-only")
	}
	sock, err := os.ReadFile("../../dist/systemd/hooksupd.socket")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(sock), "\nListenStream="+service.DefaultSocket+"\n") ||
		!strings.Contains(string(sock), "\nSocketMode=0660\n") {
		t.Errorf("hooksupd.socket does not listen on %s with mode 0660", service.DefaultSocket)
	}
}
