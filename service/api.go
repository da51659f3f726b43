package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/verify"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/fair-acc/fecdeploy/version"
)

// APIPrefix is the versioned path of the JSON API.
const APIPrefix = "/api/v1"

func (s *Service) routes() {
	m := http.NewServeMux()
	read := func(pattern string, h http.HandlerFunc) { m.Handle(pattern, s.limit(s.opt.RequestTimeout, 0, h)) }
	write := func(pattern string, h func(w http.ResponseWriter, r *http.Request, actor string)) {
		m.Handle(pattern, s.limit(s.opt.RequestTimeout, s.opt.MaxJSON, s.auth(h)))
	}
	read("GET "+APIPrefix+"/fecs", s.apiFleet)
	read("GET "+APIPrefix+"/fecs/{fec}", s.apiFEC)
	read("GET "+APIPrefix+"/software/{name}", s.apiSoftware)
	read("GET "+APIPrefix+"/audit", s.apiAudit)
	read("GET "+APIPrefix+"/releases", s.apiReleases)
	m.Handle("POST "+APIPrefix+"/fecs/{fec}/report", s.limit(s.opt.RequestTimeout, s.opt.MaxReport, http.HandlerFunc(s.apiReport)))
	m.Handle("PUT "+APIPrefix+"/publish/{kind}/{name}/{version}", s.limit(s.opt.UploadTimeout, s.opt.MaxUpload, s.auth(s.apiPublish)))
	write("POST "+APIPrefix+"/link", s.apiLink)
	write("POST "+APIPrefix+"/switch", s.apiSwitch)
	write("POST "+APIPrefix+"/rollback", s.apiRollback)
	write("POST "+APIPrefix+"/prune/plan", s.apiPrunePlan)
	write("POST "+APIPrefix+"/prune/apply", s.apiPruneApply)
	long := func(pattern string, h func(w http.ResponseWriter, r *http.Request, actor string)) {
		m.Handle(pattern, s.limit(s.opt.UploadTimeout, s.opt.MaxJSON, s.auth(h)))
	}
	long("POST "+APIPrefix+"/restart", s.apiRestart)
	long("POST "+APIPrefix+"/reboot", s.apiReboot)
	read("GET /{$}", s.pageFleet)
	read("GET /fec/{fec}", s.pageFEC)
	read("GET /software/{name}", s.pageSoftware)
	m.Handle("/", s.limit(s.opt.RequestTimeout, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, fmt.Errorf("%w: no such endpoint: %s %s (the API is under %s, see docs/service.md)", ErrNotFound, r.Method, r.URL.Path, APIPrefix))
	})))
	s.mux = m
}

// limit bounds a request's duration and body size (0: no body expected,
// 1 KiB allowed).
func (s *Service) limit(timeout time.Duration, maxBody int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if maxBody <= 0 {
			maxBody = 1 << 10
		}
		if r.ContentLength > maxBody {
			writeErr(w, http.StatusRequestEntityTooLarge, fmt.Errorf("%w: request body of %d bytes exceeds the limit of %d", ErrBadRequest, r.ContentLength, maxBody))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		rc := http.NewResponseController(w)
		deadline := time.Now().Add(timeout)
		_ = rc.SetReadDeadline(deadline)
		_ = rc.SetWriteDeadline(deadline.Add(5 * time.Second))
		ctx, cancel := context.WithDeadline(r.Context(), deadline)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// auth requires a valid token (Authorization: Bearer <token>) and passes
// its owner's name on; without one the request is refused with 401 before
// anything is read or written.
func (s *Service) auth(h func(w http.ResponseWriter, r *http.Request, actor string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="fecd"`)
			writeErr(w, http.StatusUnauthorized, errors.New("a token is required for this request: send Authorization: Bearer <token> (create one with fecd token NAME)"))
			return
		}
		actor, err := s.db.Authenticate(r.Context(), strings.TrimSpace(tok))
		if err != nil {
			writeErr(w, http.StatusInternalServerError, err)
			return
		}
		if actor == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="fecd", error="invalid_token"`)
			writeErr(w, http.StatusUnauthorized, errors.New("the token is not known (revoked, or from another service's database)"))
			return
		}
		h(w, r, actor)
	})
}

// APIError is the body of every error answer.
type APIError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeErr(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, APIError{Error: err.Error()})
}

// statusOf maps an error to an HTTP status.
func statusOf(err error) int {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrBadRequest), errors.Is(err, storage.ErrBadRequest), errors.Is(err, index.ErrBadName),
		errors.Is(err, version.ErrInvalid), errors.Is(err, index.ErrUnknownFormat), errors.Is(err, verify.ErrDigestMismatch),
		errors.Is(err, verify.ErrSizeMismatch), errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound), errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrUnknownFEC):
		return http.StatusNotFound
	case errors.Is(err, storage.ErrImmutable), errors.Is(err, storage.ErrArchMismatch), errors.Is(err, storage.ErrNoDecoder),
		errors.Is(err, storage.ErrInUse), errors.Is(err, storage.ErrExists), errors.Is(err, version.ErrCollides),
		errors.Is(err, storage.ErrSigningKey), errors.Is(err, storage.ErrNoRollback):
		return http.StatusConflict
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// decode reads a JSON body strictly (unknown fields are errors).
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return fmt.Errorf("%w: the body is not the expected JSON: %v", ErrBadRequest, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: the body holds more than one JSON value", ErrBadRequest)
	}
	return nil
}

func (s *Service) apiFleet(w http.ResponseWriter, r *http.Request) {
	views, err := s.Fleet(r.Context())
	if err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, views)
}

func (s *Service) apiFEC(w http.ResponseWriter, r *http.Request) {
	v, err := s.FECDetail(r.Context(), r.PathValue("fec"))
	if err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// SoftwareView is one software: which FEC links which version, the
// versions kept and why.
type SoftwareView struct {
	Name     string             `json:"name"`
	Uses     []storage.Use      `json:"uses"`
	Running  map[string]string  `json:"running"` // FEC -> version its last report installed
	Plan     []version.Decision `json:"plan"`
	Releases []Release          `json:"releases"`
	Warnings []string           `json:"warnings,omitempty"`
}

// Software returns the view of one software.
func (s *Service) Software(ctx context.Context, name string) (SoftwareView, error) {
	v := SoftwareView{Name: name, Running: map[string]string{}}
	if err := index.CheckName("software name", name); err != nil {
		return v, err
	}
	uses, err := s.st.Uses(ctx, index.KindSoftware, name, "")
	if err != nil {
		return v, err
	}
	v.Uses = uses
	plan, err := s.st.PlanPrune(ctx, name, version.Policy{}, s.opt.Now())
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return v, err
	}
	for _, sp := range plan.Software {
		v.Plan = append(v.Plan, sp.Versions...)
	}
	for _, wn := range plan.Warnings {
		v.Warnings = append(v.Warnings, wn.Text)
	}
	if len(uses) == 0 && len(v.Plan) == 0 {
		return v, fmt.Errorf("%w: software %q is neither published nor linked", ErrNotFound, name)
	}
	reps, err := s.db.Reports(ctx)
	if err != nil {
		return v, err
	}
	for fec, rp := range reps {
		var st bootStatus
		if json.Unmarshal([]byte(rp.Body), &st) != nil {
			continue
		}
		for _, e := range st.Entries {
			if e.Name == name && e.Kind == string(index.KindSoftware) && e.Action != "failed" {
				v.Running[fec] = e.Version
			}
		}
	}
	v.Releases, err = s.db.Releases(ctx, name, 50)
	return v, err
}

func (s *Service) apiSoftware(w http.ResponseWriter, r *http.Request) {
	v, err := s.Software(r.Context(), r.PathValue("name"))
	if err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Service) apiAudit(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	a, err := s.db.Audits(r.Context(), AuditFilter{FEC: r.URL.Query().Get("fec"), Software: r.URL.Query().Get("software"), Limit: limit})
	if err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Service) apiReleases(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	rel, err := s.db.Releases(r.Context(), r.URL.Query().Get("name"), limit)
	if err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, rel)
}

// apiReport stores a FEC's status report: the status JSON its boot client
// wrote. The FEC must exist in the storage and the body must name it.
func (s *Service) apiReport(w http.ResponseWriter, r *http.Request) {
	fec := r.PathValue("fec")
	if !s.knownFEC(fec) {
		writeErr(w, http.StatusNotFound, fmt.Errorf("%w: FEC %q is not in the storage; add it with fecctl add-fec", ErrNotFound, fec))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeErr(w, statusOf(err), fmt.Errorf("reading the report: %w", err))
		return
	}
	var st bootStatus
	if err := json.Unmarshal(body, &st); err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("%w: the report is not a status JSON: %v", ErrBadRequest, err))
		return
	}
	if st.FEC != fec || st.ExitCode == nil || st.Finished.IsZero() {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("%w: the report must be the boot status of FEC %q (fields fec, exit_code, finished; got fec %q)", ErrBadRequest, fec, st.FEC))
		return
	}
	if st.Command != "boot" || st.DryRun {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("%w: only the status of a real boot is stored (command %q, dry_run %v)", ErrBadRequest, st.Command, st.DryRun))
		return
	}
	failed := 0
	for _, e := range st.Entries {
		if e.Action == "failed" {
			failed++
		}
	}
	for _, sc := range st.Scripts {
		if sc.Action == "failed" {
			failed++
		}
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	rep := StoredReport{FEC: fec, Received: s.opt.Now(), Remote: host, IndexSHA256: st.IndexSHA256,
		ExitCode: *st.ExitCode, Failed: failed, Finished: st.Finished, Body: string(body)}
	if err := s.db.PutReport(r.Context(), rep); err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"fec": fec, "stored": true})
}

// PublishAnswer is the answer to a publish.
type PublishAnswer struct {
	Published storage.Published    `json:"published"`
	Linked    []string             `json:"linked,omitempty"`
	Prune     *storage.PruneReport `json:"prune,omitempty"`
}

// apiPublish streams the body (a compressed tar) into storage.Publish; the
// sha256 (query sha256=, required) and the size (Content-Length, required)
// are checked while streaming, so a truncated or altered upload fails
// before anything takes its final name.
func (s *Service) apiPublish(w http.ResponseWriter, r *http.Request, actor string) {
	q := r.URL.Query()
	kind, name, ver := index.Kind(r.PathValue("kind")), r.PathValue("name"), r.PathValue("version")
	sum := strings.ToLower(q.Get("sha256"))
	if len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("%w: sha256= (64 hex digits) of the archive is required", ErrBadRequest))
		return
	}
	if r.ContentLength < 0 {
		writeErr(w, http.StatusLengthRequired, fmt.Errorf("%w: Content-Length is required (the size is checked)", ErrBadRequest))
		return
	}
	var link []string
	for _, f := range strings.Split(q.Get("link"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			link = append(link, f)
		}
	}
	for _, f := range link {
		if !s.knownFEC(f) {
			writeErr(w, http.StatusNotFound, fmt.Errorf("%w: FEC %q (link=) is not in the storage; nothing was published", storage.ErrUnknownFEC, f))
			return
		}
	}
	force := q.Get("force") == "true" || q.Get("force") == "1"
	pv, err := version.Parse(ver)
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	body := verify.NewReader(r.Body, r.ContentLength, sum)
	pub, err := s.st.Publish(r.Context(), storage.PublishRequest{
		Kind: kind, Name: name, Version: pv, Arch: q.Get("arch"), Body: body, Force: force, Logger: s.log,
	})
	rel := Release{Actor: actor, Kind: string(kind), Name: name, Version: ver, Arch: q.Get("arch"), SHA256: sum, Size: r.ContentLength, FECs: link}
	if err != nil {
		rel.Result = "refused: " + err.Error()
		s.record(r.Context(), rel, Audit{Actor: actor, Action: "publish", Software: name, Version: ver, Detail: err.Error()})
		writeErr(w, statusOf(err), fmt.Errorf("publishing %s %s %s: %w", kind, name, ver, err))
		return
	}
	ans := PublishAnswer{Published: pub}
	rel.Path, rel.Size = pub.Path, pub.Size
	for _, f := range link {
		if err := s.st.Link(r.Context(), f, kind, name, ver); err != nil {
			rel.Result = "published, link to " + f + " failed: " + err.Error()
			rel.FECs = ans.Linked
			s.record(r.Context(), rel, Audit{Actor: actor, Action: "link", FEC: f, Software: name, Version: ver, Detail: err.Error()})
			writeErr(w, statusOf(err), fmt.Errorf("published %s, but linking it to %s failed: %w", pub.Path, f, err))
			return
		}
		ans.Linked = append(ans.Linked, f)
		_ = s.db.AddAudit(r.Context(), Audit{Actor: actor, Action: "link", FEC: f, Software: name, Version: ver, OK: true, Detail: "linked with the publish"})
	}
	rel.Result = "published"
	if pub.Unchanged {
		rel.Result = "unchanged (the same bytes were published before)"
	}
	s.record(r.Context(), rel, Audit{Actor: actor, Action: "publish", Software: name, Version: ver, OK: true, Detail: rel.Result + ": " + pub.Path})
	// prune=true: the retention plan of this software after a productive
	// release, as fec-pack applies it (default policy).
	if v, err := version.Parse(ver); err == nil && q.Get("prune") == "true" && kind == index.KindSoftware && v.IsProductive(version.Policy{}) {
		plan, err := s.st.PlanPrune(r.Context(), name, version.Policy{}, s.opt.Now())
		if err == nil {
			var rep storage.PruneReport
			rep, err = s.st.Prune(r.Context(), plan)
			for _, d := range rep.Removed {
				s.audit(r.Context(), Audit{Actor: actor, Action: "prune", Software: d.Software, Version: d.Version, OK: true, Detail: "removed: " + d.Text})
			}
			ans.Prune = &rep
		}
		if err != nil {
			s.audit(r.Context(), Audit{Actor: actor, Action: "prune", Software: name, Detail: err.Error()})
			writeErr(w, statusOf(err), fmt.Errorf("published %s, but pruning old versions failed: %w", pub.Path, err))
			return
		}
	}
	writeJSON(w, http.StatusOK, ans)
}

// record stores a release and its audit record; the database failing must
// not hide what happened in the storage, so it is logged.
func (s *Service) record(ctx context.Context, rel Release, a Audit) {
	ctx = context.WithoutCancel(ctx)
	if err := s.db.AddRelease(ctx, rel); err != nil {
		s.log.Error("recording a release", "error", err.Error(), "name", rel.Name, "version", rel.Version)
	}
	s.audit(ctx, a)
}

func (s *Service) audit(ctx context.Context, a Audit) {
	if err := s.db.AddAudit(context.WithoutCancel(ctx), a); err != nil {
		s.log.Error("recording an audit record", "error", err.Error(), "action", a.Action)
	}
}

// LinkRequest links a published version to FECs.
type LinkRequest struct {
	FECs    []string `json:"fecs"`
	Kind    string   `json:"kind"` // software (default) or configuration
	Name    string   `json:"name"`
	Version string   `json:"version"`
}

func (s *Service) apiLink(w http.ResponseWriter, r *http.Request, actor string) {
	var req LinkRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	if req.Kind == "" {
		req.Kind = string(index.KindSoftware)
	}
	if len(req.FECs) == 0 {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("%w: fecs is empty", ErrBadRequest))
		return
	}
	var done []string
	for _, f := range req.FECs {
		err := s.st.Link(r.Context(), f, index.Kind(req.Kind), req.Name, req.Version)
		s.audit(r.Context(), Audit{Actor: actor, Action: "link", FEC: f, Software: req.Name, Version: req.Version, OK: err == nil, Detail: errText(err, "linked")})
		if err != nil {
			writeErr(w, statusOf(err), fmt.Errorf("linking %s %s to %s (done before: %v): %w", req.Name, req.Version, f, done, err))
			return
		}
		done = append(done, f)
	}
	writeJSON(w, http.StatusOK, map[string]any{"linked": done})
}

func errText(err error, ok string) string {
	if err != nil {
		return err.Error()
	}
	return ok
}

// SwitchRequest switches FECs (all that link the software when FECs is
// empty and All is true) to a version.
type SwitchRequest struct {
	Software string   `json:"software"`
	Version  string   `json:"version"`
	FECs     []string `json:"fecs,omitempty"`
	All      bool     `json:"all,omitempty"`
}

func (s *Service) apiSwitch(w http.ResponseWriter, r *http.Request, actor string) {
	var req SwitchRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	if len(req.FECs) == 0 && !req.All {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("%w: name the FECs (fecs) or set all=true", ErrBadRequest))
		return
	}
	var out []storage.SwitchResult
	if req.All && len(req.FECs) == 0 {
		res, err := s.st.SwitchAll(r.Context(), req.Software, req.Version)
		for _, x := range res {
			s.audit(r.Context(), Audit{Actor: actor, Action: "switch", FEC: x.FEC, Software: req.Software, Version: req.Version, OK: true, Detail: "from " + x.From + " to " + x.To})
		}
		if err != nil {
			s.audit(r.Context(), Audit{Actor: actor, Action: "switch", Software: req.Software, Version: req.Version, Detail: err.Error()})
			writeErr(w, statusOf(err), err)
			return
		}
		writeJSON(w, http.StatusOK, res)
		return
	}
	for _, f := range req.FECs {
		x, err := s.st.Switch(r.Context(), f, req.Software, req.Version)
		s.audit(r.Context(), Audit{Actor: actor, Action: "switch", FEC: f, Software: req.Software, Version: req.Version, OK: err == nil, Detail: errText(err, "from "+x.From+" to "+x.To)})
		if err != nil {
			writeErr(w, statusOf(err), fmt.Errorf("switching %s on %s (switched before: %d): %w", req.Software, f, len(out), err))
			return
		}
		out = append(out, x)
	}
	writeJSON(w, http.StatusOK, out)
}

// RollbackRequest switches a FEC back to the version linked before.
type RollbackRequest struct {
	FEC      string `json:"fec"`
	Software string `json:"software"`
}

func (s *Service) apiRollback(w http.ResponseWriter, r *http.Request, actor string) {
	var req RollbackRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	x, err := s.st.Rollback(r.Context(), req.FEC, req.Software)
	s.audit(r.Context(), Audit{Actor: actor, Action: "rollback", FEC: req.FEC, Software: req.Software, Version: x.To, OK: err == nil, Detail: errText(err, "from "+x.From+" to "+x.To)})
	if err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, x)
}

// PruneRequest plans (and applies) the retention plan of one software.
type PruneRequest struct {
	Software string         `json:"software"`
	Policy   version.Policy `json:"policy"`
}

func (s *Service) apiPrunePlan(w http.ResponseWriter, r *http.Request, actor string) {
	var req PruneRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	plan, err := s.st.PlanPrune(r.Context(), req.Software, req.Policy, s.opt.Now())
	if err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, plan)
}

func (s *Service) apiPruneApply(w http.ResponseWriter, r *http.Request, actor string) {
	var req PruneRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	plan, err := s.st.PlanPrune(r.Context(), req.Software, req.Policy, s.opt.Now())
	if err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	rep, err := s.st.Prune(r.Context(), plan)
	for _, d := range rep.Removed {
		s.audit(r.Context(), Audit{Actor: actor, Action: "prune", Software: d.Software, Version: d.Version, OK: true, Detail: "removed: " + d.Text})
	}
	if err != nil {
		s.audit(r.Context(), Audit{Actor: actor, Action: "prune", Software: req.Software, Detail: err.Error()})
		writeErr(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
