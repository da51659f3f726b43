// Package serve is the built-in read-only HTTP server for a web storage, for
// demos, tests and small labs. Production sites use nginx (examples/nginx/);
// this server behaves like that configuration: GET and HEAD of regular files
// only, symlinks followed only while they stay inside the storage, no
// directory listings, dot-files hidden, ETag and Range answered.
package serve

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"strings"
	"time"
)

// Handler serves the storage at base. Close the returned root when done.
func Handler(base string, logger *slog.Logger) (http.Handler, *os.Root, error) {
	root, err := os.OpenRoot(base)
	if err != nil {
		return nil, nil, fmt.Errorf("serve: opening storage %s: %w", base, err)
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(discard{}, nil))
	}
	return &handler{root: root, log: logger}, root, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

type handler struct {
	root *os.Root
	log  *slog.Logger
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status := h.serve(w, r)
	h.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", status, "remote", r.RemoteAddr)
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request) int {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "read-only storage", http.StatusMethodNotAllowed)
		return http.StatusMethodNotAllowed
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" || !fs.ValidPath(name) || hidden(name) {
		http.NotFound(w, r)
		return http.StatusNotFound
	}
	// os.Root follows symlinks only while they resolve inside the storage.
	f, err := h.root.Open(name)
	if err != nil {
		http.NotFound(w, r)
		return http.StatusNotFound
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.NotFound(w, r)
		return http.StatusNotFound
	}
	// The same shape as nginx's ETag: hex mtime and size.
	w.Header().Set("ETag", fmt.Sprintf(`"%x-%x"`, st.ModTime().Unix(), st.Size()))
	if path.Base(name) == "INDEX" || path.Base(name) == "INDEX.sig" {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	http.ServeContent(w, r, "", st.ModTime(), f)
	return http.StatusOK
}

func hidden(name string) bool {
	for _, seg := range strings.Split(name, "/") {
		if strings.HasPrefix(seg, ".") {
			return true
		}
	}
	return false
}

// Server is a started built-in server.
type Server struct {
	URL  string // http://host:port, no trailing slash
	srv  *http.Server
	root *os.Root
	done chan error
}

// Start listens on addr (e.g. "127.0.0.1:0" for a free port) and serves base
// until Close or until ctx ends.
func Start(ctx context.Context, addr, base string, logger *slog.Logger) (*Server, error) {
	h, root, err := Handler(base, logger)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("serve: listening on %s: %w", addr, err)
	}
	s := &Server{
		URL:  "http://" + l.Addr().String(),
		srv:  &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second},
		root: root,
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(l) }()
	go func() {
		<-ctx.Done()
		s.Close()
	}()
	return s, nil
}

// Wait blocks until the server stops and returns why (nil after Close).
func (s *Server) Wait() error {
	err := <-s.done
	s.done <- err
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	s.root.Close()
	return err
}
