package ds1077l

import (
	"github.com/xtbuild/xtbuild/tools/ds1077l/ds1077lsim"
	"strings"
	"testing"
)

// TestArgpCommandLines runs the original programs' command lines through
// xt's compat entry points. The accepted and refused lines follow from
// ds1077l-ctrl's argp tables (src/ds1077l.c common_options: address/-a,
// bus-dev/-d, verbose/-v; ds1077l-div.c: get/-g, set/-s with no argument,
// divider/-n; ds1077l-bus.c: new-addr/-n, wc/-w; ds1077l-mux.c: pdn1/-e,
// pdn0/-f, sel0/-h, en0/-i, p0/-q, p1/-r, div1/-w) plus argp's own
// --help, --usage, --program-name, --HANG, resolved by getopt_long's rules:
// exact match, else a unique prefix; a no-argument option refuses "=value".
// xt's added --force and --dry-run must not change any of them.
func TestArgpCommandLines(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		ok   bool
		// want: for accepted lines, a check of the device state afterwards
		// ("DIV=N", "MUX.P0=N" ...) or of stdout; for refused lines, the
		// error text on stderr.
		want string
	}{
		// --d was --divider in ds1077l-div (bus-dev starts with b); xt's
		// --dry-run must not make it ambiguous.
		{[]string{"ds1077l-div", "--s", "--d=100"}, true, "DIV=100"},
		{[]string{"ds1077l-div", "--se", "--di", "100"}, true, "DIV=100"},
		{[]string{"ds1077l-div", "--set", "--divider=3"}, true, "DIV=3"},
		{[]string{"ds1077l-div", "-s", "-n", "5"}, true, "DIV=5"},
		{[]string{"ds1077l-div", "-sn7"}, true, "DIV=7"},
		{[]string{"ds1077l-div", "--g"}, true, "stdout:DIV:"},
		{[]string{"ds1077l-div", "--get", "--b=/dev/i2c-1", "--a=58"}, true, "stdout:DIV:"},
		{[]string{"ds1077l-div", "--get", "--v"}, true, "stdout:DIV:"},
		{[]string{"ds1077l-div", "--get", "--pr=foo"}, true, "stdout:DIV:"}, // argp's --program-name
		{[]string{"ds1077l-div", "--get", "--p", "foo"}, true, "stdout:DIV:"},
		{[]string{"ds1077l-div", "--get", "--HANG"}, true, "stdout:DIV:"},
		{[]string{"ds1077l-div", "--h"}, true, "stdout:Usage: ds1077l-div"},
		{[]string{"ds1077l-div", "--u"}, true, "stdout:Usage: ds1077l-div"},
		{[]string{"ds1077l-div", "-?"}, true, "stdout:Usage: ds1077l-div"},
		{[]string{"ds1077l-div", "--get=1"}, false, "option '--get' doesn't allow an argument"},
		{[]string{"ds1077l-div", "--set=yes", "--divider=4"}, false, "option '--set' doesn't allow an argument"},
		{[]string{"ds1077l-div", "--verbose=1", "--get"}, false, "option '--verbose' doesn't allow an argument"},
		{[]string{"ds1077l-div", "--help=1"}, false, "option '--help' doesn't allow an argument"},
		{[]string{"ds1077l-div", "--get", "--x"}, false, "unrecognized option '--x'"},
		{[]string{"ds1077l-div", "--get", "--wc=1"}, false, "unrecognized option '--wc'"},
		{[]string{"ds1077l-div", "--set", "--divider"}, false, "requires an argument"},
		{[]string{"ds1077l-div", "-s", "-n"}, false, "requires an argument"},
		{[]string{"ds1077l-div", "-x"}, false, "invalid option -- 'x'"},
		// New options by full name, or by a prefix no original option has.
		{[]string{"ds1077l-div", "--set", "--divider=9", "--dry-run"}, true, "DIV=2"},
		{[]string{"ds1077l-div", "--set", "--divider=9", "--dr"}, true, "DIV=2"},
		{[]string{"ds1077l-div", "--get", "--f"}, true, "stdout:DIV:"}, // --force

		// ds1077l-bus: --n is new-addr, --w is wc; --d matches nothing original
		// there, so it now reaches --dry-run.
		{[]string{"ds1077l-bus", "--s", "--w=1"}, true, "BUS.WC=1"},
		{[]string{"ds1077l-bus", "--s", "--w", "1", "--n=0x59"}, true, "ADDR=0x59"},
		{[]string{"ds1077l-bus", "--g", "--ad=0x58"}, true, "stdout:BUS:"},
		{[]string{"ds1077l-bus", "--get=0"}, false, "doesn't allow an argument"},
		{[]string{"ds1077l-bus", "--get", "--divider=3"}, false, "unrecognized option '--divider'"},

		// ds1077l-mux: --s is set/sel0, --p is p0/p1/program-name, --pdn is
		// pdn0/pdn1: all ambiguous, as in the original; --d is div1.
		{[]string{"ds1077l-mux", "--set", "--p0=8", "--p1", "4", "--d=1"}, true, "MUX.P0=8"},
		{[]string{"ds1077l-mux", "--set", "--e=1"}, true, "MUX.EN0=1"},
		{[]string{"ds1077l-mux", "--set", "--sel=1"}, true, "MUX.SEL0=1"},
		{[]string{"ds1077l-mux", "--set", "--pdn1=1"}, true, "MUX.PDN1=1"},
		{[]string{"ds1077l-mux", "--s"}, false, "option '--s' is ambiguous"},
		{[]string{"ds1077l-mux", "--set", "--p=1"}, false, "option '--p' is ambiguous"},
		{[]string{"ds1077l-mux", "--set", "--pdn=1"}, false, "option '--pdn' is ambiguous"},
		{[]string{"ds1077l-mux", "--get=1"}, false, "doesn't allow an argument"},

		// ds1077l-writee2 has only the common table.
		{[]string{"ds1077l-writee2", "--v", "--b=/dev/i2c-1"}, true, "stdout:success"},
		{[]string{"ds1077l-writee2", "--get"}, false, "unrecognized option '--get'"},
		{[]string{"ds1077l-writee2", "--verbose=yes"}, false, "doesn't allow an argument"},
	} {
		t.Run(strings.Join(tc.argv, " "), func(t *testing.T) {
			c := newCLIRig(t)
			code := c.run(tc.argv...)
			if !tc.ok {
				if code != 2 || !strings.Contains(c.stderr.String(), tc.want) {
					t.Fatalf("exit %d, stderr %q; want exit 2 with %q", code, c.stderr, tc.want)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d\nstdout %s\nstderr %s", code, c.stdout, c.stderr)
			}
			regs := c.model.Registers()
			mux := DecodeMux(regs.MUX)
			got := map[string]bool{
				"DIV=100":    DecodeDiv(regs.DIV) == 100,
				"DIV=3":      DecodeDiv(regs.DIV) == 3,
				"DIV=5":      DecodeDiv(regs.DIV) == 5,
				"DIV=7":      DecodeDiv(regs.DIV) == 7,
				"DIV=2":      DecodeDiv(regs.DIV) == DecodeDiv(ds1077lsim.FactoryDefaults().DIV), // dry run: unchanged
				"BUS.WC=1":   regs.BUS&0x08 != 0,
				"ADDR=0x59":  c.model.Address() == 0x59,
				"MUX.P0=8":   mux.P0 == 8 && mux.P1 == 4 && mux.DIV1,
				"MUX.EN0=1":  mux.EN0,
				"MUX.SEL0=1": mux.SEL0,
				"MUX.PDN1=1": mux.PDN1,
			}
			if s, ok := strings.CutPrefix(tc.want, "stdout:"); ok {
				if !strings.Contains(c.stdout.String(), s) {
					t.Fatalf("stdout %q, want %q", c.stdout, s)
				}
				return
			}
			if !got[tc.want] {
				t.Fatalf("%s does not hold: regs %+v, mux %+v, address %#x", tc.want, regs, mux, c.model.Address())
			}
		})
	}
}
