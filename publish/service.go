package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/storage"
)

// ServiceError is a refusal of the release service: its HTTP status and
// message. It wraps the storage error its status stands for (400
// storage.ErrBadRequest, 401/403 ErrUnauthorized, 404 storage.ErrNotFound,
// 409 storage.ErrImmutable), so callers map it to the same exit codes.
type ServiceError struct {
	Status  int
	Message string
}

// ErrUnauthorized: the release service refused the token.
var ErrUnauthorized = errors.New("publish: the release service refused the token")

func (e *ServiceError) Error() string {
	return fmt.Sprintf("release service: %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

func (e *ServiceError) Unwrap() error {
	switch e.Status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusLengthRequired:
		return storage.ErrBadRequest
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrUnauthorized
	case http.StatusNotFound:
		return storage.ErrNotFound
	case http.StatusConflict:
		return storage.ErrImmutable
	}
	return nil
}

// Service says where and as whom ReleaseVia publishes.
type Service struct {
	URL   string // e.g. http://fecd:8080
	Token string // from fecd token NAME
	// Client is the HTTP client (nil: one without an overall timeout; the
	// service bounds the upload itself).
	Client *http.Client
}

// ReleaseVia is Release through the release service (fecd): the tree is
// packed into a temporary file (its sha256 is needed up front), then
// streamed to PUT /api/v1/publish/...; the service publishes, links and
// prunes with the same storage calls under the storage lock and records
// the release. Result.Prune is not filled (the service's audit has it).
func ReleaseVia(ctx context.Context, svc Service, req Request) (Result, error) {
	var res Result
	if svc.URL == "" {
		return res, fmt.Errorf("%w: no release service URL", storage.ErrBadRequest)
	}
	tmp, err := os.CreateTemp("", "fec-pack-*.tar")
	if err != nil {
		return res, err
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpName)
	os.Remove(tmpName) // PackFile writes it atomically
	stats, err := PackFile(ctx, tmpName, req)
	if err != nil {
		return res, err
	}
	res.Pack = stats
	f, err := os.Open(tmpName)
	if err != nil {
		return res, err
	}
	defer f.Close()
	q := url.Values{}
	q.Set("sha256", stats.SHA256)
	q.Set("arch", req.Arch)
	if len(req.Link) > 0 {
		q.Set("link", strings.Join(req.Link, ","))
	}
	if req.Force {
		q.Set("force", "true")
	}
	if req.Prune {
		q.Set("prune", "true")
	}
	kind := req.Kind
	if kind == "" {
		kind = "software"
	}
	u := strings.TrimRight(svc.URL, "/") + "/api/v1/publish/" + url.PathEscape(string(kind)) + "/" + url.PathEscape(req.Name) + "/" + url.PathEscape(req.Version) + "?" + q.Encode()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPut, u, f)
	if err != nil {
		return res, err
	}
	hreq.ContentLength = stats.Size
	hreq.Header.Set("Authorization", "Bearer "+svc.Token)
	hreq.Header.Set("Content-Type", "application/octet-stream")
	client := svc.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, ResponseHeaderTimeout: 30 * time.Minute}}
	}
	resp, err := client.Do(hreq)
	if err != nil {
		return res, fmt.Errorf("uploading to the release service: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return res, fmt.Errorf("reading the release service's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(body))
		}
		return res, &ServiceError{Status: resp.StatusCode, Message: e.Error}
	}
	var ans struct {
		Published storage.Published `json:"published"`
		Linked    []string          `json:"linked"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return res, fmt.Errorf("the release service's answer is not JSON: %w", err)
	}
	res.Published, res.Linked = ans.Published, ans.Linked
	return res, nil
}
