package serial

import (
	"strings"
	"testing"
)

func lspciPorts(t *testing.T, in string) []Port {
	t.Helper()
	ports, err := FromLspci(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

func bases(ps []Port) []uint64 {
	var b []uint64
	for _, p := range ps {
		b = append(b, p.IOBase)
	}
	return b
}

func sameBases(got []Port, want ...uint64) bool {
	b := bases(got)
	if len(b) != len(want) {
		return false
	}
	for i := range b {
		if b[i] != want[i] {
			return false
		}
	}
	return true
}

// The forms of lspci output people paste, written from lspci's own
// layouts (ls-vpd/ls-show: -v, -vv, -n, -nn, -k, -mm, -vmm).
func TestLspciForms(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		bases []uint64
		note  string // substring of the first port's note
	}{
		{"-n numeric only", "02:00.0 0700: 9710:9865 (rev 01) (prog-if 02 [16550])\n\tSubsystem: a000:1000\n\tI/O ports at e030 [size=8]\n\tI/O ports at e020 [size=8]\n",
			[]uint64{0xe030}, ""},
		{"-nn -k", "02:00.0 Serial controller [0700]: MosChip Semiconductor Technology Ltd. PCIe 9912 Multi-I/O Controller [9710:9912] (prog-if 02 [16550])\n" +
			"\tSubsystem: Device [a000:1000]\n\tFlags: fast devsel, IRQ 17\n\tI/O ports at e030 [size=8]\n\tMemory at f7d05000 (32-bit, non-prefetchable) [size=4K]\n" +
			"\tKernel driver in use: serial\n\tKernel modules: parport_serial\n", []uint64{0xe030}, ""},
		{"vfio-pci", "02:00.0 Serial controller: NetMos Technology PCIe 9912 Multi-I/O Controller (prog-if 02 [16550])\n" +
			"\tRegion 0: I/O ports at e030 [size=8]\n\tKernel driver in use: vfio-pci\n", []uint64{0xe030}, "vfio-pci"},
		{"Control I/O-", "02:00.0 Serial controller: NetMos Technology PCIe 9912 Multi-I/O Controller (prog-if 02 [16550])\n" +
			"\tControl: I/O- Mem+ BusMaster- SpecCycle- MemWINV- VGASnoop- ParErr- Stepping- SERR- FastB2B- DisINTx-\n" +
			"\tInterrupt: pin A routed to IRQ 17\n\tRegion 0: I/O ports at e030 [size=8]\n", []uint64{0xe030}, "Control: I/O-"},
		{"virtual region", "00:16.3 Serial controller: Intel Corporation Device 7ae3 (rev 11) (prog-if 02 [16550])\n" +
			"\tRegion 0: I/O ports at 3060 [virtual] [size=8]\n\tRegion 1: Memory at 94c1e000 (32-bit, non-prefetchable) [virtual] [size=4K]\n", []uint64{0x3060}, ""},
		{"PLX 9050 bridge block", "05:00.0 Serial controller: PLX Technology, Inc. PCI <-> IOBus Bridge [10b5:9050] (rev 01) (prog-if 02 [16550])\n" +
			"\tRegion 0: Memory at fe9ff000 (32-bit, non-prefetchable) [size=128]\n\tRegion 1: I/O ports at cc00 [size=128]\n" +
			"\tRegion 2: I/O ports at c880 [size=8]\n\tRegion 3: I/O ports at c800 [size=8]\n", []uint64{0xc880, 0xc800}, ""},
		{"bridge block only", "05:00.0 Serial controller: Acme Bridge [1234:5678] (prog-if 02 [16550])\n\tRegion 1: I/O ports at cc00 [size=128]\n",
			[]uint64{0}, "register block"},
		{"Oxford 954", "06:00.0 Serial controller [0700]: Oxford Semiconductor Ltd OX16PCI954 (Quad 16950 UART) function 0 (Uart) [1415:9501] (rev 01) (prog-if 06 [16950])\n" +
			"\tRegion 0: I/O ports at b800 [size=32]\n\tRegion 1: I/O ports at b400 [size=32]\n\tRegion 2: Memory at fe8ff000 (32-bit, non-prefetchable) [size=4K]\n",
			[]uint64{0xb800, 0xb808, 0xb810, 0xb818}, ""},
		{"WCH CH382 datasheet offsets", "07:00.0 Serial controller [0700]: Device [1c00:3253] (rev 10) (prog-if 05 [16850])\n" +
			"\tRegion 0: I/O ports at d000 [size=256]\n\tRegion 1: Memory at f7800000 (32-bit, non-prefetchable) [size=32K]\n",
			[]uint64{0xd0c0, 0xd0c8}, ""},
		{"NetMos 9835 2S1P", "08:00.0 Communication controller: NetMos Technology PCI 9835 Multi-I/O Controller [9710:9835] (rev 01)\n" +
			"\tRegion 0: I/O ports at ec00 [size=8]\n\tRegion 1: I/O ports at e800 [size=8]\n\tRegion 2: I/O ports at e400 [size=8]\n" +
			"\tRegion 3: I/O ports at e000 [size=8]\n\tRegion 4: I/O ports at dc00 [size=8]\n\tRegion 5: I/O ports at d800 [size=16]\n",
			[]uint64{0xec00, 0xe800}, ""},
		{"unassigned region", "09:00.0 Serial controller: Acme UART [1234:0001] (prog-if 02 [16550])\n\tRegion 0: I/O ports at <unassigned> [disabled] [size=8]\n",
			[]uint64{0}, "no I/O region"},
		{"-mm", "02:00.0 \"Serial controller\" \"NetMos Technology\" \"PCIe 9912 Multi-I/O Controller\" -p02 \"Device\" \"a000\"\n00:02.0 \"VGA compatible controller\" \"Intel Corporation\" \"HD Graphics\"\n",
			[]uint64{0}, "lspci -vv"},
		{"-vmm", "Slot:\t02:00.0\nClass:\tSerial controller\nVendor:\tNetMos Technology\nDevice:\tPCIe 9912 Multi-I/O Controller\nProgIf:\t02\nDriver:\tserial\n\nSlot:\t00:02.0\nClass:\tVGA compatible controller\n",
			[]uint64{0}, "lspci -vv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := lspciPorts(t, tc.in)
			if !sameBases(ps, tc.bases...) {
				t.Fatalf("bases %x, want %x: %+v", bases(ps), tc.bases, ps)
			}
			if tc.note != "" && !strings.Contains(ps[0].Note, tc.note) {
				t.Errorf("note %q, want %q", ps[0].Note, tc.note)
			}
			for _, p := range ps {
				opts, err := TbootOptions(p, DefaultOptions)
				if p.IOBase == 0 && err == nil {
					t.Errorf("offered serial= for a port without a UART window: %q", opts)
				}
			}
		})
	}
}

func TestSysfsMissingDirIsAnError(t *testing.T) {
	code, _, stderr := runMain(t, "find", "--sysfs", "/nonexistent/sys")
	if code != 1 || !strings.Contains(stderr, "/nonexistent/sys") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
