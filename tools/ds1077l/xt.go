package ds1077l

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"strings"
)

// newFlags builds a command's flag set with the common options.
func newFlags(name string, c *common) (*flag.FlagSet, map[byte]string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	shorts := map[byte]string{}
	c.register(fs, shorts)
	return fs, shorts
}

func (e *env) parse(prog, usage string, fs *flag.FlagSet, shorts map[byte]string, args []string) ([]string, int, bool) {
	ops, err := parseArgs(fs, shorts, args)
	if errors.Is(err, errHelp) {
		fmt.Fprint(e.stdout, usage+"\noptions:\n")
		printOptions(e.stdout, fs, shorts)
		return nil, 0, false
	}
	if err != nil {
		return nil, e.fail(prog, err), false
	}
	return ops, 0, true
}

// printOptions lists the flags getopt style ("-d, --bus-dev=VALUE"), since
// that is how parseArgs reads them.
func printOptions(w io.Writer, fs *flag.FlagSet, shorts map[byte]string) {
	short := map[string]byte{}
	for k, v := range shorts {
		short[v] = k
	}
	fs.VisitAll(func(f *flag.Flag) {
		name := "--" + f.Name
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
			name += "=VALUE"
		}
		lead := "    "
		if c, ok := short[f.Name]; ok {
			lead = "-" + string(c) + ", "
		}
		fmt.Fprintf(w, "  %s%-22s %s\n", lead, name, f.Usage)
	})
}

func gradeFlag(fs *flag.FlagSet, g *Grade) {
	fs.Func("grade", "frequency grade of the part: 40, 50, 60 or 66", func(s string) error {
		v, err := LookupGrade(s)
		*g = v
		return err
	})
}

func (e *env) writeJSON(v any) int {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(e.stderr, "xt ds1077l: write JSON: %v\n", err)
		return 1
	}
	return 0
}

// dryRunWires lists the recorded writes of a dry run.
func (s *session) dryRunWires() []string {
	if s.rec == nil {
		return nil
	}
	out := []string{}
	for _, t := range s.rec.Writes() {
		out = append(out, t.Wire())
	}
	return out
}

// stateJSON is the machine-readable register dump.
type stateJSON struct {
	BusDev  string   `json:"bus_dev"`
	Address string   `json:"address"`
	Raw     rawJSON  `json:"raw"`
	WC      bool     `json:"wc"`
	Divisor int      `json:"divisor"`
	Mux     muxJSON  `json:"mux"`
	Grade   int      `json:"grade,omitempty"`
	MCLK    float64  `json:"mclk_hz,omitempty"`
	Out0    float64  `json:"out0_hz,omitempty"`
	Out1    float64  `json:"out1_hz,omitempty"`
	DryRun  []string `json:"dry_run,omitempty"`
}

type rawJSON struct {
	BUS string `json:"bus"`
	DIV string `json:"div"`
	MUX string `json:"mux"`
}

type muxJSON struct {
	PDN1 bool `json:"pdn1"`
	PDN0 bool `json:"pdn0"`
	SEL0 bool `json:"sel0"`
	EN0  bool `json:"en0"`
	P0   int  `json:"p0"`
	P1   int  `json:"p1"`
	DIV1 bool `json:"div1"`
}

// Out1 is OUT1 of state s at master clock mclk.
func (s State) Out1(mclk *big.Rat) *big.Rat {
	d := s.Divisor
	if s.Mux.DIV1 {
		d = 1
	}
	return Setting{P1: s.Mux.P1, Divisor: d}.Out(mclk)
}

// Out0 is OUT0 of state s at master clock mclk.
func (s State) Out0(mclk *big.Rat) *big.Rat {
	return new(big.Rat).Quo(mclk, new(big.Rat).SetInt64(int64(s.Mux.P0)))
}

func ratFloat(r *big.Rat) float64 { f, _ := r.Float64(); return f }

func bit01(b bool) int {
	if b {
		return 1
	}
	return 0
}

const showUsage = `usage: xt ds1077l show [--grade G] [--json] [OPTIONS]

Print BUS, DIV and MUX (raw bytes and fields); with --grade also OUT0 and OUT1.
`

func (e *env) show(ctx context.Context, args []string) int {
	const prog = "xt ds1077l show"
	var c common
	var g Grade
	var asJSON bool
	fs, shorts := newFlags(prog, &c)
	gradeFlag(fs, &g)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	ops, code, ok := e.parse(prog, showUsage, fs, shorts, args)
	if !ok {
		return code
	}
	if len(ops) > 0 {
		return e.fail(prog, usagef("unexpected argument %q", ops[0]))
	}
	c.dryRun = false
	s, err := e.openSession(ctx, c)
	if err != nil {
		return e.fail(prog, err)
	}
	defer s.Close()
	st, err := s.dev.Read(ctx)
	if err != nil {
		return e.fail(prog, err)
	}
	regs, _ := st.registers() // values read back always encode
	if asJSON {
		j := stateJSON{
			BusDev: c.busDev, Address: fmt.Sprintf("0x%02x", s.dev.Addr()),
			Raw: rawJSON{BUS: fmt.Sprintf("%02x", regs.BUS), DIV: fmt.Sprintf("%02x%02x", regs.DIV[0], regs.DIV[1]), MUX: fmt.Sprintf("%02x%02x", regs.MUX[0], regs.MUX[1])},
			WC:  st.Bus.WC, Divisor: st.Divisor,
			Mux: muxJSON{st.Mux.PDN1, st.Mux.PDN0, st.Mux.SEL0, st.Mux.EN0, st.Mux.P0, st.Mux.P1, st.Mux.DIV1},
		}
		if g.MCLK != nil {
			j.Grade, j.MCLK, j.Out0, j.Out1 = g.Name, ratFloat(g.MCLK), ratFloat(st.Out0(g.MCLK)), ratFloat(st.Out1(g.MCLK))
		}
		return e.writeJSON(j)
	}
	w := e.stdout
	fmt.Fprintf(w, "DS1077L at 0x%02x on %s\n", s.dev.Addr(), c.busDev)
	wcNote := "every register write is saved to EEPROM"
	if st.Bus.WC {
		wcNote = "registers are saved only by WRITE E2 (xt ds1077l save)"
	}
	fmt.Fprintf(w, "BUS   %02x     address 0x%02x, WC %d (%s)\n", regs.BUS, st.Bus.Addr, bit01(st.Bus.WC), wcNote)
	fmt.Fprintf(w, "DIV   %02x %02x  divisor %d\n", regs.DIV[0], regs.DIV[1], st.Divisor)
	m := st.Mux
	fmt.Fprintf(w, "MUX   %02x %02x  PDN1 %d, PDN0 %d, SEL0 %d, EN0 %d, P0 %d, P1 %d, DIV1 %d\n",
		regs.MUX[0], regs.MUX[1], bit01(m.PDN1), bit01(m.PDN0), bit01(m.SEL0), bit01(m.EN0), m.P0, m.P1, bit01(m.DIV1))
	if g.MCLK != nil {
		path := fmt.Sprintf("/ %d", st.Divisor)
		if m.DIV1 {
			path = "(divider bypassed)"
		}
		fmt.Fprintf(w, "OUT1  %s = %s / P1 %d %s\n", FormatHz(st.Out1(g.MCLK)), FormatHz(g.MCLK), m.P1, path)
		fmt.Fprintf(w, "OUT0  %s = %s / P0 %d\n", FormatHz(st.Out0(g.MCLK)), FormatHz(g.MCLK), m.P0)
	}
	return 0
}

const setUsage = `usage: xt ds1077l set [FIELD=VALUE...] [--save] [--dry-run] [OPTIONS]

Change any register fields. The whole new state is checked before anything
is written; only registers that change are written (DIV, then MUX, then BUS),
each is read back to confirm, and the EEPROM write time is waited out.
`

func (e *env) set(ctx context.Context, args []string) int {
	const prog = "xt ds1077l set"
	var c common
	var f fields
	var save bool
	fs, shorts := newFlags(prog, &c)
	f.registerMux(fs)
	f.registerDiv(fs)
	f.registerBus(fs)
	fs.BoolVar(&save, "save", false, "send WRITE E2 afterwards (needed to keep changes when WC=1)")
	ops, code, ok := e.parse(prog, setUsage, fs, shorts, args)
	if !ok {
		return code
	}
	if len(ops) > 0 {
		return e.fail(prog, usagef("unexpected argument %q", ops[0]))
	}
	if !f.anyMux() && !f.dividerSet && !f.wcSet && !f.newAddrSet && !save {
		return e.fail(prog, usagef("nothing to set: give at least one field (--divider, --p1, --wc, ...)"))
	}
	s, err := e.openSession(ctx, c)
	if err != nil {
		return e.fail(prog, err)
	}
	defer s.Close()
	cur, err := s.dev.Read(ctx)
	if err != nil {
		return e.fail(prog, err)
	}
	next := f.apply(cur)
	if err := s.dev.Apply(ctx, cur, next); err != nil {
		return e.fail(prog, err)
	}
	describeChange(e.stdout, cur, next, s.rec != nil)
	if save {
		if err := s.dev.Save(ctx); err != nil {
			return e.fail(prog, err)
		}
	}
	if s.rec == nil {
		e.persistNote(prog, cur, next, save)
	}
	s.reportDryRun(e.stdout)
	return 0
}

// persistNote tells the user whether a change survives power-off.
func (e *env) persistNote(prog string, cur, next State, saved bool) {
	switch {
	case next.Bus.Addr != cur.Bus.Addr:
		fmt.Fprintf(e.stderr, "%s: the device now answers at 0x%02x; pass --address=0x%02x from now on\n", prog, next.Bus.Addr, next.Bus.Addr)
	case saved || next.Bus != cur.Bus || next == cur:
	case next.Bus.WC:
		fmt.Fprintf(e.stderr, "%s: WC=1: the change is live but not saved; run 'xt ds1077l save' to keep it across power-off\n", prog)
	}
}

func describeChange(w io.Writer, cur, next State, dryRun bool) {
	var parts []string
	add := func(name string, a, b any) {
		if fmt.Sprint(a) != fmt.Sprint(b) {
			parts = append(parts, fmt.Sprintf("%s %v -> %v", name, a, b))
		}
	}
	add("divisor", cur.Divisor, next.Divisor)
	cm, nm := cur.Mux, next.Mux
	add("PDN1", bit01(cm.PDN1), bit01(nm.PDN1))
	add("PDN0", bit01(cm.PDN0), bit01(nm.PDN0))
	add("SEL0", bit01(cm.SEL0), bit01(nm.SEL0))
	add("EN0", bit01(cm.EN0), bit01(nm.EN0))
	add("P0", cm.P0, nm.P0)
	add("P1", cm.P1, nm.P1)
	add("DIV1", bit01(cm.DIV1), bit01(nm.DIV1))
	add("WC", bit01(cur.Bus.WC), bit01(next.Bus.WC))
	add("address", fmt.Sprintf("0x%02x", cur.Bus.Addr), fmt.Sprintf("0x%02x", next.Bus.Addr))
	if len(parts) == 0 {
		fmt.Fprintln(w, "no change")
		return
	}
	verb := "changed"
	if dryRun {
		verb = "would change"
	}
	fmt.Fprintln(w, verb+": "+strings.Join(parts, ", "))
}

const freqUsage = `usage: xt ds1077l freq TARGET --grade G [--set [--save] [--dry-run]] [--json] [OPTIONS]

Find the OUT1 setting (prescaler P1 and divider N, or the divider bypassed)
closest to TARGET (e.g. 33MHz, 8.13kHz, 4000000) for a DS1077L of grade G.
An exact match wins; among equally close settings the lower-power one wins:
the divider bypassed when a prescaler alone suffices, else the largest
prescaler. Prints the frequency and the error; writes only with --set (only
P1, DIV1 and DIV change; other MUX fields are kept).
`

type freqJSON struct {
	Grade    int      `json:"grade"`
	MCLK     float64  `json:"mclk_hz"`
	Target   float64  `json:"target_hz"`
	Output   float64  `json:"output_hz"`
	ErrorHz  float64  `json:"error_hz"`
	ErrorPPM float64  `json:"error_ppm"`
	Exact    bool     `json:"exact"`
	P1       int      `json:"p1"`
	Divisor  int      `json:"divisor"`
	DIV1     bool     `json:"div1"`
	Written  bool     `json:"written"`
	Saved    bool     `json:"saved,omitempty"`
	Address  string   `json:"address,omitempty"`
	DryRun   []string `json:"dry_run,omitempty"`
}

func (e *env) freq(ctx context.Context, args []string) int {
	const prog = "xt ds1077l freq"
	var c common
	var g Grade
	var doSet, save, asJSON bool
	fs, shorts := newFlags(prog, &c)
	gradeFlag(fs, &g)
	fs.BoolVar(&doSet, "set", false, "program the device")
	fs.BoolVar(&save, "save", false, "with --set: send WRITE E2 afterwards (keeps the change when WC=1)")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	ops, code, ok := e.parse(prog, freqUsage, fs, shorts, args)
	if !ok {
		return code
	}
	switch {
	case len(ops) != 1:
		return e.fail(prog, usagef("want exactly one TARGET frequency, got %d arguments", len(ops)))
	case g.MCLK == nil:
		return e.fail(prog, usagef("--grade is required (40, 50, 60 or 66: the part number suffix)"))
	case (save || c.dryRun) && !doSet:
		return e.fail(prog, usagef("--save and --dry-run go with --set"))
	}
	target, err := ParseFreq(ops[0])
	if err != nil {
		return e.fail(prog, usageError{err.Error()})
	}
	sol, err := Solve(g, target)
	if err != nil {
		return e.fail(prog, err)
	}
	j := freqJSON{
		Grade: g.Name, MCLK: ratFloat(g.MCLK), Target: ratFloat(target), Output: ratFloat(sol.Output),
		ErrorHz: ratFloat(sol.Error()), ErrorPPM: sol.ErrorPPM(), Exact: sol.Exact(),
		P1: sol.Setting.P1, Divisor: sol.Setting.Divisor, DIV1: sol.Setting.Bypass(),
	}
	var cur, next State
	var s *session
	if doSet {
		if s, err = e.openSession(ctx, c); err != nil {
			return e.fail(prog, err)
		}
		defer s.Close()
		if cur, err = s.dev.Read(ctx); err != nil {
			return e.fail(prog, err)
		}
		next = cur
		next.Mux.P1, next.Mux.DIV1 = sol.Setting.P1, sol.Setting.Bypass()
		if !sol.Setting.Bypass() {
			next.Divisor = sol.Setting.Divisor
		}
		if err := s.dev.Apply(ctx, cur, next); err != nil {
			return e.fail(prog, err)
		}
		if save {
			if err := s.dev.Save(ctx); err != nil {
				return e.fail(prog, err)
			}
		}
		j.Written, j.Saved, j.Address = s.rec == nil, save && s.rec == nil, fmt.Sprintf("0x%02x", s.dev.Addr())
		j.DryRun = s.dryRunWires()
	}
	if asJSON {
		return e.writeJSON(j)
	}
	w := e.stdout
	how := fmt.Sprintf("P1 %d, divider %d (DIV1 0)", sol.Setting.P1, sol.Setting.Divisor)
	if sol.Setting.Bypass() {
		how = fmt.Sprintf("P1 %d, divider bypassed (DIV1 1)", sol.Setting.P1)
	}
	fmt.Fprintf(w, "grade:   DS1077L-%d, MCLK %s\n", g.Name, FormatHz(g.MCLK))
	fmt.Fprintf(w, "target:  %s\n", FormatHz(target))
	fmt.Fprintf(w, "output:  %s  (OUT1 = MCLK / %d)\n", FormatHz(sol.Output), sol.Setting.P1*sol.Setting.Divisor)
	if sol.Exact() {
		fmt.Fprintf(w, "error:   0 Hz (exact)\n")
	} else {
		fmt.Fprintf(w, "error:   %s (%+.1f ppm)\n", formatHz(sol.Error(), true), sol.ErrorPPM())
	}
	fmt.Fprintf(w, "setting: %s\n", how)
	switch {
	case !doSet:
		fmt.Fprintln(e.stderr, "xt ds1077l freq: not written; add --set to program the device")
	case s.rec != nil:
		s.reportDryRun(w)
	default:
		describeChange(w, cur, next, false)
		e.persistNote(prog, cur, next, save)
	}
	return 0
}

const saveUsage = `usage: xt ds1077l save [--dry-run] [OPTIONS]

Send WRITE E2 (command 0x3F as SMBus Send Byte: START, 0xB0, 0x3F, STOP for
address 0x58): the chip copies BUS, DIV and MUX into EEPROM. Needed only when
WC=1; with WC=0 every register write is already saved.
`

func (e *env) save(ctx context.Context, args []string) int {
	const prog = "xt ds1077l save"
	var c common
	fs, shorts := newFlags(prog, &c)
	ops, code, ok := e.parse(prog, saveUsage, fs, shorts, args)
	if !ok {
		return code
	}
	if len(ops) > 0 {
		return e.fail(prog, usagef("unexpected argument %q", ops[0]))
	}
	s, err := e.openSession(ctx, c)
	if err != nil {
		return e.fail(prog, err)
	}
	defer s.Close()
	b, err := s.dev.ReadBus(ctx)
	if err != nil {
		return e.fail(prog, err)
	}
	if err := s.dev.Save(ctx); err != nil {
		return e.fail(prog, err)
	}
	if s.rec != nil {
		s.reportDryRun(e.stdout)
		return 0
	}
	fmt.Fprintf(e.stdout, "saved: WRITE E2 sent to 0x%02x on %s\n", s.dev.Addr(), c.busDev)
	if !b.WC {
		fmt.Fprintf(e.stderr, "%s: note: WC=0, so registers were already saved on every write\n", prog)
	}
	return 0
}
