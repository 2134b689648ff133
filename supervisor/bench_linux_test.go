// SPDX-License-Identifier: Apache-2.0

//go:build linux

package supervisor

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// benchEnvelope is a 200-byte exec-mode request, as in the project's
// baselines.
var benchEnvelope = []byte(`{"event":"pre_store","payload":{"namespace":"bench","key":"k-0001","value":"` +
	strings.Repeat("v", 200-78) + `"}}` + "\n")

// benchHook is the child of the fire benchmarks: it reads the envelope
// to EOF and echoes it, like a trivial exec-mode hook.
const benchHook = "/bin/cat"

// benchBackends are the variants compared: the Linux backend with
// pre-placed launchers, the same without launchers (direct spawn; capped
// specs are placed after the start, hence AllowUncapped), and the portable
// backend (uncapped whatever the spec says).
func benchBackends(b *testing.B) []struct {
	name string
	be   Backend
} {
	portable, _ := NewPortable(Options{})
	b.Cleanup(func() { portable.Close() })
	return []struct {
		name string
		be   Backend
	}{
		{"launcher", lxNew(b, linuxConfig{})},
		{"direct", lxNew(b, linuxConfig{direct: true})},
		{"portable", portable},
	}
}

// benchFire runs one exec-mode fire per iteration: Start, write the
// envelope, close stdin, read stdout to EOF, Wait, Release. It reports the
// p50 and p99 fire latency besides the mean.
func benchFire(b *testing.B, be Backend, spec *Spec) {
	ctx := context.Background()
	// Warm up: the first fires of a key create its groups and launchers.
	for range 20 {
		if err := benchOnce(ctx, be, spec); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if err := benchOnce(ctx, be, spec); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds())
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

func benchOnce(ctx context.Context, be Backend, spec *Spec) error {
	p, err := be.Start(ctx, spec)
	if err != nil {
		return err
	}
	defer p.Release()
	in, out, errf := p.Stdin(), p.Stdout(), p.Stderr()
	defer out.Close()
	defer errf.Close()
	if _, err := in.Write(benchEnvelope); err != nil {
		return err
	}
	in.Close()
	if _, err := io.Copy(io.Discard, out); err != nil {
		return err
	}
	if _, err := p.Wait(ctx); err != nil {
		return err
	}
	return p.Release()
}

// BenchmarkStartWaitUncapped: back-to-back fires of an uncapped hook. The
// Linux backend still gives it a group (tracking and tree kill).
func BenchmarkStartWaitUncapped(b *testing.B) {
	for _, v := range benchBackends(b) {
		b.Run(v.name, func(b *testing.B) {
			// A direct spawn cannot drop a uid 0 child's capabilities.
			benchFire(b, v.be, &Spec{Pipes: PipeAll, Name: "bench-uncapped", Path: benchHook, Sandbox: Sandbox{AllowUnsandboxed: true}})
		})
	}
}

// BenchmarkStartWaitCapped: back-to-back fires under memory, pids and CPU
// limits (the portable backend runs it uncapped, as the baseline).
func BenchmarkStartWaitCapped(b *testing.B) {
	for _, v := range benchBackends(b) {
		b.Run(v.name, func(b *testing.B) {
			spec := &Spec{Pipes: PipeAll, Name: "bench-capped", Path: benchHook, AllowUncapped: v.name != "launcher", Sandbox: Sandbox{AllowUnsandboxed: true},
				Limits: Limits{MemoryMax: 256 << 20, PidsMax: 64, CPUQuota: 50 * time.Millisecond}}
			if lb, ok := v.be.(*linuxBackend); ok && lb.cg == nil {
				b.Skip("cgroups unusable")
			}
			benchFire(b, v.be, spec)
		})
	}
}

// BenchmarkStartWaitSandboxed: back-to-back fires of a capped hook with
// the launcher, as an unprivileged uid, without a sandbox and with every
// isolation option on (all prepared with the launcher; the fire adds one
// seccomp() call). The ratio of the two is the sandbox's cost per fire.
func BenchmarkStartWaitSandboxed(b *testing.B) {
	be := lxNew(b, linuxConfig{})
	if be.exe == nil || be.cg == nil || !privileged() {
		b.Skip("needs the launcher, cgroups and CAP_SYS_ADMIN")
	}
	limits := Limits{MemoryMax: 256 << 20, PidsMax: 64}
	cred := &Credential{UID: 61001, GID: 61001}
	full := Sandbox{PrivateNetwork: true, PrivateTmp: true, PrivatePIDs: true, ProtectSystem: "strict",
		ProtectHome: "true", SystemCallFilter: []string{"@system-service"}}
	for _, v := range []struct {
		name string
		sb   Sandbox
	}{
		{"none", Sandbox{}},
		{"seccomp", Sandbox{SystemCallFilter: full.SystemCallFilter}},
		{"mounts", Sandbox{PrivateTmp: true, ProtectSystem: "strict", ProtectHome: "true"}},
		{"pids", Sandbox{PrivatePIDs: true}},
		{"network", Sandbox{PrivateNetwork: true}},
		{"full", full},
	} {
		b.Run(v.name, func(b *testing.B) {
			benchFire(b, be, &Spec{Pipes: PipeAll, Name: "bench-sb-" + v.name, Path: benchHook, Limits: limits, Credential: cred, Sandbox: v.sb})
		})
	}
}
