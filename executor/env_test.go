// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"context"
	"errors"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/supervisor"
)

func TestChildEnvIsAnAllowlist(t *testing.T) {
	h := &config.Hook{
		Name:    "audit",
		Env:     map[string]string{"B": "2", "A": "1", "HOOKSUPD_EVENT": "spoof", "TZ": "UTC"},
		PassEnv: []string{"LANG", "UNSET", "TZ"},
	}
	supervisorEnv := map[string]string{"LANG": "C.UTF-8", "TZ": "Europe/Paris", "SECRET": "x", "PATH": "/home/me/bin"}
	lookup := func(k string) (string, bool) { v, ok := supervisorEnv[k]; return v, ok }
	got := childEnv(h, "pre_store", lookup)
	want := []string{
		"A=1", "B=2",
		"HOOKSUPD_EVENT=pre_store", "HOOKSUPD_HOOK=audit",
		"LANG=C.UTF-8",
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"TZ=UTC", // the env table wins over pass_env
	}
	if !slices.Equal(got, want) {
		t.Errorf("env\n got %q\nwant %q", got, want)
	}
	// The hook's env table may set PATH explicitly.
	h2 := &config.Hook{Name: "p", Env: map[string]string{"PATH": "/opt/bin"}}
	if got := childEnv(h2, "e", lookup); !slices.Contains(got, "PATH=/opt/bin") || len(got) != 3 {
		t.Errorf("explicit PATH: %q", got)
	}
}

// TestCredential: the child's credential comes from the ids the config
// resolved at load (config.Parse resolves names and refuses unknown users);
// nothing is looked up per fire.
func TestCredential(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no users")
	}
	if c := credential(&config.Hook{}); c != nil {
		t.Fatalf("no user: %+v", c)
	}
	cfg, err := config.Parse("hooks.toml", []byte(`[[hook]]
event = "pre_store"
command = "/bin/true"
priority = 1
timeout_ms = 100
namespace = "*"
user = "4242000"
group = "4242001"

[[hook]]
event = "pre_store"
command = "/bin/true"
priority = 1
timeout_ms = 100
namespace = "*"
user = "root"
group = "4242"

[[hook]]
event = "pre_store"
command = "/bin/true"
priority = 1
timeout_ms = 100
namespace = "*"
group = "4243"
`))
	if err != nil {
		t.Fatal(err)
	}
	c := credential(&cfg.Hooks[0])
	if c.UID != 4242000 || c.GID != 4242001 || c.Groups == nil || len(c.Groups) != 0 {
		t.Fatalf("numeric uid and gid without passwd entries: %+v", c)
	}
	if c = credential(&cfg.Hooks[1]); c.UID != 0 || c.GID != 4242 {
		t.Fatalf("root with group: %+v", c)
	}
	// A group alone keeps the supervisor's uid, unless that is root: then
	// the hook gets a dynamic uid with the group.
	wantUID := uint32(os.Getuid())
	if cfg.Hooks[2].DynamicUser {
		wantUID = cfg.Hooks[2].UID
		if wantUID == 0 || os.Getuid() != 0 {
			t.Fatalf("group alone: dynamic uid %d (supervisor uid %d)", wantUID, os.Getuid())
		}
	} else if os.Getuid() == 0 {
		t.Fatal("group alone, as root: no dynamic uid")
	}
	if c = credential(&cfg.Hooks[2]); c.UID != wantUID || c.GID != 4243 {
		t.Fatalf("group alone: %+v, want uid %d gid 4243", c, wantUID)
	}
}

// TestPlanCarriesSandbox: a hook's [hook.sandbox] reaches its child's
// spec, and a dynamic user becomes the child's credential.
func TestPlanCarriesSandbox(t *testing.T) {
	h := config.Hook{Name: "s", Event: "pre_store", Command: "/bin/true", DynamicUser: true, UID: 61001, GID: 61001,
		Sandbox: supervisor.Sandbox{PrivateNetwork: true, ProtectSystem: "strict"}}
	p := compile(&h, config.BuiltinEvents(), func(string) (string, bool) { return "", false })
	if !reflect.DeepEqual(p.spec.Sandbox, h.Sandbox) {
		t.Errorf("spec sandbox %+v, want %+v", p.spec.Sandbox, h.Sandbox)
	}
	if c := p.spec.Credential; c == nil || c.UID != 61001 || c.GID != 61001 {
		t.Errorf("dynamic user credential %+v", c)
	}
}

// A timeout names the budget the hook had, not only how long it ran.
func TestTimeoutErrorNamesBudget(t *testing.T) {
	start := time.Now()
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(200*time.Millisecond))
	defer cancel()
	err := timeoutError(ctx, start)
	if !errors.Is(err, ErrTimeout) || !strings.HasPrefix(err.Error(), "hook timed out after 200ms budget (") {
		t.Errorf("timeout error %q", err)
	}
}
