// SPDX-License-Identifier: Apache-2.0

package units

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// durationCases are GNU timeout's duration grammar. gnu says how the
// installed GNU timeout treats the same text: "ok" (accepted), "bad"
// (refused, exit 125) or "" (not compared, see the case's note).
var durationCases = []struct {
	in   string
	want time.Duration // -1: an error
	gnu  string
}{
	{"10", 10 * time.Second, "ok"},
	{".1", 100 * time.Millisecond, "ok"},
	{"2.5", 2500 * time.Millisecond, "ok"},
	{"1s", time.Second, "ok"},
	{"1.5s", 1500 * time.Millisecond, "ok"},
	{"1m", time.Minute, "ok"},
	{"1h", time.Hour, "ok"},
	{"1d", 24 * time.Hour, "ok"},
	{".5d", 12 * time.Hour, "ok"},
	{"+1", time.Second, "ok"},
	{" 1", time.Second, "ok"},
	{"0", 0, "ok"},
	{"0s", 0, "ok"},
	{"0x10", 16 * time.Second, "ok"},
	{"0x1p1", 2 * time.Second, "ok"},
	{"0x1d", 29 * time.Second, "ok"}, // strtod reads hex digits greedily
	{"2e1", 20 * time.Second, "ok"},
	{"inf", MaxDuration, "ok"},
	{"infinity", MaxDuration, "ok"},
	{"INF", MaxDuration, "ok"},
	{"infs", MaxDuration, "ok"},
	{"1e400", MaxDuration, "ok"},
	{"99999999999999999999d", MaxDuration, "ok"},
	{"1e-300", 1, "ok"},
	{"1e-10", 1, "ok"},
	{"4e-10", 1, "ok"},
	{"1.5e-9", 2, "ok"},
	// Underflows to 0 in strtod; coreutils 9.1 then runs without a
	// timeout, later releases (and hooksupd) round it up like 1e-300.
	{"1e-10000", 1, ""},
	// Go's duration syntax, refused by GNU, accepted here.
	{"500ms", 500 * time.Millisecond, ""},
	{"1m30s", 90 * time.Second, ""},
	{"1.5h", 90 * time.Minute, "ok"},
	{"-5ms", -1, ""},
	{"", -1, "bad"},
	{"nan", -1, "bad"},
	{"1 ", -1, "bad"},
	{"1x", -1, "bad"},
	{"1e", -1, "bad"},
	{"1ss", -1, "bad"},
	{"1_0", -1, "bad"},
	{"1,5", -1, "bad"},
	{"s", -1, "bad"},
	{"--1", -1, "bad"},
	{"-1", -1, ""}, // GNU reads "-1" as an option; a negative value either way
	{"-1s", -1, ""},
	{"-inf", -1, ""},
}

func TestParseDuration(t *testing.T) {
	for _, c := range durationCases {
		got, err := ParseDuration(c.in)
		if c.want < 0 {
			if err == nil {
				t.Errorf("ParseDuration(%q) = %v, want an error", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

// TestParseDurationGNU runs the installed GNU timeout on every case: what
// it accepts, ParseDuration accepts, and a value it treats as a timeout
// that fires at once (tiny) or not at all (0) is the same here.
func TestParseDurationGNU(t *testing.T) {
	gnu, err := exec.LookPath("timeout")
	if err != nil {
		testutil.SkipOrFail(t, "GNU timeout not installed: %v", err)
	}
	if out, _ := exec.Command(gnu, "--version").Output(); !strings.Contains(string(out), "GNU coreutils") {
		testutil.SkipOrFail(t, "%s is not GNU timeout: %q", gnu, out)
	}
	for _, c := range durationCases {
		if c.gnu == "" {
			continue
		}
		code := exitCode(exec.Command(gnu, "--", c.in, "true").Run())
		// 125 is GNU's "invalid time interval"; a tiny timeout may fire
		// before true ends (124).
		if gotOK := code == 0 || code == 124; gotOK != (c.gnu == "ok") {
			t.Errorf("GNU timeout %q true: exit %d, table says %s", c.in, code, c.gnu)
		}
		if (c.want >= 0) != (c.gnu == "ok") {
			t.Errorf("%q: ParseDuration and GNU timeout disagree on validity", c.in)
		}
		// A tiny positive value times out at once in both.
		if c.want > 0 && c.want < time.Millisecond {
			if code := exitCode(exec.Command(gnu, "--", c.in, "sleep", "10").Run()); code != 124 {
				t.Errorf("GNU timeout %q sleep 10: exit %d, want 124 (a timeout that fires)", c.in, code)
			}
		}
	}
	// 0 is no timeout at all in both.
	if code := exitCode(exec.Command(gnu, "0", "sleep", "0.3").Run()); code != 0 {
		t.Errorf("GNU timeout 0 sleep 0.3: exit %d, want 0 (no timeout)", code)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

func TestParseSize(t *testing.T) {
	const ram = 8 << 30
	for _, c := range []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"1048576", 1 << 20}, {"512B", 512}, {"1K", 1 << 10}, {"1k", 1 << 10},
		{"512M", 512 << 20}, {"1G", 1 << 30}, {"1.5G", 3 << 29}, {"2T", 2 << 40}, {"1P", 1 << 50},
		{"1E", 1 << 60}, {"1MiB", 1 << 20}, {"64mib", 64 << 20}, {"512 M", 512 << 20}, {" 1G ", 1 << 30},
		{"0.5K", 512}, {"1.0009765625K", 1025}, {"infinity", Infinity}, {"50%", 4 << 30},
		{"12.5%", 1 << 30}, {"100%", 8 << 30}, {"7E", 7 << 60},
	} {
		if got, err := ParseSize(c.in, ram); err != nil || got != c.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "M", "12Q", "-1", "-1M", "1.5", "64MB", "1kb", "1 0M", "8E", "99999999999999999999",
		"1.2.3M", "x%", "%", "Infinity", "inf", "1e3", "0x10"} {
		if got, err := ParseSize(in, ram); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
	if _, err := ParseSize("50%", 0); err == nil {
		t.Error("ParseSize(50%, 0): a percentage of an unknown total was accepted")
	}
	if _, err := ParseSize("64MB", ram); err == nil || !strings.Contains(err.Error(), "decimal") {
		t.Errorf("ParseSize(64MB): %v, want an error about decimal units", err)
	}
}

func TestParseCPUQuota(t *testing.T) {
	for in, want := range map[string]float64{"20%": 0.2, "150%": 1.5, "1%": 0.01, " 50 %": 0.5, "2.5%": 0.025, "400%": 4} {
		if got, err := ParseCPUQuota(in); err != nil || got != want {
			t.Errorf("ParseCPUQuota(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "%", "0%", "0.5%", "-5%", "abc", "20%%", "NaN%", "1e9%", "inf%"} {
		if got, err := ParseCPUQuota(in); err == nil {
			t.Errorf("ParseCPUQuota(%q) = %v, want an error", in, got)
		}
	}
	_, err := ParseCPUQuota("20")
	if err == nil || !strings.Contains(err.Error(), "did you mean 20%?") {
		t.Errorf("ParseCPUQuota(20): %v, want a hint \"did you mean 20%%?\"", err)
	}
}

func TestParseTasks(t *testing.T) {
	for in, want := range map[string]int64{"1": 1, "64": 64, "infinity": Infinity, "10%": 409, "100%": 4096} {
		if got, err := ParseTasks(in, 4096); err != nil || got != want {
			t.Errorf("ParseTasks(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "1.5", "x", "0%", "0.01%", "99999999999999999999"} {
		if got, err := ParseTasks(in, 4096); err == nil {
			t.Errorf("ParseTasks(%q) = %d, want an error", in, got)
		}
	}
	if _, err := ParseTasks("10%", 0); err == nil {
		t.Error("ParseTasks(10%, 0) accepted")
	}
}
