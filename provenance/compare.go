package provenance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/xtbuild/xtbuild/manifest"
)

// Report is the outcome of a comparison, also written as JSON for CI.
type Report struct {
	A           string         `json:"a"`
	B           string         `json:"b"`
	Identical   bool           `json:"identical"`
	Compared    int            `json:"compared"` // artifacts looked at
	Differences []ArtifactDiff `json:"differences"`
}

// FileInfo is one side of a differing artifact.
type FileInfo struct {
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256"`
}

// ArtifactDiff is one artifact that is not the same on both sides.
type ArtifactDiff struct {
	Path    string       `json:"path"`
	Status  string       `json:"status"` // differs, only in a, only in b
	A       *FileInfo    `json:"a,omitempty"`
	B       *FileInfo    `json:"b,omitempty"`
	Format  string       `json:"format,omitempty"` // tar.gz, cpio.gz, iso9660, ...
	Members []MemberDiff `json:"members,omitempty"`
	Note    string       `json:"note,omitempty"`
}

// MemberDiff is one differing member inside an archive or image.
type MemberDiff struct {
	Name   string  `json:"name"`
	Status string  `json:"status"`           // content differs, metadata differs, only in a, only in b
	Detail string  `json:"detail,omitempty"` // which metadata
	A      *Member `json:"a,omitempty"`
	B      *Member `json:"b,omitempty"`
}

// side is one input of Compare: recorded artifacts and where their files
// are (if anywhere).
type side struct {
	label string
	base  string // directory artifact paths are relative to
	files map[string]FileInfo
}

// Compare compares two builds given as provenance files, manifests or
// build-output trees (with or without a manifest). Artifacts are compared
// by sha256; for each differing one whose files are present on both sides,
// the members of tar, cpio and ISO9660 artifacts are compared too. The
// report is Identical only when every artifact matches.
func Compare(ctx context.Context, a, b string) (*Report, error) {
	sa, err := openSide(a)
	if err != nil {
		return nil, err
	}
	sb, err := openSide(b)
	if err != nil {
		return nil, err
	}
	return compareSides(ctx, sa, sb), nil
}

// CompareWithSubjects compares a manifest (and the files beside it) with a
// provenance's recorded subjects.
func CompareWithSubjects(doc *Document, manifest string) (*Report, error) {
	sa := &side{label: "provenance", files: map[string]FileInfo{}}
	for p, s := range doc.Subjects() {
		sa.files[p] = FileInfo{SHA256: s}
	}
	sb, err := openSide(manifest)
	if err != nil {
		return nil, err
	}
	return compareSides(context.Background(), sa, sb), nil
}

func openSide(p string) (*side, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	s := &side{label: p, files: map[string]FileInfo{}}
	if st.IsDir() {
		s.base = p
		if _, err := os.Stat(filepath.Join(p, manifest.File)); err == nil {
			return s, s.readManifest(filepath.Join(p, manifest.File))
		}
		return s, s.walk()
	}
	s.base = filepath.Dir(p)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	var probe struct {
		Type      string            `json:"_type"`
		Artifacts []json.RawMessage `json:"artifacts"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("compare: %s is neither a provenance file nor a manifest: %w", p, err)
	}
	if probe.Type != "" {
		doc, err := Parse(data)
		if err != nil {
			return nil, fmt.Errorf("compare: %s: %w", p, err)
		}
		for path, sum := range doc.Subjects() {
			s.files[path] = FileInfo{SHA256: sum}
		}
		return s, nil
	}
	return s, s.readManifest(p)
}

func (s *side) readManifest(p string) error {
	m, err := manifest.Read(p)
	if err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	for _, a := range m.Artifacts {
		s.files[a.Path] = FileInfo{Size: a.Size, SHA256: a.SHA256}
	}
	return nil
}

// walk hashes every regular file of a tree without a manifest (provenance
// files, logs and buildstats are not artifacts).
func (s *side) walk() error {
	var paths []string
	err := filepath.WalkDir(s.base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.base, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "logs" || rel == "buildstats" {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || rel == File || rel == File+SignatureSuffix {
			return nil
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	sizes, sums, err := manifest.SHA256(context.Background(), paths)
	if err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	for i, p := range paths {
		rel, _ := filepath.Rel(s.base, p)
		s.files[filepath.ToSlash(rel)] = FileInfo{Size: sizes[i], SHA256: sums[i]}
	}
	return nil
}

// file returns the path of an artifact on disk when it holds the recorded
// bytes.
func (s *side) file(rel string) (string, string) {
	if s.base == "" {
		return "", "no files: only recorded hashes"
	}
	p := filepath.Join(s.base, filepath.FromSlash(rel))
	sum, err := fileSHA256(p)
	if err != nil {
		return "", fmt.Sprintf("%s is not readable", p)
	}
	if sum != s.files[rel].SHA256 {
		return "", fmt.Sprintf("%s no longer matches its record", p)
	}
	return p, ""
}

func compareSides(ctx context.Context, a, b *side) *Report {
	r := &Report{A: a.label, B: b.label, Differences: []ArtifactDiff{}}
	paths := map[string]bool{}
	for p := range a.files {
		paths[p] = true
	}
	for p := range b.files {
		paths[p] = true
	}
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	for _, p := range sorted {
		r.Compared++
		fa, inA := a.files[p]
		fb, inB := b.files[p]
		switch {
		case !inB:
			r.Differences = append(r.Differences, ArtifactDiff{Path: p, Status: "only in a", A: &fa})
		case !inA:
			r.Differences = append(r.Differences, ArtifactDiff{Path: p, Status: "only in b", B: &fb})
		case fa.SHA256 != fb.SHA256:
			r.Differences = append(r.Differences, compareArtifact(ctx, a, b, p, fa, fb))
		}
	}
	r.Identical = len(r.Differences) == 0
	return r
}

func compareArtifact(ctx context.Context, a, b *side, rel string, fa, fb FileInfo) ArtifactDiff {
	d := ArtifactDiff{Path: rel, Status: "differs", A: &fa, B: &fb}
	pa, why := a.file(rel)
	if pa == "" {
		d.Note = "a: " + why
		return d
	}
	pb, why := b.file(rel)
	if pb == "" {
		d.Note = "b: " + why
		return d
	}
	fmtA, ma, errA := Members(ctx, pa)
	fmtB, mb, errB := Members(ctx, pb)
	switch {
	case errors.Is(errA, ErrNoMembers) || errors.Is(errB, ErrNoMembers):
		d.Note = "no member-level comparison for this format; use diffoscope"
		return d
	case errA != nil || errB != nil:
		d.Note = strings.TrimSpace(fmt.Sprintf("reading members: %v %v", nilIf(errA), nilIf(errB)))
	}
	d.Format = fmtA
	if fmtA != fmtB {
		d.Format = fmtA + " / " + fmtB
	}
	d.Members = diffMembers(ma, mb)
	if len(d.Members) == 0 && d.Note == "" {
		d.Note = "every member is identical: the container itself differs (headers, order, padding, compression)"
	}
	return d
}

func nilIf(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func diffMembers(a, b map[string]Member) []MemberDiff {
	names := map[string]bool{}
	for n := range a {
		names[n] = true
	}
	for n := range b {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	var out []MemberDiff
	for _, n := range sorted {
		ma, inA := a[n]
		mb, inB := b[n]
		switch {
		case !inB:
			out = append(out, MemberDiff{Name: n, Status: "only in a", A: &ma})
		case !inA:
			out = append(out, MemberDiff{Name: n, Status: "only in b", B: &mb})
		case ma.SHA256 != mb.SHA256 || ma.Size != mb.Size || ma.Type != mb.Type || ma.Link != mb.Link:
			out = append(out, MemberDiff{Name: n, Status: "content differs", A: &ma, B: &mb})
		default:
			var what []string
			if ma.Mode != mb.Mode {
				what = append(what, "mode")
			}
			if ma.ModTime != mb.ModTime {
				what = append(what, "mtime")
			}
			if ma.UID != mb.UID || ma.GID != mb.GID {
				what = append(what, "owner")
			}
			if len(what) > 0 {
				out = append(out, MemberDiff{Name: n, Status: "metadata differs", Detail: strings.Join(what, ", "), A: &ma, B: &mb})
			}
		}
	}
	return out
}

// Text renders the report for a terminal.
func (r *Report) Text() string {
	var b strings.Builder
	if r.Identical {
		fmt.Fprintf(&b, "identical: %d artifacts match (%s, %s)\n", r.Compared, r.A, r.B)
		return b.String()
	}
	fmt.Fprintf(&b, "%d of %d artifacts differ (a: %s, b: %s)\n", len(r.Differences), r.Compared, r.A, r.B)
	for _, d := range r.Differences {
		fmt.Fprintf(&b, "%s: %s", d.Path, d.Status)
		if d.A != nil && d.B != nil {
			fmt.Fprintf(&b, " (a %s %d bytes, b %s %d bytes)", short(d.A.SHA256), d.A.Size, short(d.B.SHA256), d.B.Size)
		}
		if d.Format != "" {
			fmt.Fprintf(&b, " [%s]", d.Format)
		}
		b.WriteString("\n")
		for _, m := range d.Members {
			fmt.Fprintf(&b, "    %s: %s", m.Name, m.Status)
			if m.Detail != "" {
				fmt.Fprintf(&b, " (%s)", m.Detail)
			}
			if m.A != nil && m.B != nil {
				fmt.Fprintf(&b, " a %s %d bytes, b %s %d bytes", short(m.A.SHA256), m.A.Size, short(m.B.SHA256), m.B.Size)
			}
			b.WriteString("\n")
		}
		if d.Note != "" {
			fmt.Fprintf(&b, "    note: %s\n", d.Note)
		}
	}
	return b.String()
}

// JSON renders the report for CI.
func (r *Report) JSON() []byte {
	data, _ := json.MarshalIndent(r, "", "  ")
	return append(data, '\n')
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	if s == "" {
		return "-"
	}
	return s
}
