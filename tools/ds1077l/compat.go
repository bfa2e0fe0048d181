package ds1077l

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// fields are register values given on the command line; *Set says which.
type fields struct {
	pdn1, pdn0, sel0, en0, div1                bool
	pdn1Set, pdn0Set, sel0Set, en0Set, div1Set bool
	p0, p1                                     int
	p0Set, p1Set                               bool
	divider                                    int
	dividerSet                                 bool
	wc, wcSet                                  bool
	newAddr                                    uint8
	newAddrSet                                 bool
}

func (f *fields) registerMux(fs *flag.FlagSet) {
	fs.Func("pdn1", "PDN1 bit, 0|1", bit(&f.pdn1, &f.pdn1Set))
	fs.Func("pdn0", "PDN0 bit, 0|1", bit(&f.pdn0, &f.pdn0Set))
	fs.Func("sel0", "SEL0 bit, 0|1", bit(&f.sel0, &f.sel0Set))
	fs.Func("en0", "EN0 bit, 0|1", bit(&f.en0, &f.en0Set))
	fs.Func("p0", "prescaler P0 for OUT0, 1|2|4|8", prescalerFlag(&f.p0, &f.p0Set))
	fs.Func("p1", "prescaler P1 for OUT1, 1|2|4|8", prescalerFlag(&f.p1, &f.p1Set))
	fs.Func("div1", "DIV1 bit, 1 bypasses the N divider, 0|1", bit(&f.div1, &f.div1Set))
}

func (f *fields) registerDiv(fs *flag.FlagSet) {
	fs.Func("divider", "N divider for OUT1, 2-1025", dividerFlag(&f.divider, &f.dividerSet))
}

func (f *fields) registerBus(fs *flag.FlagSet) {
	fs.Func("new-addr", "new address, hex 0x58..0x5f", func(s string) error {
		a, err := parseAddr(s)
		f.newAddr, f.newAddrSet = a, err == nil
		return err
	})
	fs.Func("wc", "WC bit: 0 saves every write to EEPROM, 1 only on WRITE E2", func(s string) error {
		v, err := parseHex(s) // the original read it as hex
		if err != nil || v > 1 {
			return errors.New("must be 0 or 1")
		}
		f.wc, f.wcSet = v == 1, true
		return nil
	})
}

func (f *fields) anyMux() bool {
	return f.pdn1Set || f.pdn0Set || f.sel0Set || f.en0Set || f.p0Set || f.p1Set || f.div1Set
}

// apply returns s with the given fields replaced.
func (f *fields) apply(s State) State {
	m := &s.Mux
	for _, x := range []struct {
		set bool
		dst *bool
		v   bool
	}{{f.pdn1Set, &m.PDN1, f.pdn1}, {f.pdn0Set, &m.PDN0, f.pdn0}, {f.sel0Set, &m.SEL0, f.sel0}, {f.en0Set, &m.EN0, f.en0}, {f.div1Set, &m.DIV1, f.div1}, {f.wcSet, &s.Bus.WC, f.wc}} {
		if x.set {
			*x.dst = x.v
		}
	}
	if f.p0Set {
		m.P0 = f.p0
	}
	if f.p1Set {
		m.P1 = f.p1
	}
	if f.dividerSet {
		s.Divisor = f.divider
	}
	if f.newAddrSet {
		s.Bus.Addr = f.newAddr
	}
	return s
}

// The --get blocks, byte for byte as ds1077l-ctrl printed them.

func printBus(w io.Writer, b Bus) {
	fmt.Fprintf(w, "BUS:\n  Address: %#x\n  WC: %s\n", b.Addr, boolWord(b.WC))
}

func printDiv(w io.Writer, divisor int) {
	fmt.Fprintf(w, "DIV:\n  N: %d\n", divisor)
}

func printMux(w io.Writer, m Mux) {
	fmt.Fprintf(w, "MUX:\n  PDN1: %s\n  PDN0: %s\n  SEL0: %s\n  EN0:  %s\n  M0:   %d\n  M1:   %d\n  DIV1: %s\n",
		boolWord(m.PDN1), boolWord(m.PDN0), boolWord(m.SEL0), boolWord(m.EN0), m.P0, m.P1, boolWord(m.DIV1))
}

var compatDoc = map[string]string{
	"ds1077l-bus": `Usage: ds1077l-bus [OPTION...]
Interact with the BUS register of a Maxim DS1077L programmable oscillator.

  -g, --get                  Get the contents of the BUS register.
  -s, --set                  Set the contents of the BUS register.
  -n, --new-addr=0x5[8-f]    New address for the oscillator. It moves at once
                             and the change is saved to EEPROM; use the new
                             --address from then on.
  -w, --wc=0|1               0: every register write is saved to EEPROM.
                             1: only WRITE E2 (ds1077l-writee2) saves.
                             Any BUS write saves all registers to EEPROM.
`,
	"ds1077l-div": `Usage: ds1077l-div [OPTION...]
Set values in the DIV register of a Maxim DS1077L programmable oscillator.

  -g, --get                  Get the contents of the DIV register.
  -s, --set                  Set the contents of the DIV register.
  -n, --divider=2-1025       Value of the programmable divider on OUT1.
`,
	"ds1077l-mux": `Usage: ds1077l-mux [OPTION...]
Set values in the MUX register of a Maxim DS1077L programmable oscillator.

  -g, --get                  Get the contents of the MUX register.
  -s, --set                  Set the contents of the MUX register.
  -e, --pdn1=0|1             PDN1 bit (CTRL1 is a power-down input when 1).
  -f, --pdn0=0|1             PDN0 bit (CTRL0 role for OUT0, with SEL0 and EN0).
  -h, --sel0=0|1             SEL0 bit.
  -i, --en0=0|1              EN0 bit.
  -q, --p0=1|2|4|8           Prescaler P0 for OUT0 (bits 0M1:0M0).
  -r, --p1=1|2|4|8           Prescaler P1 for OUT1 (bits 1M1:1M0).
  -w, --div1=0|1             DIV1 bit: 1 bypasses the N divider, OUT1 = MCLK/P1.
`,
	"ds1077l-writee2": `Usage: ds1077l-writee2 [OPTION...]
Send WRITE E2 (0x3F) to a Maxim DS1077L: save BUS, DIV and MUX to EEPROM.
Only needed when the BUS register's WC bit is 1.
`,
}

const compatCommonDoc = `
  -a, --address=0x5[8-f]     The current address of the oscillator, in hex
                             (0x58..0x5f). Defaults to 0x58.
  -d, --bus-dev=/dev/i2c-1   Path to the i2c bus the oscillator is attached to.
  -v, --verbose              Produce verbose output.
      --force                Use the address even if a kernel driver claimed it.
      --dry-run              Read the device but only print the bytes a --set
                             would send.
  -?, --help, --usage        Give this help list.

Exit status: 0 success, 1 failure, 2 usage error.
`

// compatLongs are each original program's long options, from ds1077l-ctrl's
// argp tables (src/ds1077l.c common_options; the options[] of
// ds1077l-bus.c, -div.c, -mux.c; ds1077l-writee2 parses only the common
// table). argp's own options are added by parseArgs.
var compatLongs = map[string][]string{
	"ds1077l-bus":     {"address", "bus-dev", "verbose", "get", "set", "new-addr", "wc"},
	"ds1077l-div":     {"address", "bus-dev", "verbose", "get", "set", "divider"},
	"ds1077l-mux":     {"address", "bus-dev", "verbose", "get", "set", "pdn1", "pdn0", "sel0", "en0", "p0", "p1", "div1"},
	"ds1077l-writee2": {"address", "bus-dev", "verbose"},
}

// compat runs one of the ds1077l-ctrl programs.
func (e *env) compat(ctx context.Context, prog string, args []string) int {
	fs := flag.NewFlagSet(prog, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	shorts := map[byte]string{}
	var c common
	c.register(fs, shorts)
	var get, set bool
	var f fields
	if prog != "ds1077l-writee2" {
		fs.BoolVar(&get, "get", false, "")
		fs.BoolVar(&set, "set", false, "")
		shorts['g'], shorts['s'] = "get", "set"
	}
	switch prog {
	case "ds1077l-bus":
		f.registerBus(fs)
		shorts['n'], shorts['w'] = "new-addr", "wc"
	case "ds1077l-div":
		f.registerDiv(fs)
		shorts['n'] = "divider"
	case "ds1077l-mux":
		f.registerMux(fs)
		for k, v := range map[byte]string{'e': "pdn1", 'f': "pdn0", 'h': "sel0", 'i': "en0", 'q': "p0", 'r': "p1", 'w': "div1"} {
			shorts[k] = v
		}
	}
	operands, err := parseArgs(fs, shorts, args, compatLongs[prog]...)
	if errors.Is(err, errHelp) {
		fmt.Fprint(e.stdout, compatDoc[prog]+compatCommonDoc)
		return 0
	}
	if err == nil && len(operands) > 0 {
		err = usagef("too many arguments: %s", strings.Join(operands, " "))
	}
	if err == nil && prog != "ds1077l-writee2" {
		err = compatModeCheck(prog, get, set, &f)
	}
	if err != nil {
		return e.fail(prog, err)
	}
	if prog == "ds1077l-mux" && get && f.anyMux() {
		// The original ignored them silently; keep accepting, but say so.
		fmt.Fprintln(e.stderr, "ds1077l-mux: register values are ignored with --get")
	}
	if c.verbose {
		e.dumpOptions(prog, c, get, set, &f)
	}
	s, err := e.openSession(ctx, c)
	if err != nil {
		return e.fail(prog, err)
	}
	defer s.Close()
	switch prog {
	case "ds1077l-bus":
		err = e.compatBus(ctx, s, c, get, &f)
	case "ds1077l-div":
		err = e.compatDiv(ctx, s, c, get, &f)
	case "ds1077l-mux":
		err = e.compatMux(ctx, s, c, get, &f)
	default:
		err = s.dev.Save(ctx)
		if err == nil && c.verbose {
			fmt.Fprintln(e.stdout, "writee2: success!")
		}
	}
	if err != nil {
		return e.fail(prog, err)
	}
	s.reportDryRun(e.stdout)
	return 0
}

// compatModeCheck applies the originals' rules, with their messages.
func compatModeCheck(prog string, get, set bool, f *fields) error {
	if get == set {
		if prog == "ds1077l-mux" {
			return usagef("Specify either --get or --set.")
		}
		return usagef("Select either 'get' or 'set'.")
	}
	switch prog {
	case "ds1077l-bus":
		if get && (f.newAddrSet || f.wcSet) {
			return usagef("--new-addr and --wc make no sense with --get.")
		}
		if set && !f.newAddrSet && !f.wcSet {
			return usagef("Either a new address or a new value for the wc bit must be provided.")
		}
	case "ds1077l-div":
		if get && f.dividerSet {
			return usagef("--divider cannot be provided with --get.")
		}
		if set && !f.dividerSet {
			return usagef("Must specify divider value when setting register.")
		}
	}
	return nil
}

func (e *env) dumpOptions(prog string, c common, get, set bool, f *fields) {
	w := e.stdout
	if prog == "ds1077l-writee2" {
		fmt.Fprintf(w, "Common arguments:\n  address: 0x%x\n  bus-dev: %s\n  verbose: %s\n", c.addr, c.busDev, boolWord(c.verbose))
		return
	}
	fmt.Fprintf(w, "User provided options:\n  get:     %s\n  set:     %s\n  address: 0x%x\n  bus-dev: %s\n  verbose: %s\n",
		boolWord(get), boolWord(set), c.addr, c.busDev, boolWord(c.verbose))
	switch prog {
	case "ds1077l-bus":
		if f.newAddrSet {
			fmt.Fprintf(w, "  new_addr: 0x%x\n", f.newAddr)
		}
		if f.wcSet {
			fmt.Fprintf(w, "  wc:      %s\n", boolWord(f.wc))
		}
	case "ds1077l-div":
		if f.dividerSet {
			fmt.Fprintf(w, "  divider: %d\n", f.divider)
		}
	}
}

func (e *env) compatBus(ctx context.Context, s *session, c common, get bool, f *fields) error {
	cur, err := s.dev.ReadBus(ctx)
	if err != nil {
		return err
	}
	if get || c.verbose {
		fmt.Fprintln(e.stdout, "Current BUS register state:")
		printBus(e.stdout, cur)
	}
	if get {
		return nil
	}
	next := f.apply(State{Bus: cur}).Bus
	if c.verbose {
		fmt.Fprintf(e.stdout, "Setting device 0x%x on bus %s to:\n", c.addr, c.busDev)
		printBus(e.stdout, next)
		fmt.Fprintln(e.stdout, "Note: a BUS write saves DIV, MUX and BUS to EEPROM, whatever WC is.")
	}
	// Always written, even unchanged: a BUS write is also how to force an
	// EEPROM save of every register.
	if err := s.dev.WriteBus(ctx, next); err != nil {
		return err
	}
	if next.Addr != cur.Addr {
		fmt.Fprintf(e.stderr, "ds1077l-bus: the device now answers at %#x; pass --address=%#x from now on\n", next.Addr, next.Addr)
	}
	return nil
}

func (e *env) compatDiv(ctx context.Context, s *session, c common, get bool, f *fields) error {
	if c.verbose {
		fmt.Fprintf(e.stdout, "Querying state of DIV register for device 0x%x on bus %s\n", c.addr, c.busDev)
	}
	cur, err := s.dev.ReadDiv(ctx)
	if err != nil {
		return err
	}
	if get || c.verbose {
		printDiv(e.stdout, cur)
	}
	if get {
		return nil
	}
	if c.verbose {
		fmt.Fprintf(e.stdout, "Setting device 0x%x on bus %s to:\n", c.addr, c.busDev)
		printDiv(e.stdout, f.divider)
	}
	return s.dev.WriteDiv(ctx, f.divider)
}

func (e *env) compatMux(ctx context.Context, s *session, c common, get bool, f *fields) error {
	if c.verbose {
		fmt.Fprintf(e.stdout, "Querying state of MUX register for device 0x%x on bus %s\n", c.addr, c.busDev)
	}
	cur, err := s.dev.ReadMux(ctx)
	if err != nil {
		return err
	}
	if get || c.verbose {
		printMux(e.stdout, cur)
	}
	if get {
		return nil
	}
	next := f.apply(State{Mux: cur}).Mux
	if c.verbose {
		fmt.Fprintln(e.stdout, "Requested MUX register state:")
		printMux(e.stdout, next)
	}
	if next == cur {
		fmt.Fprintln(e.stdout, "No change requested in MUX register. Abort.")
		return nil
	}
	if c.verbose {
		fmt.Fprintf(e.stdout, "Setting MUX register for device 0x%x on bus %s to:\n", c.addr, c.busDev)
		printMux(e.stdout, next)
	}
	return s.dev.WriteMux(ctx, next)
}
