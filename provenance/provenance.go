// Package provenance records what went into a build as an in-toto Statement
// v1 with a SLSA Provenance v1 predicate (provenance.json beside the
// manifest), signs it as a detached S/MIME file openssl verifies, rebuilds a
// build tree from a provenance file alone, and compares two builds down to
// the members of their tar, cpio and ISO9660 artifacts.
package provenance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	ita "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/atomicfile"
	"github.com/xtbuild/xtbuild/layers"
	"github.com/xtbuild/xtbuild/manifest"
	"github.com/xtbuild/xtbuild/mirror"
	"github.com/xtbuild/xtbuild/plan"
)

const (
	// File is the provenance's name inside build-output/<NAME>/.
	File = "provenance.json"
	// SignatureSuffix names the detached PEM S/MIME signature beside it.
	SignatureSuffix = ".sig"
	// PredicateType is SLSA Provenance v1.
	PredicateType = "https://slsa.dev/provenance/v1"
	// BuildType identifies how xtbuild's buildDefinition is to be read.
	BuildType = "https://github.com/xtbuild/xtbuild/provenance/bitbake/v1"
	// BuilderID names the builder: xtbuild driving BitBake on a host the
	// statement describes in runDetails.builder.version.
	BuilderID = "https://github.com/xtbuild/xtbuild/builder/local/v1"
)

// Resource name prefixes in resolvedDependencies.
const (
	prefixLayer  = "layer:"
	prefixMirror = "mirror:"
	// prefixSrcrev names a recipe source that follows a branch, pinned by
	// setupoe (xtbuild.lock [[srcrev]]): srcrev:<recipe>[:<name>].
	prefixSrcrev = "srcrev:"
	prefixACM    = "acm:"
	prefixCert   = "certificate:"
	lockResource = "xtbuild.lock"
)

// errNoArtifacts: a build that produced nothing (only setupoe ran) has
// nothing to attest.
var errNoArtifacts = errors.New("lists no artifacts")

// IsEmpty reports whether err says the build has produced no artifact yet.
func IsEmpty(err error) bool { return errors.Is(err, errNoArtifacts) }

// BuildInfo is what the caller knows about the run beyond the config.
type BuildInfo struct {
	Board    string    // board name for a board build ("" for the main build)
	Steps    []string  // steps requested ("" means the configured list)
	Started  time.Time // when the build started
	Finished time.Time // when it finished
	Version  string    // xtbuild version ("" reads the Go build info)
	Commit   string    // xtbuild commit ("" reads the Go build info)
	// Workers names the worker that built each step (a build fanned out
	// over buildbot workers; one host otherwise). Recorded as one
	// runDetails byproduct per step, "step:<name>" with a worker
	// annotation.
	Workers map[string]string
}

// stepPrefix names a step's byproduct in runDetails.
const stepPrefix = "step:"

// BuildConfig is the configuration a build ran with: c itself, or the
// board's derived config.
func BuildConfig(c *config.Config, board string) (*config.Config, error) {
	if board == "" {
		return c, nil
	}
	return c.ForBoard(board)
}

// Path is where the provenance of the build of c (and board) lives.
func Path(c *config.Config, board string) (string, error) {
	d, err := BuildConfig(c, board)
	if err != nil {
		return "", err
	}
	return filepath.Join(d.Abs(d.Paths.OutputDir), plan.BuildName(d), File), nil
}

// Generate builds the statement for the finished build of c (the main
// config; info.Board selects a board build). It reads the manifest, the
// lock, the mirror index and the layer clones; it does not write anything.
func Generate(c *config.Config, info BuildInfo) (*ita.Statement, error) {
	d, err := BuildConfig(c, info.Board)
	if err != nil {
		return nil, err
	}
	p, err := plan.Resolve(d, nil, info.Steps...)
	if err != nil {
		return nil, err
	}
	outDir := filepath.Join(p.OutputDir, p.Name)
	m, err := manifest.Read(filepath.Join(outDir, manifest.File))
	if err != nil {
		return nil, err
	}
	if len(m.Artifacts) == 0 {
		return nil, fmt.Errorf("provenance: %s: %w", filepath.Join(outDir, manifest.File), errNoArtifacts)
	}
	stmt := &ita.Statement{Type: ita.StatementTypeUri, PredicateType: PredicateType}
	for _, a := range m.Artifacts {
		stmt.Subject = append(stmt.Subject, &ita.ResourceDescriptor{Name: a.Path, Digest: map[string]string{"sha256": a.SHA256}})
	}

	deps, err := dependencies(d)
	if err != nil {
		return nil, err
	}
	stepNames := info.Steps
	if len(stepNames) == 0 {
		stepNames = d.Build.Steps
	}
	ext, err := structpb.NewStruct(map[string]any{
		"config":       string(c.Canonical()),
		"configSha256": c.Source.Hash,
		"board":        info.Board,
		"steps":        anyList(stepNames),
		"name":         p.Name,
	})
	if err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	var planSteps []any
	for _, s := range p.Steps {
		planSteps = append(planSteps, map[string]any{
			"name": s.Name, "kind": s.Kind, "machine": s.Machine,
			"images": anyList(s.Images), "command": anyList(s.Command),
		})
	}
	internal, err := structpb.NewStruct(map[string]any{
		"buildConfigSha256": d.Source.Hash,
		"release":           d.Build.Release,
		"plan":              planSteps,
	})
	if err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}

	manifestSum, err := fileSHA256(filepath.Join(outDir, manifest.File))
	if err != nil {
		return nil, err
	}
	version, commit := info.Version, info.Commit
	if version == "" || commit == "" {
		v, cm := selfVersion()
		version, commit = or(version, v), or(commit, cm)
	}
	host := HostFacts(d)
	host["xtbuild"] = version
	host["xtbuild_commit"] = commit
	byproducts := []*ita.ResourceDescriptor{{Name: manifest.File, Digest: map[string]string{"sha256": manifestSum}, MediaType: "application/json"}}
	workerSteps := make([]string, 0, len(info.Workers))
	for s := range info.Workers {
		workerSteps = append(workerSteps, s)
	}
	sort.Strings(workerSteps)
	for _, s := range workerSteps {
		ann, err := structpb.NewStruct(map[string]any{"worker": info.Workers[s]})
		if err != nil {
			return nil, fmt.Errorf("provenance: %w", err)
		}
		byproducts = append(byproducts, &ita.ResourceDescriptor{Name: stepPrefix + s, Annotations: ann})
	}
	pred := &slsa.Provenance{
		BuildDefinition: &slsa.BuildDefinition{
			BuildType:            BuildType,
			ExternalParameters:   ext,
			InternalParameters:   internal,
			ResolvedDependencies: deps,
		},
		RunDetails: &slsa.RunDetails{
			Builder: &slsa.Builder{Id: BuilderID, Version: host},
			Metadata: &slsa.BuildMetadata{
				InvocationId: fmt.Sprintf("%s@%d", p.Name, info.Started.Unix()),
				StartedOn:    timestamppb.New(info.Started),
				FinishedOn:   timestamppb.New(info.Finished),
			},
			Byproducts: byproducts,
		},
	}
	if err := pred.Validate(); err != nil {
		return nil, fmt.Errorf("provenance: SLSA predicate invalid: %w", err)
	}
	if stmt.Predicate, err = toStruct(pred); err != nil {
		return nil, err
	}
	if err := stmt.Validate(); err != nil {
		return nil, fmt.Errorf("provenance: in-toto statement invalid: %w", err)
	}
	return stmt, nil
}

// dependencies lists the resolved inputs: every layer at its exact commit,
// the lock file itself (content included, so a rebuild can restore it byte
// for byte), the CA certificates images bake in, the mirror's files and
// the license-walled ACMs.
func dependencies(d *config.Config) ([]*ita.ResourceDescriptor, error) {
	lockData, err := os.ReadFile(d.LockFile())
	if err != nil {
		return nil, fmt.Errorf("provenance: the layer lock is an input: %w", err)
	}
	lock, err := layers.ReadLock(d.LockFile())
	if err != nil {
		return nil, err
	}
	if why := lock.Stale(d.Layers); why != "" {
		return nil, fmt.Errorf("provenance: %s does not match the config: %s", d.LockFile(), why)
	}
	var deps []*ita.ResourceDescriptor
	for _, l := range lock.Layers {
		ann, _ := structpb.NewStruct(map[string]any{"url": l.URL, "ref": l.Ref})
		deps = append(deps, &ita.ResourceDescriptor{
			Name: prefixLayer + l.Name, Uri: gitURI(l.URL), Digest: map[string]string{"gitCommit": l.Commit}, Annotations: ann,
		})
	}
	for _, x := range lock.Srcrevs {
		name := x.Recipe
		if x.Name != "" {
			name += ":" + x.Name
		}
		ann, _ := structpb.NewStruct(map[string]any{"url": x.URL, "branch": x.Branch, "from": x.From})
		dep := &ita.ResourceDescriptor{Name: prefixSrcrev + name, Digest: map[string]string{"gitCommit": x.Commit}, Annotations: ann}
		if x.URL != "" {
			dep.Uri = gitURI(x.URL)
		}
		deps = append(deps, dep)
	}
	deps = append(deps, &ita.ResourceDescriptor{Name: lockResource, Digest: map[string]string{"sha256": sum(lockData)}, Content: lockData, MediaType: "application/toml"})

	for _, cert := range []struct{ key, path string }{{"prod_ca_cert", d.Signing.ProdCACert}, {"dev_ca_cert", d.Signing.DevCACert}} {
		data, err := os.ReadFile(d.Abs(cert.path))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("provenance: %w", err)
		}
		deps = append(deps, &ita.ResourceDescriptor{Name: prefixCert + cert.key, Digest: map[string]string{"sha256": sum(data)}, Content: data, MediaType: "application/x-pem-file"})
	}

	idx, err := mirror.ReadIndex(d.Abs(d.Paths.Mirror))
	if err != nil {
		return nil, err
	}
	acms := map[string]bool{}
	for _, a := range d.ACMs {
		acms[a.Name] = true
		ann, _ := structpb.NewStruct(map[string]any{"source": a.Source})
		deps = append(deps, &ita.ResourceDescriptor{Name: prefixACM + a.Name, Digest: map[string]string{"sha256": a.SHA256}, Annotations: ann})
	}
	names := make([]string, 0, len(idx))
	for n := range idx {
		if !acms[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		deps = append(deps, &ita.ResourceDescriptor{Name: prefixMirror + n, Digest: map[string]string{"sha256": idx[n]}})
	}
	return deps, nil
}

// gitURI is the SPDX-style download location of a layer repository.
func gitURI(u string) string {
	if filepath.IsAbs(u) {
		u = "file://" + u
	}
	return "git+" + u
}

// Write generates the provenance and stores it atomically beside the
// manifest, returning its path.
func Write(c *config.Config, info BuildInfo) (string, error) {
	stmt, err := Generate(c, info)
	if err != nil {
		return "", err
	}
	data, err := Marshal(stmt)
	if err != nil {
		return "", err
	}
	path, err := Path(c, info.Board)
	if err != nil {
		return "", err
	}
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
		return "", fmt.Errorf("write provenance: %w", err)
	}
	return path, nil
}

// Marshal renders a statement as indented JSON (protojson's own output is
// deliberately unstable in whitespace; this is not).
func Marshal(stmt *ita.Statement) ([]byte, error) {
	raw, err := protojson.Marshal(stmt)
	if err != nil {
		return nil, fmt.Errorf("encode provenance: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return nil, fmt.Errorf("encode provenance: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// Document is a parsed and validated provenance file.
type Document struct {
	Statement  *ita.Statement
	Provenance *slsa.Provenance
}

// Parse reads a statement and its SLSA predicate and runs both validators.
func Parse(data []byte) (*Document, error) {
	var stmt ita.Statement
	if err := protojson.Unmarshal(data, &stmt); err != nil {
		return nil, fmt.Errorf("parse provenance: %w", err)
	}
	if err := stmt.Validate(); err != nil {
		return nil, fmt.Errorf("provenance: in-toto statement invalid: %w", err)
	}
	if stmt.GetPredicateType() != PredicateType {
		return nil, fmt.Errorf("provenance: predicate type %q, want %q", stmt.GetPredicateType(), PredicateType)
	}
	raw, err := protojson.Marshal(stmt.GetPredicate())
	if err != nil {
		return nil, fmt.Errorf("parse provenance: %w", err)
	}
	var pred slsa.Provenance
	if err := protojson.Unmarshal(raw, &pred); err != nil {
		return nil, fmt.Errorf("parse provenance predicate: %w", err)
	}
	if err := pred.Validate(); err != nil {
		return nil, fmt.Errorf("provenance: SLSA predicate invalid: %w", err)
	}
	if pred.GetBuildDefinition().GetBuildType() != BuildType {
		return nil, fmt.Errorf("provenance: build type %q is not xtbuild's", pred.GetBuildDefinition().GetBuildType())
	}
	return &Document{Statement: &stmt, Provenance: &pred}, nil
}

// ReadFile parses a provenance file (without checking its signature; see
// Verify).
func ReadFile(path string) (*Document, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read provenance: %w", err)
	}
	doc, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return doc, nil
}

// external returns a string field of the build's external parameters.
func (d *Document) external(key string) string {
	return d.Provenance.GetBuildDefinition().GetExternalParameters().GetFields()[key].GetStringValue()
}

func (d *Document) internal(key string) string {
	return d.Provenance.GetBuildDefinition().GetInternalParameters().GetFields()[key].GetStringValue()
}

// Board is the board of a board build, "" for the main build.
func (d *Document) Board() string { return d.external("board") }

// Name is the build NAME.
func (d *Document) Name() string { return d.external("name") }

// Steps are the steps requested.
func (d *Document) Steps() []string {
	var out []string
	for _, v := range d.Provenance.GetBuildDefinition().GetExternalParameters().GetFields()["steps"].GetListValue().GetValues() {
		out = append(out, v.GetStringValue())
	}
	return out
}

// Workers maps each step to the worker that built it, as recorded.
func (d *Document) Workers() map[string]string {
	out := map[string]string{}
	for _, r := range d.Provenance.GetRunDetails().GetByproducts() {
		if s, ok := strings.CutPrefix(r.GetName(), stepPrefix); ok {
			out[s] = r.GetAnnotations().GetFields()["worker"].GetStringValue()
		}
	}
	return out
}

// Subjects maps artifact paths to their sha256.
func (d *Document) Subjects() map[string]string {
	out := map[string]string{}
	for _, s := range d.Statement.GetSubject() {
		out[s.GetName()] = s.GetDigest()["sha256"]
	}
	return out
}

// dependency finds a resolved dependency by name.
func (d *Document) dependency(name string) *ita.ResourceDescriptor {
	for _, r := range d.Provenance.GetBuildDefinition().GetResolvedDependencies() {
		if r.GetName() == name {
			return r
		}
	}
	return nil
}

func toStruct(p *slsa.Provenance) (*structpb.Struct, error) {
	raw, err := protojson.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode predicate: %w", err)
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(raw, s); err != nil {
		return nil, fmt.Errorf("encode predicate: %w", err)
	}
	return s, nil
}

func anyList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func sum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

func fileSHA256(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("provenance: %w", err)
	}
	return sum(data), nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// selfVersion reads xtbuild's module version and VCS commit from the Go
// build info (set by go build in a git checkout).
func selfVersion() (version, commit string) {
	version, commit = "devel", "unknown"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		version = v
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && commit != "unknown" {
		commit += "+modified"
	}
	return strings.TrimSpace(version), commit
}
