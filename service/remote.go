package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fair-acc/fecdeploy/index"
)

// Remote runs the two commands the FEC's forced-command entry allows
// (examples/service/fecd-forced-command.sh): "restart <service>" and
// "reboot", over the system OpenSSH client with the service's own key.
type Remote struct {
	SSH        string // the ssh program; default "ssh"
	Key        string // the service's private key (-i)
	KnownHosts string // known_hosts with the FECs' host keys (strict checking)
	User       string // login user on the FECs; default "root"
	Port       int    // 0: ssh's default
	// Host maps a FEC name to the host ssh connects to; "{fec}" in it is
	// replaced by the name. Default "{fec}".
	Host string
	// Timeout bounds one command on one FEC. Default 2m.
	Timeout time.Duration
}

func (rm *Remote) args(fec, command string) []string {
	host := rm.Host
	if host == "" {
		host = "{fec}"
	}
	host = strings.ReplaceAll(host, "{fec}", fec)
	user := rm.User
	if user == "" {
		user = "root"
	}
	a := []string{"-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=10", "-o", "IdentitiesOnly=yes"}
	if rm.Key != "" {
		a = append(a, "-i", rm.Key)
	}
	if rm.KnownHosts != "" {
		a = append(a, "-o", "UserKnownHostsFile="+rm.KnownHosts)
	}
	if rm.Port != 0 {
		a = append(a, "-p", strconv.Itoa(rm.Port))
	}
	return append(a, "-l", user, host, command)
}

// Run runs command on fec and returns its output.
func (rm *Remote) Run(ctx context.Context, fec, command string) (string, error) {
	timeout := rm.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	prog := rm.SSH
	if prog == "" {
		prog = "ssh"
	}
	cmd := exec.CommandContext(ctx, prog, rm.args(fec, command)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	text := strings.TrimSpace(out.String())
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 255 {
			return text, fmt.Errorf("ssh to %s failed (connection, host key or authorization): %s", fec, text)
		}
		return text, fmt.Errorf("%q on %s: %v: %s", command, fec, err, text)
	}
	return text, nil
}

// Outcome is one FEC's result in a batch run.
type Outcome struct {
	FEC    string `json:"fec"`
	Batch  int    `json:"batch"`
	Ran    bool   `json:"ran"`
	OK     bool   `json:"ok"`
	Output string `json:"output,omitempty"`
	Error  string `json:"error,omitempty"`
}

// RunBatches runs command on the FECs, batch FECs at a time (in parallel
// within a batch); after a batch with a failure no further batch starts
// (those FECs are reported with Ran false). record is called for each
// outcome.
func (rm *Remote) RunBatches(ctx context.Context, fecs []string, batch int, command string, record func(Outcome)) []Outcome {
	if batch <= 0 {
		batch = 1
	}
	out := make([]Outcome, len(fecs))
	stopped := false
	for start := 0; start < len(fecs); start += batch {
		end := min(start+batch, len(fecs))
		if stopped {
			for i := start; i < end; i++ {
				out[i] = Outcome{FEC: fecs[i], Batch: start/batch + 1, Error: "not run: an earlier batch failed"}
				record(out[i])
			}
			continue
		}
		var wg sync.WaitGroup
		for i := start; i < end; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				text, err := rm.Run(ctx, fecs[i], command)
				out[i] = Outcome{FEC: fecs[i], Batch: start/batch + 1, Ran: true, OK: err == nil, Output: text, Error: errText(err, "")}
			}(i)
		}
		wg.Wait()
		for i := start; i < end; i++ {
			record(out[i])
			if !out[i].OK {
				stopped = true
			}
		}
	}
	return out
}

// RestartRequest restarts a service (a FESA class) on the FECs that run a
// software (or on the named FECs).
type RestartRequest struct {
	Software string   `json:"software"`          // the FECs whose INDEX lists it (when FECs is empty)
	Service  string   `json:"service,omitempty"` // the service to restart; default Software
	FECs     []string `json:"fecs,omitempty"`
	Batch    int      `json:"batch,omitempty"` // default: the service's batch size
}

// RebootRequest reboots named FECs.
type RebootRequest struct {
	FECs  []string `json:"fecs"`
	Batch int      `json:"batch,omitempty"`
}

// BatchAnswer is the answer to a restart or reboot.
type BatchAnswer struct {
	Command  string    `json:"command"`
	Batch    int       `json:"batch"`
	OK       bool      `json:"ok"`
	Outcomes []Outcome `json:"outcomes"`
}

func validService(name string) bool {
	if name == "" || len(name) > 64 || name[0] == '-' || name[0] == '.' {
		return false
	}
	return strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@-") == ""
}

func (s *Service) runBatches(w http.ResponseWriter, r *http.Request, actor, action, software, command string, fecs []string, batch int) {
	if s.opt.Remote == nil {
		writeErr(w, http.StatusNotImplemented, errors.New("restart and reboot are not configured: start fecd with -ssh-key"))
		return
	}
	if batch <= 0 {
		batch = s.opt.BatchSize
	}
	for _, f := range fecs {
		if index.CheckFECName(f) != nil || !s.knownFEC(f) {
			writeErr(w, http.StatusNotFound, fmt.Errorf("%w: FEC %q is not in the storage; nothing was run", ErrNotFound, f))
			return
		}
	}
	ans := BatchAnswer{Command: command, Batch: batch, OK: true}
	ans.Outcomes = s.opt.Remote.RunBatches(r.Context(), fecs, batch, command, func(o Outcome) {
		detail := o.Error
		if o.OK {
			detail = "ok: " + o.Output
		}
		s.audit(r.Context(), Audit{Actor: actor, Action: action, FEC: o.FEC, Software: software, OK: o.OK, Detail: fmt.Sprintf("batch %d: %s", o.Batch, detail)})
		if !o.OK {
			ans.OK = false
		}
	})
	code := http.StatusOK
	if !ans.OK {
		code = http.StatusBadGateway
	}
	writeJSON(w, code, ans)
}

func (s *Service) apiRestart(w http.ResponseWriter, r *http.Request, actor string) {
	var req RestartRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	svc := req.Service
	if svc == "" {
		svc = req.Software
	}
	if !validService(svc) {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("%w: service name %q: letters, digits, _ . @ - only", ErrBadRequest, svc))
		return
	}
	fecs := req.FECs
	if len(fecs) == 0 {
		if req.Software == "" {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("%w: name the software (its FECs are restarted) or the FECs", ErrBadRequest))
			return
		}
		var err error
		if fecs, err = s.fecsRunning(r.Context(), req.Software); err != nil {
			writeErr(w, statusOf(err), err)
			return
		}
		if len(fecs) == 0 {
			writeErr(w, http.StatusNotFound, fmt.Errorf("%w: no FEC links %s", ErrNotFound, req.Software))
			return
		}
	}
	s.runBatches(w, r, actor, "restart", req.Software, "restart "+svc, fecs, req.Batch)
}

func (s *Service) apiReboot(w http.ResponseWriter, r *http.Request, actor string) {
	var req RebootRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	if len(req.FECs) == 0 {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("%w: name the FECs to reboot (fecs)", ErrBadRequest))
		return
	}
	s.runBatches(w, r, actor, "reboot", "", "reboot", req.FECs, req.Batch)
}
