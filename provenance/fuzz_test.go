package provenance

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

// The member readers take artifacts from anywhere: no input may panic or
// allocate without bound.
func FuzzCPIOMembers(f *testing.F) {
	zr, _ := gzip.NewReader(bytes.NewReader(cpioGz(&testing.T{}, sampleTree)))
	raw, _ := io.ReadAll(zr)
	f.Add(raw)
	f.Add([]byte("070701"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cpioMembers(bufio.NewReader(bytes.NewReader(data)))
	})
}

func FuzzISOMembers(f *testing.F) {
	// A minimal volume: a primary descriptor whose root directory is the
	// sector after the terminator.
	img := make([]byte, 20*isoSector)
	pvd := img[16*isoSector:]
	pvd[0], pvd[6] = 1, 1
	copy(pvd[1:], "CD001")
	pvd[128], pvd[129] = 0, 8
	root := pvd[156:]
	root[0] = 34
	root[2] = 18
	root[10] = 0
	root[11] = 8
	root[25] = 2
	root[32] = 1
	term := img[17*isoSector:]
	term[0] = 255
	copy(term[1:], "CD001")
	f.Add(img)
	f.Fuzz(func(t *testing.T, data []byte) {
		isoMembers(bytes.NewReader(data))
	})
}
