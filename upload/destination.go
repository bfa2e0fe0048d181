package upload

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// Destination is a parsed upload URL.
type Destination struct {
	Scheme string // "file" or "sftp"
	User   string // sftp only; empty means the local user name
	Host   string // sftp only
	Port   int    // sftp only; 22 when the URL has none
	// Path is absolute, except for sftp URLs written sftp://host/~/dir, whose
	// path is relative to the login directory (as curl reads them).
	Path string
}

// ParseDestination reads file:///path and sftp://[user@]host[:port]/path.
// Passwords, queries and fragments are refused: they would either leak a
// secret into logs or be silently ignored.
func ParseDestination(s string) (Destination, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Destination{}, fmt.Errorf("parse upload destination %q: %w", s, err)
	}
	if strings.ContainsAny(u.Path, "\x00\n\r") {
		return Destination{}, fmt.Errorf("upload destination %q: control characters in the path", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return Destination{}, fmt.Errorf("upload destination %q: queries, fragments and opaque URLs are not supported", s)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return Destination{}, fmt.Errorf("upload destination %q: file URLs name a local path (file:///srv/builds), not host %q", s, u.Host)
		}
		if !path.IsAbs(u.Path) {
			return Destination{}, fmt.Errorf("upload destination %q: want an absolute path such as file:///srv/builds", s)
		}
		return Destination{Scheme: "file", Path: path.Clean(u.Path)}, nil
	case "sftp":
		d := Destination{Scheme: "sftp", Port: 22}
		if u.User != nil {
			if _, has := u.User.Password(); has {
				return Destination{}, errors.New("upload destination: passwords in sftp URLs are not supported; use key authentication (upload.identity or ssh-agent)")
			}
			d.User = u.User.Username()
		}
		d.Host = u.Hostname()
		if d.Host == "" {
			return Destination{}, fmt.Errorf("upload destination %q: sftp URL without a host", s)
		}
		if p := u.Port(); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return Destination{}, fmt.Errorf("upload destination %q: bad port %q", s, p)
			}
			d.Port = n
		}
		p := u.Path
		switch {
		case p == "" || p == "/~" || p == "/~/":
			d.Path = "."
		case strings.HasPrefix(p, "/~/"):
			d.Path = path.Clean(p[len("/~/"):])
		default:
			d.Path = path.Clean(p)
		}
		return d, nil
	case "":
		return Destination{}, fmt.Errorf("upload destination %q: want file:///path or sftp://user@host[:port]/path", s)
	default:
		return Destination{}, fmt.Errorf("upload destination %q: scheme %q is not supported (want file or sftp)", s, u.Scheme)
	}
}

// Addr is host:port for dialling.
func (d Destination) Addr() string { return net.JoinHostPort(d.Host, strconv.Itoa(d.Port)) }

// String renders the destination for messages (never with secrets: the
// parser refuses passwords).
func (d Destination) String() string {
	if d.Scheme == "file" {
		return "file://" + d.Path
	}
	host := d.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if d.Port != 22 {
		host += ":" + strconv.Itoa(d.Port)
	}
	if d.User != "" {
		host = d.User + "@" + host
	}
	p := d.Path
	if !path.IsAbs(p) {
		p = "/~/" + strings.TrimPrefix(p, ".")
		p = path.Clean(p)
	}
	return "sftp://" + host + p
}

// checkComponent refuses names that could escape the directory they are
// joined to or collide with upload's own temporary names (which start with
// a dot).
func checkComponent(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%s is empty", what)
	case s == "." || s == "..":
		return fmt.Errorf("%s %q is not a name", what, s)
	case strings.HasPrefix(s, "."):
		return fmt.Errorf("%s %q starts with a dot (reserved for upload's temporary names)", what, s)
	case strings.ContainsAny(s, "/\\\x00\n\r"):
		return fmt.Errorf("%s %q contains a path separator or control character", what, s)
	case len(s) > 255:
		return fmt.Errorf("%s is longer than 255 bytes", what)
	}
	return nil
}

// checkBranch allows slash-separated branches (release/9) but checks each
// component like a name.
func checkBranch(b string) error {
	if b == "" {
		return errors.New("branch is empty")
	}
	for _, c := range strings.Split(b, "/") {
		if err := checkComponent("branch component", c); err != nil {
			return fmt.Errorf("branch %q: %w", b, err)
		}
	}
	return nil
}
