package config

import (
	"reflect"
	"strings"
	"testing"
)

// Values of typed keys reach local.conf, bblayers.conf, MACHINE and the
// generated recipe as data: BitBake expansions and inline Python are refused
// at their file:line:key, from a file or from the environment alike.
func TestDataValuesRefuseBitBakeCode(t *testing.T) {
	tests := []struct {
		name string
		toml string
		env  map[string]string
		want []string // exact errors, in order
	}{
		{"inline python in distro", "[build]\ndistro = \"${@os.system('id')}\"\n", nil,
			[]string{`cfg.toml:2: build.distro: "${@os.system('id')}" contains inline Python (${@...}), which BitBake would run: values of typed keys are data; put raw BitBake in [local_conf] extra`}},
		{"inline python in branch from the environment", "", map[string]string{"XTBUILD_BRANCH": "${@open('x').read()}"},
			[]string{`environment: XTBUILD_BRANCH (build.branch): "${@open('x').read()}" contains inline Python (${@...}), which BitBake would run: values of typed keys are data; put raw BitBake in [local_conf] extra`}},
		{"expansion in package_feed_url", "[build]\npackage_feed_url = \"http://feed/${DISTRO}\"\n", nil,
			[]string{`cfg.toml:2: build.package_feed_url: "http://feed/${DISTRO}" contains a BitBake expansion: values of typed keys are data (no ${...} expansion is allowed here); put raw BitBake in [local_conf] extra`}},
		{"inline python in hashserve", "[mirrors]\nhashserve = \"${@x}\"\n", nil,
			[]string{`cfg.toml:2: mirrors.hashserve: "${@x}" contains inline Python (${@...}), which BitBake would run: values of typed keys are data; put raw BitBake in [local_conf] extra`}},
		{"expansion in a list entry", "[mirrors]\nsources = [\"http://a/\", \"http://b/${TOPDIR}\"]\n", nil,
			[]string{`cfg.toml:2: mirrors.sources[1]: "http://b/${TOPDIR}" contains a BitBake expansion: values of typed keys are data (no ${...} expansion is allowed here); put raw BitBake in [local_conf] extra`}},
		{"machine of a step", "[steps.dom0]\nmachine = \"${@'x'}\"\n", nil,
			[]string{`cfg.toml:2: steps.dom0.machine: "${@'x'}" contains inline Python (${@...}), which BitBake would run: values of typed keys are data; put raw BitBake in [local_conf] extra`}},
		{"sublayer of a layer", "[[layer]]\nname = \"a\"\nurl = \"/a\"\nbranch = \"m\"\nsublayers = [\"${@'meta'}\"]\n", nil,
			[]string{`cfg.toml:5: layer[0].sublayers[0]: "${@'meta'}" contains inline Python (${@...}), which BitBake would run: values of typed keys are data; put raw BitBake in [local_conf] extra`}},
		{"recipe version", "[recipes]\nversion = \"1.0${@''}\"\n", nil,
			[]string{`cfg.toml:2: recipes.version: "1.0${@''}" contains inline Python (${@...}), which BitBake would run: values of typed keys are data; put raw BitBake in [local_conf] extra`}},
		{"board distro", "[boards.apu1d]\ndistro = \"${DISTRO}x\"\n", nil,
			[]string{`cfg.toml:2: boards.apu1d.distro: "${DISTRO}x" contains a BitBake expansion: values of typed keys are data (no ${...} expansion is allowed here); put raw BitBake in [local_conf] extra`}},
		{"local_conf extra may carry raw BitBake", "[local_conf]\nextra = ['X = \"${@d.getVar(\"DISTRO\")}\"']\n", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("cfg.toml", []byte(tc.toml), "/srv", func(k string) string { return tc.env[k] })
			checkErrors(t, err, tc.want)
		})
	}
}

func checkErrors(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("accepted; want %q", want)
	}
	es, ok := err.(Errors)
	if !ok {
		t.Fatalf("error %T %v", err, err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Error())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Numeric keys are bounded, so a typo cannot ask for a million threads or a
// certificate valid past year 9999 (which left a CA key without its
// certificate).
func TestNumericRanges(t *testing.T) {
	tests := []struct {
		name string
		toml string
		env  map[string]string
		want []string
	}{
		{"threads", "[build]\nthreads = 100000\n", nil, []string{`cfg.toml:2: build.threads: 100000 is out of range: want 0..4096`}},
		{"negative parallel_make", "[build]\nparallel_make = -1\n", nil, []string{`cfg.toml:2: build.parallel_make: -1 is out of range: want 0..4096`}},
		{"threads from the environment", "", map[string]string{"XTBUILD_THREADS": "-3"}, []string{`environment: XTBUILD_THREADS (build.threads): -3 is out of range: want 0..4096`}},
		{"valid_days too large", "[signing]\nvalid_days = 3000000\n", nil, []string{`cfg.toml:2: signing.valid_days: 3000000 is out of range: want 1..36500`}},
		{"valid_days zero", "[signing]\nvalid_days = 0\n", nil, []string{`cfg.toml:2: signing.valid_days: 0 is out of range: want 1..36500`}},
		{"tools_build", "[version]\ntools_build = 70000\n", nil, []string{`cfg.toml:2: version.tools_build: 70000 is out of range: want -1..65535`}},
		{"web port", "[buildbot]\nweb_port = 70000\n", nil, []string{`cfg.toml:2: buildbot.web_port: 70000 is out of range: want 1..65535`}},
		{"server_timeout", "[build]\nserver_timeout = 100000\n", nil, []string{`cfg.toml:2: build.server_timeout: 100000 is out of range: want 0..86400`}},
		{"in range", "[build]\nthreads = 64\n[signing]\nvalid_days = 3650\n", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("cfg.toml", []byte(tc.toml), "/srv", func(k string) string { return tc.env[k] })
			checkErrors(t, err, tc.want)
		})
	}
}

func TestJobsOptionBounded(t *testing.T) {
	for _, v := range []string{"0", "100000", "x"} {
		if _, err := LoadOptions(func(k string) string {
			if k == "XTBUILD_JOBS" {
				return v
			}
			return ""
		}); err == nil {
			t.Errorf("XTBUILD_JOBS=%s accepted", v)
		}
	}
	o, err := LoadOptions(func(k string) string {
		if k == "XTBUILD_JOBS" {
			return "16"
		}
		return ""
	})
	if err != nil || o.Jobs != 16 {
		t.Errorf("XTBUILD_JOBS=16: %v %d", err, o.Jobs)
	}
}

// Every integer key is bounded and every string the generated conf or recipe
// writes is marked as data: a new key must say which it is.
func TestEveryIntKeyHasARange(t *testing.T) {
	var check func(t reflect.Type, path string)
	check = func(rt reflect.Type, path string) {
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i)
			ft := f.Type
			for ft.Kind() == reflect.Slice || ft.Kind() == reflect.Map {
				ft = ft.Elem()
			}
			switch {
			case ft.Kind() == reflect.Int && f.Tag.Get(tagRange) == "":
				t.Errorf("%s.%s: integer key without a range tag", path, tomlName(f))
			case ft.Kind() == reflect.Struct && tomlName(f) != "-":
				check(ft, path+"."+tomlName(f))
			}
		}
	}
	check(reflect.TypeOf(Config{}), "config")
}
