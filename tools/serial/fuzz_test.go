package serial

import (
	"os"
	"strings"
	"testing"
)

// FuzzFromLspci: any text parses without panicking, every port found has a
// PCI address, and every usable port renders valid tboot options.
func FuzzFromLspci(f *testing.F) {
	for _, p := range []string{"testdata/seed-nuc-lspci-vvv.txt", "testdata/seed-nuc-lspci.txt"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("00:16.3 Serial controller [0700]: x\n\tI/O ports at fffffffffffffffff [disabled] [size=99G]\n")
	f.Fuzz(func(t *testing.T, in string) {
		ports, err := FromLspci(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, p := range ports {
			if p.PCI == "" || p.Source != "lspci" {
				t.Fatalf("port without address: %+v", p)
			}
			if !p.Usable() {
				continue
			}
			opts, err := TbootOptions(p, DefaultOptions)
			if err != nil {
				if strings.Contains(err.Error(), "character limit") {
					continue // a 64-bit I/O base from garbage input
				}
				t.Fatalf("%+v: %v", p, err)
			}
			if !strings.HasPrefix(opts, "logging=serial serial=115200,8n1,0x") {
				t.Fatalf("options %q", opts)
			}
		}
	})
}
