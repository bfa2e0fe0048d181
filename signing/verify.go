package signing

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/xtbuild/xtbuild/manifest"
	"github.com/xtbuild/xtbuild/signing/keyfile"
	"github.com/xtbuild/xtbuild/signing/smime"
)

// Exit codes of verification, those of OpenXT's verify-repo-metadata.
const (
	ExitValid            = 0 // metadata and signature valid
	ExitSignatureInvalid = 1 // metadata valid except for the signature
	ExitMetadataInvalid  = 2 // metadata (or a listed file) invalid, or another error
)

// ProblemKind tells signature problems from metadata problems.
type ProblemKind int

const (
	MetadataProblem ProblemKind = iota
	SignatureProblem
)

func (k ProblemKind) String() string {
	if k == SignatureProblem {
		return "signature"
	}
	return "metadata"
}

// Problem is one named mismatch.
type Problem struct {
	Kind    ProblemKind
	Subject string // the file or component concerned
	Detail  string
}

func (p Problem) String() string { return fmt.Sprintf("%s: %s: %s", p.Kind, p.Subject, p.Detail) }

// Result is the outcome of Verify: every problem found, not just the first.
type Result struct {
	Problems []Problem
	// Warnings are oddities the device does not reject (e.g. an
	// XC-REPOSITORY that is not 1 MiB).
	Warnings []string
	// TrustedBy is "prod" or "dev": the CA that accepted the signature.
	TrustedBy string
	// Signers are the subjects of the signer certificates.
	Signers []string
	// Files is the number of XC-PACKAGES entries checked.
	Files int
}

// ExitCode follows verify-repo-metadata: 2 if any metadata is invalid
// (checked first on the device), else 1 if the signature is invalid, else 0.
func (r *Result) ExitCode() int {
	code := ExitValid
	for _, p := range r.Problems {
		if p.Kind == MetadataProblem {
			return ExitMetadataInvalid
		}
		code = ExitSignatureInvalid
	}
	return code
}

// OK reports whether the repository verified.
func (r *Result) OK() bool { return len(r.Problems) == 0 }

// Report writes one line per problem and warning, then a verdict.
func (r *Result) Report(w io.Writer) {
	for _, p := range r.Problems {
		fmt.Fprintln(w, p)
	}
	for _, s := range r.Warnings {
		fmt.Fprintln(w, "warning:", s)
	}
	switch r.ExitCode() {
	case ExitValid:
		fmt.Fprintf(w, "repository valid: %d files, signed by %s (%s CA)\n", r.Files, strings.Join(r.Signers, ", "), r.TrustedBy)
	case ExitSignatureInvalid:
		fmt.Fprintln(w, "repository metadata valid, signature NOT VALID")
	default:
		fmt.Fprintln(w, "repository metadata NOT VALID")
	}
}

func (r *Result) add(k ProblemKind, subject, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{Kind: k, Subject: subject, Detail: fmt.Sprintf(format, args...)})
}

// VerifyOptions are the device's trust inputs.
type VerifyOptions struct {
	// ProdCAFile is the production CA certificate (the device's
	// repo-certs/prod/cert.pem). Required.
	ProdCAFile string
	// DevCAFile is the development CA (repo-certs/dev/cert.pem), tried only
	// when AllowDev is set, as verify-repo-metadata -d does.
	DevCAFile string
	AllowDev  bool
	// SkipContents leaves out the per-file size and digest checks
	// (verify-repo-metadata without -p).
	SkipContents bool
	// Now is when certificates must be valid; zero means now.
	Now time.Time
}

// Verify checks packagesDir as an OpenXT device does: the XC-PACKAGES digest
// against XC-REPOSITORY's packages: line, the XC-SIGNATURE over XC-REPOSITORY
// against the production CA (and the dev CA only with AllowDev), then each
// listed file's size and digest. The error is for failures to run at all
// (unreadable CA, cancelled context, production and development CA with one
// key: ErrSameCA); what is wrong with the repository is in
// the Result.
func Verify(ctx context.Context, packagesDir string, opts VerifyOptions) (*Result, error) {
	if opts.ProdCAFile == "" {
		return nil, errors.New("verify repository: no production CA certificate given")
	}
	prod, err := certPool(opts.ProdCAFile)
	if err != nil {
		return nil, fmt.Errorf("verify repository: %w", err)
	}
	// With one key for both CAs a development signature would pass as a
	// release: refuse to judge rather than accept it.
	if opts.DevCAFile != "" {
		prodCAs, perr := keyfile.ReadCertificates(opts.ProdCAFile)
		devCAs, derr := keyfile.ReadCertificates(opts.DevCAFile)
		if perr == nil && derr == nil {
			if err := distinctCAs(prodCAs, devCAs, opts.ProdCAFile, opts.DevCAFile); err != nil {
				return nil, fmt.Errorf("verify repository: %w", err)
			}
		}
	}
	var dev *x509.CertPool
	if opts.AllowDev {
		if opts.DevCAFile == "" {
			return nil, errors.New("verify repository: dev signatures allowed but no dev CA certificate given")
		}
		if dev, err = certPool(opts.DevCAFile); err != nil {
			return nil, fmt.Errorf("verify repository: %w", err)
		}
	}
	r := &Result{}
	repo, pk := checkMetadata(packagesDir, r)
	if repo != nil {
		checkSignature(packagesDir, repo, prod, dev, opts.Now, r)
	}
	if pk != nil && !opts.SkipContents {
		if err := checkContents(ctx, packagesDir, pk, r); err != nil {
			return nil, fmt.Errorf("verify repository: %w", err)
		}
	}
	return r, nil
}

func certPool(path string) (*x509.CertPool, error) {
	certs, err := keyfile.ReadCertificates(path)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p, nil
}

// hashForHex picks the digest by hex length, as verify-repo-metadata does.
func hashForHex(s string) (crypto.Hash, bool) {
	switch len(s) {
	case 64:
		return crypto.SHA256, true
	case 96:
		return crypto.SHA384, true
	case 128:
		return crypto.SHA512, true
	}
	return 0, false
}

// checkMetadata reads XC-REPOSITORY and XC-PACKAGES and checks the packages:
// digest. It returns their contents (nil when unreadable).
func checkMetadata(dir string, r *Result) (repo, pk []byte) {
	repo, err := os.ReadFile(filepath.Join(dir, RepositoryFile))
	if err != nil {
		r.add(MetadataProblem, RepositoryFile, "cannot read: %v", err)
		repo = nil
	}
	pk, err = os.ReadFile(filepath.Join(dir, PackagesFile))
	if err != nil {
		r.add(MetadataProblem, PackagesFile, "cannot read: %v", err)
		pk = nil
	}
	if repo == nil {
		return nil, pk
	}
	if len(repo) != RepositorySize {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s is %d bytes, OpenXT writes %d", RepositoryFile, len(repo), RepositorySize))
	}
	var sums []string
	sc := bufio.NewScanner(bytes.NewReader(repo))
	sc.Buffer(make([]byte, 64<<10), RepositorySize)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "packages:"); ok {
			sums = append(sums, v)
		}
	}
	switch {
	case len(sums) == 0 || sums[0] == "":
		r.add(MetadataProblem, RepositoryFile, "XC-PACKAGES checksum MISSING (no packages: line)")
	case len(sums) > 1:
		r.add(MetadataProblem, RepositoryFile, "%d packages: lines, want one", len(sums))
	case pk != nil:
		want := strings.ToLower(sums[0])
		h, ok := hashForHex(want)
		if !ok {
			r.add(MetadataProblem, RepositoryFile, "packages: checksum %q has an invalid length", sums[0])
			break
		}
		md := h.New()
		md.Write(pk)
		if got := hex.EncodeToString(md.Sum(nil)); got != want {
			r.add(MetadataProblem, PackagesFile, "XC-PACKAGES checksum NOT VALID: %s is %s, XC-REPOSITORY packages: says %s", h, got, want)
		}
	}
	return repo, pk
}

func checkSignature(dir string, repo []byte, prod, dev *x509.CertPool, now time.Time, r *Result) {
	raw, err := os.ReadFile(filepath.Join(dir, SignatureFile))
	if err != nil {
		r.add(SignatureProblem, SignatureFile, "cannot read: %v", err)
		return
	}
	sd, err := smime.ParsePEM(raw)
	if err != nil {
		r.add(SignatureProblem, SignatureFile, "%v", err)
		return
	}
	signers, err := sd.Verify(repo, smime.VerifyOptions{Roots: prod, CurrentTime: now})
	if err == nil {
		r.TrustedBy = "prod"
	} else if dev != nil {
		var devErr error
		if signers, devErr = sd.Verify(repo, smime.VerifyOptions{Roots: dev, CurrentTime: now}); devErr == nil {
			r.TrustedBy, err = "dev", nil
		} else {
			err = fmt.Errorf("prod CA: %w; dev CA: %w", err, devErr)
		}
	}
	if err != nil {
		r.add(SignatureProblem, SignatureFile, "signature NOT VALID: %v", err)
		return
	}
	for _, s := range signers {
		r.Signers = append(r.Signers, s.Subject.String())
	}
}

// packageEntry is one parsed XC-PACKAGES line.
type packageEntry struct {
	line      int
	name, sum string
	size      int64
	file      string
}

func parsePackages(pk []byte, r *Result) []packageEntry {
	var out []packageEntry
	sc := bufio.NewScanner(bytes.NewReader(pk))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		subject := fmt.Sprintf("%s line %d", PackagesFile, n)
		if len(f) < 6 {
			r.add(MetadataProblem, subject, "want 7 fields, got %d", len(f))
			continue
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || size < 0 {
			r.add(MetadataProblem, subject, "bad size %q", f[1])
			continue
		}
		if !safeFileName(f[5]) {
			r.add(MetadataProblem, subject, "unsafe file name %q", f[5])
			continue
		}
		out = append(out, packageEntry{line: n, name: f[0], size: size, sum: strings.ToLower(f[2]), file: f[5]})
	}
	return out
}

func checkContents(ctx context.Context, dir string, pk []byte, r *Result) error {
	entries := parsePackages(pk, r)
	byHash := map[crypto.Hash][]packageEntry{}
	for _, e := range entries {
		subject := fmt.Sprintf("%s (%s)", e.name, e.file)
		h, ok := hashForHex(e.sum)
		if !ok {
			r.add(MetadataProblem, subject, "invalid checksum length %d", len(e.sum))
			continue
		}
		st, err := os.Stat(filepath.Join(dir, e.file))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			r.add(MetadataProblem, subject, "file missing")
			continue
		case err != nil:
			r.add(MetadataProblem, subject, "%v", err)
			continue
		case st.Size() != e.size:
			r.add(MetadataProblem, subject, "file size mismatch: %d bytes, XC-PACKAGES says %d", st.Size(), e.size)
			continue
		}
		byHash[h] = append(byHash[h], e)
	}
	r.Files = len(entries)
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		es := byHash[h]
		if len(es) == 0 {
			continue
		}
		paths := make([]string, len(es))
		for i, e := range es {
			paths[i] = filepath.Join(dir, e.file)
		}
		digests, err := manifest.HashFiles(ctx, paths, h, 0)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			for _, e := range es {
				r.add(MetadataProblem, fmt.Sprintf("%s (%s)", e.name, e.file), "cannot hash: %v", err)
			}
			continue
		}
		for i, e := range es {
			if got := hex.EncodeToString(digests[i].Sum); got != e.sum {
				r.add(MetadataProblem, fmt.Sprintf("%s (%s)", e.name, e.file), "hash mismatch: %s is %s, XC-PACKAGES says %s", h, got, e.sum)
			}
		}
	}
	return nil
}
