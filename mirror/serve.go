package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultListen is the address mirror:serve listens on unless told
// otherwise: loopback, so sharing with other hosts is a deliberate choice
// (e.g. XTBUILD_LISTEN=:8000).
const DefaultListen = "127.0.0.1:8000"

// Handler serves the files of a mirror read-only: GET and HEAD, range
// requests, no directory listings, nothing outside the mirror. Every file
// is opened through an os.Root, so ".." and symlinks cannot leave the
// mirror; symlinks that stay inside it are followed. Names starting with
// "." (xtbuild's lock and temporary files) are never served.
type Handler struct {
	root *os.Root
	log  *slog.Logger
}

// NewHandler opens the mirror directory for serving.
func NewHandler(mirrorDir string, log *slog.Logger) (*Handler, error) {
	if log == nil {
		log = slog.Default()
	}
	root, err := os.OpenRoot(mirrorDir)
	if err != nil {
		return nil, fmt.Errorf("open mirror: %w", err)
	}
	return &Handler{root: root, log: log}, nil
}

// Close releases the mirror directory.
func (h *Handler) Close() error { return h.root.Close() }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, status := requestName(r)
	if status != http.StatusOK {
		h.log.Debug("mirror request refused", "path", r.URL.EscapedPath(), "status", status, "remote", r.RemoteAddr)
		http.Error(w, http.StatusText(status), status)
		return
	}
	// O_NONBLOCK keeps a FIFO planted in the mirror from blocking the open;
	// it has no effect on regular files, the only kind served.
	f, err := h.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		// Missing, a symlink escaping the mirror, unreadable: all look alike
		// from outside.
		h.log.Debug("mirror request not served", "name", name, "err", err)
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	if name == IndexName {
		hd.Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		// Sources are served as bytes: no sniffing, no transparent gunzip
		// of .gz files by clients.
		hd.Set("Content-Type", "application/octet-stream")
	}
	hd.Set("X-Content-Type-Options", "nosniff")
	// A validator for If-Range, so interrupted downloads resume safely.
	hd.Set("ETag", `"`+strconv.FormatInt(fi.Size(), 16)+"-"+strconv.FormatInt(fi.ModTime().UnixNano(), 16)+`"`)
	// ServeContent handles ranges and conditional requests; given an
	// *os.File it sends the body with sendfile.
	http.ServeContent(w, r, name, fi.ModTime(), f)
}

// requestName maps the request path to a name inside the mirror, or to the
// status refusing it: 400 for traversal attempts and malformed paths, 404
// for the root, directories and hidden names.
func requestName(r *http.Request) (string, int) {
	raw := strings.ToLower(r.URL.EscapedPath())
	// Encoded separators and NUL are never part of a mirrored file's name;
	// decoded they would smuggle path structure past the checks below.
	for _, bad := range []string{"%2f", "%5c", "%00"} {
		if strings.Contains(raw, bad) {
			return "", http.StatusBadRequest
		}
	}
	p := r.URL.Path
	if !strings.HasPrefix(p, "/") {
		return "", http.StatusBadRequest
	}
	name := p[1:]
	if name == "" {
		return "", http.StatusNotFound // no listing
	}
	if strings.ContainsAny(name, "\\\x00") {
		return "", http.StatusBadRequest
	}
	for _, el := range strings.Split(name, "/") {
		switch {
		case el == "." || el == "..":
			return "", http.StatusBadRequest
		case el == "":
			// "//etc/passwd" (an absolute path) or "dir/" (a listing).
			return "", http.StatusNotFound
		case strings.HasPrefix(el, "."):
			return "", http.StatusNotFound
		}
	}
	return name, http.StatusOK
}

// Server is a running mirror HTTP server.
type Server struct {
	h   *Handler
	ln  net.Listener
	srv *http.Server
}

// Listen opens the mirror and binds addr ("host:port"; port 0 picks one).
func Listen(mirrorDir, addr string, log *slog.Logger) (*Server, error) {
	h, err := NewHandler(mirrorDir, log)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: a large tarball to a slow host may take long.
		ErrorLog: slog.NewLogLogger(h.log.Handler(), slog.LevelDebug),
	}
	return &Server{h: h, ln: ln, srv: srv}, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL is the base URL of the mirror, for PREMIRRORS on other hosts.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() + "/" }

// Serve answers requests until ctx is cancelled, then lets running
// downloads finish for up to 5 seconds.
func (s *Server) Serve(ctx context.Context) error {
	defer s.h.Close()
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve mirror: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve mirror: %w", err)
	}
	return nil
}
