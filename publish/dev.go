package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/fair-acc/fecdeploy/archive"
	"github.com/fair-acc/fecdeploy/fec"
	"github.com/fair-acc/fecdeploy/index"
)

// DevRequest is a dev release copied straight onto one FEC, bypassing the
// web storage (the seed: dev releases "should be directly copied to the
// FEC").
type DevRequest struct {
	// Request says what to pack (SourceDir or an input archive, Prefix,
	// Name, Format...). Version defaults to "dev"; Link, Prune and Force
	// do not apply.
	Request
	// SSH reaches the FEC (Host is the FEC's host name or ssh alias).
	SSH SSH
	// Client is the FEC's own client as a shell command prefix, run there:
	// "fec-boot" (default), "fec-boot.sh" for busybox FECs, or e.g.
	// "/usr/sbin/fec-boot --root /" (not quoted: it may carry arguments).
	Client string
	// ClientArgs are passed to the client after the install-archive
	// arguments (e.g. --root, --state-dir, --allowed-roots).
	ClientArgs []string
	// TempDir on the FEC where the archive is copied before it is
	// installed; default /tmp. The copy is removed in every case.
	TempDir string
	// Sent, when set, is called with the archive bytes sent so far.
	Sent func(n int64)
}

// DevResult tells what was installed.
type DevResult struct {
	Pack   archive.PackStats `json:"pack"`
	FEC    string            `json:"fec"`
	Output string            `json:"output"` // what the FEC's client printed
}

// DevRelease packs the release into a local temporary file and installs it
// on the FEC with SendDev.
func DevRelease(ctx context.Context, req DevRequest) (DevResult, error) {
	var res DevResult
	if req.Version == "" {
		req.Version = index.DevVersion
	}
	if err := index.CheckName("software", req.Name); err != nil {
		return res, err
	}
	tmpDir, err := os.MkdirTemp("", "fecdeploy-dev-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmpDir)
	if req.Format == "" {
		req.Format = index.FormatZstd
	}
	file := filepath.Join(tmpDir, req.Name+"-"+req.Version+"."+req.Format.Extension())
	stats, err := PackInput(ctx, file, req.Request)
	res.Pack = stats
	if err != nil {
		return res, err
	}
	out, err := SendDev(ctx, file, stats.SHA256, req)
	res.FEC, res.Output = req.SSH.Host, out
	return res, err
}

// SendDev copies an archive file to a temporary name on the FEC and, once
// all of it arrived, installs it there with the FEC's own client
// (install-archive), which checks the sha256 before anything takes effect
// and unpacks through staging, as at boot. A connection that drops
// mid-copy leaves the FEC's previous install as it was; the temporary copy
// is removed in every case.
func SendDev(ctx context.Context, file, sha256hex string, req DevRequest) (string, error) {
	if req.Version == "" {
		req.Version = index.DevVersion
	}
	client := req.Client
	if client == "" {
		client = "fec-boot"
	}
	tmp := req.TempDir
	if tmp == "" {
		tmp = "/tmp"
	}
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	install := append([]string{client, "install-archive", "\"$t\"", "-sha256", sha256hex, "-name", req.Name, "-version", req.Version}, nil...)
	if req.Prefix != "" {
		install = append(install, "-prefix", req.Prefix)
	}
	cmdline := make([]string, len(install))
	for i, a := range install {
		if a == "\"$t\"" || i == 0 {
			cmdline[i] = a
		} else {
			cmdline[i] = ShellQuote(a)
		}
	}
	if len(req.ClientArgs) > 0 {
		cmdline = append(cmdline, shellJoin(req.ClientArgs...))
	}
	// POSIX sh (busybox ash too): a temp file that disappears whatever happens.
	script := fmt.Sprintf(`umask 022; t=$(mktemp %s/.fecdeploy-dev-XXXXXXXX) || exit 5; `+
		`trap 'rm -f "$t"' EXIT; trap 'rm -f "$t"; exit 129' HUP INT TERM PIPE; `+
		`cat >"$t" || exit 5; %s`, ShellQuote(strings.TrimRight(tmp, "/")), strings.Join(cmdline, " "))
	var body io.Reader = f
	if req.Sent != nil {
		body = &countReader{r: f, tick: req.Sent}
	}
	var out strings.Builder
	err = req.SSH.Run(ctx, client+" install-archive", script, body, &out)
	if err != nil {
		return out.String(), fmt.Errorf("dev release %s to %s: %w", req.Name, req.SSH.Host, err)
	}
	return out.String(), nil
}

type countReader struct {
	r    io.Reader
	n    int64
	tick func(int64)
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if n > 0 {
		c.tick(c.n)
	}
	return n, err
}

// ListDev lists the dev releases installed on a FEC (`fec-boot dev ls
// -json` run there through ssh; client as in DevRequest.Client).
func ListDev(ctx context.Context, ssh SSH, client string) ([]fec.DevRelease, error) {
	if client == "" {
		client = "fec-boot"
	}
	var out bytes.Buffer
	if err := ssh.Run(ctx, client+" dev ls", client+" dev ls -json", nil, &out); err != nil {
		return nil, err
	}
	var devs []fec.DevRelease
	if err := json.Unmarshal(out.Bytes(), &devs); err != nil {
		return nil, fmt.Errorf("%s dev ls on %s answered something else than JSON: %v: %q", client, ssh.Host, err, out.String())
	}
	return devs, nil
}

// RemoveDevRemote removes a dev release from a FEC (`fec-boot dev rm NAME`
// run there) and returns what the client printed.
func RemoveDevRemote(ctx context.Context, ssh SSH, client, name string) (string, error) {
	if client == "" {
		client = "fec-boot"
	}
	if err := index.CheckName("software", name); err != nil {
		return "", err
	}
	var out bytes.Buffer
	err := ssh.Run(ctx, client+" dev rm", client+" dev rm "+ShellQuote(name), nil, &out)
	return out.String(), err
}
