// Package config is xtbuild's typed configuration: built-in defaults (the
// embedded OpenXT profile) ← xtbuild.toml (or $XTBUILD_CONFIG) ← environment
// overrides. Decoding is strict: unknown keys, wrong types and invalid values
// are errors naming file, line and key. After Load the Config is read-only.
package config

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/xtbuild/xtbuild/internal/exitcode"
)

// DefaultFile is the config file looked for in the current directory.
const DefaultFile = "xtbuild.toml"

//go:embed profiles/openxt.toml profiles/boards.toml
var profileFS embed.FS

const profileName = "built-in profile"

// profile decodes the embedded OpenXT profile.
func profile() (*Config, toml.MetaData) {
	src, err := profileFS.ReadFile("profiles/openxt.toml")
	if err != nil {
		panic(err)
	}
	var c Config
	md, err := toml.Decode(string(src), &c)
	if err != nil {
		panic(fmt.Sprintf("embedded profile: %v", err))
	}
	addBoardProfiles(&c)
	return &c, md
}

// ProfileTOML returns the embedded profile's text (the starting point for a
// new xtbuild.toml).
func ProfileTOML() []byte {
	b, _ := profileFS.ReadFile("profiles/openxt.toml")
	return b
}

// Getenv looks up environment variables; tests pass a map's lookup.
type Getenv func(string) string

// Load resolves the configuration. path may be empty: then $XTBUILD_CONFIG,
// then ./xtbuild.toml, then the built-in profile alone.
func Load(path string, getenv Getenv) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if path == "" {
		path = getenv("XTBUILD_CONFIG")
	}
	if path == "" {
		if _, err := os.Stat(DefaultFile); err == nil {
			path = DefaultFile
		}
	}
	var src []byte
	if path != "" {
		var err error
		if src, err = os.ReadFile(path); err != nil {
			return nil, exitcode.UsageError(fmt.Errorf("read config: %w", err))
		}
	}
	dir := "."
	if path != "" {
		dir = filepath.Dir(path)
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve config dir: %w", err)
	}
	return parse(path, src, absDir, getenv)
}

// Parse resolves a configuration from TOML text as if read from file (used
// by tests and fuzzing); dir is the directory relative paths resolve against.
func Parse(file string, src []byte, dir string, getenv Getenv) (*Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	return parse(file, src, dir, getenv)
}

func parse(file string, src []byte, dir string, getenv Getenv) (*Config, error) {
	cfg, _ := profile()
	display := file
	if display == "" {
		display = profileName
	}
	kl := scanKeyLines(string(src))
	var errs Errors
	if file != "" {
		var fatal bool
		errs, fatal = decodeOnto(cfg, display, src, kl)
		if fatal {
			return nil, errs
		}
	}
	fromEnv, es := applyEnv(cfg, getenv)
	if len(es) > 0 {
		return nil, append(errs, es...)
	}
	cfg.Source = Source{File: file, Dir: dir}
	// One rule for every conf-bound value and every bounded number.
	errs = append(errs, validateTagged(cfg, display, kl, fromEnv)...)
	normalize(cfg)
	// Unknown keys and invalid values are reported together, in file order.
	errs = append(errs, validate(cfg, display, kl, fromEnv)...)
	if len(errs) > 0 {
		return nil, errs.sorted()
	}
	cfg.Source.Hash = hashOf(cfg)
	// board_only layers stay out of the main build (setupoe, BBLAYERS, the
	// lock) and are kept for ForBoard.
	cfg.LayerPool = cfg.Layers
	cfg.Layers = nil
	for _, l := range cfg.LayerPool {
		if !l.BoardOnly {
			cfg.Layers = append(cfg.Layers, l)
		}
	}
	return cfg, nil
}

// decodeOnto decodes src over the profile values in cfg. Plain tables and
// arrays replace what the profile had; [steps.X] and [boards.X] merge key by
// key into the profile's entry of the same name.
func decodeOnto(cfg *Config, file string, src []byte, kl keyLines) (errs Errors, fatal bool) {
	baseSteps, baseBoards := cfg.Steps, cfg.Boards
	cfg.Steps, cfg.Boards = nil, nil
	// The decoder fills existing slice elements in place, so a [[layer]]
	// list in the file would inherit the profile's fields: clear every
	// top-level array the file sets first.
	// Likewise a map inside a table ([recipes.images], [buildbot.env],
	// [mirrors.layers]) would gain the file's keys on top of the
	// profile's: a table the file sets replaces the profile's.
	var top map[string]any
	if _, err := toml.Decode(string(src), &top); err == nil {
		rv := reflect.ValueOf(cfg).Elem()
		for i := 0; i < rv.NumField(); i++ {
			val, set := top[tomlName(rv.Type().Field(i))]
			if !set {
				continue
			}
			f := rv.Field(i)
			switch f.Kind() {
			case reflect.Slice:
				f.SetZero()
			case reflect.Struct:
				sub, _ := val.(map[string]any)
				for j := 0; j < f.NumField(); j++ {
					if _, set := sub[tomlName(f.Type().Field(j))]; set && f.Field(j).Kind() == reflect.Map {
						f.Field(j).SetZero()
					}
				}
			}
		}
	}
	md, err := toml.NewDecoder(bytes.NewReader(src)).Decode(cfg)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			line := pe.Position.Line
			if line == 0 {
				line = pe.Line
			}
			// An unexpected end of line belongs to the line it ends.
			if strings.Contains(pe.Message, `got '\n'`) && line > 1 {
				line--
			}
			return Errors{{File: file, Line: line, Key: pe.LastKey, Msg: tidyTOMLMessage(pe.Error())}}, true
		}
		// Type mismatches are plain errors: "toml: line N (last key "K"): ...".
		fe := &FieldError{File: file, Msg: tidyTOMLMessage(err.Error())}
		if m := tomlPrefixRE.FindStringSubmatch(err.Error()); m != nil {
			fe.Line, _ = strconv.Atoi(m[2])
			fe.Key = m[4]
			if fe.Line == 0 {
				fe.Line = kl.line(fe.Key)
			}
		}
		return Errors{fe}, true
	}
	for _, k := range md.Undecoded() {
		key := k.String()
		fe := &FieldError{File: file, Key: key, Msg: "unknown key" + suggest(k)}
		lines := kl.plain[key]
		if len(lines) == 0 {
			fe.Line = kl.line(key)
			errs = append(errs, fe)
			continue
		}
		for _, l := range lines {
			c := *fe
			c.Line = l
			errs = append(errs, &c)
		}
	}
	cfg.Steps = mergeMap(baseSteps, cfg.Steps, md, "steps")
	cfg.Boards = mergeMap(baseBoards, cfg.Boards, md, "boards")
	return errs, false
}

// mergeMap overlays the fields the file defined for each entry onto the
// profile's entry of that name.
func mergeMap[T any](base, file map[string]T, md toml.MetaData, table string) map[string]T {
	out := make(map[string]T, len(base)+len(file))
	for k, v := range base {
		out[k] = v
	}
	for name, fv := range file {
		bv, ok := out[name]
		if !ok {
			out[name] = fv
			continue
		}
		dst := reflect.ValueOf(&bv).Elem()
		src := reflect.ValueOf(fv)
		for i := 0; i < dst.NumField(); i++ {
			tag := tomlName(dst.Type().Field(i))
			if md.IsDefined(table, name, tag) {
				dst.Field(i).Set(src.Field(i))
			}
		}
		out[name] = bv
	}
	return out
}

func tomlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

// tidyTOMLMessage turns the TOML library's type mismatch wording into ours.
func tidyTOMLMessage(msg string) string {
	msg = tomlPrefixRE.ReplaceAllString(msg, "")
	if strings.Contains(msg, "incompatible types") {
		msg = strings.Replace(msg, "incompatible types: TOML value has type", "wrong type: value is", 1)
		msg = strings.Replace(msg, "; destination has type", ", want", 1)
		msg = tomlTypeNames.Replace(msg)
	}
	return msg
}

var tomlTypeNames = strings.NewReplacer("is int64", "is integer", "is float64", "is float",
	"is bool", "is boolean", "is []interface {}", "is array", "is map[string]interface {}", "is table")

var tomlPrefixRE = regexp.MustCompile(`^toml: ((?:line )?(\d*) ?(\(last key "([^"]*)"\))?: )?`)

// suggest proposes the closest known key at the unknown key's level.
func suggest(k toml.Key) string {
	t := reflect.TypeOf(Config{})
	for _, part := range k[:len(k)-1] {
		for t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return ""
		}
		f, ok := fieldByTag(t, part)
		if !ok {
			// A map key (a step or board name) sits between tables.
			if t == reflect.TypeOf(Config{}) {
				return ""
			}
			continue
		}
		t = f.Type
	}
	for t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return ""
	}
	last := k[len(k)-1]
	best, bestD := "", min(3, len(last)/2)+1
	for i := 0; i < t.NumField(); i++ {
		name := tomlName(t.Field(i))
		if name == "-" {
			continue
		}
		if d := editDistance(last, name); d < bestD {
			best, bestD = name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		if tomlName(t.Field(i)) == tag {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// normalize fills derived defaults: layer paths and branches, URL and path
// placeholders. It runs after env overrides so they take part.
func normalize(c *Config) {
	for i := range c.Layers {
		l := &c.Layers[i]
		if l.Kind == "" {
			l.Kind = "other"
		}
		if l.Path == "" {
			l.Path = l.Name
		}
		if l.Branch == "" && l.Tag == "" {
			switch l.Kind {
			case "openxt":
				l.Branch = c.Build.Branch
			case "oe":
				l.Branch = c.Build.OEBranch
			case "bitbake":
				l.Branch = c.Build.BitbakeBranch
			}
		}
		if u, ok := c.Mirrors.Layers[l.Name]; ok {
			l.URL = u
		}
		l.URL = strings.NewReplacer(
			"{openxt_git_protocol}", c.Mirrors.OpenXTGitProtocol,
			"{openxt_git}", c.Mirrors.OpenXTGit,
			"{oe_git}", strings.TrimSuffix(c.Mirrors.OEGit, "/"),
		).Replace(l.URL)
	}
	c.Paths.Sstate = strings.ReplaceAll(c.Paths.Sstate, "{branch}", c.Build.Branch)
}

// hashOf is the sha256 of the resolved configuration's canonical TOML.
func hashOf(c *Config) string {
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	if err := enc.Encode(c); err != nil {
		panic(fmt.Sprintf("encode config: %v", err))
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:])
}

// Canonical returns the resolved configuration as TOML (written into the
// build dir as the effective config and into provenance).
func (c *Config) Canonical() []byte {
	var buf bytes.Buffer
	all := *c
	if c.LayerPool != nil {
		all.Layers = c.LayerPool
	}
	if err := toml.NewEncoder(&buf).Encode(&all); err != nil {
		panic(fmt.Sprintf("encode config: %v", err))
	}
	return buf.Bytes()
}

// Abs resolves p against the config file's directory.
func (c *Config) Abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Source.Dir, p)
}

// BuildDir is the absolute BitBake TOPDIR.
func (c *Config) BuildDir() string { return c.Abs(c.Paths.BuildDir) }

// LayersDir is the absolute directory layers are cloned into.
func (c *Config) LayersDir() string {
	if filepath.IsAbs(c.Paths.LayersDir) {
		return c.Paths.LayersDir
	}
	return filepath.Join(c.BuildDir(), c.Paths.LayersDir)
}

// LayerDir is the absolute checkout directory of a layer.
func (c *Config) LayerDir(l Layer) string { return filepath.Join(c.LayersDir(), l.Path) }

// GitCache is the absolute directory of the shared layer mirrors, or ""
// when checkouts keep their own objects.
func (c *Config) GitCache() string {
	if c.Paths.GitCache == "" {
		return ""
	}
	return c.Abs(c.Paths.GitCache)
}

// LockFile is the absolute path of the layer lock file.
func (c *Config) LockFile() string { return c.Abs(c.Paths.LockFile) }

// Layer returns the layer named name, board_only ones included.
func (c *Config) Layer(name string) (Layer, bool) {
	pool := c.LayerPool
	if pool == nil {
		pool = c.Layers
	}
	for _, l := range pool {
		if l.Name == name {
			return l, true
		}
	}
	return Layer{}, false
}
