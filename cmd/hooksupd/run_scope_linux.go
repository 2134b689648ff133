// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// An unprivileged hooksupd run on a cgroup v2 host cannot create cgroups
// where it starts (a login session's scope belongs to systemd). It asks
// the user's systemd manager for a scope of its own with Delegate=yes, as
// `systemd-run --user --scope -p Delegate=yes` does, moves itself into it,
// and the supervisor then makes its groups below (its usual rule for a
// delegated cgroup: docs/run.md).

// userScopeTimeout bounds the D-Bus exchange and the move.
const userScopeTimeout = 5 * time.Second

// canAskUserManager reports whether a delegated user scope may help: not
// root, on a pure cgroup v2 host.
func canAskUserManager() bool {
	if os.Geteuid() == 0 {
		return false
	}
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// enterUserScope moves hooksupd into a new delegated scope of the calling
// user's systemd manager and returns the scope's name.
func enterUserScope(cmdName string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), userScopeTimeout)
	defer cancel()
	conn, err := userManager(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	name := fmt.Sprintf("hooksupd-run-%s-%d.scope", groupName(cmdName), os.Getpid())
	props := []sddbus.Property{
		sddbus.PropDescription("hooksupd run " + cmdName),
		sddbus.PropPids(uint32(os.Getpid())),
		{Name: "Delegate", Value: dbus.MakeVariant(true)},
		// Gone as soon as hooksupd is, even after a failure.
		{Name: "CollectMode", Value: dbus.MakeVariant("inactive-or-failed")},
	}
	// Completion is watched in /proc/self/cgroup rather than through the
	// JobRemoved signal: a private connection to the manager (no session
	// bus) gets no signals it did not subscribe to.
	if _, err := conn.StartTransientUnitContext(ctx, name, "fail", props, nil); err != nil {
		return "", fmt.Errorf("the user manager refused the scope %s: %w", name, err)
	}
	for {
		if b, err := os.ReadFile("/proc/self/cgroup"); err == nil && strings.Contains(string(b), "/"+name) {
			return name, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("hooksupd was not moved into %s within %v", name, userScopeTimeout)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// userManager connects to the user's systemd manager: through the session
// bus when there is one, else directly on the manager's private socket
// ($XDG_RUNTIME_DIR/systemd/private), which needs no D-Bus daemon.
func userManager(ctx context.Context) (*sddbus.Conn, error) {
	runtimeDir := os.Getenv("XDG_RUNTIME_DIR")
	if runtimeDir == "" {
		runtimeDir = "/run/user/" + strconv.Itoa(os.Getuid())
	}
	var errs []error
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" || pathExists(filepath.Join(runtimeDir, "bus")) {
		if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
			// The session bus library finds the bus through this variable.
			os.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(runtimeDir, "bus"))
		}
		conn, err := sddbus.NewUserConnectionContext(ctx)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, fmt.Errorf("session bus: %w", err))
	}
	private := filepath.Join(runtimeDir, "systemd", "private")
	conn, err := sddbus.NewConnection(func() (*dbus.Conn, error) {
		c, err := dbus.Dial("unix:path="+private, dbus.WithContext(ctx))
		if err != nil {
			return nil, err
		}
		if err := c.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	})
	if err == nil {
		return conn, nil
	}
	errs = append(errs, fmt.Errorf("%s: %w", private, err))
	return nil, fmt.Errorf("no systemd user manager to ask for a delegated scope: %w", errors.Join(errs...))
}

func pathExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
