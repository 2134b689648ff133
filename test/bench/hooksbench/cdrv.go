// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// coproc is one C baseline driver (test/bench/c/execdrv.c or daemondrv.c)
// running as a coprocess: a command line goes in, one answer line comes
// back. While it runs a batch this program only waits on the pipe, so the
// batch is measured by the C driver alone (its clock, its getrusage).
type coproc struct {
	name string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
}

// startCoproc starts path with env as its (and so its children's) whole
// environment.
func startCoproc(path string, env []string) (*coproc, error) {
	cmd := exec.Command(path)
	cmd.Env = env
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &coproc{name: path, cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20)}, nil
}

// call sends one command and returns the answer line.
func (c *coproc) call(format string, args ...any) (string, error) {
	if _, err := fmt.Fprintf(c.in, format+"\n", args...); err != nil {
		return "", fmt.Errorf("%s: %w", c.name, err)
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("%s: %w", c.name, err)
	}
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "E ") {
		return "", fmt.Errorf("%s: %s", c.name, line[2:])
	}
	return line, nil
}

// ok sends a command that answers "OK".
func (c *coproc) ok(format string, args ...any) error {
	line, err := c.call(format, args...)
	if err == nil && line != "OK" {
		err = fmt.Errorf("%s: unexpected answer %q", c.name, line)
	}
	return err
}

// batch sends a command that answers with "R n wall cpu childcpu fails lat...".
func (c *coproc) batch(format string, args ...any) (batch, error) {
	line, err := c.call(format, args...)
	if err != nil {
		return batch{}, err
	}
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "R" {
		return batch{}, fmt.Errorf("%s: bad answer %.80q", c.name, line)
	}
	num := make([]int64, len(f)-1)
	for i, s := range f[1:] {
		if num[i], err = strconv.ParseInt(s, 10, 64); err != nil {
			return batch{}, fmt.Errorf("%s: bad number %q", c.name, s)
		}
	}
	n := int(num[0])
	if len(num) != 5+n {
		return batch{}, fmt.Errorf("%s: %d latencies for n=%d", c.name, len(num)-5, n)
	}
	b := batch{
		wall:     time.Duration(num[1]),
		cpu:      time.Duration(num[2]),
		childCPU: time.Duration(num[3]),
		fails:    int(num[4]),
		lat:      make([]time.Duration, n),
	}
	for i := range n {
		b.lat[i] = time.Duration(num[5+i])
	}
	if b.fails > 0 {
		// The driver times failed operations too; keep the batch's
		// latencies and report the failures with the row.
		b.firstErr = fmt.Errorf("%s: %d of %d operations failed", c.name, b.fails, n)
		if b.fails == n {
			return b, b.firstErr
		}
	}
	return b, nil
}

// close asks the driver to exit and reaps it.
func (c *coproc) close() error {
	if c == nil {
		return nil
	}
	_, _ = io.WriteString(c.in, "X\n")
	c.in.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		return errors.Join(errors.New(c.name+": did not exit; killed"), <-done)
	}
}
