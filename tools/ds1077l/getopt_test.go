package ds1077l

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

func TestParseArgsGetoptRules(t *testing.T) {
	type got struct {
		get     bool
		p1, dev string
		div1    string
		ops     string
	}
	parse := func(args ...string) (got, error) {
		var g got
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.BoolVar(&g.get, "get", false, "")
		fs.StringVar(&g.p1, "p1", "", "")
		fs.StringVar(&g.dev, "bus-dev", "", "")
		fs.StringVar(&g.div1, "div1", "", "")
		fs.String("p0", "", "")
		ops, err := parseArgs(fs, map[byte]string{'g': "get", 'r': "p1", 'd': "bus-dev", 'w': "div1"}, args)
		g.ops = strings.Join(ops, ",")
		return g, err
	}
	for _, tc := range []struct {
		args []string
		want got
	}{
		{[]string{"--div=1"}, got{div1: "1"}},                // unique prefix
		{[]string{"--div", "1"}, got{div1: "1"}},             // prefix, separate value
		{[]string{"--p1=2", "--g"}, got{p1: "2", get: true}}, // exact beats prefix; --g
		{[]string{"-gr2"}, got{get: true, p1: "2"}},          // bundle with attached value
		{[]string{"-g", "-r", "4", "-d/dev/i2c-0"}, got{get: true, p1: "4", dev: "/dev/i2c-0"}},
		{[]string{"33MHz", "--get", "x"}, got{get: true, ops: "33MHz,x"}}, // operands anywhere
		{[]string{"--", "--get"}, got{ops: "--get"}},
		{[]string{"-"}, got{ops: "-"}},
	} {
		g, err := parse(tc.args...)
		if err != nil || g != tc.want {
			t.Errorf("%q: %+v, %v; want %+v", tc.args, g, err, tc.want)
		}
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--p=1"}, "ambiguous"},
		{[]string{"--nope"}, "unrecognized option '--nope'"},
		{[]string{"-x"}, "invalid option -- 'x'"},
		{[]string{"--p1"}, "requires an argument"},
		{[]string{"-r"}, "requires an argument"},
		{[]string{"--get=maybe"}, "doesn't allow an argument"},
	} {
		_, err := parse(tc.args...)
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: %v, want usage error with %q", tc.args, err, tc.msg)
		}
	}
	for _, a := range []string{"--help", "--usage", "--h", "-?", "-g?"} {
		if _, err := parse(a); !errors.Is(err, errHelp) {
			t.Errorf("%q: %v, want help", a, err)
		}
	}
}
