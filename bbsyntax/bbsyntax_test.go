package bbsyntax

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/internal/testenv"
)

// grammarCase is one file and whether BitBake 2.8 parses it. line, when not
// zero, is the line Check must blame.
type grammarCase struct {
	name string
	mode Mode
	src  string
	ok   bool
	line int
}

var grammarCases = []grammarCase{
	// Assignments and every operator.
	{name: "assign", mode: Conf, src: "A = \"b\"\n", ok: true},
	{name: "assign no spaces", mode: Conf, src: "A=\"b\"\n", ok: true},
	{name: "assign single quotes", mode: Conf, src: "A = 'b \"c\"'\n", ok: true},
	{name: "assign empty", mode: Conf, src: "A = \"\"\n", ok: true},
	{name: "op colon", mode: Conf, src: "A := \"b\"\n", ok: true},
	{name: "op weak default", mode: Conf, src: "A ??= \"b\"\n", ok: true},
	{name: "op default", mode: Conf, src: "A ?= \"b\"\n", ok: true},
	{name: "op append", mode: Conf, src: "A += \"b\"\n", ok: true},
	{name: "op prepend", mode: Conf, src: "A =+ \"b\"\n", ok: true},
	{name: "op dot append", mode: Conf, src: "A .= \"b\"\n", ok: true},
	{name: "op dot prepend", mode: Conf, src: "A =. \"b\"\n", ok: true},
	{name: "op needs backtracking", mode: Conf, src: "A+=+\"b\"\n", ok: true},
	{name: "export assign", mode: Conf, src: "export A = \"b\"\n", ok: true},
	{name: "flag", mode: Conf, src: "A[doc] = \"b\"\n", ok: true},
	{name: "flag with at", mode: Conf, src: "SRC_URI[vendor.sha256sum] = \"ab\"\nA[x@y] = \"b\"\n", ok: true},
	{name: "flag bad first char", mode: Conf, src: "A[@x] = \"b\"\n", ok: false, line: 1},
	{name: "override colon", mode: Conf, src: "IMAGE_INSTALL:append = \" x\"\nFILES:${PN}-tpm = \"y\"\nA:remove:qemux86 = \"z\"\n", ok: true},
	{name: "override underscore parses", mode: Conf, src: "IMAGE_INSTALL_append = \" x\"\n", ok: true},
	{name: "name with expansion", mode: Conf, src: "BBFILE_PATTERN_${LAYERNAME} = \"^x\"\n", ok: true},
	{name: "value with quote of the other kind", mode: Conf, src: "A = \"it's\"\n", ok: true},
	{name: "four quotes", mode: Conf, src: "A = \"a\" \"b\"\n", ok: true},
	{name: "three quotes", mode: Conf, src: "A = \"a\"b\"\n", ok: false, line: 1},
	{name: "unquoted value", mode: Conf, src: "A = b\n", ok: false, line: 1},
	{name: "missing value", mode: Conf, src: "A =\n", ok: false, line: 1},
	{name: "unterminated", mode: Conf, src: "A = \"b\n", ok: false, line: 1},
	{name: "mismatched quotes", mode: Conf, src: "A = \"b'\n", ok: false, line: 1},
	{name: "trailing text after quote", mode: Conf, src: "A = \"b\" # c\n", ok: false, line: 1},
	{name: "space in name", mode: Conf, src: "A B = \"c\"\n", ok: false, line: 1},
	{name: "leading space", mode: Conf, src: "  A = \"b\"\n", ok: false, line: 1},
	{name: "indented comment in conf", mode: Conf, src: "  # c\n", ok: false, line: 1},
	{name: "second line bad", mode: Conf, src: "A = \"b\"\nB == \"c\"\n", ok: false, line: 2},
	{name: "trailing whitespace", mode: Conf, src: "A = \"b\"  \t\n", ok: true},
	{name: "crlf", mode: Conf, src: "A = \"b\"\r\nB = \"c\"\r\n", ok: true},
	{name: "no final newline", mode: Conf, src: "A = \"b\"", ok: true},

	// Directives.
	{name: "include", mode: Conf, src: "include conf/x.inc\nrequire conf/y.inc\n", ok: true},
	{name: "include_all is not 2.8", mode: Conf, src: "include_all conf/x.inc\n", ok: false, line: 1},
	{name: "require without file", mode: Conf, src: "require\n", ok: false, line: 1},
	{name: "export", mode: Conf, src: "export A\n", ok: true},
	{name: "export two", mode: Conf, src: "export A B\n", ok: false, line: 1},
	{name: "unset", mode: Conf, src: "unset A\nunset A[doc]\n", ok: true},
	{name: "unset one-char flag", mode: Conf, src: "unset A[d]\n", ok: false, line: 1},
	{name: "addpylib", mode: Conf, src: "addpylib ${LAYERDIR}/lib oe\n", ok: true},
	{name: "addpylib not in recipes", mode: Recipe, src: "addpylib ${LAYERDIR}/lib oe\n", ok: false, line: 1},
	{name: "inherit not in conf", mode: Conf, src: "inherit go\n", ok: false, line: 1},

	// Comments and continuations.
	{name: "comments and blanks", mode: Conf, src: "# c\n\n   \nA = \"b\"\n", ok: true},
	{name: "continuation", mode: Conf, src: "A = \"b \\\n    c \\\n\"\n", ok: true},
	{name: "continuation recipe", mode: Recipe, src: "A = \"b \\\n    c \\\n\"\n", ok: true},
	{name: "comment continuation", mode: Conf, src: "# a \\\n# b\nA = \"c\"\n", ok: true},
	{name: "comment continued onto code", mode: Conf, src: "# a \\\nA = \"c\"\n", ok: false, line: 1},
	{name: "comment continued onto code recipe", mode: Recipe, src: "# a \\\nA = \"c\"\n", ok: false, line: 1},
	{name: "comment inside continuation conf joins", mode: Conf, src: "A = \"b \\\n# c\"\n", ok: true},
	{name: "comment inside continuation recipe", mode: Recipe, src: "A = \"b \\\n# c\n\"\n", ok: false, line: 2},
	{name: "blank line ends continuation in recipe", mode: Recipe, src: "A = \"b \\\n\n\"\n", ok: false},
	{name: "blank line ends continuation in conf", mode: Conf, src: "A = \"b \\\n\n\"\n", ok: false},
	{name: "continuation at eof conf", mode: Conf, src: "A = \"b\"\\\n", ok: true},
	{name: "continuation at eof recipe", mode: Recipe, src: "A = \"b\"\\\n", ok: false, line: 1},
	{name: "comment continuation at eof conf", mode: Conf, src: "# a \\\n", ok: false, line: 1},
	{name: "lone backslash recipe", mode: Recipe, src: "\\\nA = \"b\"\n", ok: false, line: 1},

	// Recipe constructs.
	{name: "shell function", mode: Recipe, src: "do_install() {\n\tinstall -d ${D}${bindir}\n}\n", ok: true},
	{name: "shell function override", mode: Recipe, src: "do_install:append() {\n\tln -sf xt ${D}${bindir}/tpm\n}\n", ok: true},
	{name: "shell function old override parses", mode: Recipe, src: "do_install_append() {\n\ttrue\n}\n", ok: true},
	{name: "python function", mode: Recipe, src: "python do_foo() {\n    bb.note('x')\n}\n", ok: true},
	{name: "anonymous python", mode: Recipe, src: "python () {\n    pass\n}\npython() {\n    pass\n}\n", ok: true},
	{name: "fakeroot function", mode: Recipe, src: "fakeroot do_x() {\n\ttrue\n}\nfakeroot python do_y() {\n    pass\n}\n", ok: true},
	{name: "function body may hold anything", mode: Recipe, src: "do_x() {\n\tif [ \"$a\" = 'b ]; then \\\n# }\n}\nA = \"b\"\n", ok: true},
	{name: "indented closing brace does not close", mode: Recipe, src: "do_x() {\n\ttrue\n  }\n", ok: false, line: 1},
	{name: "unclosed function", mode: Recipe, src: "do_x() {\n\ttrue\n", ok: false, line: 1},
	{name: "one-line function", mode: Recipe, src: "do_x() { true; }\n", ok: false, line: 1},
	{name: "python start without braces", mode: Recipe, src: "python do_x()\n", ok: false, line: 1},
	{name: "python-prefixed variable", mode: Recipe, src: "python.x = \"y\"\n", ok: true},
	{name: "def", mode: Recipe, src: "def helper(d):\n    return 'x'\n\n    # still body\nA = \"${@helper(d)}\"\n", ok: true},
	{name: "def body ends at unindented code", mode: Recipe, src: "def helper(d):\n    return 1\nnot valid\n", ok: false, line: 3},
	{name: "inherit", mode: Recipe, src: "inherit go-mod\ninherit_defer ${X}\n", ok: true},
	{name: "inherit without class", mode: Recipe, src: "inherit\n", ok: false, line: 1},
	{name: "addtask deltask addhandler", mode: Recipe, src: "addtask foo after do_compile before do_install\ndeltask do_bar\naddhandler my_handler\n", ok: true},
	{name: "addtask keyword task name", mode: Recipe, src: "addtask do_x:append_y\n", ok: false, line: 1},
	{name: "EXPORT_FUNCTIONS", mode: Recipe, src: "EXPORT_FUNCTIONS do_compile do_install\n", ok: true},
	{name: "recipe assignments and include", mode: Recipe, src: "SUMMARY = \"x\"\nrequire xt.inc\nexport CGO_ENABLED = \"0\"\n", ok: true},
	{name: "indented comment in recipe", mode: Recipe, src: "  # c\n", ok: false, line: 1},
}

func TestCheckGrammar(t *testing.T) {
	for _, tc := range grammarCases {
		t.Run(tc.name, func(t *testing.T) {
			errs := Check(tc.src, tc.mode)
			if tc.ok && len(errs) > 0 {
				t.Fatalf("Check(%q) = %v, want no errors", tc.src, errs)
			}
			if !tc.ok && len(errs) == 0 {
				t.Fatalf("Check(%q) found nothing, want an error", tc.src)
			}
			if tc.line != 0 && errs[0].Line != tc.line {
				t.Errorf("error on line %d, want line %d: %v", errs[0].Line, tc.line, errs)
			}
		})
	}
}

func TestCheckMessages(t *testing.T) {
	tests := []struct {
		src  string
		mode Mode
		want string
	}{
		{"A = b\n", Conf, "value must be quoted"},
		{"A = \"a\"b\"\n", Conf, "stray \""},
		{"A = \"b\n", Conf, "not closed"},
		{"python do_x()\n", Recipe, "python function start"},
		{"do_x() {\n", Recipe, "not closed"},
		{"A = \"b\" \\\n", Recipe, "end of file"},
		{"nonsense here\n", Recipe, "unparsed line"},
	}
	for _, tc := range tests {
		errs := Check(tc.src, tc.mode)
		if len(errs) == 0 || !strings.Contains(errs.Error(), tc.want) {
			t.Errorf("Check(%q) = %v, want a message containing %q", tc.src, errs, tc.want)
		}
	}
}

var oldOverrideCases = []struct {
	name string
	mode Mode
	src  string
	bad  bool
}{
	{"colon append", Conf, "IMAGE_INSTALL:append = \" x\"\n", false},
	{"underscore append", Conf, "IMAGE_INSTALL_append = \" x\"\n", true},
	{"underscore prepend", Conf, "A_prepend = \"x\"\n", true},
	{"underscore remove with override", Conf, "A_remove_x86 = \"x\"\n", true},
	{"weak default only sets a flag", Conf, "A_append ??= \"x\"\n", false},
	{"flag only", Conf, "A_append[doc] = \"x\"\n", false},
	{"substring counts", Conf, "MY_appendix = \"x\"\n", true},
	{"shell function", Recipe, "do_install_append() {\n\ttrue\n}\n", true},
	{"shell function colon", Recipe, "do_install:append() {\n\ttrue\n}\n", false},
	{"anonymous python", Recipe, "python () {\n    pass\n}\n", false},
}

func TestOldOverrideSyntax(t *testing.T) {
	for _, tc := range oldOverrideCases {
		t.Run(tc.name, func(t *testing.T) {
			if errs := Check(tc.src, tc.mode); len(errs) > 0 {
				t.Fatalf("case must parse: %v", errs)
			}
			errs := OldOverrideSyntax(tc.src, tc.mode)
			if got := len(errs) > 0; got != tc.bad {
				t.Fatalf("OldOverrideSyntax(%q) = %v, want bad=%v", tc.src, errs, tc.bad)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{"plain", `"plain"`, false},
		{"", `""`, false},
		{`say "hi"`, `'say "hi"'`, false},
		{"it's", `"it's"`, false},
		{`a\b`, `"a\b"`, false},
		{`both ' and "`, "", true},
		{"two\nlines", "", true},
		{"nul\x00", "", true},
		{`trailing\`, "", true},
	}
	for _, tc := range tests {
		got, err := Quote(tc.in)
		if tc.err {
			if !errors.Is(err, ErrUnquotable) {
				t.Errorf("Quote(%q) error = %v, want ErrUnquotable", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Quote(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		// Every quoted value must come back through the checker.
		if errs := Check("A = "+got+"\n", Conf); len(errs) > 0 {
			t.Errorf("Quote(%q) = %s does not parse: %v", tc.in, got, errs)
		}
	}
}

func TestValidVarName(t *testing.T) {
	for name, want := range map[string]bool{
		"A": true, "IMAGE_INSTALL:append": true, "BBFILE_PATTERN_${X}": true, "a.b-c+d/e~f": true,
		"": false, "A B": false, "A=": false, "A[doc]": false, `A"`: false,
	} {
		if got := ValidVarName(name); got != want {
			t.Errorf("ValidVarName(%q) = %v, want %v", name, got, want)
		}
	}
}

// FuzzCheck makes sure no input panics the checker and that its verdict does
// not depend on the line ending used.
func FuzzCheck(f *testing.F) {
	for _, tc := range grammarCases {
		f.Add(tc.src, tc.mode == Recipe)
	}
	f.Fuzz(func(t *testing.T, src string, recipe bool) {
		mode := Conf
		if recipe {
			mode = Recipe
		}
		a := Check(src, mode)
		b := Check(strings.ReplaceAll(src, "\n", "\r\n"), mode)
		if (len(a) == 0) != (len(b) == 0) {
			t.Fatalf("verdict differs with CRLF: %v vs %v", a, b)
		}
	})
}

// bitbakeRepo is the read-only BitBake mirror some hosts have; CI does not.
const bitbakeRepo = "/work/.mirror/openembedded+bitbake/repo"

// BitBakeParser runs BitBake's own parser (from a local checkout of the 2.8
// branch) over files. It skips the test when the checkout or python3 is absent.
type BitBakeParser struct {
	lib string
}

// NewBitBakeParser extracts BitBake 2.8's lib/ into a temp dir.
func NewBitBakeParser(t testing.TB) *BitBakeParser {
	t.Helper()
	if _, err := os.Stat(bitbakeRepo); err != nil {
		t.Skipf("skipped: no BitBake checkout at %s (the search tool's fetch brings it; cannot run in CI)", bitbakeRepo)
	}
	testenv.LookPath(t, "python3", "python3")
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", `git --git-dir="$1" archive 2.8 lib | tar -x -C "$2"`, "sh", bitbakeRepo, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cannot extract BitBake 2.8 from %s: %v: %s", bitbakeRepo, err, out)
	}
	return &BitBakeParser{lib: filepath.Join(dir, "lib")}
}

// parseScript parses each file named on stdin (JSON list of [path, how]) and
// prints a JSON list of error strings ("" when BitBake accepted the file).
// how is "parse" (statements only) or "eval" (also evaluate them into a
// fresh datastore, which is where the old override syntax is refused).
const parseScript = `
import sys, json, logging
sys.path.insert(0, sys.argv[1])
import bb, bb.parse, bb.data
from bb.parse.parse_py import ConfHandler, BBHandler
logging.disable(logging.CRITICAL)
real_eval = bb.parse.ast.StatementGroup.eval
out = []
for path, how in json.load(sys.stdin):
    for g in ("__infunc__", "__body__", "__residue__"):
        setattr(BBHandler, g, [])
    BBHandler.__inpython__ = False
    BBHandler.__classname__ = ""
    BBHandler.cached_statements = {}
    d = bb.data.init()
    try:
        if path.endswith(".conf"):
            bb.parse.ast.StatementGroup.eval = real_eval if how == "eval" else (lambda self, d: None)
            ConfHandler.handle(path, d, 0, baseconfig=True)
        else:
            st = BBHandler.get_statements(path, path, path.rsplit("/", 1)[-1])
            if how == "eval":
                st.eval(d)
        out.append("")
    except BaseException as e:
        out.append("%s: %s" % (type(e).__name__, e) or "error")
print(json.dumps(out))
`

// BitBakeFile is one file for BitBakeParser.Parse.
type BitBakeFile struct {
	Path string
	Eval bool
}

// Parse returns, per file, "" when BitBake accepts it or BitBake's error.
func (p *BitBakeParser) Parse(t testing.TB, files []BitBakeFile) []string {
	t.Helper()
	var in [][2]string
	for _, f := range files {
		how := "parse"
		if f.Eval {
			how = "eval"
		}
		in = append(in, [2]string{f.Path, how})
	}
	data, _ := json.Marshal(in)
	cmd := exec.Command("python3", "-c", parseScript, p.lib)
	cmd.Stdin = strings.NewReader(string(data))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run BitBake parser: %v\n%s", err, stderr.String())
	}
	var res []string
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(files) {
		t.Fatalf("BitBake parser output %q: %v", out, err)
	}
	return res
}

func caseFile(dir string, i int, mode Mode, src string) string {
	ext := ".conf"
	if mode == Recipe {
		ext = ".bb"
	}
	return filepath.Join(dir, fmt.Sprintf("case%03d%s", i, ext))
}

// TestCheckAgreesWithBitBake feeds every grammar case to BitBake 2.8's own
// parser and requires the same verdict from Check.
func TestCheckAgreesWithBitBake(t *testing.T) {
	bbp := NewBitBakeParser(t)
	dir := t.TempDir()
	var files []BitBakeFile
	for i, tc := range grammarCases {
		path := caseFile(dir, i, tc.mode, tc.src)
		if err := os.WriteFile(path, []byte(tc.src), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, BitBakeFile{Path: path})
	}
	n := len(files)
	for i, tc := range oldOverrideCases {
		path := caseFile(dir, n+i, tc.mode, tc.src)
		if err := os.WriteFile(path, []byte(tc.src), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, BitBakeFile{Path: path, Eval: true})
	}
	res := bbp.Parse(t, files)
	for i, tc := range grammarCases {
		bbOK := res[i] == ""
		if bbOK != tc.ok {
			t.Errorf("case %q: table says ok=%v but BitBake 2.8 says %q", tc.name, tc.ok, res[i])
		}
		if ours := len(Check(tc.src, tc.mode)) == 0; ours != bbOK {
			t.Errorf("case %q: Check ok=%v, BitBake 2.8: %q", tc.name, ours, res[i])
		}
	}
	for i, tc := range oldOverrideCases {
		bbBad := res[n+i] != ""
		if bbBad != tc.bad {
			t.Errorf("old override case %q: table says bad=%v but BitBake 2.8 eval says %q", tc.name, tc.bad, res[n+i])
		}
	}
}
