// SPDX-License-Identifier: Apache-2.0

// Package executor is the hook runtime of hooksupd: it loads hooks.toml,
// keeps the event catalog, runs each hook's children (exec mode: one child
// per fire; daemon mode: one long-lived child) through a supervisor
// backend, parses their decisions and folds them into one result per fire.
//
// A fire delivers one event with one JSON payload to the chain of hooks
// bound to that event, in priority order (highest first, ties in file
// order). Each hook answers with a decision:
//
//   - allow: go on;
//   - modify: overlay a delta of top-level keys onto the payload the next
//     hooks see (pre-events only; elsewhere it is downgraded to allow);
//   - deny: stop the chain; the first deny wins (notify events only log it);
//   - ask_user: queue a prompt for the host; a later allow or modify
//     clears the queue.
//
// A hook that fails (spawn, timeout, OOM, bad output, ...) follows its
// fail_mode: open treats it as allow and records the failure in the
// result's trace; closed denies with code 503 (504 when the event's class
// deadline ran out before the hook could start). One context bounds the
// whole fire: the caller's, narrowed by the event's class deadline, and
// per hook by its timeout. The chain never abandons a running hook on a
// timer of its own; executors clean up (kill the tree, reset the daemon
// connection) before they return.
//
// An optional enforcement gate ([enforce]) denies fires of required
// events that have no enabled hook, forces their hooks to fail closed,
// and refuses fires whose namespace cannot be resolved when a
// namespace-scoped hook is configured.
//
// The Dispatcher ties it together and supports hot reload: a fire runs
// entirely on the config generation it started with, an invalid reload
// keeps the previous config, and daemons of removed or changed hooks are
// stopped once the old generation has drained.
//
// Usage:
//
//	cfg, err := executor.Load("/etc/hooksupd/hooks.toml")
//	if err != nil {
//		return err // a *ConfigError lists every problem with its position
//	}
//	d, err := executor.New(cfg, executor.Options{Logger: slog.Default()})
//	if err != nil {
//		return err
//	}
//	defer d.Close(context.Background())
//
//	res, err := d.Fire(ctx, "pre_store", []string{"team/alpha"},
//		json.RawMessage(`{"content":"hello"}`))
//	if err != nil {
//		return err // unknown event, closed dispatcher or invalid payload
//	}
//	switch res.Decision {
//	case executor.ActionDeny:
//		return fmt.Errorf("refused (%d): %s", res.Code, res.Reason)
//	case executor.ActionModify:
//		store(res.Payload)
//	}
package executor
