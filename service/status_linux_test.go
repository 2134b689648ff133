// SPDX-License-Identifier: Apache-2.0

package service

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/internal/testutil"
)

// A client that is not root and not the service's user may fire and ping
// but not read the status or reload; the socket's group lets it connect.
func TestServePeerNonRoot(t *testing.T) {
	testutil.RequireRoot(t)
	if _, err := user.LookupGroupId("65534"); err != nil {
		testutil.SkipOrFail(t, "no group 65534: %v", err)
	}
	grp, err := user.LookupGroupId("65534")
	if err != nil {
		t.Fatal(err)
	}
	// t.TempDir's parent is 0700; the client must be able to reach the
	// socket and run the copied binaries.
	dir, err := os.MkdirTemp("", "hooksupd-peer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ts := startServerIn(t, dir, fmt.Sprintf("[server]\nsocket_group = %q\n\n", grp.Name)+
		hookBlock("fast", "pre_store", shHook(t, dir, "fast.sh", shDaemon), 1, `mode = "daemon"`), nil)
	var st syscall.Stat_t
	if err := syscall.Stat(ts.sock, &st); err != nil || st.Gid != 65534 || st.Mode&0o777 != 0o660 {
		t.Errorf("socket owner group %d mode %o (%v), want 65534 and 0660", st.Gid, st.Mode&0o777, err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	peerClient := copyExec(t, self, filepath.Join(dir, "peer-client.test"))
	nobody := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, NoSetGroups: true}}

	requests := strings.Join([]string{`{"id":1,"op":"ping"}`, `{"id":2,"op":"fire","event":"pre_store"}`,
		`{"id":3,"op":"status"}`, `{"id":4,"op":"reload"}`}, "\n")
	cmd := exec.Command(peerClient, "-test.run=^TestPeerClientProcess$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOOKSUPD_PEER_SOCKET="+ts.sock,
		"HOOKSUPD_PEER_REQUESTS="+requests, "GORACE=atexit_sleep_ms=0")
	cmd.SysProcAttr = nobody
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("peer client as uid 65534: %v\n%s", err, out)
	}
	replies := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "REPLY "); ok {
			var r struct {
				ID    json.RawMessage `json:"id"`
				Error *errorBody      `json:"error"`
			}
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				t.Fatalf("peer client reply %q: %v", rest, err)
			}
			code := "ok"
			if r.Error != nil {
				code = r.Error.Code
			}
			replies[string(r.ID)] = code
		}
	}
	want := map[string]string{"1": "ok", "2": "ok", "3": CodeForbidden, "4": CodeForbidden}
	for id, code := range want {
		if replies[id] != code {
			t.Errorf("request %s as uid 65534: %q, want %q (peer client output:\n%s)", id, replies[id], code, out)
		}
	}
}

// TestPeerClientProcess is the client TestServePeerNonRoot runs under
// another uid; it does nothing in a normal run.
func TestPeerClientProcess(t *testing.T) {
	sock := os.Getenv("HOOKSUPD_PEER_SOCKET")
	if sock == "" {
		t.Skip("run by TestServePeerNonRoot as another user")
	}
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("dial as uid %d: %v", os.Getuid(), err)
	}
	defer nc.Close()
	reqs := strings.Split(os.Getenv("HOOKSUPD_PEER_REQUESTS"), "\n")
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(nc, strings.Join(reqs, "\n")+"\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(nc)
	for range reqs {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		fmt.Print("REPLY " + line)
	}
}

// copyExec copies an executable to dst (mode 0755).
func copyExec(t *testing.T, src, dst string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// The Prometheus endpoint exports per-hook counters, the latency
// histogram, the daemon's group figures and the server's counters.
func TestServeMetricsEndpoint(t *testing.T) {
	dir := testutil.HookDir(t)
	ts := startServerIn(t, dir, slowFastConfig(t, dir, "0", ""), nil)
	msock := filepath.Join(dir, "metrics.sock")
	m, err := StartMetrics(ts.srv, msock, ts.srv.log)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, ts.sock)
	c.RoundTrip(`{"id":1,"op":"fire","event":"pre_store"}`)
	c.RoundTrip(`{"id":2,"op":"fire","event":"pre_delete"}`)
	c.RoundTrip(`{"id":3,"op":"fire","event":"nope"}`)

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
	text := string(body)
	for _, want := range []string{
		`hooksupd_hook_fires_total{event="pre_store",hook="fast",outcome="modify"} 1`,
		`hooksupd_hook_fires_total{event="pre_delete",hook="slow",outcome="deny"} 1`,
		`hooksupd_hook_duration_seconds_bucket{event="pre_store",hook="fast",le="+Inf"} 1`,
		`hooksupd_hook_duration_seconds_count{event="pre_delete",hook="slow"} 1`,
		`hooksupd_hook_daemon_up{event="pre_store",hook="fast"} 1`,
		`hooksupd_hook_daemon_memory_bytes{event="pre_store",hook="fast"}`,
		`hooksupd_hook_timeouts_total{event="pre_delete",hook="slow"} 0`,
		// Every outcome from the start, at zero.
		`hooksupd_hook_fires_total{event="pre_delete",hook="slow",outcome="timeout"} 0`,
		`hooksupd_hook_fires_total{event="pre_store",hook="fast",outcome="oom_killed"} 0`,
		`hooksupd_hook_fires_total{event="pre_store",hook="fast",outcome="internal"} 0`,
		`hooksupd_hook_duration_seconds_bucket{event="pre_store",hook="fast",le="0.25"} 1`,
		// Exec fires: the tree's CPU and memory peak.
		`hooksupd_hook_cpu_seconds_count{event="pre_delete",hook="slow"} 1`,
		`hooksupd_hook_cpu_seconds_bucket{event="pre_delete",hook="slow",le="0.0025"}`,
		`hooksupd_hook_memory_peak_bytes_count{event="pre_delete",hook="slow"} 1`,
		`hooksupd_server_requests_total{op="fire"} 3`,
		`hooksupd_server_errors_total{code="unknown_event"} 1`,
		`hooksupd_server_connections 1`,
		`hooksupd_fires_inflight 0`,
		`hooksupd_build_info{backend="linux"`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(text, `hooksupd_hook_cpu_seconds_count{event="pre_store",hook="fast"}`) {
		t.Errorf("a daemon hook has per-fire CPU histograms")
	}
	if n := strings.Count(text, `hooksupd_hook_fires_total{event="pre_store",hook="fast",`); n != len(executor.OutcomeNames()) {
		t.Errorf("fast has %d outcome series, want %d", n, len(executor.OutcomeNames()))
	}
	// Bucket edges are round numbers: at most 3 significant digits.
	for _, m := range regexp.MustCompile(`le="([^"+]+)"`).FindAllStringSubmatch(text, -1) {
		f, err := strconv.ParseFloat(m[1], 64)
		mant := strings.TrimLeft(strings.ReplaceAll(strings.Split(strconv.FormatFloat(f, 'e', -1, 64), "e")[0], ".", ""), "0")
		if err != nil || len(mant) > 3 && !isPowerOfTwo(f) {
			t.Errorf("bucket edge le=%q is not a round number", m[1])
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", text)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m.Close(ctx)
	if fileExists(msock) {
		t.Errorf("metrics socket left behind")
	}
}

// listenSocket replaces a stale socket, refuses a live one or a file that
// is not a socket, and refuses a second instance.
func TestListenSocketStaleAndBusy(t *testing.T) {
	testutil.RequireLinux(t)
	dir := testutil.HookDir(t)
	path := filepath.Join(dir, "s.sock")

	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close() // the file stays; nothing listens
	ln, sf, err := listen(path, "")
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	if _, _, err := listen(path, ""); err == nil || !strings.Contains(err.Error(), "another running hooksupd") {
		t.Errorf("second instance: %v", err)
	}
	ln.Close()
	if err := sf.Remove(); err != nil || fileExists(path) || fileExists(path+".lock") {
		t.Errorf("remove: %v (socket left %v, lock file left %v)", err, fileExists(path), fileExists(path+".lock"))
	}

	live, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := listen(path, ""); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("live socket: %v", err)
	}
	live.Close()

	if err := os.WriteFile(path, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := listen(path, ""); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("regular file: %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "precious" {
		t.Errorf("a regular file at the socket path was touched")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".hooksupd-") {
			t.Errorf("temporary socket %s left behind", e.Name())
		}
	}
}

func isPowerOfTwo(f float64) bool {
	n := int64(f)
	return float64(n) == f && n > 0 && n&(n-1) == 0
}

// Only a loopback TCP address counts as local; the warning names every
// other.
func TestMetricsLoopbackOnly(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:9464": true, "[::1]:9464": true, "127.1.2.3:1": true,
		"0.0.0.0:9464": false, "[::]:9464": false, "192.168.1.10:9464": false} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := loopbackOnly(a); got != want {
			t.Errorf("loopbackOnly(%s) = %v, want %v", addr, got, want)
		}
	}
	if loopbackOnly(&net.UnixAddr{Name: "/x"}) {
		t.Error("a unix address is not a TCP loopback one")
	}
}
