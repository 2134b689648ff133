// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// fireIDField matches the fire id a reply carries, which differs between
// two fires and so is left out when their output is compared.
var fireIDField = regexp.MustCompile(`"fire_id":"[^"]*",?`)

// `hooksupd fire --socket` against a real `serve`: for each decision the
// same stdout and exit status as a local fire of the same config; --remote
// takes the socket from the config's [server] socket; service errors map
// to the local exit statuses.
func TestFireRemoteMatchesLocal(t *testing.T) {
	dir := testutil.HookDir(t)
	sock := filepath.Join(dir, "s.sock")
	writeExec(t, dir, "allow.sh", hookAllow)
	writeExec(t, dir, "deny.sh", hookDeny)
	writeExec(t, dir, "ask.sh", hookAsk)
	writeExec(t, dir, "modify.sh", hookModify)
	cfg := writeConfig(t, dir, "[server]\nsocket = \""+sock+"\"\n\n"+
		hookBlock("a", "pre_store", filepath.Join(dir, "allow.sh"), 0)+
		hookBlock("m", "pre_link", filepath.Join(dir, "modify.sh"), 0)+
		hookBlock("d", "pre_delete", filepath.Join(dir, "deny.sh"), 0)+
		hookBlock("q", "pre_promote", filepath.Join(dir, "ask.sh"), 0))
	_, logs := startServe(t, sock, nil, "-c", cfg)

	// The fire id of a traced reply names the fire's lines in the log.
	r := hooksupd(t, "", "fire", "--socket", sock, "--trace", "pre_delete")
	id, _ := decodeWire(t, r.stdout)["fire_id"].(string)
	if id == "" {
		t.Fatalf("fire --trace reply without a fire_id: %s", r.stdout)
	}
	waitFor(t, 5*time.Second, "the fire's log line", func() bool {
		return regexp.MustCompile(`msg="hooks: hook answered" hook=d event=pre_delete fire_id=` + regexp.QuoteMeta(id) + ` child_pid=[0-9]+ cpu=\S+ memory_peak=[0-9]+ outcome=deny`).MatchString(logs.String())
	})

	for _, c := range []struct {
		event string
		code  int
	}{{"pre_store", 0}, {"pre_link", 0}, {"pre_delete", 3}, {"pre_promote", 4}} {
		for _, trace := range []bool{false, true} {
			args := []string{"fire", "-c", cfg, c.event}
			if trace {
				args = append(args, "--trace")
			}
			local := hooksupd(t, `{"title":"t"}`, args...)
			remote := hooksupd(t, `{"title":"t"}`, append(args, "--socket", sock)...)
			if local.code != c.code || remote.code != c.code {
				t.Errorf("%s trace=%v: exit local %d remote %d, want %d; stderr %q %q",
					c.event, trace, local.code, remote.code, c.code, local.stderr, remote.stderr)
			}
			// The trace's durations differ from fire to fire.
			norm := func(s string) string {
				return regexp.MustCompile(`"ms":[0-9.e-]+`).ReplaceAllString(fireIDField.ReplaceAllString(s, ""), `"ms":0`)
			}
			if norm(local.stdout) != norm(remote.stdout) {
				t.Errorf("%s trace=%v: local and remote output differ:\nlocal  %s\nremote %s", c.event, trace, local.stdout, remote.stdout)
			}
			decodeWire(t, remote.stdout)
		}
	}

	// --remote: the socket of the config's [server] table.
	if r := hooksupd(t, "", "fire", "--remote", "-c", cfg, "pre_delete"); r.code != 3 || !strings.Contains(r.stdout, "not today") {
		t.Errorf("fire --remote: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// An event the service does not know: usage, as locally.
	if r := hooksupd(t, "", "fire", "--socket", sock, "pre_nothing"); r.code != 2 || !strings.Contains(r.stderr, "unknown_event") {
		t.Errorf("unknown event: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := hooksupd(t, "{not json", "fire", "--socket", sock, "pre_store"); r.code != 2 || !strings.Contains(r.stderr, "not valid JSON") {
		t.Errorf("bad payload: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := hooksupd(t, "", "fire", "--socket", filepath.Join(dir, "none.sock"), "pre_store"); r.code != 1 || !strings.Contains(r.stderr, "is the service running?") {
		t.Errorf("no service: exit %d, stderr %q", r.code, r.stderr)
	}
}

// `hooksupd ping` and `hooksupd reload` against a real `serve`: a reload
// picks up a new hook; an invalid file is refused with its errors (exit 2)
// and the service keeps the hooks it had.
func TestPingAndReload(t *testing.T) {
	dir := testutil.HookDir(t)
	sock := filepath.Join(dir, "s.sock")
	writeExec(t, dir, "allow.sh", hookAllow)
	writeExec(t, dir, "deny.sh", hookDeny)
	server := "[server]\nsocket = \"" + sock + "\"\n\n"
	cfg := writeConfig(t, dir, server+hookBlock("a", "pre_store", filepath.Join(dir, "allow.sh"), 0))
	startServe(t, sock, nil, "-c", cfg)

	if r := hooksupd(t, "", "ping", "-c", cfg); r.code != 0 || !strings.Contains(r.stdout, "answered in") {
		t.Errorf("ping: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := hooksupd(t, "", "ping", "--socket", filepath.Join(dir, "none.sock")); r.code != 1 || !strings.Contains(r.stderr, "cannot reach hooksupd") {
		t.Errorf("ping nothing: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := hooksupd(t, "", "ping", "extra"); r.code != 2 {
		t.Errorf("ping extra: exit %d", r.code)
	}

	writeConfig(t, dir, server+hookBlock("a", "pre_store", filepath.Join(dir, "allow.sh"), 0)+
		hookBlock("d", "pre_delete", filepath.Join(dir, "deny.sh"), 0))
	if r := hooksupd(t, "", "reload", "--socket", sock); r.code != 0 || !strings.Contains(r.stdout, "2 hooks") {
		t.Fatalf("reload: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := hooksupd(t, "", "fire", "--socket", sock, "pre_delete"); r.code != 3 {
		t.Errorf("after reload, pre_delete: exit %d, stdout %q", r.code, r.stdout)
	}

	if err := os.WriteFile(cfg, []byte(server+"[[hook]]\nname = \"x\"\nevent = \"pre_nothing\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := hooksupd(t, "", "reload", "--socket", sock)
	if r.code != 2 || !strings.Contains(r.stderr, "still running the previous configuration") || !strings.Contains(r.stderr, "pre_nothing") {
		t.Errorf("invalid reload: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := hooksupd(t, "", "fire", "--socket", sock, "pre_delete"); r.code != 3 {
		t.Errorf("after a refused reload, pre_delete: exit %d, stdout %q", r.code, r.stdout)
	}
}
