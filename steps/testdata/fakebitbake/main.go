// Command fakebitbake is a stand-in for BitBake used by xtbuild's tests,
// where a real Yocto build cannot run. It plays the BitBake checkout whose
// bin/bitbake ran it (version from lib/bb/__init__.py; 2.8 if unknown) and
// derives everything else from the build dir and layers it is given. It is
// strict where BitBake would silently do the wrong thing.
//
// What it models, as BitBake does it:
//   - configuration parsing: conf/bblayers.conf, each BBLAYERS entry's
//     conf/layer.conf (with LAYERDIR), then what oe-core's bitbake.conf
//     includes: conf/site.conf, conf/auto.conf, conf/local.conf and
//     conf/machine/${MACHINE}.conf, conf/distro/${DISTRO}.conf along BBPATH,
//     and every include/require in them. Each file is checked with
//     xtbuild's bbsyntax (BitBake's ConfHandler grammar); a syntax error
//     stops the run with BitBake's ParseError text (2.x: "Unable to parse"
//     and the ConfHandler traceback frame, as recorded from 2.8; 1.x: the
//     ParseError line alone), a missing require likewise;
//   - the datastore for plain variables: = ?= ??= := += =+ .= =., override
//     operations (VAR:append/:prepend/:remove from 1.52, VAR_append before)
//     and ${VAR} expansion; from 1.52 an old-syntax operation is the fatal
//     "contains an operation using the old override syntax" error;
//   - the layer checks of cookerdata.py: missing layer dirs, missing
//     layer.conf, duplicated BBFILE_COLLECTIONS, and LAYERSERIES_COMPAT_<c>
//     against the core layer's LAYERSERIES_CORENAMES ("Layer X is not
//     compatible with the core layer which only supports these series"),
//     each release's way (2.x reads each layer's values right after its
//     layer.conf; 1.x after all layers);
//   - the environment filter: a variable from the environment reaches the
//     datastore only when approved: BB_ENV_EXTRAWHITE / BB_ENV_WHITELIST
//     before 2.0, BB_ENV_PASSTHROUGH_ADDITIONS / BB_ENV_PASSTHROUGH from
//     2.0, where the old names are the fatal "has been renamed" error;
//     MACHINE given in the environment but filtered out is an error here
//     (BitBake would quietly build for the conf's MACHINE instead);
//   - a UTF-8 locale is required; BUILDDIR must be the build dir;
//   - a target is provided when a layer has recipes/**/<target>.bb
//     ("Nothing PROVIDES" otherwise); image recipes (IMAGE_FSTYPES set)
//     write <image>-<MACHINE>.<fstype> symlinks to timestamped files into
//     ${TMPDIR}/deploy/images/<MACHINE>/, plus a licences CSV;
//     XTBUILD_FAKE_DEPLOY in a recipe names extra deploy files,
//     XTBUILD_FAKE_READS deploy files the image reads (reads.go). Their bytes
//     are derived from the real inputs: the BitBake version, every layer's
//     checked-out commit, the resolved configuration (build dir written as
//     ${TOPDIR}, other absolute paths as <path>), MACHINE, the target and
//     its recipe text. The same inputs give the same bytes, a changed one
//     different bytes;
//   - progress lines, failure lines and the summary are printed in the
//     format recorded in /work/shared/fixtures/bitbake-2.8 (errors on
//     stderr, the rest on stdout);
//   - buildstats are written in oe-core's format;
//   - -g writes task-depends.dot and pn-buildlist (graph.go);
//   - BB_SERVER_TIMEOUT keeps a "server" whose parse cache the next run
//     reuses (0 parsed, N cached), as a memory-resident server does;
//   - sstate: SSTATE_DIR, SSTATE_MIRRORS and setscene tasks for images'
//     do_image_complete (sstate.go says how far);
//   - SIGINT shuts down cleanly after the running task; a second SIGINT
//     stops at once.
//
// What it does not model: oe-core's real bitbake.conf and classes (INHERIT,
// inherit, python ${@...} expansions, conditional overrides other than
// append/prepend/remove, variable flags), recipe parsing beyond plain
// NAME = "value" lines (no bbappends, no syntax check of .bb files), task
// dependencies between recipes, fetching, and oe-core's sanity
// checks (CONF_VERSION, host tools). Files named by absolute path in the
// conf are not read, so their content is not an input.
//
// Test knobs (environment): XTBUILD_FAKE_FAIL=<target>:<task> fails that
// task; XTBUILD_FAKE_TASK_MS delays each task; XTBUILD_FAKE_RECORD appends a
// JSON line per invocation to that file.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ERROR: "+format+"\n", args...)
	fmt.Println("\nSummary: There was 1 ERROR message, returning a non-zero exit code.")
	os.Exit(1)
}

// configFailed reports a failed configuration parse as BitBake does: a
// ParseError (with 2.x's traceback frame), or bb.fatal's ERROR line. The
// run stops there, without a summary, as in the recorded 2.8 output.
func configFailed(err error, v version, bbdir string) {
	var pe *parseError
	var fe *fatalError
	switch {
	case errors.As(err, &pe) && v.major >= 2:
		src := filepath.Join(bbdir, "lib", "bb", "parse", "parse_py", "ConfHandler.py")
		fmt.Fprintf(os.Stderr, "ERROR: Unable to parse %s\nTraceback (most recent call last):\n  File \"%s\", line %d, in %s\n    %s\n    %s\nbb.parse.ParseError: %s\n\n",
			src, src, pe.raiseLine, pe.raiseFunc, pe.raiseSrc, strings.Repeat("^", len(strings.TrimSuffix(pe.raiseSrc, ";"))), pe)
	case errors.As(err, &pe):
		fmt.Fprintf(os.Stderr, "ERROR: %s\n", pe)
	case errors.As(err, &fe):
		fmt.Fprintf(os.Stderr, "ERROR: %s\n", fe.msg)
	default:
		fmt.Fprintf(os.Stderr, "ERROR: Unable to parse configuration: %v\n", err)
	}
	os.Exit(1)
}

// approved is bb.utils.approved_variables of the running release.
func approved(v version) map[string]bool {
	all, extra := "BB_ENV_PASSTHROUGH", "BB_ENV_PASSTHROUGH_ADDITIONS"
	base := []string{"BBPATH", "BB_PRESERVE_ENV", "BB_ENV_PASSTHROUGH_ADDITIONS", "BB_TASKHASH", "HOME", "LOGNAME", "PATH", "PWD", "SHELL", "USER", "LC_ALL", "BBSERVER"}
	if v.major < 2 {
		all, extra = "BB_ENV_WHITELIST", "BB_ENV_EXTRAWHITE"
		base = []string{"BBPATH", "BB_PRESERVE_ENV", "BB_ENV_WHITELIST", "BB_ENV_EXTRAWHITE", "BB_TASKHASH", "HOME", "LOGNAME", "PATH", "PWD", "SHELL", "TERM", "USER", "LC_ALL", "BBSERVER"}
	}
	ok := map[string]bool{}
	if _, set := os.LookupEnv("BB_PRESERVE_ENV"); set {
		for _, kv := range os.Environ() {
			k, _, _ := strings.Cut(kv, "=")
			ok[k] = true
		}
		return ok
	}
	if list, set := os.LookupEnv(all); set {
		base = append(strings.Fields(list), all)
	}
	for _, k := range base {
		ok[k] = true
	}
	if list, set := os.LookupEnv(extra); set {
		for _, k := range strings.Fields(list) {
			ok[k] = true
		}
		ok[extra] = true
	}
	return ok
}

type invocation struct {
	Args          []string `json:"args"`
	Machine       string   `json:"machine"`
	ServerTimeout string   `json:"server_timeout"`
	Dir           string   `json:"dir"`
	Parsed        int      `json:"parsed"`
	Interrupts    int32    `json:"interrupts"`
}

var interrupts atomic.Int32

func main() {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		for range sig {
			if interrupts.Add(1) >= 2 {
				fmt.Println("\nSecond Keyboard Interrupt, stopping...")
				record(invocation{Interrupts: interrupts.Load()}, true)
				os.Exit(1)
			}
			fmt.Println("\nKeyboard Interrupt, closing down...")
		}
	}()

	cwd, _ := os.Getwd()
	inv := invocation{Args: os.Args[1:], Machine: os.Getenv("MACHINE"), ServerTimeout: os.Getenv("BB_SERVER_TIMEOUT"), Dir: cwd}
	var targets []string
	task, kill := "", false
	graphviz := false // -g: graph.go
	for i := 1; i < len(os.Args); i++ {
		switch a := os.Args[i]; a {
		case "-m", "--kill-server":
			kill = true
		case "-c", "--cmd":
			i++
			if i < len(os.Args) {
				task = "do_" + strings.TrimPrefix(os.Args[i], "do_")
			}
		case "-g", "--graphviz":
			graphviz = true
		case "-k", "--continue", "-v", "--verbose":
		default:
			if strings.HasPrefix(a, "-") {
				fail("unknown option %s (stand-in bitbake)", a)
			}
			targets = append(targets, a)
		}
	}
	if _, err := os.Stat(filepath.Join(cwd, "conf", "bblayers.conf")); err != nil {
		fail("Unable to find conf/bblayers.conf or conf/bitbake.conf. BBPATH is unset and/or not in a build directory?")
	}
	if kill {
		os.Remove(filepath.Join(cwd, ".fakebitbake-server"))
		record(inv, false)
		return
	}
	if !utf8(os.Getenv("LC_ALL")) && !utf8(os.Getenv("LANG")) {
		fmt.Println("Please use a locale setting which supports UTF-8 (such as LANG=en_US.UTF-8).")
		os.Exit(1)
	}
	bbdir := bitbakeDir()
	ver := readVersion(bbdir)
	if ver.major >= 2 {
		for _, old := range []string{"BB_ENV_WHITELIST", "BB_ENV_EXTRAWHITE"} {
			if _, set := os.LookupEnv(old); set {
				newName := map[string]string{"BB_ENV_WHITELIST": "BB_ENV_PASSTHROUGH", "BB_ENV_EXTRAWHITE": "BB_ENV_PASSTHROUGH_ADDITIONS"}[old]
				fmt.Fprintf(os.Stderr, "ERROR: Shell environment variable %s has been renamed to %s\nERROR: Exiting to allow enviroment variables to be corrected\n", old, newName)
				os.Exit(1)
			}
		}
	}
	if os.Getenv("BUILDDIR") != cwd {
		fail("BUILDDIR %q is not the directory bitbake runs in (%s)", os.Getenv("BUILDDIR"), cwd)
	}
	if len(targets) == 0 {
		fail("Nothing to do.  Use 'bitbake world' to build everything, or run 'bitbake --help' for usage information.")
	}
	if _, err := os.Stat(filepath.Join(cwd, "conf", "local.conf")); err != nil {
		fail("%s is missing (stand-in bitbake: oe-core's sanity checks would stop here)", filepath.Join(cwd, "conf", "local.conf"))
	}

	// Configuration: the approved environment, bblayers.conf, the layers'
	// layer.conf, then local.conf and what it pulls in.
	c := &conf{d: newDatastore(ver.colonOverrides()), version: ver, bbdir: bbdir}
	ok := approved(ver)
	for _, kv := range os.Environ() {
		if k, val, _ := strings.Cut(kv, "="); ok[k] {
			c.d.setVar(k, val)
		}
	}
	passName := "BB_ENV_PASSTHROUGH_ADDITIONS"
	if ver.major < 2 {
		passName = "BB_ENV_EXTRAWHITE"
	}
	if inv.Machine != "" && !ok["MACHINE"] {
		fail("MACHINE=%q is set in the environment but not passed through %s (%q): BitBake %s would ignore it (stand-in bitbake)", inv.Machine, passName, os.Getenv(passName), ver.text)
	}
	layers, err := c.layers(filepath.Join(cwd, "conf", "bblayers.conf"), cwd)
	if err != nil {
		configFailed(err, ver, bbdir)
	}
	if err := c.baseConfig(cwd); err != nil {
		configFailed(err, ver, bbdir)
	}
	for _, w := range c.warns {
		fmt.Printf("WARNING: %s\n", w)
	}
	inv.Machine = c.d.get("MACHINE")
	if inv.Machine == "" {
		fail("MACHINE is not set: neither the environment (through %s) nor the conf files set it (stand-in bitbake)", passName)
	}
	in := collectInputs(ver, layers, c, cwd)
	tmpdir := c.d.get("TMPDIR")
	if tmpdir == "" || strings.Contains(tmpdir, "${") {
		tmpdir = filepath.Join(cwd, "tmp")
	}

	// Parsing: a live server from an earlier run keeps its parse cache.
	recipes := findRecipes(layers)
	fmt.Println("Loading cache...done.")
	serverFile := filepath.Join(cwd, ".fakebitbake-server")
	cached := 0
	if data, err := os.ReadFile(serverFile); err == nil {
		if exp, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64); time.Now().Unix() < exp {
			cached = len(recipes)
		}
	}
	fmt.Printf("Loaded %d entries from dependency cache.\n", cached)
	if cached == 0 {
		fmt.Println("Parsing recipes...done.")
	}
	inv.Parsed = len(recipes) - cached
	fmt.Printf("Parsing of %d .bb files complete (%d cached, %d parsed). %d targets, 0 skipped, 0 masked, 0 errors.\n", len(recipes), cached, len(recipes)-cached, len(recipes))
	if t := os.Getenv("BB_SERVER_TIMEOUT"); t != "" {
		secs, _ := strconv.Atoi(t)
		os.WriteFile(serverFile, []byte(strconv.FormatInt(time.Now().Unix()+int64(secs), 10)), 0o644)
	} else {
		os.Remove(serverFile)
	}
	defer record(inv, false)
	if graphviz {
		if err := writeGraph(cwd, recipes, targets, task); err != nil {
			record(inv, false)
			fail("%s", err)
		}
		return
	}

	var jobs []job
	for _, t := range targets {
		r, ok := recipes[t]
		if !ok {
			record(inv, false)
			fail("Nothing PROVIDES '%s'", t)
		}
		for _, tk := range recipeTasks(r, task) {
			jobs = append(jobs, job{t, r.path, tk})
		}
	}
	fmt.Println("NOTE: Resolving any missing task queue dependencies")
	fmt.Println("Initialising tasks...done.")

	buildName := time.Now().UTC().Format("20060102150405")
	bsDir := filepath.Join(tmpdir, "buildstats", buildName)
	for i := 1; ; i++ {
		if _, err := os.Stat(bsDir); err != nil {
			break
		}
		bsDir = filepath.Join(tmpdir, "buildstats", fmt.Sprintf("%s-%d", buildName, i))
	}
	os.MkdirAll(bsDir, 0o755)
	sc := newSstate(c, cwd, ver, in).setscene(jobs, recipes, inv.Machine, tmpdir, bsDir) // sstate.go
	buildStart := time.Now()
	delay, _ := strconv.Atoi(os.Getenv("XTBUILD_FAKE_TASK_MS"))
	attempted := 0
	failed := ""
	for i, j := range jobs {
		if interrupts.Load() > 0 {
			break
		}
		attempted++
		if sc.covered(j.target, j.task) {
			continue
		}
		pf := j.target + "-1.0-r0"
		fmt.Printf("NOTE: Running task %d of %d (%s:%s)\n", i+1, len(jobs), j.recipe, j.task)
		fmt.Printf("NOTE: recipe %s: task %s: Started\n", pf, j.task)
		start := time.Now()
		time.Sleep(time.Duration(delay) * time.Millisecond)
		ok := os.Getenv("XTBUILD_FAKE_FAIL") != j.target+":"+j.task && readsOK(tmpdir, recipes[j.target], j.task)
		writeTaskStats(bsDir, pf, j.task, start, ok)
		if !ok {
			logf := filepath.Join(tmpdir, "work", pf, "temp", "log."+j.task+".4242")
			os.MkdirAll(filepath.Dir(logf), 0o755)
			os.WriteFile(logf, []byte("make: *** [Makefile:12: all] Error 1\n"), 0o644)
			fmt.Printf("ERROR: %s %s: ExecutionError('%s', 1, None, None)\n", pf, j.task, strings.Replace(logf, "log.", "run.", 1))
			fmt.Printf("ERROR: Logfile of failure stored in: %s\n", logf)
			fmt.Printf("NOTE: recipe %s: task %s: Failed\n", pf, j.task)
			fmt.Printf("ERROR: Task (%s:%s) failed with exit code '1'\n", j.recipe, j.task)
			failed = j.recipe + ":" + j.task + "\n    log: " + logf
			break
		}
		if j.task == "do_image_complete" || (j.task == "do_build" && task == "") {
			sc.deploy(j, recipes[j.target], inv.Machine, tmpdir, func(dir string) { deploy(dir, j.target, recipes[j.target], inv.Machine, in) })
		}
		fmt.Printf("NOTE: recipe %s: task %s: Succeeded\n", pf, j.task)
	}
	status := "all succeeded"
	if failed != "" || interrupts.Load() > 0 {
		status = "1 failed"
	}
	fmt.Printf("NOTE: Tasks Summary: Attempted %d tasks of which %d didn't need to be rerun and %s.\n", attempted, sc.skipped, status)
	bs := fmt.Sprintf("Host Info: Linux stand-in\nBuild Started: %d.00\n", buildStart.Unix())
	if failed != "" {
		bs += fmt.Sprintf("Failed at: %s\n", failed)
	}
	bs += fmt.Sprintf("Elapsed time: %.2f seconds\nCPU usage: 42.0%%\n", time.Since(buildStart).Seconds())
	os.WriteFile(filepath.Join(bsDir, "build_stats"), []byte(bs), 0o644)
	inv.Interrupts = interrupts.Load()
	if failed != "" {
		fmt.Printf("\nSummary: 1 task failed:\n  %s\nSummary: There was 1 ERROR message, returning a non-zero exit code.\n", failed)
		record(inv, false)
		os.Exit(1)
	}
	if interrupts.Load() > 0 {
		record(inv, false)
		os.Exit(1)
	}
}

// job is one task of one target.
type job struct{ target, recipe, task string }

func utf8(l string) bool {
	l = strings.ToLower(l)
	return strings.HasSuffix(l, ".utf-8") || strings.HasSuffix(l, ".utf8")
}

var assignRE = regexp.MustCompile(`^([A-Za-z0-9_:]+)\s*(\?\?=|\?=|:=|\+=|=)\s*"(.*)"$`)

// readRecipe reads a recipe's plain NAME = "value" lines.
func readRecipe(path string) recipe {
	data, err := os.ReadFile(path)
	if err != nil {
		fail("Unable to open %s", path)
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		if m := assignRE.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
			vars[m[1]] = m[3]
		}
	}
	return recipe{path: path, vars: vars, text: data}
}

type recipe struct {
	path string
	vars map[string]string
	text []byte
}

func findRecipes(layers []string) map[string]recipe {
	out := map[string]recipe{}
	for _, l := range layers {
		filepath.WalkDir(filepath.Join(l, "recipes"), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".bb") {
				return nil
			}
			name := strings.TrimSuffix(filepath.Base(p), ".bb")
			name, _, _ = strings.Cut(name, "_")
			out[name] = readRecipe(p)
			return nil
		})
	}
	return out
}

// deploy writes what an image (or XTBUILD_FAKE_DEPLOY) puts in the deploy
// dir: timestamped files with stable IMAGE_LINK_NAME symlinks. The bytes
// are derived from the build's inputs (see collectInputs).
func deploy(tmpdir, target string, r recipe, machine string, in *inputs) {
	dir := filepath.Join(tmpdir, "deploy", "images", machine)
	os.MkdirAll(dir, 0o755)
	stamp := time.Now().UTC().Format("20060102150405")
	text, _ := deployReads(tmpdir, r)
	sum := in.digest(machine, target, text)
	content := func(name string) []byte {
		return []byte(strings.Repeat(fmt.Sprintf("%s built for %s by the stand-in bitbake from inputs %s\n", name, machine, sum), 64))
	}
	for _, fs := range strings.Fields(r.vars["IMAGE_FSTYPES"]) {
		link := fmt.Sprintf("%s-%s.%s", target, machine, fs)
		real := fmt.Sprintf("%s-%s-%s.rootfs.%s", target, machine, stamp, fs)
		os.WriteFile(filepath.Join(dir, real), content(link), 0o644)
		os.Remove(filepath.Join(dir, link))
		os.Symlink(real, filepath.Join(dir, link))
	}
	if r.vars["IMAGE_FSTYPES"] != "" {
		lic := r.vars["LICENSE"]
		if lic == "" {
			lic = "CLOSED"
		}
		os.WriteFile(filepath.Join(dir, target+"-licences.csv"), []byte(fmt.Sprintf("package,license\n%s,%s\n", target, lic)), 0o644)
	}
	for _, f := range strings.Fields(strings.ReplaceAll(r.vars["XTBUILD_FAKE_DEPLOY"], "${MACHINE}", machine)) {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, content(f), 0o644)
	}
}

// writeTaskStats writes one task file in oe-core's buildstats format.
func writeTaskStats(bsDir, pf, task string, start time.Time, ok bool) {
	dir := filepath.Join(bsDir, pf)
	os.MkdirAll(dir, 0o755)
	end := time.Now()
	status := "PASSED"
	if !ok {
		status = "FAILED"
	}
	s := fmt.Sprintf("Event: TaskStarted \nStarted: %.2f \n%s: %s \nElapsed time: %.2f seconds \nutime: 1 \nstime: 0 \ncutime: 3 \ncstime: 1 \nIO rchar: 4096 \nIO wchar: 2048 \nrusage ru_maxrss: 10240 \nChild rusage ru_maxrss: 20480 \nStatus: %s \nEnded: %.2f \n",
		float64(start.UnixNano())/1e9, pf, task, end.Sub(start).Seconds(), status, float64(end.UnixNano())/1e9)
	os.WriteFile(filepath.Join(dir, task), []byte(s), 0o644)
}

func record(inv invocation, hard bool) {
	p := os.Getenv("XTBUILD_FAKE_RECORD")
	if p == "" {
		return
	}
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	if hard {
		inv.Interrupts = interrupts.Load()
	}
	json.NewEncoder(f).Encode(inv)
}
