// Package term owns user-facing output. On a terminal it keeps a few live
// status lines at the bottom (progress) under the scrolling messages; when
// output is a pipe or file (buildbot, CI logs) it prints plain lines only,
// with no escape codes, and drops status lines.
package term

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	xterm "golang.org/x/term"
)

// Term is safe for concurrent use.
type Term struct {
	mu     sync.Mutex
	w      io.Writer
	tty    bool
	status []string
	shown  int // status lines currently drawn
}

// New wraps w. It is a TTY only when w is a terminal device and neither
// plain (XTBUILD_PLAIN, read by config) nor TERM=dumb asks for plain output.
func New(w io.Writer, plain bool) *Term {
	tty := false
	if f, ok := w.(*os.File); ok && xterm.IsTerminal(int(f.Fd())) {
		tty = !plain && os.Getenv("TERM") != "dumb"
	}
	return &Term{w: w, tty: tty}
}

// NewPlain wraps w as a non-terminal (tests, files).
func NewPlain(w io.Writer) *Term { return &Term{w: w} }

// IsTTY reports whether live status lines are drawn.
func (t *Term) IsTTY() bool { return t.tty }

// Printf prints one message line (a newline is added when missing).
func (t *Term) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clear()
	io.WriteString(t.w, msg)
	t.draw()
}

// SetStatus replaces the live status lines. Without a TTY it does nothing:
// buildbot logs get the messages, not a repainted progress bar.
func (t *Term) SetStatus(lines ...string) {
	if !t.tty {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clear()
	t.status = append(t.status[:0], lines...)
	t.draw()
}

// Done clears the status lines for good.
func (t *Term) Done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clear()
	t.status = nil
}

func (t *Term) clear() {
	if !t.tty || t.shown == 0 {
		return
	}
	var b strings.Builder
	for i := 0; i < t.shown; i++ {
		b.WriteString("\x1b[1A\x1b[2K")
	}
	b.WriteString("\r")
	io.WriteString(t.w, b.String())
	t.shown = 0
}

func (t *Term) draw() {
	if !t.tty || len(t.status) == 0 {
		return
	}
	width := 0
	if f, ok := t.w.(*os.File); ok {
		width, _, _ = xterm.GetSize(int(f.Fd()))
	}
	var b strings.Builder
	for _, l := range t.status {
		if width > 1 && len(l) >= width {
			l = l[:width-1]
		}
		b.WriteString(l)
		b.WriteString("\n")
	}
	io.WriteString(t.w, b.String())
	t.shown = len(t.status)
}

// Bytes renders a byte count for people: "512 B", "1.5 KiB", "2.0 GiB"
// (binary units, one decimal), the one format every progress and summary
// line uses.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
