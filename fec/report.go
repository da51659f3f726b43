package fec

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ReportTimeout bounds sending the status to the release service.
const ReportTimeout = 3 * time.Second

// ReportPath is where the release service (fecd) takes a FEC's status:
// POST <report URL>/api/v1/fecs/<FEC>/report with the status JSON.
const ReportPath = "/api/v1/fecs/%s/report"

// Report sends the boot status to the release service at cfg.Report, best
// effort: one POST with a short timeout (ReportTimeout), no retry. It never
// changes what the boot did; the caller only logs its error.
func Report(ctx context.Context, cfg Config, st *Status) error {
	if cfg.Report == "" || st == nil {
		return nil
	}
	body, err := st.JSON()
	if err != nil {
		return err
	}
	u, err := url.Parse(strings.TrimRight(cfg.Report, "/") + fmt.Sprintf(ReportPath, url.PathEscape(st.FEC)))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("report URL %q is not an http:// or https:// URL", redactString(cfg.Report))
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ReportTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	client := cfg.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("reporting the status to %s: %v", redact(u), err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reporting the status to %s: %s: %s", redact(u), resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// reportStatus is Report for Boot: failures are logged, never returned.
func reportStatus(ctx context.Context, cfg Config, st *Status) {
	if err := Report(ctx, cfg, st); err != nil {
		cfg.Logger.Warn("status not reported to the release service (the boot is not affected)", "error", err.Error())
	} else if cfg.Report != "" {
		cfg.Logger.Info("status reported", "service", redactString(cfg.Report))
	}
}
