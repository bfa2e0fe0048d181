package txt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxLineSize bounds one physical line of a capture. A serial capture of a
// wedged port can be one endless line; the rest of such a line is dropped
// (and the message marked truncated), the capture itself is not refused.
// Captures of any size are streamed: the whole file is never in memory.
const MaxLineSize = 1 << 20

// LogLine is one tboot message after cleaning: the text after "TBOOT:",
// with NULs, carriage returns and indentation removed.
type LogLine struct {
	// No is the 1-based physical line of the capture where it starts.
	No   int
	Text string
	// Truncated is set when the message was cut short: another "TBOOT:"
	// followed on the same physical line, or the capture ended mid-line.
	// Values read from it are not trusted.
	Truncated bool
}

const tbootPrefix = "TBOOT:"

// ScanLog splits a raw capture into tboot messages (see StreamLog).
func ScanLog(r io.Reader) ([]LogLine, error) {
	var out []LogLine
	err := StreamLog(r, func(l LogLine) { out = append(out, l) }, nil)
	return out, err
}

// StreamLog reads a capture line by line and calls msg for each tboot
// message, in order, and other (when not nil) for each physical line that
// is not part of a tboot message (txt-stat's register dump, kernel output).
//
// It copes with what a serial line or a mailer delivers: NUL bytes (tboot
// writes "TBOOT: \0"), CRLF or bare CR line ends, tabs, noise around and
// between messages (BIOS, grub, kernel, terminal timestamps), messages
// glued together when a newline was lost, and lines hard-wrapped by a mail
// client or terminal: a line without the prefix continues the message
// before it when it is indented, when that message ended mid-list (a
// comma), or when the line before was long enough to have been wrapped and
// this one does not look like another program's output.
func StreamLog(r io.Reader, msg func(LogLine), other func(no int, line string)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	sc := logScanner{emit: msg, other: other}
	var long []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long line: keep up to MaxLineSize of it, drop the rest.
			if len(long) < MaxLineSize {
				long = append(long, chunk...)
			}
			continue
		}
		cut := false
		if long != nil {
			cut = len(long)+len(chunk) > MaxLineSize
			if !cut {
				chunk = append(long, chunk...)
			} else {
				chunk = long[:MaxLineSize]
			}
			long = nil
		}
		if len(chunk) > 0 {
			endsLine := chunk[len(chunk)-1] == '\n'
			body := strings.TrimSuffix(string(chunk), "\n")
			body = strings.TrimSuffix(body, "\r")
			// A bare CR also ends a line (a terminal capture).
			parts := strings.Split(body, "\r")
			for i, part := range parts {
				last := i == len(parts)-1
				if last && part == "" && !endsLine && len(parts) > 1 {
					break // input ended right after a CR
				}
				sc.physical(part, (last && cut) || (last && !endsLine && err != nil && part != ""))
			}
		}
		if err != nil {
			sc.flush()
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read log: %w", err)
		}
	}
}

// clean drops NULs and control characters other than tab; serial noise
// and terminal escapes are not text.
func clean(b string) string {
	dirty := false
	for i := 0; i < len(b); i++ {
		if c := b[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			dirty = true
			break
		}
	}
	if !dirty {
		return b
	}
	var sb strings.Builder
	sb.Grow(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\t' || (c >= 0x20 && c != 0x7f) {
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// wrapWidth is the shortest physical line taken to have been hard-wrapped
// by a mailer (they wrap at 72 to 80 columns; tboot's own lines are often
// shorter, and a short line is never followed by a wrapped remainder).
const wrapWidth = 60

type logScanner struct {
	emit    func(LogLine)
	other   func(int, string)
	pending *LogLine // the last message, held until the next line shows whether it continues
	no      int      // physical line number of the current line
	last    int      // physical line the pending message ended on
	lastLen int      // length of that physical line
}

func (sc *logScanner) flush() {
	if sc.pending != nil {
		sc.emit(*sc.pending)
		sc.pending = nil
	}
}

func (sc *logScanner) physical(raw string, cutAtEnd bool) {
	sc.no++
	line := clean(raw)
	idx := strings.Index(line, tbootPrefix)
	if idx < 0 {
		if sc.continues(line) {
			prev := sc.pending
			prev.Text = strings.TrimSpace(prev.Text + " " + strings.TrimSpace(line))
			prev.Truncated = cutAtEnd
			sc.last, sc.lastLen = sc.no, len(line)
			return
		}
		if sc.pending != nil && sc.last != sc.no {
			sc.flush()
		}
		if sc.other != nil {
			sc.other(sc.no, line)
		}
		return
	}
	sc.flush()
	segs := strings.Split(line[idx+len(tbootPrefix):], tbootPrefix)
	for i, s := range segs {
		l := LogLine{
			No:        sc.no,
			Text:      strings.TrimSpace(s),
			Truncated: i < len(segs)-1 || (cutAtEnd && i == len(segs)-1),
		}
		if i < len(segs)-1 {
			sc.emit(l)
			continue
		}
		sc.pending = &l
	}
	sc.last, sc.lastLen = sc.no, len(line)
}

func startsIndented(line string) bool {
	return line != "" && (line[0] == ' ' || line[0] == '\t')
}

// continues says whether a line without the prefix belongs to the message
// before it.
func (sc *logScanner) continues(line string) bool {
	prev := sc.pending
	if prev == nil || prev.Truncated || sc.last != sc.no-1 || strings.TrimSpace(line) == "" {
		return false
	}
	if looksForeign(line) {
		return false
	}
	return startsIndented(line) || strings.HasSuffix(prev.Text, ",") || sc.lastLen >= wrapWidth
}

// looksForeign recognises lines that other programs print on the same
// console, so they are never glued onto a tboot message: kernel messages
// ("[    0.000000] ..."), the shell, grub, txt-stat's own report.
func looksForeign(line string) bool {
	t := strings.TrimSpace(line)
	switch {
	case strings.HasPrefix(t, "[") && len(t) > 2 && (t[1] == ' ' || (t[1] >= '0' && t[1] <= '9')):
		return true // kernel timestamp
	case strings.HasPrefix(t, "$ "), strings.HasPrefix(t, "# "), strings.HasPrefix(t, "> "):
		return true
	}
	for _, p := range foreignPrefixes {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

var foreignPrefixes = []string{
	"Intel(r) TXT", "TBOOT log", "Linux version", "Booting ", "Loading ", "Starting ", "Welcome to",
	"GNU GRUB", "grub>", "Xen ", "(XEN)", "***", "BdsDxe", "ERROR:", "Press ",
}

// scanBytes is ScanLog on a byte slice (tests and the fuzzer).
func scanBytes(raw []byte) []LogLine {
	out, _ := ScanLog(bytes.NewReader(raw))
	return out
}
