// SPDX-License-Identifier: Apache-2.0

// Package config turns a hooks.toml into plain, validated data: hooks,
// the event catalog, limits, sandbox options, the [enforce], [policy],
// [supervisor] and [server] tables, with every default applied and users
// and groups resolved once, at load. Every problem in a file is reported
// as a *ConfigError whose entries name file, line, column and field; a
// file with any problem is rejected whole.
//
// It holds data only: it starts no process, touches no cgroup and opens
// no socket. The hook runtime (package executor) compiles what it loads.
// The accepted format and its differences from the Rust executor's are in
// docs/seed-compatibility.md.
package config
