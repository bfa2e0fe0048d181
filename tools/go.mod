module github.com/xtbuild/xtbuild/tools

go 1.22

require (
	github.com/google/go-tpm v0.9.8
	golang.org/x/sys v0.30.0
	golang.org/x/term v0.29.0
)
