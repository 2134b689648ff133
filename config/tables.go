// SPDX-License-Identifier: Apache-2.0

package config

import (
	"fmt"
	"math"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hooksupd/hooksupd/internal/dynuser"
	"github.com/hooksupd/hooksupd/internal/pathglob"
)

// Defaults and bounds of the top-level tables.
const (
	defaultSocket             = "/run/hooksupd/hooksupd.sock"
	defaultMaxLineBytes       = 1 << 20
	defaultMaxInflightPerConn = 256
	defaultMaxInflight        = 4096
	defaultDrainTimeout       = 10 * time.Second
	defaultStopGrace          = 2 * time.Second
	maxStopGrace              = 60 * time.Second
	maxDrainTimeout           = time.Hour
	minMaxLineBytes           = 1 << 10
	maxMaxLineBytes           = 64 << 20
	maxInflightLimit          = 1 << 24
	// maxSocketPath is sun_path's 108 bytes minus the terminating NUL.
	maxSocketPath = 107
	// maxEventDeadlineMS matches the per-hook ceiling: no chain may wait
	// longer than one hook may run.
	maxEventDeadlineMS = maxHookTimeoutMS
)

var (
	topLevelKeys  = []string{"hook", "event", "enforce", "policy", "supervisor", "server"}
	eventKeys     = []string{"name", "deadline_ms", "kind", "default_mode", "pre"}
	enforceKeys   = []string{"mode", "required_events"}
	policyKeys    = []string{"allow_commands", "deny_commands", "strict_modes"}
	superKeys     = []string{"backend", "cgroup_parent", "daemon_stop_grace", "dynamic_users"}
	serverKeys    = []string{"socket", "socket_group", "allow_uids", "allow_gids", "metrics_listen", "max_line_bytes", "max_inflight_per_conn", "max_inflight", "drain_timeout"}
	enforceModes  = []string{"off", "advisory", "enforce"}
	backendValues = []string{"auto", "linux", "portable"}
)

// decode builds the Config from the decoded TOML tree. Custom events come
// first so that hooks (and required_events) may name events declared
// anywhere in the file.
func (d *cfgDecoder) decode(raw map[string]any) *Config {
	cfg := &Config{
		Events:  BuiltinEvents(),
		Enforce: Enforce{Mode: "off"},
		Policy:  Policy{StrictModes: true},
		Supervisor: SupervisorConfig{
			Backend:         "auto",
			DaemonStopGrace: defaultStopGrace,
			DynamicUsers:    dynuser.DefaultRange,
		},
		Server: ServerConfig{
			Socket:             defaultSocket,
			MaxLineBytes:       defaultMaxLineBytes,
			MaxInflightPerConn: defaultMaxInflightPerConn,
			MaxInflight:        defaultMaxInflight,
			DrainTimeout:       defaultDrainTimeout,
		},
	}
	top := d.table(raw, nil, "", "", topLevelKeys...)
	top.pos = Position{File: d.file, Line: 1, Column: 1}
	for i, m := range d.arrayOfTables(top, "event") {
		if m != nil {
			d.decodeEvent(i, m, cfg.Events)
		}
	}
	names := make(map[string]Position)
	for i, m := range d.arrayOfTables(top, "hook") {
		if m == nil {
			continue
		}
		h := d.decodeHook(i, m, cfg.Events)
		cfg.Hooks = append(cfg.Hooks, h)
		// A bad name is reported already; don't also call it a duplicate.
		if checkHookName(h.Name) != "" {
			continue
		}
		if first, dup := names[h.Name]; dup {
			fe := FieldError{Pos: h.Pos, Hook: h.Name, Field: "name"}
			if _, explicit := m["name"]; explicit {
				fe.Pos = d.position([]string{"hook", locIndex(i), "name"}, h.Pos)
				fe.Msg = fmt.Sprintf("duplicate name: already used by the hook at line %d", first.Line)
			} else {
				fe.Msg = fmt.Sprintf("the default name is already used by the hook at line %d; set name", first.Line)
			}
			d.errs = append(d.errs, fe)
			continue
		}
		names[h.Name] = h.Pos
	}
	if t, ok := top.sub("enforce", enforceKeys...); ok {
		cfg.Enforce = decodeEnforce(t, cfg.Events)
	}
	if t, ok := top.sub("policy", policyKeys...); ok {
		cfg.Policy = decodePolicy(t)
	}
	if t, ok := top.sub("supervisor", superKeys...); ok {
		decodeSupervisor(t, &cfg.Supervisor)
	}
	if t, ok := top.sub("server", serverKeys...); ok {
		decodeServer(t, &cfg.Server)
	}
	d.assignDynamicUsers(cfg)
	top.finish()
	return cfg
}

// arrayOfTables returns the tables of the array of tables at key; an
// element that is not a table is reported and left nil.
func (d *cfgDecoder) arrayOfTables(top *cfgTable, key string) []map[string]any {
	v, ok := top.get(key)
	if !ok {
		return nil
	}
	var elems []any
	switch a := v.(type) {
	case []map[string]any:
		out := make([]map[string]any, len(a))
		copy(out, a)
		return out
	case []any:
		elems = a
	case map[string]any:
		top.errAt(key, "must be an array of tables: write [[%s]], not [%s]", key, key)
		return nil
	default:
		top.errAt(key, "must be an array of tables ([[%s]]), not %s", key, cfgTypeName(v))
		return nil
	}
	out := make([]map[string]any, len(elems))
	for i, e := range elems {
		if m, ok := e.(map[string]any); ok {
			out[i] = m
		} else {
			top.errElem(key, i, "must be a table, not %s", cfgTypeName(e))
		}
	}
	return out
}

// decodeEvent decodes [[event]] number i into events.
func (d *cfgDecoder) decodeEvent(i int, m map[string]any, events map[string]Event) {
	t := d.table(m, []string{"event", locIndex(i)}, "", cfgFieldIndex("event", i), eventKeys...)
	ev := Event{Class: classCustom, Kind: KindDecision, DefaultMode: ModeExec}
	name, nameOK := t.str("name")
	switch {
	case !nameOK:
		if _, present := m["name"]; !present {
			t.errMissing("name", "")
		}
	case !eventNameRE.MatchString(name):
		t.errAt("name", "%q is not a snake_case name (a-z, 0-9 and single underscores, starting with a letter)", name)
		nameOK = false
	case len(name) > maxEventNameLen:
		t.errAt("name", "%q is %d bytes; the maximum is %d", name, len(name), maxEventNameLen)
		nameOK = false
	default:
		if old, exists := events[name]; exists {
			if old.Class != classCustom {
				t.errAt("name", "%q is a built-in event", name)
			} else {
				t.errAt("name", "event %q is declared twice", name)
			}
			nameOK = false
		}
	}
	ev.Name = name
	if n, ok := t.integer("deadline_ms"); ok {
		switch {
		case n <= 0:
			t.errAt("deadline_ms", "must be 1..%d", maxEventDeadlineMS)
		case n > maxEventDeadlineMS:
			t.errAt("deadline_ms", "%d exceeds the maximum %d", n, maxEventDeadlineMS)
		default:
			ev.Deadline = time.Duration(n) * time.Millisecond
		}
	} else if _, present := m["deadline_ms"]; !present {
		t.errMissing("deadline_ms", " (the budget of the whole chain of one fire)")
	}
	if s, ok := t.enum("kind", string(KindDecision), string(KindNotify)); ok {
		ev.Kind = EventKind(s)
	}
	if s, ok := t.enum("default_mode", string(ModeExec), string(ModeDaemon)); ok {
		ev.DefaultMode = Mode(s)
	}
	ev.Pre = ev.Kind == KindDecision
	if b, ok := t.boolean("pre"); ok {
		if b && ev.Kind == KindNotify {
			t.errAt("pre", `a notify event cannot honour modify; pre = true needs kind = "decision"`)
		}
		ev.Pre = b
	}
	t.finish()
	if nameOK {
		// Registered even when other keys are bad, so that its hooks are
		// not also reported as naming an unknown event.
		events[name] = ev
	}
}

// decodeEnforce decodes [enforce]: the seed's presence gate.
func decodeEnforce(t *cfgTable, events map[string]Event) Enforce {
	e := Enforce{Mode: "off"}
	// Case-insensitive and trimmed, as the Rust executor reads it
	// ("ADVISORY", "  Enforce  ").
	if v, ok := t.get("mode"); ok {
		if s, isStr := v.(string); isStr && slices.Contains(enforceModes, strings.ToLower(strings.TrimSpace(s))) {
			t.m["mode"] = strings.ToLower(strings.TrimSpace(s))
		}
	}
	if s, ok := t.enum("mode", enforceModes...); ok {
		e.Mode = s
	}
	if list, ok := t.strList("required_events"); ok {
		seen := make(map[string]bool, len(list))
		for i, name := range list {
			ev, known := events[name]
			switch {
			case !known:
				t.errElem("required_events", i, "unknown event %q", name)
			case seen[name]:
				t.errElem("required_events", i, "%s is listed twice", name)
			case ev.Class != classCustom && !requirableEvents[name]:
				t.errElem("required_events", i, "%s cannot be required: only the pre-events %s "+
					"and custom decision events can (a required event's hooks must be able to block it)", name, requirableList)
			case ev.Class == classCustom && ev.Kind != KindDecision:
				t.errElem("required_events", i, "%s cannot be required: it is a notify event, whose hooks cannot block it", name)
			}
			seen[name] = true
		}
		e.RequiredEvents = list
	}
	t.finish()
	return e
}

// decodePolicy decodes [policy]: the spawn gate's rules.
func decodePolicy(t *cfgTable) Policy {
	p := Policy{StrictModes: true}
	globs := func(key string) []string {
		list, ok := t.strList(key)
		if !ok {
			return nil
		}
		for i, g := range list {
			if !strings.HasPrefix(g, "/") {
				t.errElem(key, i, "%q must be an absolute path glob (commands are absolute paths)", g)
			} else if err := pathglob.Validate(g); err != nil {
				t.errElem(key, i, "%q is not a valid glob: %v", g, err)
			}
		}
		return list
	}
	p.AllowCommands = globs("allow_commands")
	p.DenyCommands = globs("deny_commands")
	if b, ok := t.boolean("strict_modes"); ok {
		p.StrictModes = b
	}
	t.finish()
	return p
}

// decodeSupervisor decodes [supervisor] over the defaults in s.
func decodeSupervisor(t *cfgTable, s *SupervisorConfig) {
	if v, ok := t.enum("backend", backendValues...); ok {
		s.Backend = v
	}
	if v, ok := t.str("cgroup_parent"); ok {
		if !strings.HasPrefix(v, "/") || path.Clean(v) != v {
			t.errAt("cgroup_parent", "%q must be an absolute, clean cgroup path such as /hooksupd.slice", v)
		}
		s.CgroupParent = v
	}
	if d, ok := t.duration("daemon_stop_grace", maxStopGrace); ok {
		s.DaemonStopGrace = d
	}
	if v, ok := t.str("dynamic_users"); ok {
		if v == "default" {
			v = dynuser.DefaultRange
		}
		if _, err := dynuser.ParseRange(v); err != nil {
			// There is no "off": a hook that must run as root says so
			// itself, with user = "root".
			t.errAt("dynamic_users", "%v (hooks that must run as root set user = \"root\")", err)
		}
		s.DynamicUsers = v
	}
	t.finish()
}

// decodeServer decodes [server] over the defaults in s.
func decodeServer(t *cfgTable, s *ServerConfig) {
	if v, ok := t.str("socket"); ok {
		switch {
		case !strings.HasPrefix(v, "/"):
			t.errAt("socket", "%q must be an absolute path", v)
		case len(v) > maxSocketPath:
			t.errAt("socket", "is %d bytes; a unix socket path may have at most %d", len(v), maxSocketPath)
		}
		s.Socket = v
	}
	if v, ok := t.str("socket_group"); ok {
		if v == "" {
			t.errAt("socket_group", "must not be empty")
		} else if _, err := lookupGroup(v); err != nil {
			t.errAt("socket_group", "%v", err)
		}
		s.SocketGroup = v
	}
	s.AllowUIDs = cfgDecodeIDs(t, "allow_uids")
	s.AllowGIDs = cfgDecodeIDs(t, "allow_gids")
	if v, ok := t.str("metrics_listen"); ok {
		if why := cfgCheckListen(v); why != "" {
			t.errAt("metrics_listen", "%s", why)
		}
		s.MetricsListen = v
	}
	if n, ok := t.size("max_line_bytes", minMaxLineBytes, maxMaxLineBytes); ok {
		s.MaxLineBytes = int(n)
	}
	if n, ok := t.intRange("max_inflight_per_conn", 1, maxInflightLimit); ok {
		s.MaxInflightPerConn = int(n)
	}
	if n, ok := t.intRange("max_inflight", 1, maxInflightLimit); ok {
		s.MaxInflight = int(n)
	}
	if d, ok := t.duration("drain_timeout", maxDrainTimeout); ok {
		s.DrainTimeout = d
	}
	t.finish()
}

// cfgDecodeIDs decodes a list of uids or gids.
func cfgDecodeIDs(t *cfgTable, key string) []uint32 {
	list, ok := t.array(key)
	if !ok {
		return nil
	}
	out := make([]uint32, 0, len(list))
	for i, v := range list {
		n, isInt := v.(int64)
		switch {
		case !isInt:
			t.errElem(key, i, "must be an integer id, not %s", cfgTypeName(v))
		case n < 0 || n > cfgMaxID:
			t.errElem(key, i, "%d is not a valid id (0..%d)", n, int64(cfgMaxID))
		default:
			out = append(out, uint32(n))
		}
	}
	return out
}

// cfgCheckListen returns why addr cannot be a metrics listen address: a unix
// socket path or a TCP host:port.
func cfgCheckListen(addr string) string {
	if strings.HasPrefix(addr, "/") {
		if len(addr) > maxSocketPath {
			return fmt.Sprintf("is %d bytes; a unix socket path may have at most %d", len(addr), maxSocketPath)
		}
		return ""
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is neither host:port nor an absolute unix socket path", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n > math.MaxUint16 {
		return fmt.Sprintf("%q: port must be a number 0..65535", addr)
	}
	return ""
}
