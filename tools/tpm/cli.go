package tpm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/xtbuild/xtbuild/tools/tpm/device"
)

// Exit codes. nvlock check gives ExitUnlocked its own meaning, so usage
// mistakes of that one command exit ExitFailure instead of ExitUsage.
const (
	ExitOK       = 0
	ExitFailure  = 1
	ExitUsage    = 2
	ExitUnlocked = 2 // nvlock check: TPM 1.2 NV is unlocked
)

const usageText = `usage: xt tpm [flags] COMMAND [flags]

Commands:
  version        chip version, spec level, errata, vendor (TPM 1.2, like tpm_version)
                 or family, revision, manufacturer, firmware (TPM 2.0)
  nvinfo         every defined NV index with its permissions and size (like tpm_nvinfo)
  nvlock check   is TPM 1.2 NV locked (permanent flag nvLocked)?
                 exit 0 locked (or TPM 2.0, which has no NV lock), 2 unlocked, 1 error
  nvlock fix     lock TPM 1.2 NV by defining TPM_NV_INDEX_LOCK (0xffffffff, size 0),
                 then read nvLocked back; asks first unless --yes; refuses when locked

The TPM family (1.2 or 2.0) is detected from the device's answers.

Flags (before or after COMMAND):
  --device D     /dev/tpm0 (default), /dev/tpmrm0 (TPM 2.0), or unix:/path/to/swtpm.sock
  --json         machine-readable output on stdout (errors too: {"error":..., "kind":...})
  --timeout T    per-command timeout (default 2m)
  --debug        log every command/response header to stderr
  --yes          nvlock fix: do not ask (give it after "nvlock fix")

Exit codes: 0 ok, 1 failure, 2 usage error; for nvlock check 2 means "unlocked"
and a usage error there exits 1.
`

// options are the flags every subcommand takes.
type options struct {
	device  string
	json    bool
	timeout time.Duration
	debug   bool
	yes     bool
}

// register adds the flags to fs with the current values as defaults, so a
// subcommand's flag set keeps what the top-level one parsed.
func (o *options) register(fs *flag.FlagSet, withYes bool) {
	fs.StringVar(&o.device, "device", o.device, "TPM: /dev/tpm0, /dev/tpmrm0 or unix:/path/to/sock")
	fs.BoolVar(&o.json, "json", o.json, "JSON output")
	fs.DurationVar(&o.timeout, "timeout", o.timeout, "per-command timeout")
	fs.BoolVar(&o.debug, "debug", o.debug, "log TPM traffic to stderr")
	if withYes {
		fs.BoolVar(&o.yes, "yes", o.yes, "do not ask for confirmation")
	}
}

// cli carries one invocation's streams and options.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	opt            options
}

// Main is `xt tpm`: see usageText.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return Run(ctx, args, os.Stdin, stdout, stderr)
}

// Run is Main with an explicit stdin (for nvlock fix's question).
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr,
		opt: options{device: device.DefaultPath, timeout: device.DefaultTimeout}}
	top := c.flagSet("tpm", false)
	if err := top.Parse(args); err != nil {
		return c.usageExit(err, ExitUsage)
	}
	rest := top.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, usageText)
		return ExitUsage
	}
	switch rest[0] {
	case "version":
		return c.sub(ctx, "version", rest[1:], false, ExitUsage, c.version)
	case "nvinfo":
		return c.sub(ctx, "nvinfo", rest[1:], false, ExitUsage, c.nvinfo)
	case "nvlock":
		if len(rest) < 2 {
			fmt.Fprintln(stderr, "xt tpm nvlock: want check or fix")
			return ExitUsage
		}
		switch rest[1] {
		case "check":
			return c.sub(ctx, "nvlock check", rest[2:], false, ExitFailure, c.nvlockCheck)
		case "fix":
			return c.sub(ctx, "nvlock fix", rest[2:], true, ExitUsage, c.nvlockFix)
		}
		fmt.Fprintf(stderr, "xt tpm nvlock: unknown subcommand %q (want check or fix)\n", rest[1])
		return ExitUsage
	case "help":
		fmt.Fprint(stdout, usageText)
		return ExitOK
	}
	fmt.Fprintf(stderr, "xt tpm: unknown command %q\n", rest[0])
	fmt.Fprint(stderr, usageText)
	return ExitUsage
}

func (c *cli) flagSet(name string, withYes bool) *flag.FlagSet {
	fs := flag.NewFlagSet("xt "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.opt.register(fs, withYes)
	return fs
}

func (c *cli) usageExit(err error, code int) int {
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(c.stdout, usageText)
		return ExitOK
	}
	fmt.Fprintf(c.stderr, "xt tpm: %v\n%s", err, usageText)
	return code
}

// sub parses a subcommand's flags, opens the TPM and runs fn.
func (c *cli) sub(ctx context.Context, name string, args []string, withYes bool, usageCode int,
	fn func(context.Context, *session) int) int {
	fs := c.flagSet(name, withYes)
	if err := fs.Parse(args); err != nil {
		return c.usageExit(err, usageCode)
	}
	if fs.NArg() > 0 {
		return c.usageExit(fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0)), usageCode)
	}
	return c.withSession(ctx, fn)
}

// session is an open, identified TPM.
type session struct {
	dev    *device.Device
	family Family
}

func (c *cli) withSession(ctx context.Context, fn func(context.Context, *session) int) int {
	level := slog.LevelWarn
	if c.opt.debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level}))
	dev, err := device.Open(ctx, c.opt.device, device.Options{Timeout: c.opt.timeout, Logger: log})
	if err != nil {
		return c.fail(err)
	}
	defer dev.Close()
	fam, err := Detect(ctx, dev)
	if err != nil {
		return c.fail(err)
	}
	log.Debug("tpm detected", "device", dev.Name(), "family", fam)
	return fn(ctx, &session{dev: dev, family: fam})
}

// errorReport is the --json form of a failure.
type errorReport struct {
	Device string `json:"device"`
	Error  string `json:"error"`
	Kind   string `json:"kind"`
	Advice string `json:"advice,omitempty"`
}

// fail reports err (with advice) and returns ExitFailure.
func (c *cli) fail(err error) int {
	adv := Advice(err, c.opt.device)
	fmt.Fprintf(c.stderr, "xt tpm: %v\n", err)
	if adv != "" {
		fmt.Fprintf(c.stderr, "  %s\n", adv)
	}
	if c.opt.json {
		c.writeJSON(errorReport{Device: c.opt.device, Error: err.Error(), Kind: Kind(err), Advice: adv})
	}
	return ExitFailure
}

func (c *cli) writeJSON(v any) int {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(c.stderr, "xt tpm: write output: %v\n", err)
		return ExitFailure
	}
	return ExitOK
}

func (c *cli) text(err error) int {
	if err != nil {
		fmt.Fprintf(c.stderr, "xt tpm: write output: %v\n", err)
		return ExitFailure
	}
	return ExitOK
}

// versionReport is `version --json`.
type versionReport struct {
	Device string     `json:"device"`
	Family Family     `json:"family"`
	TPM12  *Version12 `json:"tpm12,omitempty"`
	TPM20  *Version20 `json:"tpm20,omitempty"`
}

func (c *cli) version(ctx context.Context, s *session) int {
	rep := versionReport{Device: s.dev.Name(), Family: s.family}
	var err error
	if s.family == Family12 {
		rep.TPM12, err = NewTPM12(s.dev).Version(ctx)
	} else {
		rep.TPM20, err = NewTPM20(s.dev).Version(ctx)
	}
	if err != nil {
		return c.fail(err)
	}
	if rep.TPM12 != nil {
		c.noteState(c.stderr, &rep.TPM12.State12)
	}
	if c.opt.json {
		return c.writeJSON(rep)
	}
	if rep.TPM12 != nil {
		return c.text(WriteVersion12(c.stdout, rep.TPM12))
	}
	return c.text(WriteVersion20(c.stdout, rep.TPM20))
}

// nvinfoReport is `nvinfo --json`.
type nvinfoReport struct {
	Device   string `json:"device"`
	Family   Family `json:"family"`
	NVLocked *bool  `json:"nv_locked,omitempty"` // TPM 1.2 only
	Indices  any    `json:"indices"`             // []NVIndex12 or []NVIndex20, never null
}

func (c *cli) nvinfo(ctx context.Context, s *session) int {
	rep := nvinfoReport{Device: s.dev.Name(), Family: s.family}
	if s.family == Family12 {
		t := NewTPM12(s.dev)
		list, err := t.NVInfo(ctx)
		if err != nil {
			return c.fail(err)
		}
		st, err := t.State(ctx)
		if err != nil {
			return c.fail(err)
		}
		rep.Indices, rep.NVLocked = list, &st.NVLocked
		if c.opt.json {
			return c.writeJSON(rep)
		}
		return c.text(WriteNVInfo12(c.stdout, list, st.NVLocked))
	}
	list, err := NewTPM20(s.dev).NVInfo(ctx)
	if err != nil {
		return c.fail(err)
	}
	rep.Indices = list
	if c.opt.json {
		return c.writeJSON(rep)
	}
	return c.text(WriteNVInfo20(c.stdout, list))
}

// Status values of nvlock reports.
const (
	StatusLocked        = "locked"
	StatusUnlocked      = "unlocked"
	StatusNotApplicable = "not-applicable"
)

// nvlockReport is `nvlock check|fix --json`.
type nvlockReport struct {
	Device    string   `json:"device"`
	Family    Family   `json:"family"`
	Status    string   `json:"status"`
	NVLocked  bool     `json:"nv_locked"`
	State     *State12 `json:"state,omitempty"`
	Changed   bool     `json:"changed"` // fix: this run defined TPM_NV_INDEX_LOCK
	Message   string   `json:"message"`
	WasLocked *bool    `json:"was_locked,omitempty"` // fix only
}

const notApplicable20 = "TPM 2.0 has no NV lock (no TPM_NV_INDEX_LOCK, no nvLocked flag): " +
	"every NV index is guarded by its own attributes, so there is nothing to lock."

const unlockedWhy = "While NV is unlocked the TPM enforces no authorisation on NV: anyone can define and write\n" +
	"NV indices (and wear the NVRAM out), and TXT SINIT refuses to launch (TXT.ERRORCODE\n" +
	"major error 0x4 \"TPM NV is unlocked\", e.g. 0xc0021041; tboot logs \"TPM nv_locked: FALSE\")."

func (c *cli) nvlockCheck(ctx context.Context, s *session) int {
	rep := nvlockReport{Device: s.dev.Name(), Family: s.family}
	if s.family != Family12 {
		rep.Status, rep.Message = StatusNotApplicable, notApplicable20
		if c.opt.json {
			return c.writeJSON(rep)
		}
		fmt.Fprintf(c.stdout, "%s\n", notApplicable20)
		return ExitOK
	}
	st, err := NewTPM12(s.dev).State(ctx)
	if err != nil {
		return c.fail(err)
	}
	rep.State, rep.NVLocked = st, st.NVLocked
	c.noteState(c.stderr, st)
	code := ExitOK
	if st.NVLocked {
		rep.Status = StatusLocked
		rep.Message = "TPM 1.2 NV is locked (nvLocked TRUE): TPM_NV_INDEX_LOCK is defined."
	} else {
		code = ExitUnlocked
		rep.Status = StatusUnlocked
		rep.Message = "TPM 1.2 NV is UNLOCKED (nvLocked FALSE): TPM_NV_INDEX_LOCK (0xffffffff) is not defined."
	}
	if c.opt.json {
		if c.writeJSON(rep) != ExitOK {
			return ExitFailure
		}
		return code
	}
	fmt.Fprintln(c.stdout, rep.Message)
	if !st.NVLocked {
		fix := "xt tpm nvlock fix"
		if s.dev.Name() != device.DefaultPath {
			fix += " --device " + s.dev.Name()
		}
		fmt.Fprintf(c.stdout, "%s\nFix: %s\n", unlockedWhy, fix)
	}
	return code
}

func (c *cli) nvlockFix(ctx context.Context, s *session) int {
	rep := nvlockReport{Device: s.dev.Name(), Family: s.family}
	if s.family != Family12 {
		return c.fail(fmt.Errorf("nvlock fix on %s: %w: %s", s.dev.Name(), ErrNotApplicable, notApplicable20))
	}
	t := NewTPM12(s.dev)
	st, err := t.State(ctx)
	if err != nil {
		return c.fail(err)
	}
	if st.NVLocked {
		return c.fail(fmt.Errorf("nvlock fix on %s: refusing: %w (nvLocked TRUE)", s.dev.Name(), ErrNVLocked))
	}
	// Human-facing text goes to stderr in --json mode so stdout stays JSON.
	talk := c.stdout
	if c.opt.json {
		talk = c.stderr
	}
	fmt.Fprintf(talk, "TPM 1.2 NV on %s is UNLOCKED (nvLocked FALSE).\n%s\n\n", s.dev.Name(), unlockedWhy)
	fmt.Fprint(talk, "This sends TPM_NV_DefineSpace for TPM_NV_INDEX_LOCK (index 0xffffffff, size 0), which sets\n"+
		"the permanent flag nvLocked. It is meant to be permanent: no TPM 1.2 command clears it.\n"+
		"Afterwards defining or writing NV needs owner authorisation or physical presence;\n"+
		"existing indices are not changed.\n")
	c.noteState(talk, st)
	if !c.opt.yes {
		fmt.Fprint(talk, "Lock TPM NV now? Type \"yes\" to continue: ")
		ok, err := c.confirm(ctx)
		if err != nil {
			return c.fail(fmt.Errorf("nvlock fix: read answer: %w", err))
		}
		if !c.stdinIsTerminal() {
			// A terminal echoes the user's newline; piped answers do not.
			fmt.Fprintln(talk)
		}
		if !ok {
			return c.fail(fmt.Errorf("nvlock fix: %w: nothing was sent to the TPM", ErrDeclined))
		}
	}
	res, err := t.LockNV(ctx)
	if err != nil {
		return c.fail(err)
	}
	was := res.WasLocked
	rep.Status, rep.NVLocked, rep.Changed, rep.WasLocked = StatusLocked, res.NVLocked, true, &was
	if after, err := t.State(ctx); err == nil {
		rep.State = after
	}
	rep.Message = "Defined TPM_NV_INDEX_LOCK (0xffffffff); nvLocked now reads TRUE: TPM NV is locked."
	if c.opt.json {
		return c.writeJSON(rep)
	}
	fmt.Fprintln(c.stdout, rep.Message)
	return ExitOK
}

// noteState warns about a disabled or deactivated TPM 1.2, which the
// kernel reports as "TPM is disabled/deactivated (0x7)": reading and NV
// locking still work, but TXT and most commands do not.
func (c *cli) noteState(w io.Writer, st *State12) {
	var err error
	switch {
	case !st.Enabled:
		err = ErrDisabled
	case !st.Activated:
		err = ErrDeactivated
	default:
		return
	}
	fmt.Fprintf(w, "Note: %v: commands such as TPM_PCRRead fail with %s and TXT cannot use it.\n  %s\n",
		err, map[bool]string{true: "TPM_DISABLED (0x7)", false: "TPM_DEACTIVATED (0x6)"}[err == ErrDisabled],
		Advice(err, c.opt.device))
}

func (c *cli) stdinIsTerminal() bool {
	f, ok := c.stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// confirm reads one line and reports whether it is "yes". The read runs
// aside so that an interrupt (ctx) is not stuck behind a blocking stdin.
func (c *cli) confirm(ctx context.Context) (bool, error) {
	type answer struct {
		line string
		err  error
	}
	ch := make(chan answer, 1)
	go func() {
		line, err := bufio.NewReader(c.stdin).ReadString('\n')
		ch <- answer{line, err}
	}()
	select {
	case <-ctx.Done():
		return false, context.Cause(ctx)
	case a := <-ch:
		if a.err != nil && !errors.Is(a.err, io.EOF) {
			return false, a.err
		}
		return strings.EqualFold(strings.TrimSpace(a.line), "yes"), nil
	}
}
