package layers

import (
	"strings"
	"sync"
)

// statusWriter turns git sideband progress ("Receiving objects: 45% ...\r")
// into status callbacks, one per complete message.
type statusWriter struct {
	mu     sync.Mutex
	buf    []byte
	status func(string)
}

func progressWriter(status func(string)) *statusWriter {
	return &statusWriter{status: status}
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexAny(string(w.buf), "\r\n")
		if i < 0 {
			break
		}
		msg := strings.TrimSpace(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
		if msg != "" {
			w.status(msg)
		}
	}
	return len(p), nil
}
