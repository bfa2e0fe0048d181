package steps

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"
)

// feedFixture replays recorded real BitBake 2.8 output (testdata/bitbake-2.8,
// recorded without a TTY) through the parser.
func feedFixture(t *testing.T, name string) *Progress {
	t.Helper()
	f, err := os.Open("testdata/bitbake-2.8/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := &Progress{}
	now := time.Unix(1700000000, 0)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		now = now.Add(time.Second)
		p.Feed(sc.Text(), now)
	}
	return p
}

func TestProgressFromRealBitbakeOutput(t *testing.T) {
	tests := []struct {
		file         string
		done, total  int
		parsed       int
		reason       string
		failedTask   string
		failedLog    string
		summaryStart string
	}{
		{file: "success.log", done: 5, total: 5, parsed: 2, summaryStart: "Attempted 5 tasks"},
		{file: "task-failure.log", done: 1, total: 5, parsed: 2,
			reason:     "task demo-tool_1.0.bb:do_compile failed (log: /srv/xtbuild/build/tmp/work/demo-tool-1.0-r0/temp/log.do_compile.21700)",
			failedTask: "/srv/xtbuild/build/repos/meta-demo/recipes/demo-tool_1.0.bb:do_compile",
			failedLog:  "/srv/xtbuild/build/tmp/work/demo-tool-1.0-r0/temp/log.do_compile.21700", summaryStart: "Attempted 1 tasks"},
		{file: "parse-error-local-conf.log",
			reason: "ParseError at /srv/xtbuild/build/conf/local.conf:2: unparsed line: 'this is not valid'"},
		// A missing class: BitBake's first ERROR line names its own
		// BBHandler.py; the ParseError line says what is wrong.
		{file: "parse-error-inherit.log",
			reason: "ParseError in configuration INHERITs: Could not inherit file classes/no-such-class.bbclass"},
		{file: "nothing-provides.log", parsed: 2, reason: "Nothing PROVIDES 'no-such-image'"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p := feedFixture(t, tt.file)
			if p.Done != tt.done || p.Total != tt.total || p.Parsed != tt.parsed {
				t.Errorf("done/total/parsed = %d/%d/%d, want %d/%d/%d", p.Done, p.Total, p.Parsed, tt.done, tt.total, tt.parsed)
			}
			if got := p.Reason(); got != tt.reason {
				t.Errorf("reason = %q, want %q", got, tt.reason)
			}
			if tt.failedTask != "" {
				if len(p.Failed) != 1 || p.Failed[0].Task != tt.failedTask || p.Failed[0].Log != tt.failedLog {
					t.Errorf("failed = %+v", p.Failed)
				}
			} else if len(p.Failed) != 0 {
				t.Errorf("unexpected failures %+v", p.Failed)
			}
			if !strings.HasPrefix(p.Summary, tt.summaryStart) {
				t.Errorf("summary %q", p.Summary)
			}
		})
	}
}

func TestProgressLineAndETA(t *testing.T) {
	p := &Progress{}
	t0 := time.Unix(0, 0)
	p.Feed("NOTE: Running setscene task 3 of 10 (/l/a.bb:do_populate_sysroot_setscene)", t0)
	p.Feed("NOTE: Running task 1 of 100 (/l/recipes/busybox_1.36.bb:do_fetch)", t0)
	p.Feed("NOTE: Running task 11 of 100 (/l/recipes/busybox_1.36.bb:do_compile)", t0.Add(100*time.Second))
	if p.Setscene || p.Percent() != 11 {
		t.Fatalf("phase/percent: %v %v", p.Setscene, p.Percent())
	}
	// 10 tasks in 100 s → 89 left → 890 s.
	if eta := p.ETA(t0.Add(100 * time.Second)); eta != 890*time.Second {
		t.Errorf("ETA %v", eta)
	}
	got := p.Line("dom0", t0.Add(100*time.Second), 150*time.Second)
	if got != "dom0: tasks 11/100 (11%), ETA 14m50s, busybox_1.36.bb:do_compile" {
		t.Errorf("line %q", got)
	}
}
