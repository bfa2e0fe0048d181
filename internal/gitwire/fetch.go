package gitwire

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// ErrUnsupported says the server lacks something this client needs (a
// capability, the SHA-1 object format); a caller can use C git instead.
var ErrUnsupported = errors.New("unsupported by this client")

// Ref is one line of an ls-refs answer.
type Ref struct {
	Name   string
	Oid    string
	Peeled string // the object an annotated tag points at, when asked
}

// LsRefs lists the server's refs starting with any of prefixes (all refs
// when there are none), tags peeled.
func (c *Conn) LsRefs(prefixes []string) ([]Ref, error) {
	if _, ok := c.caps["ls-refs"]; !ok {
		return nil, fmt.Errorf("ls-refs: %w", ErrUnsupported)
	}
	var w pktWriter
	if err := c.command(&w, "ls-refs"); err != nil {
		return nil, err
	}
	w.text("peel")
	for _, p := range prefixes {
		w.text("ref-prefix " + p)
	}
	w.flush()
	if err := w.send(c.w); err != nil {
		return nil, c.wrap("send ls-refs", err)
	}
	var refs []Ref
	for {
		l, kind, err := c.rd.line()
		if err != nil {
			return nil, c.wrap("read ls-refs", err)
		}
		if kind == flushPkt {
			return refs, nil
		}
		if kind != 0 {
			return nil, fmt.Errorf("read ls-refs: unexpected special packet %d", kind)
		}
		f := strings.Split(l, " ")
		if len(f) < 2 || !isOid(f[0]) {
			return nil, fmt.Errorf("read ls-refs: bad line %q", l)
		}
		r := Ref{Oid: f[0], Name: f[1]}
		for _, a := range f[2:] {
			if p, ok := strings.CutPrefix(a, "peeled:"); ok && isOid(p) {
				r.Peeled = p
			}
		}
		refs = append(refs, r)
	}
}

// FetchRequest is one fetch command.
type FetchRequest struct {
	Wants    []string // object ids
	Depth    int      // commits of history per want; 0 for all
	Progress bool     // ask for progress messages (sideband 2)
}

// Fetch runs one fetch command, telling the server it has nothing (the
// receiving repository is empty). recv is called once, with the commits the
// server made shallow ("shallow" lines of shallow-info) and the pack; it
// must read the pack to its end. Progress messages go to progress when it
// is not nil.
func (c *Conn) Fetch(req FetchRequest, progress io.Writer, recv func(shallow []string, pack io.Reader) error) error {
	fetchCap, ok := c.caps["fetch"]
	if !ok {
		return fmt.Errorf("fetch: %w", ErrUnsupported)
	}
	if req.Depth > 0 && !slices.Contains(strings.Fields(fetchCap), "shallow") {
		return fmt.Errorf("shallow fetch: %w", ErrUnsupported)
	}
	if len(req.Wants) == 0 {
		return errors.New("fetch: nothing wanted")
	}
	var w pktWriter
	if err := c.command(&w, "fetch"); err != nil {
		return err
	}
	w.text("ofs-delta")
	if !req.Progress {
		w.text("no-progress")
	}
	if req.Depth > 0 {
		w.text(fmt.Sprintf("deepen %d", req.Depth))
	}
	for _, want := range req.Wants {
		if !isOid(want) {
			return fmt.Errorf("fetch: %q is not an object id", want)
		}
		w.text("want " + want)
	}
	w.text("done")
	w.flush()
	if err := w.send(c.w); err != nil {
		return c.wrap("send fetch", err)
	}
	var shallow []string
	for {
		section, kind, err := c.rd.line()
		if err != nil {
			return c.wrap("read fetch response", err)
		}
		if kind != 0 {
			return fmt.Errorf("read fetch response: no packfile section")
		}
		switch section {
		case "shallow-info":
			end, err := c.lines(func(l string) error {
				if oid, ok := strings.CutPrefix(l, "shallow "); ok && isOid(oid) {
					shallow = append(shallow, oid)
					return nil
				}
				if oid, ok := strings.CutPrefix(l, "unshallow "); ok && isOid(oid) {
					return nil // nothing of ours was shallow
				}
				return fmt.Errorf("bad shallow-info line %q", l)
			})
			if err != nil {
				return err
			}
			if end != delimPkt {
				return fmt.Errorf("read fetch response: no packfile section")
			}
		case "acknowledgments", "wanted-refs":
			// Neither is sent for a request with "done" and no want-ref;
			// read past them all the same.
			if end, err := c.lines(func(string) error { return nil }); err != nil {
				return err
			} else if end != delimPkt {
				return fmt.Errorf("read fetch response: no packfile section")
			}
		case "packfile":
			sb := &sideband{rd: &c.rd, progress: progress}
			if err := recv(shallow, sb); err != nil {
				if sb.err != nil && sb.err != io.EOF {
					return c.wrap("read pack", sb.err)
				}
				return err
			}
			// The pack ends where the server's data does.
			var one [1]byte
			if n, err := sb.Read(one[:]); n > 0 {
				return errors.New("read pack: data after the pack's end")
			} else if err != io.EOF {
				return c.wrap("read pack", err)
			}
			return nil
		default:
			return fmt.Errorf("read fetch response: unexpected section %q", section)
		}
	}
}

// command starts a request: the command, our agent and object format,
// then the delimiter before the arguments.
func (c *Conn) command(w *pktWriter, name string) error {
	if f, ok := c.caps["object-format"]; ok && f != "sha1" {
		return fmt.Errorf("object format %s: %w", f, ErrUnsupported)
	}
	w.text("command=" + name)
	if _, ok := c.caps["agent"]; ok {
		w.text("agent=xtbuild")
	}
	if _, ok := c.caps["object-format"]; ok {
		w.text("object-format=sha1")
	}
	w.delim()
	return nil
}

// lines reads a section's lines up to a delimiter or flush, which it
// returns.
func (c *Conn) lines(each func(string) error) (int, error) {
	for {
		l, kind, err := c.rd.line()
		if err != nil {
			return 0, c.wrap("read fetch response", err)
		}
		if kind != 0 {
			return kind, nil
		}
		if err := each(l); err != nil {
			return 0, err
		}
	}
}

// wrap adds what the server said on stderr to an I/O error.
func (c *Conn) wrap(what string, err error) error {
	var se *ServerError
	if errors.As(err, &se) {
		return err
	}
	if s := c.diag(); s != "" {
		return fmt.Errorf("%s: %w (server: %s)", what, err, s)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// sideband reads the packfile section: band 1 is pack data, band 2
// progress, band 3 a fatal error; a flush ends it.
type sideband struct {
	rd       *pktReader
	progress io.Writer
	rest     []byte
	err      error // the first error, sticky; io.EOF at the flush
}

func (s *sideband) Read(p []byte) (int, error) {
	for len(s.rest) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		data, kind, err := s.rd.next()
		switch {
		case err != nil:
			s.err = err
		case kind == flushPkt:
			s.err = io.EOF
		case kind != 0 || len(data) == 0:
			s.err = fmt.Errorf("unexpected packet in the packfile section")
		case data[0] == 1:
			s.rest = data[1:]
		case data[0] == 2:
			if s.progress != nil {
				s.progress.Write(data[1:])
			}
		case data[0] == 3:
			s.err = &ServerError{Msg: strings.TrimSpace(string(data[1:]))}
		default:
			s.err = fmt.Errorf("unknown sideband %d", data[0])
		}
		if s.err != nil && s.err != io.EOF {
			return 0, s.err
		}
	}
	n := copy(p, s.rest)
	s.rest = s.rest[n:]
	return n, nil
}

func isOid(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
