package txt

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

const usageText = `usage: xt txt COMMAND [ARGS]

commands:
  decode [--acm NAME] [--json] CODE...   split TXT.ERRORCODE values into their fields
  diagnose [--json] LOGFILE|-            explain a tboot serial log: ACM match, errors, next step
  status [--dump FILE] [--save FILE] [--json] [--devmem PATH]
                                         show the TXT public config space (like txt-stat)

exit codes: 0 ok, 1 failure, 2 usage error
`

// Main is the `xt txt` applet.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usageText)
		return 0
	case "decode":
		return mainDecode(args[1:], stdout, stderr)
	case "diagnose":
		return mainDiagnose(args[1:], stdout, stderr)
	case "status":
		return mainStatus(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "xt txt: unknown command %q\n", args[0])
	fmt.Fprint(stderr, usageText)
	return 2
}

func newFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("xt txt "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: xt txt %s %s\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parse handles -h (exit 0) and bad flags (exit 2); ok=false means return code.
func parse(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	return 0, true
}

func mainDecode(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("decode", "[--acm NAME] [--json] CODE...", stderr)
	asJSON := fs.Bool("json", false, "print JSON, one key per field")
	acm := fs.String("acm", "", "ACM-specific table for class/major/minor meanings: "+strings.Join(ACMTableNames(), ", "))
	if code, ok := parse(fs, interleave(args)); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	var out []Decoded
	for _, a := range fs.Args() {
		v, err := ParseCode(a)
		if err != nil {
			fmt.Fprintf(stderr, "xt txt decode: %v\n", err)
			return 2
		}
		d, err := Decode(v, *acm)
		if err != nil {
			fmt.Fprintf(stderr, "xt txt decode: %v\n", err)
			return 2
		}
		out = append(out, d)
	}
	if *asJSON {
		var v any = out
		if len(out) == 1 {
			v = out[0]
		}
		return writeJSON(v, stdout, stderr)
	}
	for i, d := range out {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if err := d.WriteText(stdout); err != nil {
			fmt.Fprintf(stderr, "xt txt decode: %v\n", err)
			return 1
		}
	}
	return 0
}

func mainDiagnose(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("diagnose", "[--json] LOGFILE|-", stderr)
	asJSON := fs.Bool("json", false, "print the diagnosis as JSON")
	if code, ok := parse(fs, interleave(args)); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	var r io.Reader
	name := fs.Arg(0)
	if name == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "xt txt diagnose: %v\n", err)
			return 1
		}
		defer f.Close()
		r = f
	}
	d, err := DiagnoseLog(r)
	if err != nil {
		fmt.Fprintf(stderr, "xt txt diagnose: %v\n", err)
		return 1
	}
	if *asJSON {
		return writeJSON(d, stdout, stderr)
	}
	if err := d.WriteText(stdout); err != nil {
		fmt.Fprintf(stderr, "xt txt diagnose: %v\n", err)
		return 1
	}
	return 0
}

func mainStatus(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("status", "[--dump FILE] [--save FILE] [--json] [--devmem PATH]", stderr)
	dump := fs.String("dump", "", "read a saved copy of the config space instead of "+"/dev/mem")
	save := fs.String("save", "", "also write the raw config space read to FILE (to diagnose elsewhere)")
	devmem := fs.String("devmem", "/dev/mem", "memory device to read 0xFED30000 from (needs root)")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := parse(fs, interleave(args)); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	var raw []byte
	var err error
	if *dump != "" {
		raw, err = os.ReadFile(*dump)
		if err != nil {
			err = fmt.Errorf("read dump: %w", err)
		}
	} else {
		raw, err = ReadDevMem(*devmem)
	}
	if err == nil && *dump != "" {
		if err = CheckDump(raw); err != nil {
			err = fmt.Errorf("%s: %w", *dump, err)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "xt txt status: %v\n", err)
		return 1
	}
	st, err := ParseStatus(raw)
	if err != nil {
		fmt.Fprintf(stderr, "xt txt status: %v\n", err)
		return 1
	}
	if *save != "" {
		if err := writeFileAtomic(*save, raw, 0o644); err != nil {
			fmt.Fprintf(stderr, "xt txt status: %v\n", err)
			return 1
		}
	}
	if *asJSON {
		return writeJSON(st, stdout, stderr)
	}
	if err := st.WriteText(stdout); err != nil {
		fmt.Fprintf(stderr, "xt txt status: %v\n", err)
		return 1
	}
	return 0
}

// interleave lets flags follow positional arguments (`decode 0x.. --json`),
// which the flag package alone does not allow.
func interleave(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			flags = append(flags, a)
			// Flags taking a value in the next argument.
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && valueFlags[name] && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(append(flags, "--"), pos...)
}

var valueFlags = map[string]bool{"acm": true, "dump": true, "save": true, "devmem": true}

func writeJSON(v any, stdout, stderr io.Writer) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "xt txt: write JSON: %v\n", err)
		return 1
	}
	return 0
}

// writeFileAtomic writes data to a temp file beside path, syncs it and
// renames it into place, so a reader never sees half a dump.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	name := tmp.Name()
	defer os.Remove(name) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
