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
func parseArgs(fs *flag.FlagSet, shorts map[byte]string, args []string) ([]string, error) {
	isBool := map[string]bool{}
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		names = append(names, f.Name)
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			isBool[f.Name] = true
		}
	})
	names = append(names, "help", "usage")
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
			full, err := resolveLong(names, name)
			if err != nil {
				return nil, err
			}
			if full == "help" || full == "usage" {
				return nil, errHelp
			}
			switch {
			case isBool[full] && hasVal:
				err = set(full, val)
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

func resolveLong(names []string, name string) (string, error) {
	var matches []string
	for _, n := range names {
		if n == name {
			return n, nil
		}
		if name != "" && strings.HasPrefix(n, name) {
			matches = append(matches, n)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return "", usagef("unrecognized option '--%s'", name)
	}
	return "", usagef("option '--%s' is ambiguous; possibilities: --%s", name, strings.Join(matches, " --"))
}
