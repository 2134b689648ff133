// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// runVariant runs the C allow hook once through a command-line wrapper:
// argv is everything before the hook's path.
func runVariant(name string, base bool, argv []string, child string, envelope []byte) *variant {
	full := append(append([]string(nil), argv...), child)
	return &variant{name: name, base: base, run: func(n int) (batch, error) {
		return measure(n, func() error {
			cmd := exec.Command(full[0], full[1:]...)
			cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
			cmd.Stdin = bytes.NewReader(envelope)
			var out, errb bytes.Buffer
			cmd.Stdout = &out
			cmd.Stderr = &errb
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%v: %w: %s", full, err, strings.TrimSpace(errb.String()))
			}
			return parseAllow(out.Bytes())
		})
	}}
}

// rowRun is row 9: `hooksupd run` with memory+cpu+pids caps against other
// ways to run one command confined, each a fresh process per run, back to
// back and sparse.
func (b *bench) rowRun(context.Context) error {
	if _, err := os.Stat(b.bin.hooksupd); err != nil {
		return fmt.Errorf("%w: no hooksupd binary at %s", errSkip, b.bin.hooksupd)
	}
	_, envb := envelopeOf(execEvent, size200B)
	child := b.bin.cAllow
	mem := fmt.Sprintf("%dM", naiveMemory>>20)
	cpu := fmt.Sprintf("%d%%", naiveCPUQuota*100/naiveCPUPeriod)
	pids := fmt.Sprint(naivePids)
	// cgexec runs the command in an existing set: make one, with the caps.
	var cgexecArgv []string
	if p, err := exec.LookPath("cgexec"); err == nil {
		sets, err := newCgroupSets("cgexec")
		var name string
		if err == nil {
			defer sets.close()
			name, err = sets.make()
		}
		if err != nil {
			b.note("row 9: cgexec left out: %v", err)
		} else {
			cgexecArgv = []string{p}
			for _, ctrl := range cgControllers {
				cgexecArgv = append(cgexecArgv, "-g", ctrl+":"+sets.rel[ctrl]+"/"+name)
			}
		}
	}
	mk := func() ([]*variant, []string, error) {
		var missing []string
		vs := []*variant{
			runVariant("bare exec (os/exec, no confinement)", true, nil, child, envb),
			runVariant("hooksupd run, memory+cpu+pids caps", false,
				[]string{b.bin.hooksupd, "run", "--memory-max", mem, "--cpu-max", cpu, "--pids-max", pids, "--"}, child, envb),
			runVariant("hooksupd run, no caps", false, []string{b.bin.hooksupd, "run", "--"}, child, envb),
		}
		if cgexecArgv != nil {
			vs = append(vs, runVariant("cgexec into a v1 set with the same caps", false, cgexecArgv, child, envb))
		} else if _, err := exec.LookPath("cgexec"); err != nil {
			missing = append(missing, "cgexec (cgroup-tools)")
		}
		if p, err := exec.LookPath("bwrap"); err == nil {
			vs = append(vs, runVariant("bwrap --ro-bind / / --dev /dev --unshare-pid (no caps: bwrap has none)", false,
				[]string{p, "--ro-bind", "/", "/", "--dev", "/dev", "--unshare-pid", "--die-with-parent", "--"}, child, envb))
		} else {
			missing = append(missing, "bwrap (bubblewrap)")
		}
		if p, err := exec.LookPath("firejail"); err == nil {
			vs = append(vs, runVariant("firejail --noprofile --rlimit-as=256m --rlimit-nproc=64 (rlimits, no cgroup)", false,
				[]string{p, "--quiet", "--noprofile", "--rlimit-as=256m", "--rlimit-nproc=64", "--"}, child, envb))
		} else {
			missing = append(missing, "firejail")
		}
		return vs, missing, nil
	}
	vs, missing, err := mk()
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		b.note("row 9: not installed, so not compared: %s", strings.Join(missing, ", "))
	}
	if err := interleave(vs, b.counts(5, 1), b.counts(10, 2), b.counts(10, 3)); err != nil {
		return err
	}
	b.emitRun("`run` of a 200 B C hook, back to back", vs, false)
	if vs, _, err = mk(); err != nil {
		return err
	}
	if err := sparse(vs, b.counts(30, 2), 200*time.Millisecond); err != nil {
		return err
	}
	b.emitRun("`run` of a 200 B C hook, sparse (1 run / 200 ms)", vs, true)
	return nil
}

func (b *bench) emitRun(group string, vs []*variant, sparseRow bool) {
	rows := make([]Row, len(vs))
	find := func(prefix string) *Row {
		for i := range rows {
			if strings.HasPrefix(rows[i].Variant, prefix) {
				return &rows[i]
			}
		}
		return nil
	}
	for i, v := range vs {
		rows[i] = rowFrom("9", group, v.name, v.base, &v.s)
		rows[i].CPU = 0 // the wrappers run in their own processes
		if i > 0 {
			rows[i].Ratio = ratio(rows[i].P50, rows[0].P50, "p50")
		}
	}
	capped := find("hooksupd run, memory")
	if sparseRow {
		if cg := find("cgexec"); cg != nil {
			capped.Target = "p50 ≤ 1.0× cgexec"
			capped.Met = met(capped.P50 <= cg.P50)
			capped.Note = ratio(capped.P50, cg.P50, "of cgexec p50")
		}
	} else if bw := find("bwrap"); bw != nil {
		capped.Target = "p50 ≤ 1.0× bwrap"
		capped.Met = met(capped.P50 <= bw.P50)
		capped.Note = ratio(capped.P50, bw.P50, "of bwrap p50")
	}
	b.rows = append(b.rows, rows...)
}
