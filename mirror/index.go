// Package mirror keeps a source mirror: a directory of completed BitBake
// downloads (and hand-downloaded, license-walled files such as Intel SINIT
// ACMs) with a sha256 index, which other build hosts use as a premirror.
//
// The index is the file SHA256SUMS at the mirror's root, in the format of
// GNU sha256sum, so a host without xtbuild can check a copy with
// `sha256sum -c SHA256SUMS`. Names starting with "." are xtbuild's own
// (lock, temporary files): they are never indexed or served.
package mirror

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/xtbuild/xtbuild/internal/atomicfile"
)

// IndexName is the index file at the mirror's root.
const IndexName = "SHA256SUMS"

// Index maps slash-separated paths relative to the mirror root to their
// lower-case hex sha256.
type Index map[string]string

// ReadIndex reads dir/SHA256SUMS. A missing index is an empty one.
func ReadIndex(dir string) (Index, error) {
	path := filepath.Join(dir, IndexName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Index{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read mirror index: %w", err)
	}
	idx, err := ParseIndex(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return idx, nil
}

// ParseIndex parses sha256sum output: "<hex>  <name>" or "<hex> *<name>"
// per line, with GNU's escaping (a leading backslash; \\ and \n in the name).
func ParseIndex(data []byte) (Index, error) {
	idx := Index{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		escaped := strings.HasPrefix(line, `\`)
		if escaped {
			line = line[1:]
		}
		if len(line) < 66 || (line[64:66] != "  " && line[64:66] != " *") {
			return nil, fmt.Errorf("line %d: want \"<sha256>  <name>\"", n)
		}
		sum := line[:64]
		if _, err := hex.DecodeString(sum); err != nil {
			return nil, fmt.Errorf("line %d: bad sha256 %q", n, sum)
		}
		name := line[66:]
		if escaped {
			var err error
			if name, err = unescapeName(name); err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
		}
		if err := checkRel(name); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if _, dup := idx[name]; dup {
			return nil, fmt.Errorf("line %d: %q listed twice", n, name)
		}
		idx[name] = strings.ToLower(sum)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return idx, nil
}

// Bytes renders the index sorted by name, byte-for-byte what sha256sum
// would print for the same files in that order.
func (idx Index) Bytes() []byte {
	names := idx.Names()
	var b bytes.Buffer
	for _, n := range names {
		sum := idx[n]
		if strings.ContainsAny(n, "\\\n") {
			b.WriteByte('\\')
			n = strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(n)
		}
		b.WriteString(sum)
		b.WriteString("  ")
		b.WriteString(n)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Names returns the indexed names, sorted.
func (idx Index) Names() []string {
	names := make([]string, 0, len(idx))
	for n := range idx {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Write atomically replaces dir/SHA256SUMS.
func (idx Index) Write(dir string) error {
	if err := atomicfile.WriteFile(filepath.Join(dir, IndexName), idx.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write mirror index: %w", err)
	}
	return nil
}

func unescapeName(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", fmt.Errorf("dangling backslash in %q", s)
		}
		i++
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		default:
			return "", fmt.Errorf("unknown escape \\%c in %q", s[i], s)
		}
	}
	return b.String(), nil
}

// checkRel accepts clean, relative, slash-separated names that stay inside
// the mirror and are not xtbuild's own hidden files.
func checkRel(name string) error {
	if name == "" || strings.HasPrefix(name, "/") {
		return fmt.Errorf("bad file name %q", name)
	}
	// Control characters would need escaping in the index and in URLs;
	// BitBake never produces them in download names.
	if strings.IndexFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return fmt.Errorf("file name %q contains control characters", name)
	}
	for _, el := range strings.Split(name, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Errorf("file name %q is not a clean relative path", name)
		}
		if strings.HasPrefix(el, ".") {
			return fmt.Errorf("file name %q has a hidden component", name)
		}
	}
	if name == IndexName {
		return fmt.Errorf("the index cannot list itself")
	}
	return nil
}
