// SPDX-License-Identifier: Apache-2.0

// Package probe is the cgroup-v2 VM harness's own smoke test. Its tests
// (Linux only) assert what the VM started by test/vm/test-vm.sh guarantees
// to the project's test suites: a pure cgroup2 hierarchy with the cpu,
// memory and pids controllers enabled for the tests' cgroup, clone3
// CLONE_INTO_CGROUP placement, memory.max enforcement reported through
// memory.events, pids.max and cpu.max enforcement, cgroup.kill, and a
// /bin/sh for hook children.
//
// On a host that is not pure cgroup v2 the tests skip, except when
// VMTEST=1 (set by the VM's /init): inside the VM every missing guarantee is
// a failure.
package probe
