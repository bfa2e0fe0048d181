package targets

import (
	"testing"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/signing"
)

// sign signs what the profile's [[repository]] (bordel's images-manifest)
// lists, under the names the steps stage into raw/.
func TestRepoManifestFromProfile(t *testing.T) {
	c, err := config.Parse("", nil, "/srv", nil)
	if err != nil {
		t.Fatal(err)
	}
	m := signing.ManifestOf(c)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	want := []string{"control tarbz2 control.tar.bz2 /", "dom0 ext3gz dom0-rootfs.ext3.gz /", "uivm vhdgz uivm-rootfs.ext3.vhd.gz /storage/uivm",
		"ndvm vhdgz ndvm-rootfs.ext3.disk.vhd.gz /storage/ndvm", "syncvm vhdgz syncvm-rootfs.ext3.vhd.gz /storage/syncvm", "file gz usbvm.vhd.gz /storage/disks//usbvm.vhd"}
	if len(m) != len(want) {
		t.Fatalf("manifest %+v", m)
	}
	for i, comp := range m {
		if got := comp.Name + " " + comp.Format + " " + comp.File + " " + comp.Destination; got != want[i] || !comp.Required {
			t.Errorf("entry %d = %q (required %v), want %q", i, got, comp.Required, want[i])
		}
	}
}
