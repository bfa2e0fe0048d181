package main

import "github.com/xtbuild/xtbuild/tools/tpm"

func init() {
	register(applet{
		name:    "tpm",
		summary: "TPM 1.2/2.0 version, NV index listing, NV lock check and fix",
		main:    tpm.Main,
	})
}
