package executor

import (
	"runtime"
	"slices"
	"testing"
)

func TestChildEnvIsAnAllowlist(t *testing.T) {
	h := &Hook{
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
	h2 := &Hook{Name: "p", Env: map[string]string{"PATH": "/opt/bin"}}
	if got := childEnv(h2, "e", lookup); !slices.Contains(got, "PATH=/opt/bin") || len(got) != 3 {
		t.Errorf("explicit PATH: %q", got)
	}
}

func TestCredential(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no users")
	}
	c, err := credential(&Hook{})
	if err != nil || c != nil {
		t.Fatalf("no user: %+v %v", c, err)
	}
	c, err = credential(&Hook{User: "4242000"})
	if err != nil || c.UID != 4242000 || c.GID != 4242000 || c.Groups == nil || len(c.Groups) != 0 {
		t.Fatalf("numeric uid without passwd entry: %+v %v", c, err)
	}
	c, err = credential(&Hook{User: "root", Group: "4242"})
	if err != nil || c.UID != 0 || c.GID != 4242 {
		t.Fatalf("root with group: %+v %v", c, err)
	}
	if _, err := credential(&Hook{User: "no-such-user-hooksupd"}); err == nil {
		t.Fatal("unknown user accepted")
	}
	spec, err := buildSpec(&Hook{Name: "x", Command: "/bin/true", User: "no-such-user-hooksupd"}, "e")
	if spec != nil || !isSpawnErr(err) {
		t.Fatalf("buildSpec with an unknown user: %v", err)
	}
}
