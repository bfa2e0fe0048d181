package upload

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xtbuild/xtbuild/internal/term"
)

// progress draws a bar with bytes, rate and ETA on a terminal, and prints a
// plain line every plainEvery otherwise (buildbot logs, CI).
type progress struct {
	t     *term.Term
	total int64
	sent  atomic.Int64
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
}

const plainEvery = 10 * time.Second

func startProgress(t *term.Term, total int64) *progress {
	p := &progress{t: t, total: total, start: time.Now(), stop: make(chan struct{})}
	p.wg.Add(1)
	go p.loop()
	return p
}

func (p *progress) add(n int) { p.sent.Add(int64(n)) }

func (p *progress) loop() {
	defer p.wg.Done()
	every := plainEvery
	if p.t.IsTTY() {
		every = 200 * time.Millisecond
	}
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tk.C:
			line := p.line(time.Since(p.start))
			if p.t.IsTTY() {
				p.t.SetStatus(line)
			} else {
				p.t.Printf("%s", line)
			}
		}
	}
}

func (p *progress) finish() {
	close(p.stop)
	p.wg.Wait()
	p.t.Done()
}

// line renders "upload [=====>    ]  45%  900 MiB / 2.0 GiB  312 MiB/s  ETA 0:03".
func (p *progress) line(elapsed time.Duration) string {
	return progressLine(p.sent.Load(), p.total, elapsed)
}

func progressLine(sent, total int64, elapsed time.Duration) string {
	const width = 24
	frac := 1.0
	if total > 0 {
		frac = min(float64(sent)/float64(total), 1)
	}
	filled := int(frac * width)
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(sent) / s
	}
	eta := "--:--"
	if rate > 0 && total >= sent {
		eta = clock(time.Duration(float64(total-sent) / rate * float64(time.Second)))
	}
	return fmt.Sprintf("upload [%s] %3.0f%%  %s / %s  %s/s  ETA %s",
		bar, frac*100, term.Bytes(sent), term.Bytes(total), term.Bytes(int64(rate)), eta)
}

func clock(d time.Duration) string {
	s := int64(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
