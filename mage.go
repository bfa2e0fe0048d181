//go:build ignore

// Zero-install entry point: `go run mage.go TARGET` builds and runs the
// Mage targets in magefile.go without mage installed. `go run` reports
// every failure as exit status 1; for the documented exit codes build a
// binary once with `go run mage.go -compile ./xtbuild` and run ./xtbuild.
package main

import (
	"os"

	"github.com/magefile/mage/mage"
)

func main() { os.Exit(mage.Main()) }
