package tailbuf

import (
	"strings"
	"testing"
)

func TestKeepsTheEnd(t *testing.T) {
	b := New(8)
	b.Write([]byte("progress 10%\r"))
	b.Write([]byte("fatal: x"))
	if got := b.String(); got != "fatal: x" {
		t.Fatalf("%q", got)
	}
	b.Write([]byte(strings.Repeat("y", 100)))
	if got := b.String(); got != strings.Repeat("y", 8) {
		t.Fatalf("%q", got)
	}
	if cap(b.buf) > 256 {
		t.Errorf("buffer grew to %d for a tail of 8", cap(b.buf))
	}
}
