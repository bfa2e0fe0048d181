package serial

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

const usageText = `usage: xt serial find [--sysfs DIR | --lspci FILE|-] [--baud N] [--format 8n1] [--pci] [--json]

Lists serial ports with their PCI address and I/O port base, and the tboot
options that send tboot's log to each one.

  --sysfs DIR    sysfs mount to read (default /sys)
  --lspci FILE   read lspci -v/-vv/-vvv output instead ('-' for stdin)
  --baud N       line speed, 1200..115200 (tboot ignores others; default 115200)
  --format DPS   data bits, parity, stop field as tboot reads it (default 8n1)
  --pci          add IRQ and PCI address to serial=, so tboot enables the
                 card's I/O decoding itself
  --json         print JSON

exit codes: 0 at least one port tboot can use, 1 none found or failure,
2 usage error (including a baud or format tboot would ignore)
`

// Main is the `xt serial` applet.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usageText)
		return 0
	case "find":
		return mainFind(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "xt serial: unknown command %q\n", args[0])
	fmt.Fprint(stderr, usageText)
	return 2
}

func mainFind(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("xt serial find", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	sysfs := fs.String("sysfs", "/sys", "")
	lspci := fs.String("lspci", "", "")
	o := DefaultOptions
	fs.IntVar(&o.Baud, "baud", o.Baud, "")
	fs.StringVar(&o.Format, "format", o.Format, "")
	fs.BoolVar(&o.WithPCI, "pci", false, "")
	asJSON := fs.Bool("json", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usageText)
			return 0
		}
		fmt.Fprintf(stderr, "xt serial find: %v\n%s", err, usageText)
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprint(stderr, usageText)
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["sysfs"] && set["lspci"] {
		fmt.Fprintln(stderr, "xt serial find: --sysfs and --lspci are two different sources; give one")
		return 2
	}
	if err := o.Validate(); err != nil {
		fmt.Fprintf(stderr, "xt serial find: %v\n", err)
		return 2
	}
	var ports []Port
	var err error
	switch {
	case *lspci == "-":
		ports, err = FromLspci(os.Stdin)
	case *lspci != "":
		var f *os.File
		if f, err = os.Open(*lspci); err == nil {
			ports, err = FromLspci(f)
			f.Close()
		}
	default:
		ports, err = FromSysfs(*sysfs)
	}
	if err != nil {
		fmt.Fprintf(stderr, "xt serial find: %v\n", err)
		return 1
	}
	rows := make([]row, len(ports))
	usable := 0
	for i, p := range ports {
		rows[i].Port = p
		opts, err := TbootOptions(p, o)
		if err != nil {
			rows[i].Problem = err.Error()
			continue
		}
		rows[i].Tboot = opts
		usable++
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			fmt.Fprintf(stderr, "xt serial find: %v\n", err)
			return 1
		}
	} else if err := writeTable(stdout, rows); err != nil {
		fmt.Fprintf(stderr, "xt serial find: %v\n", err)
		return 1
	}
	if usable == 0 {
		fmt.Fprintln(stderr, "xt serial find: no serial port tboot can use")
		return 1
	}
	return 0
}

// row is one port with its tboot options, or why there are none.
type row struct {
	Port
	Tboot   string `json:"tboot,omitempty"`
	Problem string `json:"problem,omitempty"`
}

func writeTable(w io.Writer, rows []row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PORT\tPCI\tI/O BASE\tIRQ\tTBOOT OPTIONS")
	for _, r := range rows {
		io, irq := "-", "-"
		if r.IOBase != 0 {
			io = fmt.Sprintf("0x%x", r.IOBase)
		} else if r.MMIOBase != 0 {
			io = fmt.Sprintf("mmio 0x%x", r.MMIOBase)
		}
		if r.IRQ > 0 {
			irq = fmt.Sprint(r.IRQ)
		}
		opts := r.Tboot
		if opts == "" {
			opts = "- (" + r.Problem + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", dash(r.TTY), dash(r.PCI), io, irq, opts)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rows {
		var about []string
		if r.Desc != "" {
			about = append(about, r.Desc)
		}
		if r.Note != "" {
			about = append(about, r.Note)
		}
		if len(about) > 0 {
			fmt.Fprintf(w, "%s: %s\n", r.label(), strings.Join(about, "; "))
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
