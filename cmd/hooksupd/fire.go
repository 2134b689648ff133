// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/service"
	"github.com/hooksupd/hooksupd/supervisor"
)

// maxPayloadBytes bounds the payload read from stdin. A fire payload is a
// memory record or a query; 64 MiB is far beyond any real one and keeps a
// runaway pipe from exhausting memory.
const maxPayloadBytes = 64 << 20

// closeTimeout bounds Dispatcher.Close: children get their SIGTERM grace,
// then the tree is killed; this only guards against a wedged cleanup.
const closeTimeout = 15 * time.Second

func init() {
	register(&command{
		Name:     "fire",
		Synopsis: "fire [-c FILE] [--socket PATH | --remote] [-n NAMESPACE]... [--trace] [--timeout DUR] [--log-level LEVEL] EVENT",
		Summary:  "fire one event through the configured hooks and print the result",
		Help: `Reads the payload (JSON) from stdin — empty input means {} — runs the
chain of hooks configured for EVENT once, and prints one JSON object:
  {"decision":"allow"}
  {"decision":"modify","delta":{...},"payload":{...}}
  {"decision":"deny","reason":"...","code":403}
  {"decision":"ask_user","prompts":[{"prompt":...,"options":[...],...}]}
--trace adds "hooks":[{"name","decision","ms","error"}...] in chain order.

Only hooks whose namespace pattern matches one of the -n namespaces fire;
wildcard hooks ("*") fire always, scoped ones never without -n.

With --socket PATH (or --remote: the [server] socket of the -c config,
else ` + service.DefaultSocket + `) the running 'hooksupd serve' fires instead,
with the same output and exit statuses; "fire_id" then names the fire in
the service's logs.

Exit status: 0 allow or modify, 3 deny, 4 ask_user, 2 usage, payload or
configuration error, 1 internal error, 128+N when interrupted by signal N
(the fire is cancelled and its children are stopped first).`,
		Run:   runFire,
		Args:  argWords,
		Words: builtinEventNames,
	})
}

func runFire(args []string) int {
	c := commands["fire"]
	fs := newFlagSet(c)
	cfgFlag := fs.String("config", "", "configuration `FILE` (default $HOOKSUPD_CONFIG, else "+defaultConfigPath+")")
	fs.alias("c", "config")
	var namespaces stringList
	fs.Var(&namespaces, "namespace", "in-flight `NAMESPACE` of the fire; repeat for several")
	fs.alias("n", "namespace")
	trace := fs.Bool("trace", false, "add the per-hook trace to the result")
	timeout := fs.Duration("timeout", 0, "cancel the fire after `DUR` (the event's class deadline applies anyway)")
	logLevel := fs.String("log-level", "warn", "`LEVEL` of diagnostics on stderr: debug, info, warn or error")
	socket := fs.String("socket", "", "fire through the service listening on unix socket `PATH`")
	remote := fs.Bool("remote", false, "fire through the running service at the config's [server] socket")
	pos, ok, code := fs.parse(args, exitUsage, true)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		errorf("fire: want exactly one EVENT, got %d arguments\nTry '%s fire --help'.", len(pos), progName)
		return exitUsage
	}
	event := pos[0]
	if *timeout < 0 {
		errorf("fire: --timeout must not be negative")
		return exitUsage
	}
	logger, err := newLogger(*logLevel)
	if err != nil {
		errorf("fire: %v", err)
		return exitUsage
	}
	if *socket != "" || *remote {
		return fireRemote(clientSocket(*socket, *cfgFlag), event, namespaces, *trace, *timeout)
	}

	// The config first: its errors should not wait for the payload.
	cfg, ok := loadConfig("fire", configPath(*cfgFlag))
	if !ok {
		return exitUsage
	}
	if _, known := cfg.Events[event]; !known {
		errorf("fire: unknown event %q (see '%s check' for the configured events)", event, progName)
		return exitUsage
	}

	if stdinIsTerminal() {
		// An interactive user who forgot the pipe would otherwise see a
		// silent hang.
		fmt.Fprintf(os.Stderr, "%s: fire: reading the JSON payload from the terminal; end it with Ctrl-D\n", progName)
	}
	payload, err := readPayload(os.Stdin)
	if err != nil {
		errorf("fire: %v", err)
		return exitUsage
	}

	// SIGINT/SIGTERM cancel the fire: the chain's cleanup (kill the
	// children, reset daemon connections) runs before Fire returns, and
	// Close below stops the daemons and removes the groups. The watch
	// starts before the dispatcher exists, so no signal can end hooksupd
	// with groups left behind; it is released only after Close.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sw := watchSignals(cancel, os.Interrupt, syscall.SIGTERM)
	defer sw.release()
	if *timeout > 0 {
		var cancelT context.CancelFunc
		ctx, cancelT = context.WithTimeout(ctx, *timeout)
		defer cancelT()
	}

	d, err := executor.New(cfg, executor.Options{Logger: logger})
	if err != nil {
		var ce *config.ConfigError
		if errors.As(err, &ce) || errors.Is(err, supervisor.ErrNotSupported) {
			printConfigError("fire", err)
			return exitUsage
		}
		errorf("fire: %v", err)
		return exitInternal
	}

	res, fireErr := d.Fire(ctx, event, namespaces, payload)
	caught := sw.stop()

	closeCtx, closeCancel := context.WithTimeout(context.Background(), closeTimeout)
	closeErr := d.Close(closeCtx)
	closeCancel()
	if closeErr != nil {
		errorf("fire: stopping hooks: %v", closeErr)
	}

	if caught != nil {
		// A cancelled chain's result reflects the cancellation (fail_mode
		// open would even read as allow); never print it as an answer.
		errorf("fire: interrupted by %v; fire cancelled", caught)
		return 128 + signalNumber(caught)
	}
	if fireErr != nil {
		errorf("fire: %v", fireErr)
		switch {
		case errors.Is(fireErr, executor.ErrUnknownEvent):
			return exitUsage
		default:
			return exitInternal
		}
	}
	// Not HTML: "<" in a payload stays "<", as the socket replies have it.
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(service.NewFireReply(res, *trace)); err != nil {
		errorf("fire: encoding the result: %v", err)
		return exitInternal
	}
	if _, err := os.Stdout.Write(out.Bytes()); err != nil {
		errorf("fire: writing the result: %v", err)
		return exitInternal
	}
	// A failed cleanup was reported above; it does not change what the
	// hooks answered, so the exit status stays the decision's.
	return decisionExit(res.Decision)
}

// readPayload reads the fire's payload: empty (or blank) input is {}, and
// anything else must be one valid JSON value.
func readPayload(r io.Reader) (json.RawMessage, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxPayloadBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the payload from stdin: %w", err)
	}
	if len(data) > maxPayloadBytes {
		return nil, fmt.Errorf("payload on stdin exceeds %d bytes", maxPayloadBytes)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return json.RawMessage("{}"), nil
	}
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		return nil, fmt.Errorf("payload on stdin is not valid JSON: %v", err)
	}
	return json.RawMessage(data), nil
}

// signalWatch cancels a context on the first of some signals and
// remembers which one it was.
type signalWatch struct {
	ch     chan os.Signal
	done   chan struct{}
	exited chan struct{}
	once   sync.Once
	caught os.Signal
}

// watchSignals calls cancel on the first of sigs.
func watchSignals(cancel context.CancelFunc, sigs ...os.Signal) *signalWatch {
	w := &signalWatch{ch: make(chan os.Signal, 1), done: make(chan struct{}), exited: make(chan struct{})}
	signal.Notify(w.ch, sigs...)
	go func() {
		defer close(w.exited)
		select {
		case s := <-w.ch:
			w.caught = s
			cancel()
		case <-w.done:
		}
	}()
	return w
}

// stop ends the watch and returns the signal caught, or nil. Signals that
// arrive later are still kept from killing the process until release.
func (w *signalWatch) stop() os.Signal {
	w.once.Do(func() { close(w.done) })
	<-w.exited
	return w.caught
}

// release stops the watch and restores the signals' default handling.
func (w *signalWatch) release() {
	w.stop()
	signal.Stop(w.ch)
}

// stdinIsTerminal reports whether stdin looks like a terminal: a character
// device other than the null device (</dev/null is the usual "no payload").
func stdinIsTerminal() bool {
	fi, err := os.Stdin.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}

// signalNumber returns the number of a syscall.Signal (for 128+N).
func signalNumber(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return int(n)
	}
	return 0
}

// decisionExit is the exit code for a fire's decision: 0 for allow and
// modify, 3 for deny, 4 for ask_user.
func decisionExit(a executor.Action) int {
	switch a {
	case executor.ActionDeny:
		return exitDeny
	case executor.ActionAskUser:
		return exitAskUser
	default:
		return exitOK
	}
}
