package ds1077l

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/tools/ds1077l/ds1077lsim"
	"github.com/xtbuild/xtbuild/tools/ds1077l/i2c"
)

var update = flag.Bool("update", false, "rewrite golden files")

// cliRig runs the command line against the datasheet model (stand-in for a
// DS1077L-66 on /dev/i2c-1 and, for the seed's command, /dev/i2c-0).
type cliRig struct {
	*rig
	env            *env
	stdout, stderr *bytes.Buffer
	opened         []string
}

func newCLIRig(t *testing.T, opts ...ds1077lsim.Option) *cliRig {
	t.Helper()
	r := newRig(t, opts...)
	c := &cliRig{rig: r, stdout: new(bytes.Buffer), stderr: new(bytes.Buffer)}
	c.env = &env{
		stdout: c.stdout,
		stderr: c.stderr,
		open: func(path string, force bool) (i2c.Bus, io.Closer, error) {
			c.opened = append(c.opened, path)
			if path != "/dev/i2c-0" && path != "/dev/i2c-1" {
				return nil, nil, fmt.Errorf("open i2c bus: %w", &fs.PathError{Op: "open", Path: path, Err: os.ErrNotExist})
			}
			return r.rec, io.NopCloser(nil), nil
		},
		sleep: r.clock.Sleep,
		log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	return c
}

// run executes argv[0] as the tools binary would dispatch it.
func (c *cliRig) run(argv ...string) int {
	c.stdout.Reset()
	c.stderr.Reset()
	ctx := context.Background()
	if argv[0] == "ds1077l" {
		return c.env.main(ctx, argv[1:])
	}
	return c.env.compat(ctx, argv[0], argv[1:])
}

func (c *cliRig) mustRun(t *testing.T, argv ...string) string {
	t.Helper()
	if code := c.run(argv...); code != 0 {
		t.Fatalf("%q: exit %d\nstdout:\n%s\nstderr:\n%s", argv, code, c.stdout, c.stderr)
	}
	return c.stdout.String()
}

// The --get blocks exactly as ds1077l-ctrl printed them (its printf formats:
// "  Address: %#x", "  N: %d", the padded MUX labels, M0/M1 as divisors).
func TestCLIGetOutputMatchesOriginalByteForByte(t *testing.T) {
	c := newCLIRig(t)
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"ds1077l-bus", "--get"}, "Current BUS register state:\nBUS:\n  Address: 0x58\n  WC: false\n"},
		{[]string{"ds1077l-div", "--get"}, "DIV:\n  N: 2\n"},
		{[]string{"ds1077l-mux", "--get"}, "MUX:\n  PDN1: false\n  PDN0: false\n  SEL0: true\n  EN0:  true\n  M0:   1\n  M1:   1\n  DIV1: false\n"},
	} {
		if got := c.mustRun(t, tc.argv...); got != tc.want {
			t.Errorf("%q:\n%q\nwant\n%q", tc.argv, got, tc.want)
		}
	}
	// A non-default state, checked the same way.
	ctx := context.Background()
	if err := c.dev.WriteMux(ctx, Mux{PDN1: true, PDN0: true, SEL0: false, EN0: true, P0: 8, P1: 4, DIV1: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.dev.WriteDiv(ctx, 1025); err != nil {
		t.Fatal(err)
	}
	if err := c.dev.WriteBus(ctx, Bus{Addr: 0x5d, WC: true}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"ds1077l-bus", "-g", "-a", "5d"}, "Current BUS register state:\nBUS:\n  Address: 0x5d\n  WC: true\n"},
		{[]string{"ds1077l-div", "--get", "--address=0x5d"}, "DIV:\n  N: 1025\n"},
		{[]string{"ds1077l", "mux", "--get", "--address", "0x5D"}, "MUX:\n  PDN1: true\n  PDN0: true\n  SEL0: false\n  EN0:  true\n  M0:   8\n  M1:   4\n  DIV1: true\n"},
	} {
		if got := c.mustRun(t, tc.argv...); got != tc.want {
			t.Errorf("%q:\n%q\nwant\n%q", tc.argv, got, tc.want)
		}
	}
}

// The seed's command, unchanged: --div=1 is argp's abbreviation of --div1.
func TestCLISeedCommand33MHz(t *testing.T) {
	c := newCLIRig(t)
	out := c.mustRun(t, "ds1077l-mux", "--bus-dev=/dev/i2c-0", "--set", "--pdn0=0", "--sel0=0", "--en0=0", "--div=1", "--p1=2")
	if out != "" {
		t.Errorf("stdout %q, want nothing (as the original)", out)
	}
	if c.opened[0] != "/dev/i2c-0" {
		t.Errorf("opened %q", c.opened)
	}
	// PDN1 0, PDN0 0, SEL0 0, EN0 0, P0 1, P1 2 (1M1 0, 1M0 1), DIV1 1.
	if got := c.model.Registers().MUX; got != [2]byte{0x00, 0xC0} {
		t.Fatalf("MUX holds % x, want 00 c0", got)
	}
	if f := c.model.Out1(); f != 66.666e6/2 {
		t.Fatalf("OUT1 = %v Hz, want 33.333 MHz", f)
	}
	if c.model.EEPROM().MUX != c.model.Registers().MUX {
		t.Fatal("WC=0: the change should be in EEPROM")
	}
	want := []string{
		"START 0xB0 0x02 RESTART 0xB1 [0x18 0x00] STOP", // current MUX
		"START 0xB0 0x0D RESTART 0xB1 [0x00] STOP",      // WC, to know whether it saves
		"START 0xB0 0x02 0x00 0xC0 STOP",                // the write
		"START 0xB0 0x02 RESTART 0xB1 [0x00 0xC0] STOP", // read-back after the EEPROM write
	}
	if got := wires(c.rec.Txs()); !equalStrings(got, want) {
		t.Fatalf("wire:\n%q\nwant\n%q", got, want)
	}
	// Running it again changes nothing and says so, like the original.
	if out := c.mustRun(t, "ds1077l-mux", "--bus-dev=/dev/i2c-0", "--set", "--pdn0=0", "--sel0=0", "--en0=0", "--div=1", "--p1=2"); out != "No change requested in MUX register. Abort.\n" {
		t.Errorf("second run: %q", out)
	}
}

func TestCLICompatSetsExitZero(t *testing.T) {
	c := newCLIRig(t)
	c.mustRun(t, "ds1077l-div", "--set", "--divider=100") // the original exited 1 here
	if got := c.model.Registers().DIV; got != [2]byte{0x18, 0x80} {
		t.Fatalf("DIV % x", got)
	}
	c.mustRun(t, "ds1077l-div", "-s", "-n", "3")
	if got := c.model.Registers().DIV; got != [2]byte{0x00, 0x40} {
		t.Fatalf("DIV % x", got)
	}
	c.mustRun(t, "ds1077l-mux", "-s", "-q8", "-r", "4", "-e1", "-w", "0")
	if got := DecodeMux(c.model.Registers().MUX); got != (Mux{PDN1: true, SEL0: true, EN0: true, P0: 8, P1: 4}) {
		t.Fatalf("MUX %+v", got)
	}
	c.mustRun(t, "ds1077l-bus", "--set", "--wc", "1")
	if c.model.Registers().BUS != 0x08 || c.model.EEPROM().BUS != 0x08 {
		t.Fatalf("BUS %#x EEPROM %#x", c.model.Registers().BUS, c.model.EEPROM().BUS)
	}
	c.rec.Reset()
	c.mustRun(t, "ds1077l-writee2", "-v")
	if !strings.HasSuffix(c.stdout.String(), "writee2: success!\n") {
		t.Errorf("verbose writee2: %q", c.stdout)
	}
	if ws := c.rec.Writes(); len(ws) != 1 || ws[0].Wire() != "START 0xB0 0x3F STOP" {
		t.Fatalf("writee2 sent %q", wires(ws))
	}
	c.mustRun(t, "ds1077l-bus", "--set", "--new-addr=0x5a")
	if c.model.Address() != 0x5a || !strings.Contains(c.stderr.String(), "--address=0x5a") {
		t.Fatalf("address %#x, stderr %q", c.model.Address(), c.stderr)
	}
	if got := c.mustRun(t, "ds1077l-bus", "--get", "--address=5a"); got != "Current BUS register state:\nBUS:\n  Address: 0x5a\n  WC: true\n" {
		t.Fatalf("after move: %q", got)
	}
}

// Invalid requests: a clear error, the right exit status, and not one write.
func TestCLIInvalidRequestLeavesDeviceUntouched(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		code int
		msg  string
	}{
		{[]string{"ds1077l-mux", "--set", "--pdn0=2"}, 2, "must be 0 or 1"},
		{[]string{"ds1077l-mux", "--set", "--p1=3", "--div1=1"}, 2, "must be 1, 2, 4 or 8"},
		{[]string{"ds1077l-mux", "--set", "--p=2"}, 2, "ambiguous"},
		{[]string{"ds1077l-mux", "--get", "--set"}, 2, "Specify either --get or --set."},
		{[]string{"ds1077l-div", "--set", "--divider=1026"}, 2, "2..1025"},
		{[]string{"ds1077l-div", "--set", "--divider=1"}, 2, "2..1025"},
		{[]string{"ds1077l-div", "--set"}, 2, "Must specify divider value"},
		{[]string{"ds1077l-div", "--get", "-n", "5"}, 2, "--divider cannot be provided with --get."},
		{[]string{"ds1077l-div"}, 2, "Select either 'get' or 'set'."},
		{[]string{"ds1077l-bus", "--set", "--new-addr=0x60"}, 2, "not a DS1077L address"},
		{[]string{"ds1077l-bus", "--set", "--wc=2"}, 2, "must be 0 or 1"},
		{[]string{"ds1077l-bus", "--set"}, 2, "Either a new address or a new value for the wc bit must be provided."},
		{[]string{"ds1077l-bus", "--get", "--wc=1"}, 2, "make no sense with --get"},
		{[]string{"ds1077l-bus", "--get", "--address=88"}, 2, "decimal is not accepted"},
		{[]string{"ds1077l-writee2", "extra"}, 2, "too many arguments"},
		{[]string{"ds1077l-mux", "--set", "--p1=2", "--address=0x5a"}, 1, "no DS1077L answers at 0x5a"},
		{[]string{"ds1077l-writee2", "--bus-dev=/dev/i2c-7"}, 1, "/dev/i2c-7"},
		{[]string{"ds1077l", "set", "--p1=2", "--divider=0"}, 2, "2..1025"},
		{[]string{"ds1077l", "set"}, 2, "nothing to set"},
		{[]string{"ds1077l", "set", "--p0=1", "--new-addr=0x57"}, 2, "not a DS1077L address"},
		{[]string{"ds1077l", "freq", "100MHz", "--grade", "66", "--set"}, 1, "out of reach"},
		{[]string{"ds1077l", "freq", "1kHz", "--grade", "66", "--set"}, 1, "out of reach"},
		{[]string{"ds1077l", "freq", "33MHz", "--grade", "33", "--set"}, 2, "unknown DS1077L grade"},
		{[]string{"ds1077l", "freq", "33MHz", "--set"}, 2, "--grade is required"},
		{[]string{"ds1077l", "freq", "fast", "--grade", "66", "--set"}, 2, "not a number"},
		{[]string{"ds1077l", "freq", "33MHz", "--grade", "66", "--set", "--address=0x5f"}, 1, "no DS1077L answers at 0x5f"},
		{[]string{"ds1077l", "frob"}, 2, "unknown command"},
	} {
		t.Run(strings.Join(tc.argv, " "), func(t *testing.T) {
			c := newCLIRig(t)
			regs, ee := c.model.Registers(), c.model.EEPROM()
			code := c.run(tc.argv...)
			if code != tc.code || !strings.Contains(c.stderr.String(), tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, c.stderr, tc.code, tc.msg)
			}
			if ws := c.rec.Writes(); len(ws) > 0 {
				t.Errorf("wrote %q", wires(ws))
			}
			if c.model.Registers() != regs || c.model.EEPROM() != ee {
				t.Error("device state changed")
			}
		})
	}
}

func TestCLIFreqSeed33MHz(t *testing.T) {
	c := newCLIRig(t)
	out := c.mustRun(t, "ds1077l", "freq", "33MHz", "--grade", "66")
	checkGolden(t, "freq-33MHz-66.txt", out)
	if len(c.opened) != 0 || len(c.rec.Txs()) != 0 {
		t.Fatalf("freq without --set touched the bus: %q", wires(c.rec.Txs()))
	}
	if !strings.Contains(c.stderr.String(), "add --set") {
		t.Errorf("stderr %q", c.stderr)
	}
	out = c.mustRun(t, "ds1077l", "freq", "33MHz", "--grade=-66", "--set")
	checkGolden(t, "freq-33MHz-66-set.txt", out)
	if f := c.model.Out1(); f != 66.666e6/2 {
		t.Fatalf("OUT1 %v Hz", f)
	}
	// Only P1 and DIV1 changed; the other MUX fields and DIV are kept.
	if got := c.model.Registers(); got.MUX != [2]byte{0x18, 0xC0} || got.DIV != [2]byte{0, 0} {
		t.Fatalf("registers %+v", got)
	}
}

func TestCLIFreqWithDividerAndJSON(t *testing.T) {
	c := newCLIRig(t)
	c.mustRun(t, "ds1077l", "freq", "--json", "1MHz", "--grade", "40", "--set")
	var j freqJSON
	if err := json.Unmarshal(c.stdout.Bytes(), &j); err != nil {
		t.Fatalf("%v in %s", err, c.stdout)
	}
	if j.Grade != 40 || j.MCLK != 40e6 || j.Target != 1e6 || j.Output != 1e6 || j.ErrorHz != 0 || j.ErrorPPM != 0 ||
		!j.Exact || j.P1 != 8 || j.Divisor != 5 || j.DIV1 || !j.Written || j.Address != "0x58" || j.DryRun != nil {
		t.Fatalf("%+v", j)
	}
	m, _ := ds1077lsim.New(40, ds1077lsim.WithEEPROM(c.model.Registers()))
	if m.Out1() != 1e6 {
		t.Fatalf("a -40 chip with these registers gives %v Hz", m.Out1())
	}
}

func TestCLIDryRunPrintsExactBytesAndWritesNothing(t *testing.T) {
	c := newCLIRig(t)
	regs := c.model.Registers()
	out := c.mustRun(t, "ds1077l", "freq", "83.3325kHz", "--grade", "66", "--set", "--dry-run")
	checkGolden(t, "freq-83kHz-66-dry-run.txt", out)
	if !strings.Contains(out, "START 0xB0 0x01 ") || !strings.Contains(out, "START 0xB0 0x02 ") {
		t.Fatalf("dry run output lacks the DIV and MUX writes:\n%s", out)
	}
	if ws := c.rec.Writes(); len(ws) != 0 || c.model.Registers() != regs {
		t.Fatalf("dry run wrote %q", wires(ws))
	}
	// The printed bytes are the ones a real run then sends.
	c.rec.Reset()
	c.mustRun(t, "ds1077l", "freq", "83.3325kHz", "--grade", "66", "--set")
	for _, w := range c.rec.Writes() {
		if !strings.Contains(out, w.Wire()) {
			t.Errorf("real run sent %s, not in the dry run output", w.Wire())
		}
	}
	for golden, argv := range map[string][]string{
		"dry-run-seed-mux.txt": {"ds1077l-mux", "--bus-dev=/dev/i2c-0", "--set", "--pdn0=0", "--sel0=0", "--en0=0", "--div=1", "--p1=2", "--dry-run"},
		"dry-run-save.txt":     {"ds1077l", "save", "--dry-run"},
		"dry-run-set.txt":      {"ds1077l", "set", "--wc=1", "--divider=9", "--dry-run"},
	} {
		c := newCLIRig(t)
		out := c.mustRun(t, argv...)
		checkGolden(t, golden, out)
		if ws := c.rec.Writes(); len(ws) != 0 {
			t.Fatalf("%q wrote %q", argv, wires(ws))
		}
	}
}

func TestCLISaveSendsWriteE2(t *testing.T) {
	c := newCLIRig(t)
	c.mustRun(t, "ds1077l", "set", "--wc=1")
	c.mustRun(t, "ds1077l", "set", "--divider=50")
	if !strings.Contains(c.stderr.String(), "xt ds1077l save") {
		t.Errorf("no WC=1 hint: %q", c.stderr)
	}
	c.rec.Reset()
	out := c.mustRun(t, "ds1077l", "save")
	if out != "saved: WRITE E2 sent to 0x58 on /dev/i2c-1\n" {
		t.Errorf("stdout %q", out)
	}
	if ws := c.rec.Writes(); len(ws) != 1 || ws[0].Wire() != "START 0xB0 0x3F STOP" {
		t.Fatalf("save sent %q", wires(ws))
	}
	c.model.PowerCycle()
	if got := c.mustRun(t, "ds1077l-div", "--get"); got != "DIV:\n  N: 50\n" {
		t.Fatalf("after power cycle: %q", got)
	}
}

func TestCLIShow(t *testing.T) {
	c := newCLIRig(t)
	c.mustRun(t, "ds1077l", "set", "--p0=4", "--divider=10", "--pdn1=1")
	checkGolden(t, "show-66.txt", c.mustRun(t, "ds1077l", "show", "--grade", "66"))
	out := c.mustRun(t, "ds1077l", "show", "--json", "--grade", "66")
	checkGolden(t, "show-66.json", out)
	var j stateJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatal(err)
	}
	if j.Divisor != 10 || j.Mux.P0 != 4 || !j.Mux.PDN1 || j.Out1 != 66.666e6/10 || j.Out0 != 66.666e6/4 || j.Raw.DIV != "0200" {
		t.Fatalf("%+v", j)
	}
}

func TestCLIHelp(t *testing.T) {
	c := newCLIRig(t)
	for _, argv := range [][]string{
		{"ds1077l", "--help"}, {"ds1077l-mux", "--help"}, {"ds1077l-bus", "-?"}, {"ds1077l-div", "--usage"},
		{"ds1077l-writee2", "--he"}, {"ds1077l", "freq", "--help"}, {"ds1077l", "set", "-?"},
	} {
		if code := c.run(argv...); code != 0 || c.stdout.Len() == 0 {
			t.Errorf("%q: exit %d, %d bytes of help", argv, code, c.stdout.Len())
		}
	}
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", name, got, want)
	}
}
