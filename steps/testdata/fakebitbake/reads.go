package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// XTBUILD_FAKE_READS in an image recipe names files (relative to
// ${TMPDIR}/deploy) that the image takes from the deploy dir while it
// builds, as OpenXT's dom0 takes the stubdomain initramfs that another
// MACHINE's build deployed there (BitBake cannot order that across
// MACHINEs; the step graph does). Their bytes are inputs of the image; a
// missing one fails do_rootfs, as the real recipe's copy would.

// deployReads returns the recipe text extended with the bytes' digests of
// the files it reads, or the first file that is missing.
func deployReads(tmpdir string, r recipe) (text []byte, missing string) {
	text = r.text
	for _, f := range strings.Fields(r.vars["XTBUILD_FAKE_READS"]) {
		data, err := os.ReadFile(filepath.Join(tmpdir, "deploy", filepath.FromSlash(f)))
		if err != nil {
			return nil, f
		}
		sum := sha256.Sum256(data)
		text = append(append([]byte(nil), text...), fmt.Sprintf("\nreads %s %s", f, hex.EncodeToString(sum[:]))...)
	}
	return text, ""
}

// readsOK reports a missing deploy input the way a failing recipe task
// does; it returns false when the task must fail.
func readsOK(tmpdir string, r recipe, task string) bool {
	if task != "do_rootfs" {
		return true
	}
	if _, missing := deployReads(tmpdir, r); missing != "" {
		fmt.Printf("ERROR: cp: cannot stat '%s': No such file or directory\n", filepath.Join(tmpdir, "deploy", missing))
		return false
	}
	return true
}
