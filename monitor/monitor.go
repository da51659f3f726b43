// Package monitor is the monitoring declaration of a web storage and its
// Icinga 2 rendering: the strict format of fecs/<FEC>/monitor/monitoring_groups
// and of the one-file-per-service checks beside it (errors name file and
// line), the deterministic Icinga 2 objects generated from them, and the
// atomic swap of a generated configuration set (optionally validated with
// `icinga2 daemon -C` first). docs/monitoring.md describes the format.
//
// The package reads no storage: storage collects the declarations
// (storage.MonitorHosts) and writes them (storage.AddMonitorService), the
// commands wire the two together.
package monitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/fair-acc/fecdeploy/index"
)

// Names of the declaration inside fecs/<FEC>/.
const (
	// Dir is the folder of a FEC that holds its monitoring declaration;
	// only FECs that have it are monitored.
	Dir = "monitor"
	// GroupsFile lists the Icinga host groups of the FEC, one a line.
	GroupsFile = "monitoring_groups"
	// TemplateName is the base name of the file a software archive may
	// carry (anywhere in it) to say how a release of it is checked; see
	// docs/monitoring.md.
	TemplateName = "fecdeploy-monitor.conf"
)

// ErrInvalid is wrapped by every declaration error (a *SyntaxError says
// file and line).
var ErrInvalid = errors.New("monitor: invalid monitoring declaration")

// SyntaxError is one problem of a declaration file.
type SyntaxError struct {
	File string // as given to the parser, e.g. fecs/scu01/monitor/Foo_DU
	Line int    // 1-based; 0 when the problem is the file as a whole
	Msg  string
}

func (e *SyntaxError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

func (e *SyntaxError) Unwrap() error { return ErrInvalid }

// Kind is what a service checks.
type Kind string

// The check kinds.
const (
	KindProcess Kind = "process" // a process (e.g. a FESA class's deploy unit) runs on the FEC, over ssh
	KindSystemd Kind = "systemd" // a systemd unit is active on the FEC, over ssh
	KindTCP     Kind = "tcp"     // a TCP port of the FEC answers
	KindHTTP    Kind = "http"    // an HTTP URL answers
	KindCommand Kind = "command" // an Icinga CheckCommand from the allowed list
)

// Kinds lists the check kinds in documentation order.
var Kinds = []Kind{KindProcess, KindSystemd, KindTCP, KindHTTP, KindCommand}

// Commands is the default allowed list for check=command: CheckCommands of
// the Icinga Template Library that run on the Icinga host against the FEC's
// address.
var Commands = []string{"ping4", "ssh", "ntp_time", "dns", "udp"}

// Service is one file fecs/<FEC>/monitor/<name>.
type Service struct {
	Name     string            // the file name; the Icinga service name
	Kind     Kind              // check=
	Process  string            // process=: the process name (pidof) for process checks
	Unit     string            // unit=: the systemd unit for systemd checks
	Port     int               // port=: tcp (required), http (optional)
	URL      string            // url=: http (the FEC's address is used when the host is empty)
	Command  string            // command=: for command checks, one of the allowed list
	Args     map[string]string // arg.<var>=<value>: custom variables for command checks (vars.<var>)
	Warning  string            // warning=: response time threshold in seconds (tcp, http); command checks take thresholds as arg.<var>
	Critical string            // critical=: threshold
	Interval string            // interval=: check interval, e.g. 30s, 5m
	Software string            // software=: the software whose releases manage this file ("" = by hand)
	Version  string            // version=: the release that wrote it (informational)
}

// keyOrder is the order Marshal writes keys in.
var keyOrder = []string{"check", "process", "unit", "url", "port", "command", "warning", "critical", "interval", "software", "version"}

// allowedKeys per kind (arg.* is handled apart).
var allowedKeys = map[Kind][]string{
	KindProcess: {"process"},
	KindSystemd: {"unit"},
	KindTCP:     {"port", "warning", "critical"},
	KindHTTP:    {"url", "port", "warning", "critical"},
	KindCommand: {"command"},
}

var (
	reDuration = regexp.MustCompile(`^[1-9][0-9]{0,5}(ms|s|m|h)$`)
	reSeconds  = regexp.MustCompile(`^[0-9]{1,5}(\.[0-9]{1,3})?$`)
	reArgKey   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	reUnit     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9:_.@-]{0,99}$`)
)

// ParseOptions tunes the parser.
type ParseOptions struct {
	// Commands is the allowed list for check=command (nil = Commands).
	Commands []string
}

// ParseService parses the content of one service file. file names it in
// errors; its base name is the service name.
func ParseService(file string, data []byte, o ParseOptions) (Service, error) {
	name := file[strings.LastIndexByte(file, '/')+1:]
	svc := Service{Name: name}
	bad := func(line int, format string, a ...any) error {
		return &SyntaxError{File: file, Line: line, Msg: fmt.Sprintf(format, a...)}
	}
	if err := CheckServiceName(name); err != nil {
		return svc, bad(0, "%v", err)
	}
	seen := map[string]int{}
	vals := map[string]string{}
	lines := map[string]int{}
	err := eachLine(data, func(n int, line string) error {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return bad(n, "%q is not key=value", line)
		}
		if k != strings.TrimSpace(k) || k == "" {
			return bad(n, "key %q: no spaces around keys", k)
		}
		if v != strings.TrimSpace(v) {
			return bad(n, "value of %s has leading or trailing spaces", k)
		}
		if v == "" {
			return bad(n, "%s is empty", k)
		}
		if p, dup := seen[k]; dup {
			return bad(n, "%s given twice (first on line %d)", k, p)
		}
		seen[k] = n
		if arg, ok := strings.CutPrefix(k, "arg."); ok {
			if !reArgKey.MatchString(arg) {
				return bad(n, "custom variable %q: use lower-case letters, digits and '_', starting with a letter", arg)
			}
			if err := checkString(v); err != nil {
				return bad(n, "arg.%s: %v", arg, err)
			}
			if svc.Args == nil {
				svc.Args = map[string]string{}
			}
			svc.Args[arg] = v
			return nil
		}
		if !slices.Contains(keyOrder, k) {
			return bad(n, "unknown key %q (known: %s, arg.<var>)", k, strings.Join(keyOrder, ", "))
		}
		vals[k], lines[k] = v, n
		return nil
	})
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			se.File = file
			return svc, se
		}
		return svc, bad(0, "%v", err)
	}
	check, ok := vals["check"]
	if !ok {
		return svc, bad(0, "no check= line (one of %s)", kindList())
	}
	svc.Kind = Kind(check)
	allowed, ok := allowedKeys[svc.Kind]
	if !ok {
		return svc, bad(lines["check"], "unknown check %q (one of %s)", check, kindList())
	}
	for k, n := range lines {
		switch k {
		case "check", "interval", "software", "version":
			continue
		}
		if !slices.Contains(allowed, k) {
			return svc, bad(n, "%s does not apply to check=%s (it takes %s)", k, check, strings.Join(allowed, ", "))
		}
	}
	if len(svc.Args) > 0 && svc.Kind != KindCommand {
		return svc, bad(seen[firstArg(svc.Args)], "arg.* applies to check=command only")
	}
	need := func(k string) (string, int, error) {
		v, ok := vals[k]
		if !ok {
			return "", 0, bad(0, "check=%s needs a %s= line", check, k)
		}
		return v, lines[k], nil
	}
	switch svc.Kind {
	case KindProcess:
		v, n, err := need("process")
		if err != nil {
			return svc, err
		}
		if err := index.CheckName("process name", v); err != nil {
			return svc, bad(n, "%v", err)
		}
		svc.Process = v
	case KindSystemd:
		v, n, err := need("unit")
		if err != nil {
			return svc, err
		}
		if !reUnit.MatchString(v) {
			return svc, bad(n, "unit %q: use letters, digits and ':_.@-', starting with a letter or digit", v)
		}
		svc.Unit = v
	case KindTCP:
		if _, _, err := need("port"); err != nil {
			return svc, err
		}
	case KindHTTP:
		v, n, err := need("url")
		if err != nil {
			return svc, err
		}
		if err := checkURL(v); err != nil {
			return svc, bad(n, "url %q: %v", v, err)
		}
		svc.URL = v
	case KindCommand:
		v, n, err := need("command")
		if err != nil {
			return svc, err
		}
		cmds := o.Commands
		if cmds == nil {
			cmds = Commands
		}
		if !slices.Contains(cmds, v) {
			return svc, bad(n, "command %q is not on the allowed list (%s)", v, strings.Join(cmds, ", "))
		}
		svc.Command = v
	}
	if v, ok := vals["port"]; ok {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != v {
			return svc, bad(lines["port"], "port %q: want a number 1..65535", v)
		}
		svc.Port = p
	}
	for _, k := range []string{"warning", "critical"} {
		v, ok := vals[k]
		if !ok {
			continue
		}
		if !reSeconds.MatchString(v) {
			return svc, bad(lines[k], "%s %q: want seconds, e.g. 2 or 0.5", k, v)
		}
	}
	svc.Warning, svc.Critical = vals["warning"], vals["critical"]
	if v, ok := vals["interval"]; ok {
		if !reDuration.MatchString(v) {
			return svc, bad(lines["interval"], "interval %q: want a number and a unit (ms, s, m, h), e.g. 30s or 5m", v)
		}
		svc.Interval = v
	}
	if v, ok := vals["software"]; ok {
		if err := index.CheckName("software name", v); err != nil {
			return svc, bad(lines["software"], "%v", err)
		}
		svc.Software = v
	}
	if v, ok := vals["version"]; ok {
		if err := index.CheckName("version", v); err != nil {
			return svc, bad(lines["version"], "%v", err)
		}
		svc.Version = v
	}
	return svc, nil
}

func firstArg(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "arg." + keys[0]
}

func kindList() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// checkString refuses what has no place in a one-line value.
func checkString(v string) error {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			return fmt.Errorf("control character at position %d", i+1)
		}
	}
	if len(v) > 1024 {
		return fmt.Errorf("longer than 1024 characters")
	}
	return nil
}

func checkURL(v string) error {
	if err := checkString(v); err != nil {
		return err
	}
	u, err := url.Parse(v)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("want an http:// or https:// URL")
	}
	if u.User != nil {
		return fmt.Errorf("no credentials in monitoring URLs")
	}
	if u.Port() != "" {
		return fmt.Errorf("give the port with port=, not in the URL")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("no query or fragment")
	}
	if h := u.Hostname(); h != "" {
		for _, label := range strings.Split(h, ".") {
			if index.CheckName("host name", label) != nil {
				return fmt.Errorf("host %q: use a DNS name or leave it empty for the FEC's address (http:///path)", h)
			}
		}
	}
	return nil
}

// eachLine calls fn for each non-empty, non-comment line (1-based number).
// Carriage returns and NUL bytes are refused.
func eachLine(data []byte, fn func(n int, line string) error) error {
	if !bytes.HasSuffix(data, []byte("\n")) && len(data) > 0 {
		data = append(data[:len(data):len(data)], '\n')
	}
	n := 0
	for len(data) > 0 {
		n++
		i := bytes.IndexByte(data, '\n')
		line := string(data[:i])
		data = data[i+1:]
		if i := strings.IndexAny(line, "\r\x00\t"); i >= 0 {
			return &SyntaxError{Line: n, Msg: fmt.Sprintf("character %q at position %d is not allowed (no CR, NUL or tab)", line[i], i+1)}
		}
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	return nil
}

// CheckServiceName validates a service (file) name: the safe name set of
// index.CheckName, and not the groups file's name.
func CheckServiceName(name string) error {
	if err := index.CheckName("service name", name); err != nil {
		return err
	}
	if name == GroupsFile {
		return &index.NameError{What: "service name", Name: name, Reason: GroupsFile + " is the host groups file"}
	}
	return nil
}

// ParseGroups parses monitoring_groups: one host group a line, # comments.
func ParseGroups(file string, data []byte) ([]string, error) {
	var groups []string
	seen := map[string]int{}
	err := eachLine(data, func(n int, line string) error {
		g := strings.TrimSpace(line)
		if err := index.CheckName("host group", g); err != nil {
			return &SyntaxError{File: file, Line: n, Msg: err.Error()}
		}
		if p, dup := seen[g]; dup {
			return &SyntaxError{File: file, Line: n, Msg: fmt.Sprintf("host group %s given twice (first on line %d)", g, p)}
		}
		seen[g] = n
		groups = append(groups, g)
		return nil
	})
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			se.File = file
			return nil, se
		}
		return nil, &SyntaxError{File: file, Msg: err.Error()}
	}
	sort.Strings(groups)
	return groups, nil
}

// MarshalGroups is the content of monitoring_groups for groups (sorted).
func MarshalGroups(groups []string) []byte {
	var b bytes.Buffer
	b.WriteString("# Icinga host groups of this FEC, one a line\n")
	gs := slices.Clone(groups)
	sort.Strings(gs)
	for _, g := range slices.Compact(gs) {
		b.WriteString(g + "\n")
	}
	return b.Bytes()
}

// Marshal is the content of the service's file; ParseService(Marshal(s))
// gives s back.
func (s Service) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString("# fecdeploy monitoring check (docs/monitoring.md)\n")
	put := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s=%s\n", k, v)
		}
	}
	port := ""
	if s.Port != 0 {
		port = strconv.Itoa(s.Port)
	}
	for _, k := range keyOrder {
		switch k {
		case "check":
			put(k, string(s.Kind))
		case "process":
			put(k, s.Process)
		case "unit":
			put(k, s.Unit)
		case "url":
			put(k, s.URL)
		case "port":
			put(k, port)
		case "command":
			put(k, s.Command)
		case "warning":
			put(k, s.Warning)
		case "critical":
			put(k, s.Critical)
		case "interval":
			put(k, s.Interval)
		case "software":
			put(k, s.Software)
		case "version":
			put(k, s.Version)
		}
	}
	keys := make([]string, 0, len(s.Args))
	for k := range s.Args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		put("arg."+k, s.Args[k])
	}
	return b.Bytes()
}

// ServiceFromArgs parses a service given as key=value arguments (fecctl
// monitor add FEC NAME check=tcp port=9000); errors name the argument.
func ServiceFromArgs(name string, args []string, o ParseOptions) (Service, error) {
	for i, a := range args {
		if strings.ContainsAny(a, "\n\r") {
			return Service{}, &SyntaxError{File: "argument", Line: i + 1, Msg: "line break in a value"}
		}
	}
	svc, err := ParseService(name, []byte(strings.Join(args, "\n")), o)
	var se *SyntaxError
	if errors.As(err, &se) {
		se.File = "service " + name
		if se.Line > 0 {
			se.File = fmt.Sprintf("argument %d (%s)", se.Line, args[se.Line-1])
			se.Line = 0
		}
	}
	return svc, err
}

// Generate renders hosts and writes them with WriteSet: what fecctl icinga
// does after reading the storage (storage.MonitorHosts).
func Generate(ctx context.Context, hosts []Host, dir string, ro RenderOptions, so SetOptions) (SetResult, error) {
	files, err := Render(hosts, ro)
	if err != nil {
		return SetResult{}, err
	}
	return WriteSet(ctx, dir, files, so)
}
