package mirror

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/atomicfile"
	"github.com/xtbuild/xtbuild/internal/exitcode"
)

// AddACM files a hand-downloaded, license-walled file (an Intel SINIT ACM
// zip) into the mirror after checking it against the configured sha256.
// The file is matched to an [[acm]] entry by name, or by content when the
// browser saved it under another name; it is filed under the configured
// name, so the build's fetch finds it. It returns the entry it matched.
func AddACM(ctx context.Context, c *config.Config, file string) (config.ACM, error) {
	f, err := os.Open(file)
	if err != nil {
		return config.ACM{}, exitcode.UsageError(fmt.Errorf("add ACM: %w", err))
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return config.ACM{}, exitcode.UsageError(fmt.Errorf("add ACM: %s is not a regular file", file))
	}
	buf := make([]byte, bufSize)
	sum, _, err := hashFile(ctx, f, buf)
	if err != nil {
		return config.ACM{}, err
	}
	base := filepath.Base(file)
	var acm *config.ACM
	for i := range c.ACMs {
		if c.ACMs[i].Name == base {
			acm = &c.ACMs[i]
			break
		}
	}
	if acm == nil {
		for i := range c.ACMs {
			if c.ACMs[i].SHA256 == sum {
				acm = &c.ACMs[i]
				break
			}
		}
	}
	if acm == nil {
		return config.ACM{}, exitcode.UsageError(fmt.Errorf(
			"add ACM: %s (sha256 %s) matches no [[acm]] entry by name or sha256; configured: %s",
			file, sum, acmNames(c)))
	}
	if acm.SHA256 != sum {
		return *acm, exitcode.With(exitcode.Failure, fmt.Errorf(
			"add ACM: %s has sha256 %s, but %s must have %s; download it again from %s",
			file, sum, acm.Name, acm.SHA256, orUnknown(acm.Source)))
	}

	dir := c.Abs(c.Paths.Mirror)
	lk, err := lockMirror(dir)
	if err != nil {
		return *acm, err
	}
	defer lk.Unlock()
	idx, err := ReadIndex(dir)
	if err != nil {
		return *acm, err
	}
	if _, err := f.Seek(0, 0); err != nil {
		return *acm, fmt.Errorf("add ACM: %w", err)
	}
	out, err := atomicfile.Create(filepath.Join(dir, acm.Name), 0o644)
	if err != nil {
		return *acm, err
	}
	// Re-hash while copying: the file must not change between check and copy.
	again, _, err := hashReader(ctx, f, out.File, buf)
	if err == nil && again != sum {
		err = fmt.Errorf("%s changed while being copied", file)
	}
	if err != nil {
		out.Abort()
		return *acm, fmt.Errorf("add ACM: %w", err)
	}
	if err := out.Commit(); err != nil {
		return *acm, err
	}
	idx[acm.Name] = sum
	return *acm, idx.Write(dir)
}

// CheckACMs is the preflight a build runs before bitbake starts: every
// configured license-walled file must be in the mirror or in DL_DIR with
// its configured sha256, because no automated fetch can get it. The error
// names each missing file, where a person gets it and the expected sha256.
func CheckACMs(c *config.Config) error {
	locations := []string{c.Abs(c.Paths.Mirror), c.Abs(c.Paths.Downloads)}
	buf := make([]byte, bufSize)
	var missing []string
	for _, a := range c.ACMs {
		found := false
		var wrong []string
		for _, dir := range locations {
			path := filepath.Join(dir, a.Name)
			sum, _, err := hashPath(context.Background(), path, buf)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				wrong = append(wrong, fmt.Sprintf("%s is unreadable: %v", path, err))
				continue
			}
			if sum == a.SHA256 {
				found = true
				break
			}
			wrong = append(wrong, fmt.Sprintf("%s has sha256 %s", path, sum))
		}
		if found {
			continue
		}
		msg := fmt.Sprintf("  %s\n    get it from: %s\n    expected sha256: %s\n    then run: mage mirror:add <downloaded file>",
			a.Name, orUnknown(a.Source), a.SHA256)
		for _, w := range wrong {
			msg += "\n    found a wrong copy: " + w
		}
		missing = append(missing, msg)
	}
	if len(missing) == 0 {
		return nil
	}
	return exitcode.With(exitcode.Failure, fmt.Errorf(
		"%d license-walled file(s) missing from the mirror (%s) and DL_DIR (%s); automated builds cannot download them:\n%s",
		len(missing), locations[0], locations[1], strings.Join(missing, "\n")))
}

func acmNames(c *config.Config) string {
	if len(c.ACMs) == 0 {
		return "none (add [[acm]] entries with name, sha256 and source)"
	}
	names := make([]string, len(c.ACMs))
	for i, a := range c.ACMs {
		names[i] = a.Name
	}
	return strings.Join(names, ", ")
}

func orUnknown(s string) string {
	if s == "" {
		return "(no source configured)"
	}
	return s
}
