package main

import (
	"context"
	"io"

	"github.com/xtbuild/xtbuild/tools/tpm"
)

func init() {
	register(applet{
		name:    "tpm",
		summary: "TPM 1.2/2.0 version, NV index listing, NV lock check and fix",
		main:    tpm.Main,
	})
	// Byte-exact drop-ins for tpm-tools 1.3.9, reached through links named
	// tpm_version and tpm_nvinfo (or `xt tpm_version ...`).
	for _, prog := range tpm.CompatPrograms {
		prog := prog
		register(applet{
			name:    prog,
			summary: "tpm-tools " + prog + " drop-in (TPM 1.2)",
			hidden:  true,
			main: func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
				return tpm.CompatMain(ctx, prog, args, stdout, stderr)
			},
		})
	}
}
