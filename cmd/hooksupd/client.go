// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/hooksupd/hooksupd/service"
)

// The client commands talk to a running `hooksupd serve` through the Go
// client of the service package: `fire --socket` (fire.go dispatches to
// fireRemote), `reload` and `ping`. Each finds the socket the way status
// does: --socket, else the [server] socket of the -c config, else the
// default.

// clientTimeout bounds ping and reload. A reload starts the new daemon
// hooks before it answers (service.PrestartTimeout), so it gets more.
const (
	pingTimeout   = 10 * time.Second
	reloadTimeout = service.PrestartTimeout + 10*time.Second
)

func init() {
	register(&command{
		Name:     "reload",
		Synopsis: "reload [-c FILE] [--socket PATH]",
		Summary:  "make the running service re-read its configuration",
		Help: `Asks a running 'hooksupd serve' to re-read its configuration file (the
same as SIGHUP, but the answer says whether it worked). An invalid file
is refused with every error listed, and the service keeps running the
configuration it had.

The reload op is answered for root and the service's own user only.

Exit status: 0 reloaded, 2 the new configuration is invalid (or usage),
1 the service is unreachable or refused.`,
		Run:  runReload,
		Args: argNone,
	})
	register(&command{
		Name:     "ping",
		Synopsis: "ping [-c FILE] [--socket PATH]",
		Summary:  "check that the running service answers on its socket",
		Help: `Connects to a running 'hooksupd serve', sends a ping and prints how long
the answer took. Useful in health checks: anyone who may connect to the
socket may ping.

Exit status: 0 the service answered, 1 it did not, 2 usage.`,
		Run:  runPing,
		Args: argNone,
	})
}

// clientFlags adds --socket and -c/--config to fs.
func clientFlags(fs *flagSet) (socket, cfg *string) {
	socket = fs.String("socket", "", "unix socket `PATH` of the service (default: [server] socket of the config, else "+service.DefaultSocket+")")
	cfg = fs.String("config", "", "configuration `FILE` whose [server] socket to use (default $HOOKSUPD_CONFIG, else "+defaultConfigPath+")")
	fs.alias("c", "config")
	return socket, cfg
}

func runPing(args []string) int {
	fs := newFlagSet(commands["ping"])
	socket, cfgFlag := clientFlags(fs)
	pos, ok, code := fs.parse(args, exitUsage, true)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		errorf("ping: unexpected argument %q\nTry '%s ping --help'.", pos[0], progName)
		return exitUsage
	}
	path := clientSocket(*socket, *cfgFlag)
	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	start := time.Now()
	c, err := dialService(ctx, path)
	if err != nil {
		errorf("ping: %v", err)
		return exitInternal
	}
	defer c.Close()
	if err := c.Ping(ctx); err != nil {
		errorf("ping: %v", describeClientError(path, err))
		return exitInternal
	}
	fmt.Printf("hooksupd at %s answered in %s\n", path, time.Since(start).Round(time.Microsecond))
	return exitOK
}

func runReload(args []string) int {
	fs := newFlagSet(commands["reload"])
	socket, cfgFlag := clientFlags(fs)
	pos, ok, code := fs.parse(args, exitUsage, true)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		errorf("reload: unexpected argument %q\nTry '%s reload --help'.", pos[0], progName)
		return exitUsage
	}
	path := clientSocket(*socket, *cfgFlag)
	ctx, cancel := context.WithTimeout(context.Background(), reloadTimeout)
	defer cancel()
	c, err := dialService(ctx, path)
	if err != nil {
		errorf("reload: %v", err)
		return exitInternal
	}
	defer c.Close()
	rep, err := c.Reload(ctx)
	if err != nil {
		var se *service.Error
		if errors.As(err, &se) && se.Code == service.CodeInvalidConfig {
			for _, d := range se.Details {
				errorf("reload: %s", d)
			}
			errorf("reload: %s", se.Message)
			return exitUsage
		}
		errorf("reload: %v", describeClientError(path, err))
		return exitInternal
	}
	fmt.Printf("reloaded %s: %d hooks\n", rep.Config, rep.Hooks)
	return exitOK
}

// fireRemote is `hooksupd fire --socket`: the same payload rules, output
// and exit statuses as a local fire, but the running service fires. A
// signal or --timeout abandons the reply; the service finishes (or times
// out) the fire on its own, under the event's class deadline.
func fireRemote(path, event string, namespaces []string, trace bool, timeout time.Duration) int {
	if stdinIsTerminal() {
		fmt.Fprintf(os.Stderr, "%s: fire: reading the JSON payload from the terminal; end it with Ctrl-D\n", progName)
	}
	payload, err := readPayload(os.Stdin)
	if err != nil {
		errorf("fire: %v", err)
		return exitUsage
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sw := watchSignals(cancel, os.Interrupt, syscall.SIGTERM)
	defer sw.release()
	if timeout > 0 {
		var cancelT context.CancelFunc
		ctx, cancelT = context.WithTimeout(ctx, timeout)
		defer cancelT()
	}
	c, err := dialService(ctx, path)
	if err != nil {
		errorf("fire: %v", err)
		return exitInternal
	}
	defer c.Close()
	rep, err := c.Fire(ctx, service.FireRequest{Event: event, Namespaces: namespaces, Payload: payload, Trace: trace})
	if caught := sw.stop(); caught != nil {
		errorf("fire: interrupted by %v; reply abandoned", caught)
		return 128 + signalNumber(caught)
	}
	if err != nil {
		var se *service.Error
		if errors.As(err, &se) {
			errorf("fire: %s: %s", se.Code, se.Message)
			switch se.Code {
			case service.CodeUnknownEvent, service.CodeBadRequest, service.CodeTooLarge:
				return exitUsage
			}
			return exitInternal
		}
		if errors.Is(err, context.DeadlineExceeded) {
			errorf("fire: no reply within --timeout %s", timeout)
			return exitInternal
		}
		errorf("fire: %v", describeClientError(path, err))
		return exitInternal
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rep); err != nil {
		errorf("fire: encoding the result: %v", err)
		return exitInternal
	}
	if _, err := os.Stdout.Write(out.Bytes()); err != nil {
		errorf("fire: writing the result: %v", err)
		return exitInternal
	}
	return decisionExit(rep.Decision)
}
