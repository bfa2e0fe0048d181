// Command fakebitbake is a stand-in for BitBake used by xtbuild's tests,
// where a real Yocto build cannot run. It is strict where BitBake would
// silently do the wrong thing, and otherwise behaves like BitBake 2.8 run
// without a TTY:
//
//   - it must run in a build dir holding conf/local.conf and
//     conf/bblayers.conf, with BUILDDIR pointing at it; every BBLAYERS entry
//     must exist and hold conf/layer.conf;
//   - it needs a UTF-8 locale, and MACHINE in the environment listed in
//     BB_ENV_PASSTHROUGH_ADDITIONS (else BitBake would ignore MACHINE);
//   - a target is provided when a layer has recipes/**/<target>.bb
//     ("Nothing PROVIDES" otherwise); image recipes (IMAGE_FSTYPES set) write
//     <image>-<MACHINE>.<fstype> symlinks to timestamped files into
//     ${TMPDIR}/deploy/images/<MACHINE>/, plus a licences CSV;
//     XTBUILD_FAKE_DEPLOY in a recipe names extra deploy files;
//   - progress lines, failure lines and the summary are printed in the
//     format recorded in testdata/bitbake-2.8;
//   - buildstats are written in oe-core's format;
//   - BB_SERVER_TIMEOUT keeps a "server" whose parse cache the next run
//     reuses (0 parsed, N cached), as a memory-resident server does;
//   - SIGINT shuts down cleanly after the running task; a second SIGINT
//     stops at once.
//
// Test knobs (environment): XTBUILD_FAKE_FAIL=<target>:<task> fails that
// task; XTBUILD_FAKE_TASK_MS delays each task; XTBUILD_FAKE_RECORD appends a
// JSON line per invocation to that file.
package main

import (
	"bufio"
	"encoding/json"
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
	fmt.Printf("ERROR: "+format+"\n", args...)
	fmt.Println("\nSummary: There was 1 ERROR message, returning a non-zero exit code.")
	os.Exit(1)
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
	for i := 1; i < len(os.Args); i++ {
		switch a := os.Args[i]; a {
		case "-m", "--kill-server":
			kill = true
		case "-c", "--cmd":
			i++
			if i < len(os.Args) {
				task = "do_" + strings.TrimPrefix(os.Args[i], "do_")
			}
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
	if os.Getenv("BUILDDIR") != cwd {
		fail("BUILDDIR %q is not the directory bitbake runs in (%s)", os.Getenv("BUILDDIR"), cwd)
	}
	if inv.Machine == "" || !strings.Contains(" "+os.Getenv("BB_ENV_PASSTHROUGH_ADDITIONS")+" ", " MACHINE ") {
		fail("MACHINE=%q is not passed through BB_ENV_PASSTHROUGH_ADDITIONS (%q); BitBake would ignore it", inv.Machine, os.Getenv("BB_ENV_PASSTHROUGH_ADDITIONS"))
	}
	if len(targets) == 0 {
		fail("Nothing to do.  Use 'bitbake world' to build everything, or run 'bitbake --help' for usage information.")
	}
	local := readConf(filepath.Join(cwd, "conf", "local.conf"), cwd)
	layers := bblayers(filepath.Join(cwd, "conf", "bblayers.conf"), cwd)
	tmpdir := local["TMPDIR"]
	if tmpdir == "" {
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

	type job struct{ target, recipe, task string }
	var jobs []job
	for _, t := range targets {
		r, ok := recipes[t]
		if !ok {
			record(inv, false)
			fail("Nothing PROVIDES '%s'", t)
		}
		tasks := []string{"do_fetch", "do_compile", "do_install"}
		if r.vars["IMAGE_FSTYPES"] != "" {
			tasks = []string{"do_rootfs", "do_image_complete"}
		}
		tasks = append(tasks, "do_build")
		if task != "" {
			tasks = []string{task}
		}
		for _, tk := range tasks {
			jobs = append(jobs, job{t, r.path, tk})
		}
	}
	fmt.Println("NOTE: Resolving any missing task queue dependencies")
	fmt.Println("Initialising tasks...done.")
	fmt.Println("NOTE: No setscene tasks")
	fmt.Println("NOTE: Executing Tasks")

	buildName := time.Now().UTC().Format("20060102150405")
	bsDir := filepath.Join(tmpdir, "buildstats", buildName)
	for i := 1; ; i++ {
		if _, err := os.Stat(bsDir); err != nil {
			break
		}
		bsDir = filepath.Join(tmpdir, "buildstats", fmt.Sprintf("%s-%d", buildName, i))
	}
	os.MkdirAll(bsDir, 0o755)
	buildStart := time.Now()
	delay, _ := strconv.Atoi(os.Getenv("XTBUILD_FAKE_TASK_MS"))
	attempted := 0
	failed := ""
	for i, j := range jobs {
		if interrupts.Load() > 0 {
			break
		}
		attempted++
		pf := j.target + "-1.0-r0"
		fmt.Printf("NOTE: Running task %d of %d (%s:%s)\n", i+1, len(jobs), j.recipe, j.task)
		fmt.Printf("NOTE: recipe %s: task %s: Started\n", pf, j.task)
		start := time.Now()
		time.Sleep(time.Duration(delay) * time.Millisecond)
		ok := os.Getenv("XTBUILD_FAKE_FAIL") != j.target+":"+j.task
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
			deploy(tmpdir, j.target, recipes[j.target], inv.Machine)
		}
		fmt.Printf("NOTE: recipe %s: task %s: Succeeded\n", pf, j.task)
	}
	status := "all succeeded"
	if failed != "" || interrupts.Load() > 0 {
		status = "1 failed"
	}
	fmt.Printf("NOTE: Tasks Summary: Attempted %d tasks of which 0 didn't need to be rerun and %s.\n", attempted, status)
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

func utf8(l string) bool {
	l = strings.ToLower(l)
	return strings.HasSuffix(l, ".utf-8") || strings.HasSuffix(l, ".utf8")
}

var assignRE = regexp.MustCompile(`^([A-Za-z0-9_:]+)\s*(\?\?=|\?=|:=|\+=|=)\s*"(.*)"$`)

// readConf reads simple NAME = "value" assignments, expanding ${TOPDIR}.
func readConf(path, topdir string) map[string]string {
	vars := map[string]string{"TOPDIR": topdir}
	f, err := os.Open(path)
	if err != nil {
		fail("Unable to open %s", path)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := assignRE.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
			vars[m[1]] = strings.ReplaceAll(m[3], "${TOPDIR}", topdir)
		}
	}
	return vars
}

// bblayers reads the BBLAYERS list and checks every layer like BitBake.
func bblayers(path, topdir string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		fail("Unable to open %s", path)
	}
	s := strings.ReplaceAll(string(data), "\\\n", " ")
	var layers []string
	for _, line := range strings.Split(s, "\n") {
		m := regexp.MustCompile(`^BBLAYERS\s*\??=\s*"(.*)"\s*$`).FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, l := range strings.Fields(m[1]) {
			l = strings.ReplaceAll(l, "${TOPDIR}", topdir)
			if st, err := os.Stat(l); err != nil || !st.IsDir() {
				fail("Layer directory '%s' does not exist! Please check BBLAYERS in %s", l, path)
			}
			if _, err := os.Stat(filepath.Join(l, "conf", "layer.conf")); err != nil {
				fail("Unable to parse %s: file not found", filepath.Join(l, "conf", "layer.conf"))
			}
			layers = append(layers, l)
		}
	}
	if len(layers) == 0 {
		fail("BBLAYERS is empty in %s", path)
	}
	return layers
}

type recipe struct {
	path string
	vars map[string]string
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
			out[name] = recipe{path: p, vars: readConf(p, "")}
			return nil
		})
	}
	return out
}

// deploy writes what an image (or XTBUILD_FAKE_DEPLOY) puts in the deploy
// dir: timestamped files with stable IMAGE_LINK_NAME symlinks.
func deploy(tmpdir, target string, r recipe, machine string) {
	dir := filepath.Join(tmpdir, "deploy", "images", machine)
	os.MkdirAll(dir, 0o755)
	stamp := time.Now().UTC().Format("20060102150405")
	content := func(name string) []byte {
		return []byte(strings.Repeat(fmt.Sprintf("%s built for %s by the stand-in bitbake\n", name, machine), 64))
	}
	for _, fs := range strings.Fields(r.vars["IMAGE_FSTYPES"]) {
		link := fmt.Sprintf("%s-%s.%s", target, machine, fs)
		real := fmt.Sprintf("%s-%s-%s.rootfs.%s", target, machine, stamp, fs)
		os.WriteFile(filepath.Join(dir, real), content(link), 0o644)
		os.Remove(filepath.Join(dir, link))
		os.Symlink(real, filepath.Join(dir, link))
	}
	if r.vars["IMAGE_FSTYPES"] != "" {
		os.WriteFile(filepath.Join(dir, target+"-licences.csv"), []byte("package,license\nbusybox,GPL-2.0-only\n"), 0o644)
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
