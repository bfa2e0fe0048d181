package txt

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// MaxLogSize bounds how much of a log diagnose reads; serial captures of a
// boot loop are large but far below this.
const MaxLogSize = 64 << 20

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

// ScanLog splits a raw capture into tboot messages. It copes with what a
// serial line delivers: NUL bytes (tboot writes "TBOOT: \0"), CRLF or bare
// CR line ends, noise around and between messages (BIOS, grub, kernel,
// terminal timestamps), messages glued together when a newline was lost,
// and lines wrapped by a mailer or terminal (a continuation line without
// the prefix is joined to the message it continues).
func ScanLog(r io.Reader) ([]LogLine, error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxLogSize+1))
	if err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	if len(raw) > MaxLogSize {
		return nil, fmt.Errorf("read log: larger than %d bytes", MaxLogSize)
	}
	return scanBytes(raw), nil
}

func scanBytes(raw []byte) []LogLine {
	endsCut := len(raw) > 0 && raw[len(raw)-1] != '\n' && raw[len(raw)-1] != '\r'
	raw = bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
	sc := logScanner{}
	start := 0
	for i := 0; i <= len(raw); i++ {
		if i < len(raw) && raw[i] != '\n' && raw[i] != '\r' {
			continue
		}
		if i == len(raw) && start == len(raw) {
			break // input ended with a line end
		}
		sc.physical(clean(raw[start:i]), i == len(raw) && endsCut)
		start = i + 1
	}
	return sc.out
}

// clean drops NULs and control characters other than tab; serial noise
// and terminal escapes are not text.
func clean(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		if c == '\t' || (c >= 0x20 && c != 0x7f) {
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

type logScanner struct {
	out  []LogLine
	no   int // physical line number of the current line
	last int // physical line the last message ended on
}

func (sc *logScanner) physical(line string, cutAtEnd bool) {
	sc.no++
	idx := strings.Index(line, tbootPrefix)
	if idx < 0 {
		// A line without the prefix: either a continuation of the previous
		// message (indented, or the previous one ended mid-list with a
		// comma) or noise from something else on the console.
		if len(sc.out) == 0 || strings.TrimSpace(line) == "" || sc.last != sc.no-1 {
			return
		}
		prev := &sc.out[len(sc.out)-1]
		if prev.Truncated || !(line[0] == ' ' || line[0] == '\t' || strings.HasSuffix(prev.Text, ",")) {
			return
		}
		prev.Text = strings.TrimSpace(prev.Text + " " + strings.TrimSpace(line))
		prev.Truncated = cutAtEnd
		sc.last = sc.no
		return
	}
	segs := strings.Split(line[idx+len(tbootPrefix):], tbootPrefix)
	for i, s := range segs {
		sc.out = append(sc.out, LogLine{
			No:        sc.no,
			Text:      strings.TrimSpace(s),
			Truncated: i < len(segs)-1 || (cutAtEnd && i == len(segs)-1),
		})
	}
	sc.last = sc.no
}
