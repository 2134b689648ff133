// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"strings"
	"testing"
)

const mountinfo = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
33 25 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
34 33 0:29 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
37 33 0:32 /docker/abc /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
38 33 0:33 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpu,cpuacct
39 33 0:34 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,pids
40 33 0:35 / /sys/fs/cgroup/sys\040temd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
`

func TestBuildLayout(t *testing.T) {
	mounts, err := parseMountinfo(strings.NewReader(mountinfo))
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 5 || mounts[4].point != "/sys/fs/cgroup/sys temd" {
		t.Fatalf("mounts: %+v", mounts)
	}
	v1 := map[string]string{"memory": "/docker/abc/x", "cpu": "/a", "cpuacct": "/a", "pids": "/"}
	l, err := buildLayout(Hybrid, mounts, v1, "/u")
	if err != nil {
		t.Fatal(err)
	}
	if l.unified.point != "/sys/fs/cgroup/unified" || l.unifiedOwn != "/u" {
		t.Errorf("unified: %+v %q", l.unified, l.unifiedOwn)
	}
	// memory's mount shows /docker/abc of the hierarchy: the own path is
	// relative to it.
	for c, want := range map[string]string{"memory": "/x", "cpu": "/a", "cpuacct": "/a", "pids": "/"} {
		if got := l.v1Own[c]; got != want {
			t.Errorf("%s own = %q, want %q", c, got, want)
		}
	}
	if l.v1["cpu"] != l.v1["cpuacct"] || l.v1["freezer"] != nil {
		t.Errorf("v1 mounts: %+v", l.v1)
	}
	if _, err := buildLayout(Hybrid, mounts, map[string]string{"memory": "/elsewhere"}, "/"); err == nil {
		t.Error("own cgroup outside the mounted part was accepted")
	}
	if _, err := buildLayout(Unified, mounts[1:2], nil, "/"); err == nil {
		t.Error("v2 without a cgroup2 mount was accepted")
	}
}

func TestValidName(t *testing.T) {
	for _, n := range []string{"hooksupd", "audit-hook", "a.b_c"} {
		if err := validName(n); err != nil {
			t.Errorf("validName(%q) = %v", n, err)
		}
	}
	for _, n := range []string{"", ".", "..", "a/b", ".x", "a\nb", strings.Repeat("x", 129)} {
		if validName(n) == nil {
			t.Errorf("validName(%q) accepted", n)
		}
	}
}

func TestKeyValue(t *testing.T) {
	b := []byte("low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\noom_group_kill 0\n")
	if v, ok := keyValue(b, "oom_kill"); !ok || v != 1 {
		t.Errorf("oom_kill = %d, %v", v, ok)
	}
	if v, ok := keyValue(b, "oom"); !ok || v != 2 {
		t.Errorf("oom = %d, %v", v, ok)
	}
	if _, ok := keyValue(b, "populated"); ok {
		t.Error("found a missing key")
	}
}
