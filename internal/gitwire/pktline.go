// Package gitwire is a client for git's wire protocol version 2 (the
// fetch side: ls-refs and fetch), over the two transports that need
// nothing from the user's git configuration beyond what a caller checks:
// a local repository (a `git upload-pack` child, as `git fetch` runs for a
// file:// URL or a path) and the git daemon (git://). It lets layers fetch
// a pinned commit at depth 1 without the four client-side git processes
// `git fetch` starts per repository (fetch, the sh wrapper, unpack-objects
// or index-pack, the connectivity rev-list). The serving side is always C
// git's own upload-pack.
//
// Written from git's Documentation/gitprotocol-v2.txt, gitprotocol-pack.txt
// and gitprotocol-common.txt. What it does not do: protocol v0/v1 (a server
// that answers without "version 2" is reported as ErrNotV2 so the caller
// can use C git), negotiation with haves (callers use it for empty
// repositories), thin packs, packfile URIs, object formats other than
// SHA-1, SSH and HTTP (credentials, proxies and host keys belong to C git).
package gitwire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Special packets.
const (
	flushPkt = iota + 1
	delimPkt
	responseEndPkt
)

// maxPktData is the largest payload of one packet (LARGE_PACKET_DATA_MAX).
const maxPktData = 65520 - 4

// pktReader reads pkt-lines.
type pktReader struct {
	r   *bufio.Reader
	buf [65520]byte
}

// next returns the next packet's payload, or a special packet kind with a
// nil payload. The payload is valid until the next call.
func (p *pktReader) next() ([]byte, int, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(p.r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, io.ErrUnexpectedEOF
		}
		return nil, 0, err
	}
	n, err := strconv.ParseUint(string(hdr[:]), 16, 16)
	if err != nil {
		return nil, 0, fmt.Errorf("bad pkt-line length %q", hdr[:])
	}
	switch n {
	case 0:
		return nil, flushPkt, nil
	case 1:
		return nil, delimPkt, nil
	case 2:
		return nil, responseEndPkt, nil
	case 3:
		return nil, 0, fmt.Errorf("bad pkt-line length %q", hdr[:])
	}
	data := p.buf[:n-4]
	if _, err := io.ReadFull(p.r, data); err != nil {
		return nil, 0, fmt.Errorf("short pkt-line: %w", io.ErrUnexpectedEOF)
	}
	return data, 0, nil
}

// line reads one text packet (its trailing LF dropped), failing on a
// special packet unless it is allowed, in which case it returns "" and the
// kind. An "ERR " packet is the server's error.
func (p *pktReader) line() (string, int, error) {
	data, kind, err := p.next()
	if err != nil || kind != 0 {
		return "", kind, err
	}
	s := string(bytes.TrimSuffix(data, []byte("\n")))
	if msg, ok := strings.CutPrefix(s, "ERR "); ok {
		return "", 0, &ServerError{Msg: msg}
	}
	return s, 0, nil
}

// ServerError is an error the server sent (an ERR packet or sideband 3).
type ServerError struct{ Msg string }

func (e *ServerError) Error() string { return "remote: " + e.Msg }

// pktWriter buffers a request's packets; flushed to the connection by send.
type pktWriter struct{ buf bytes.Buffer }

func (w *pktWriter) text(s string) {
	fmt.Fprintf(&w.buf, "%04x%s\n", len(s)+5, s)
}

func (w *pktWriter) raw(b []byte) {
	fmt.Fprintf(&w.buf, "%04x", len(b)+4)
	w.buf.Write(b)
}

func (w *pktWriter) delim() { w.buf.WriteString("0001") }
func (w *pktWriter) flush() { w.buf.WriteString("0000") }

func (w *pktWriter) send(to io.Writer) error {
	_, err := to.Write(w.buf.Bytes())
	w.buf.Reset()
	return err
}
