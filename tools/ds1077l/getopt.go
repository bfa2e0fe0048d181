package ds1077l

import (
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"
)

// errHelp is returned by parseArgs when --help, --usage or -? was given.
var errHelp = errors.New("help requested")

// usageError marks a command-line mistake (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// parseArgs reads args the way GNU getopt_long (and so argp, which the
// original tools used) does, then sets the flags on fs: "--name=value" and
// "--name value"; any unambiguous prefix of a long name (this is why the
// seed's "--div=1" means --div1 for ds1077l-mux); short options from shorts,
// bundled ("-gv") and with attached values ("-n5"); operands anywhere, and
// "--" ending options. Go's flag package alone does none of the prefix,
// bundling or permuting, so it only holds the definitions here.
//
// legacy, when not nil, lists the long options the original program had
// (its argp tables plus argp's own, see argpOwn). Abbreviations resolve
// among those first, exactly as the original did, so options xt added
// (--force, --dry-run) never make an old prefix ambiguous: "--d=100" is
// still --divider for ds1077l-div. New options are reached by their full
// name or by a prefix that matches no original option.
func parseArgs(fs *flag.FlagSet, shorts map[byte]string, args []string, legacy ...string) ([]string, error) {
	isBool := map[string]bool{}
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		names = append(names, f.Name)
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			isBool[f.Name] = true
		}
	})
	names = append(names, argpOwn...)
	isBool["help"], isBool["usage"] = true, true
	sort.Strings(names)

	set := func(name, val string) error {
		if err := fs.Set(name, val); err != nil {
			return usagef("invalid value %q for --%s: %v", val, name, err)
		}
		return nil
	}
	var operands []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(operands, args[i+1:]...), nil
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			full, err := resolveLong(names, legacy, name)
			if err != nil {
				return nil, err
			}
			if isBool[full] && hasVal {
				// getopt_long: a no_argument option given "=value".
				return nil, usagef("option '--%s' doesn't allow an argument", full)
			}
			switch full {
			case "help", "usage":
				return nil, errHelp
			case "program-name":
				// argp's hidden option (sets the name in messages); takes a value.
				if !hasVal {
					if i+1 >= len(args) {
						return nil, usagef("option '--%s' requires an argument", full)
					}
					i++
				}
				continue
			case "HANG":
				continue // argp's hidden debugging option, optional value: ignored
			}
			switch {
			case isBool[full]:
				err = set(full, "true")
			case hasVal:
				err = set(full, val)
			case i+1 < len(args):
				i++
				err = set(full, args[i])
			default:
				err = usagef("option '--%s' requires an argument", full)
			}
			if err != nil {
				return nil, err
			}
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				c := a[j]
				if c == '?' {
					return nil, errHelp
				}
				full, ok := shorts[c]
				if !ok {
					return nil, usagef("invalid option -- '%c'", c)
				}
				if isBool[full] {
					if err := set(full, "true"); err != nil {
						return nil, err
					}
					continue
				}
				var val string
				switch {
				case j+1 < len(a):
					val = a[j+1:]
				case i+1 < len(args):
					i++
					val = args[i]
				default:
					return nil, usagef("option requires an argument -- '%c'", c)
				}
				if err := set(full, val); err != nil {
					return nil, err
				}
				break
			}
		default:
			operands = append(operands, a)
		}
	}
	return operands, nil
}

// argpOwn are the long options argp adds to every program: --help and
// --usage, and the hidden --program-name=NAME and --HANG[=SECS]. (argp adds
// --version only when the program sets argp_program_version, which
// ds1077l-ctrl does not.) They take part in prefix matching: "--pr" is
// --program-name and "--p" is ambiguous on ds1077l-mux.
var argpOwn = []string{"help", "usage", "program-name", "HANG"}

// resolveLong finds the option a long name means, as getopt_long does: an
// exact match wins, else a prefix must match exactly one option. With
// legacy set, prefixes resolve among the original options first.
func resolveLong(names, legacy []string, name string) (string, error) {
	for _, n := range names {
		if n == name {
			return n, nil
		}
	}
	prefixed := func(set []string, keep func(string) bool) []string {
		var m []string
		for _, n := range set {
			if name != "" && strings.HasPrefix(n, name) && keep(n) {
				m = append(m, n)
			}
		}
		return m
	}
	var matches []string
	if legacy != nil {
		old := map[string]bool{}
		for _, n := range append(append([]string{}, legacy...), argpOwn...) {
			old[n] = true
		}
		matches = prefixed(names, func(n string) bool { return old[n] })
		if len(matches) == 0 {
			matches = prefixed(names, func(n string) bool { return !old[n] })
		}
	} else {
		matches = prefixed(names, func(string) bool { return true })
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return "", usagef("unrecognized option '--%s'", name)
	}
	return "", usagef("option '--%s' is ambiguous; possibilities: --%s", name, strings.Join(matches, " --"))
}
