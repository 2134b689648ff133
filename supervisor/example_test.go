// SPDX-License-Identifier: Apache-2.0

package supervisor_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/hooksupd/hooksupd/supervisor"
)

// Start a process capped at 64 MiB of memory and 16 tasks, read its
// output through a pipe and wait for it. AllowUncapped lets the same code
// run where the limits cannot be enforced (the portable backend); drop it
// to make such a start fail instead.
func Example() {
	backend, err := supervisor.New(supervisor.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer backend.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := backend.Start(ctx, &supervisor.Spec{
		Name:          "example",
		Path:          "/bin/sh",
		Args:          []string{"-c", "echo hello from a capped child"},
		Env:           []string{"PATH=/usr/bin:/bin"},
		Limits:        supervisor.Limits{MemoryMax: 64 << 20, PidsMax: 16},
		AllowUncapped: true,
		Pipes:         supervisor.PipeStdout, // stdin and stderr: /dev/null
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Release() // kills what is left of the tree, frees the group

	out, _ := io.ReadAll(p.Stdout())
	p.Stdout().Close()
	status, err := p.Wait(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(out))
	fmt.Println(status)
	// Output:
	// hello from a capped child
	// exit status 0
}

// Run a capped command whose output nobody reads: nil Stdout and Stderr
// are /dev/null, as with os/exec, so it cannot block on a full pipe.
// (Compiled, not run: it needs ImageMagick. README.md shows this code.)
func Example_capped() {
	ctx := context.Background()

	b, err := supervisor.New(supervisor.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	p, err := b.Start(ctx, &supervisor.Spec{
		Path: "/usr/bin/convert", Args: []string{"in.png", "out.jpg"},
		Env:    []string{"PATH=/usr/bin:/bin"},
		Limits: supervisor.Limits{MemoryMax: 256 << 20, PidsMax: 32, CPUQuota: 50 * time.Millisecond},
	})
	if err != nil {
		log.Fatal(err)
	}
	st, err := p.Wait(ctx) // st.OOMKilled, st.CPU, st.MemoryPeak
	p.Release()            // kills what is left of the tree, removes the cgroup

	fmt.Println(st, err)
}

// The portable backend says which limits it cannot enforce.
func ExampleNewPortable() {
	backend, _ := supervisor.NewPortable(supervisor.Options{})
	defer backend.Close()
	err := backend.CanEnforce(supervisor.Limits{MemoryMax: 64 << 20, PidsMax: 16})
	fmt.Println(err)
	// Output: portable backend cannot enforce memory_max, pids_max: not supported
}
