package ds1077l

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/xtbuild/xtbuild/tools/ds1077l/ds1077lsim"
	"github.com/xtbuild/xtbuild/tools/ds1077l/i2c"
)

// DefaultBusDev is the original tools' default bus.
const DefaultBusDev = "/dev/i2c-1"

// env is what a command needs from the outside world; tests swap the bus
// opener for one that returns the datasheet model.
type env struct {
	stdout, stderr io.Writer
	open           func(path string, force bool) (i2c.Bus, io.Closer, error)
	sleep          func(context.Context, time.Duration) error
	log            *slog.Logger
}

func realEnv(stdout, stderr io.Writer) *env {
	return &env{
		stdout: stdout,
		stderr: stderr,
		open: func(path string, force bool) (i2c.Bus, io.Closer, error) {
			d, err := i2c.Open(path, i2c.Options{Force: force})
			if err != nil {
				return nil, nil, err
			}
			return d, d, nil
		},
		sleep: sleepCtx,
		log:   slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

// Main runs `xt ds1077l COMMAND ...`. Exit status: 0 success, 1 failure
// (bus, device, verification), 2 usage error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return realEnv(stdout, stderr).main(ctx, args)
}

// MainBus is the drop-in for ds1077l-bus.
func MainBus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return realEnv(stdout, stderr).compat(ctx, "ds1077l-bus", args)
}

// MainDiv is the drop-in for ds1077l-div.
func MainDiv(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return realEnv(stdout, stderr).compat(ctx, "ds1077l-div", args)
}

// MainMux is the drop-in for ds1077l-mux.
func MainMux(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return realEnv(stdout, stderr).compat(ctx, "ds1077l-mux", args)
}

// MainWriteE2 is the drop-in for ds1077l-writee2, sending WRITE E2 as SMBus
// Send Byte so the 0x3F actually reaches the chip.
func MainWriteE2(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return realEnv(stdout, stderr).compat(ctx, "ds1077l-writee2", args)
}

const mainUsage = `usage: xt ds1077l COMMAND [OPTIONS]

Program a Maxim DS1077L oscillator over Linux I2C (i2c-dev).

commands:
  show                 print all registers (and OUT0/OUT1 with --grade)
  set  FIELD...        change register fields; only changed registers are written
  freq TARGET --grade G
                       find the setting closest to TARGET (e.g. 33MHz) for OUT1;
                       writes it only with --set
  save                 send WRITE E2 (0x3F): save registers to EEPROM (needed with WC=1)
  bus|div|mux|writee2  the ds1077l-ctrl programs, same options and output

Run 'xt ds1077l COMMAND --help' for a command's options.
Exit status: 0 success, 1 failure, 2 usage error.
`

func (e *env) main(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, mainUsage)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(e.stdout, mainUsage)
		return 0
	case "show", "get":
		return e.show(ctx, args[1:])
	case "set":
		return e.set(ctx, args[1:])
	case "freq":
		return e.freq(ctx, args[1:])
	case "save", "write-e2":
		return e.save(ctx, args[1:])
	case "bus", "div", "mux", "writee2":
		return e.compat(ctx, "ds1077l-"+args[0], args[1:])
	}
	fmt.Fprintf(e.stderr, "xt ds1077l: unknown command %q\n\n%s", args[0], mainUsage)
	return 2
}

// common holds the options every command takes.
type common struct {
	busDev  string
	addr    uint8
	verbose bool
	force   bool
	dryRun  bool
}

func (c *common) register(fs *flag.FlagSet, shorts map[byte]string) {
	c.busDev, c.addr = DefaultBusDev, DefaultAddr
	fs.StringVar(&c.busDev, "bus-dev", DefaultBusDev, "i2c-dev node the oscillator is on")
	fs.Func("address", "current 7-bit address, hex 0x58..0x5f (default 0x58)", func(s string) error {
		a, err := parseAddr(s)
		c.addr = a
		return err
	})
	fs.BoolVar(&c.verbose, "verbose", false, "verbose output")
	fs.BoolVar(&c.force, "force", false, "take the address even if a kernel driver claimed it (I2C_SLAVE_FORCE)")
	fs.BoolVar(&c.dryRun, "dry-run", false, "read the device, but only print the bytes a change would send")
	shorts['d'], shorts['a'], shorts['v'] = "bus-dev", "address", "verbose"
}

// parseAddr reads an address in hex, "58" or "0x58", as the originals did.
func parseAddr(s string) (uint8, error) {
	v, err := parseHex(s)
	if err != nil {
		return 0, err
	}
	if v < uint64(BaseAddr) || v > uint64(MaxAddr) {
		return 0, fmt.Errorf("0x%x is not a DS1077L address (hex 0x58..0x5f; decimal is not accepted)", v)
	}
	return uint8(v), nil
}

func parseHex(s string) (uint64, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
	v, err := strconv.ParseUint(t, 16, 16)
	if err != nil {
		return 0, fmt.Errorf("not a hex number")
	}
	return v, nil
}

// session is an open device, or for a dry run the datasheet model loaded
// with the real device's registers, behind a recorder.
type session struct {
	dev    *Device
	rec    *ds1077lsim.Recorder
	busDev string
	closer io.Closer
}

func (e *env) openSession(ctx context.Context, c common) (*session, error) {
	bus, closer, err := e.open(c.busDev, c.force)
	if err != nil {
		return nil, err
	}
	s := &session{busDev: c.busDev, closer: closer}
	log := e.log
	if c.verbose {
		// Every transaction, as wire text, on stderr.
		log = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	real := New(bus, c.addr, WithSleep(e.sleep), WithLogger(log))
	if !c.dryRun {
		s.dev = real
		return s, nil
	}
	st, err := real.Read(ctx)
	if err != nil {
		closer.Close()
		return nil, err
	}
	regs, err := st.registers()
	if err != nil {
		closer.Close()
		return nil, err
	}
	m, err := ds1077lsim.New(0, ds1077lsim.WithWriteTime(0), ds1077lsim.WithEEPROM(regs))
	if err != nil {
		closer.Close()
		return nil, err
	}
	s.rec = ds1077lsim.NewRecorder(m)
	s.dev = New(s.rec, c.addr, WithSleep(func(context.Context, time.Duration) error { return nil }), WithLogger(log))
	return s, nil
}

func (s *session) Close() error { return s.closer.Close() }

// registers encodes a state as raw register bytes.
func (s State) registers() (ds1077lsim.Registers, error) {
	var r ds1077lsim.Registers
	var err error
	if r.BUS, err = s.Bus.Byte(); err != nil {
		return r, err
	}
	if r.DIV, err = EncodeDiv(s.Divisor); err != nil {
		return r, err
	}
	if r.MUX, err = s.Mux.Bytes(); err != nil {
		return r, err
	}
	return r, nil
}

var cmdNames = map[byte]string{CmdDIV: "DIV", CmdMUX: "MUX", CmdBUS: "BUS", CmdWriteE2: "WRITE E2"}

// reportDryRun prints the writes a dry run recorded, byte for byte.
func (s *session) reportDryRun(w io.Writer) {
	if s.rec == nil {
		return
	}
	writes := s.rec.Writes()
	if len(writes) == 0 {
		fmt.Fprintf(w, "dry run: nothing would be written to %s\n", s.busDev)
		return
	}
	fmt.Fprintf(w, "dry run: nothing was written; these transactions would go to %s:\n", s.busDev)
	for _, t := range writes {
		fmt.Fprintf(w, "  %-8s %s\n", cmdNames[t.Write[0]], t.Wire())
	}
}

// fail prints err for prog and returns its exit status.
func (e *env) fail(prog string, err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(e.stderr, "%s: %v\nTry '%s --help' for more information.\n", prog, err, prog)
		return 2
	}
	fmt.Fprintf(e.stderr, "%s: %v\n", prog, err)
	if errors.Is(err, ErrNoDevice) {
		fmt.Fprintf(e.stderr, "%s: check --bus-dev, --address (hex), wiring, pull-ups and power\n", prog)
	}
	return 1
}

func boolWord(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// bit parses "0" or "1" (the originals' value flags).
func bit(dst *bool, set *bool) func(string) error {
	return func(s string) error {
		switch strings.TrimSpace(s) {
		case "0":
			*dst = false
		case "1":
			*dst = true
		default:
			return errors.New("must be 0 or 1")
		}
		*set = true
		return nil
	}
}

func prescalerFlag(dst *int, set *bool) func(string) error {
	return func(s string) error {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || (v != 1 && v != 2 && v != 4 && v != 8) {
			return errors.New("must be 1, 2, 4 or 8")
		}
		*dst, *set = v, true
		return nil
	}
}

func dividerFlag(dst *int, set *bool) func(string) error {
	return func(s string) error {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v < MinDivisor || v > MaxDivisor {
			return fmt.Errorf("must be %d..%d (decimal)", MinDivisor, MaxDivisor)
		}
		*dst, *set = v, true
		return nil
	}
}
