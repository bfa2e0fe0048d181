package serial

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeSysfs is a stand-in for /sys, laid out the way the kernel lays it
// out: real directories under /devices, and /class/tty and /bus/pci/devices
// made of symlinks into them.
type fakeSysfs struct {
	t    *testing.T
	root string
}

func newFakeSysfs(t *testing.T) *fakeSysfs {
	return &fakeSysfs{t: t, root: filepath.Join(t.TempDir(), "sys")}
}

func (f *fakeSysfs) write(rel, content string) {
	f.t.Helper()
	p := filepath.Join(f.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeSysfs) link(rel, target string) {
	f.t.Helper()
	p := filepath.Join(f.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	relTarget, err := filepath.Rel(filepath.Dir(p), filepath.Join(f.root, target))
	if err != nil {
		f.t.Fatal(err)
	}
	if err := os.Symlink(relTarget, p); err != nil {
		f.t.Fatal(err)
	}
}

// bar is one line of a PCI resource file.
type bar struct{ start, end, flags uint64 }

// pciDevice adds a PCI function below a root port, with 7 resource lines
// (BARs 0-5 and the ROM) as a normal device has.
func (f *fakeSysfs) pciDevice(addr string, class, vendor, device uint32, irq int, bars ...bar) string {
	dir := filepath.Join("devices", "pci0000:00", "0000:00:1c.0", addr)
	var res strings.Builder
	for i := 0; i < 7; i++ {
		b := bar{}
		if i < len(bars) {
			b = bars[i]
		}
		fmt.Fprintf(&res, "0x%016x 0x%016x 0x%016x\n", b.start, b.end, b.flags)
	}
	f.write(filepath.Join(dir, "resource"), res.String())
	f.write(filepath.Join(dir, "class"), fmt.Sprintf("0x%06x\n", class))
	f.write(filepath.Join(dir, "vendor"), fmt.Sprintf("0x%04x\n", vendor))
	f.write(filepath.Join(dir, "device"), fmt.Sprintf("0x%04x\n", device))
	f.write(filepath.Join(dir, "irq"), fmt.Sprintf("%d\n", irq))
	f.link(filepath.Join("bus", "pci", "devices", addr), dir)
	return dir
}

// uart adds a ttyS below parent. With serialCore, the tty hangs below the
// serial core's controller and port devices, as on Linux 6.5 and later.
func (f *fakeSysfs) uart(name, parent string, serialCore bool, attrs map[string]string) {
	owner := parent
	if serialCore {
		base := filepath.Base(parent)
		owner = filepath.Join(parent, base+":0", base+":0.0")
	}
	dir := filepath.Join(owner, "tty", name)
	defaults := map[string]string{"type": "4", "io_type": "0", "iomem_base": "0x0", "iomem_reg_shift": "0", "uartclk": "1843200", "line": strings.TrimPrefix(name, "ttyS")}
	for k, v := range attrs {
		defaults[k] = v
	}
	for k, v := range defaults {
		f.write(filepath.Join(dir, k), v+"\n")
	}
	f.link(filepath.Join(dir, "device"), owner)
	f.link(filepath.Join("class", "tty", name), dir)
}

const (
	ioBAR  = 0x40101 // IORESOURCE_IO | SIZEALIGN | I/O BAR type bit
	memBAR = 0x40200
)

// buildMachine makes a machine like the NUC with the StarTech card, plus
// the other kinds of UART a board may have.
func buildMachine(t *testing.T, serialCore bool) *fakeSysfs {
	f := newFakeSysfs(t)
	// Legacy COM1 from ACPI/PNP, and the 8250 driver's empty placeholders
	// that still show legacy addresses.
	pnp := filepath.Join("devices", "pnp0", "00:04")
	f.write(filepath.Join(pnp, "id"), "PNP0501\n")
	f.write(filepath.Join(pnp, "resources"), "state = active\nio 0x3f8-0x3ff\nirq 4\n")
	f.uart("ttyS0", pnp, serialCore, map[string]string{"port": "0x3F8", "irq": "4"})
	platform := filepath.Join("devices", "platform", "serial8250")
	f.uart("ttyS1", platform, false, map[string]string{"port": "0x2F8", "irq": "3", "type": "0"})
	f.uart("ttyS2", platform, false, map[string]string{"port": "0x3E8", "irq": "4", "type": "0"})
	f.uart("ttyS3", platform, false, map[string]string{"port": "0x2E8", "irq": "3", "type": "0"})
	// The seed's NetMos 9912 card: two functions, one UART each.
	d0 := f.pciDevice("0000:02:00.0", 0x070002, 0x9710, 0x9912, 17,
		bar{0xe030, 0xe037, ioBAR}, bar{0xf7d05000, 0xf7d05fff, memBAR}, bar{}, bar{}, bar{}, bar{0xf7d04000, 0xf7d04fff, memBAR})
	d1 := f.pciDevice("0000:02:00.1", 0x070002, 0x9710, 0x9912, 18,
		bar{0xe020, 0xe027, ioBAR}, bar{0xf7d03000, 0xf7d03fff, memBAR}, bar{}, bar{}, bar{}, bar{0xf7d02000, 0xf7d02fff, memBAR})
	f.uart("ttyS4", d0, serialCore, map[string]string{"port": "0xE030", "irq": "17"})
	f.uart("ttyS5", d1, serialCore, map[string]string{"port": "0xE020", "irq": "18"})
	// A four-port card with all UARTs in one 32-byte I/O BAR and a faster
	// input clock (8250_pci sets uartclk per card).
	d2 := f.pciDevice("0000:03:00.0", 0x070002, 0x1415, 0x9501, 19, bar{0xd000, 0xd01f, ioBAR})
	for i := 0; i < 4; i++ {
		f.uart(fmt.Sprintf("ttyS%d", 6+i), d2, serialCore, map[string]string{"port": fmt.Sprintf("0x%X", 0xd000+8*i), "irq": "19", "uartclk": "14745600"})
	}
	// An Intel LPSS-style memory-mapped UART: tboot cannot use it.
	d3 := f.pciDevice("0000:00:1e.0", 0x118000, 0x8086, 0x9d27, 20, bar{0xfe032000, 0xfe032fff, memBAR})
	f.uart("ttyS10", d3, serialCore, map[string]string{"port": "0x0", "io_type": "2", "iomem_base": "0xFE032000", "irq": "20"})
	// The ME's KT (SOL) controller with its driver not loaded: found from
	// the PCI class alone.
	f.pciDevice("0000:00:16.3", 0x070002, 0x8086, 0x1e3d, 0, bar{0xf0e0, 0xf0e7, ioBAR}, bar{0xf7e24000, 0xf7e24fff, memBAR})
	// Something that is not a serial port at all.
	f.pciDevice("0000:00:02.0", 0x030000, 0x8086, 0x0166, 16, bar{0xf7800000, 0xf7bfffff, memBAR}, bar{}, bar{}, bar{}, bar{0xf000, 0xf03f, ioBAR})
	return f
}

func TestFromSysfs(t *testing.T) {
	for _, serialCore := range []bool{false, true} {
		t.Run(fmt.Sprintf("serialcore=%v", serialCore), func(t *testing.T) {
			f := buildMachine(t, serialCore)
			ports, err := FromSysfs(f.root)
			if err != nil {
				t.Fatal(err)
			}
			byName := map[string]Port{}
			var order []string
			for _, p := range ports {
				k := p.TTY
				if k == "" {
					k = p.PCI
				}
				byName[k] = p
				order = append(order, k)
			}
			wantOrder := "ttyS0 ttyS4 ttyS5 ttyS6 ttyS7 ttyS8 ttyS9 ttyS10 0000:00:16.3"
			if got := strings.Join(order, " "); got != wantOrder {
				t.Errorf("ports %s, want %s (placeholders ttyS1-3 and the GPU must be left out)", got, wantOrder)
			}
			check := func(name, pci string, io uint64, irq int) {
				t.Helper()
				p := byName[name]
				if p.PCI != pci || p.IOBase != io || p.IRQ != irq {
					t.Errorf("%s = %+v, want pci %q io 0x%x irq %d", name, p, pci, io, irq)
				}
			}
			check("ttyS0", "", 0x3f8, 4)
			check("ttyS4", "0000:02:00.0", 0xe030, 17)
			check("ttyS5", "0000:02:00.1", 0xe020, 18)
			check("ttyS7", "0000:03:00.0", 0xd008, 19)
			check("0000:00:16.3", "0000:00:16.3", 0xf0e0, 0)
			if p := byName["ttyS0"]; p.Desc != "pnp 00:04 (PNP0501)" {
				t.Errorf("ttyS0 desc %q", p.Desc)
			}
			if p := byName["ttyS4"]; p.Desc != "pci 9710:9912" || p.IOSize != 8 {
				t.Errorf("ttyS4 = %+v", p)
			}
			if p := byName["ttyS10"]; p.Usable() || p.MMIOBase != 0xfe032000 || !strings.Contains(p.Note, "port I/O") {
				t.Errorf("ttyS10 = %+v", p)
			}
		})
	}
}

func TestTbootOptions(t *testing.T) {
	tests := []struct {
		p    Port
		o    Options
		want string
		err  string
	}{
		{p: Port{IOBase: 0xe030}, o: DefaultOptions, want: "logging=serial serial=115200,8n1,0xe030"},
		{p: Port{IOBase: 0x3f8, UARTClock: StandardClock}, o: Options{Baud: 57600, Format: "8n1"}, want: "logging=serial serial=57600,8n1,0x3f8"},
		{p: Port{IOBase: 0xd008, UARTClock: 14745600}, o: DefaultOptions, want: "logging=serial serial=115200/14745600,8n1,0xd008"},
		{p: Port{IOBase: 0xe030, IRQ: 17, PCI: "0000:02:00.0"}, o: Options{Baud: 115200, Format: "7e1", WithPCI: true}, want: "logging=serial serial=115200,7e1,0xe030,17,02:00.0"},
		{p: Port{IOBase: 0xe030, IRQ: 17, PCI: "02:00.1"}, o: Options{Baud: 9600, Format: "8n0", WithPCI: true}, want: "logging=serial serial=9600,8n0,0xe030,17,02:00.1"},
		{p: Port{IOBase: 0xe030, IRQ: 17, PCI: "0001:02:00.0"}, o: Options{Baud: 115200, Format: "8n1", WithPCI: true}, err: "domain 0000"},
		{p: Port{IOBase: 0xe030, PCI: "0000:02:00.0"}, o: Options{Baud: 115200, Format: "8n1", WithPCI: true}, err: "IRQ unknown"},
		{p: Port{IOBase: 0x3f8}, o: Options{Baud: 115200, Format: "8n1", WithPCI: true}, err: "not a PCI device"},
		{p: Port{IOBase: 0x3f8}, o: Options{Baud: 230400, Format: "8n1"}, err: "1200..115200"},
		{p: Port{IOBase: 0x3f8}, o: Options{Baud: 1199, Format: "8n1"}, err: "1200..115200"},
		{p: Port{IOBase: 0x3f8}, o: Options{Baud: 1200, Format: "8n1"}, want: "logging=serial serial=1200,8n1,0x3f8"},
		{p: Port{IOBase: 0x3f8}, o: Options{Baud: 115200, Format: "8n2"}, err: "stop field 0 or 1"},
		{p: Port{IOBase: 0x3f8}, o: Options{Baud: 115200, Format: "9n1"}, err: "format"},
		{p: Port{IOBase: 0x3f8}, o: Options{Baud: 115200, Format: "8x1"}, err: "format"},
		{p: Port{IOBase: 0x3f8}, o: Options{Baud: 115200, Format: "8n1 "}, err: "format"},
		{p: Port{MMIOBase: 0xfe032000, TTY: "ttyS10"}, o: DefaultOptions, err: "port I/O only"},
	}
	for _, tt := range tests {
		got, err := TbootOptions(tt.p, tt.o)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%+v %+v: err %v, want %q", tt.p, tt.o, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%+v %+v = %q, %v; want %q", tt.p, tt.o, got, err, tt.want)
		}
	}
}

func TestFromLspciSeed(t *testing.T) {
	f, err := os.Open("testdata/seed-nuc-lspci-vvv.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ports, err := FromLspci(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 2 {
		t.Fatalf("ports = %+v", ports)
	}
	want := map[string]uint64{"02:00.0": 0xe030, "02:00.1": 0xe020}
	for _, p := range ports {
		if want[p.PCI] != p.IOBase || p.IOSize != 8 || !strings.Contains(p.Desc, "NetMos Technology PCIe 9912") {
			t.Errorf("%+v", p)
		}
		opts, err := TbootOptions(p, DefaultOptions)
		if err != nil {
			t.Fatal(err)
		}
		if w := fmt.Sprintf("logging=serial serial=115200,8n1,0x%x", want[p.PCI]); opts != w {
			t.Errorf("%s: %q, want %q", p.PCI, opts, w)
		}
	}
	if ports[0].IRQ != 17 || ports[1].IRQ != 18 {
		t.Errorf("irqs %d %d", ports[0].IRQ, ports[1].IRQ)
	}
}

// Other lspci flavours: -v (no "Region N:"), -nn class ids, tabs, domain
// prefixes, a disabled region, a bigger multi-UART region, an MMIO-only
// UART, a communication-class card, and devices to ignore.
func TestFromLspciVariants(t *testing.T) {
	in := "Unable to load libkmod resources: error -2\n" +
		"0000:00:16.3 Serial controller [0700]: Intel Corporation 7 Series/C216 Chipset Family KT Controller [8086:1e3d] (rev 04) (prog-if 02 [16550])\n" +
		"\tSubsystem: Intel Corporation Device [8086:2036]\n" +
		"\tFlags: 66MHz, fast devsel, IRQ 19\n" +
		"\tI/O ports at f0e0 [size=8]\n" +
		"\tMemory at f7e24000 (32-bit, non-prefetchable) [size=4K]\n" +
		"\n" +
		"03:00.0 Serial controller: Oxford Semiconductor Ltd OXPCIe952 Dual Native 950 UART (prog-if 02 [16550])\r\n" +
		"\tRegion 0: Memory at f7a00000 (32-bit, non-prefetchable) [size=16K]\r\n" +
		"04:00.0 Communication controller: Exar Corp. XR17V352 Dual UART\n" +
		"\tInterrupt: pin A routed to IRQ 16\n" +
		"\tRegion 0: I/O ports at d000 [disabled] [size=32]\n" +
		"05:00.0 Communication controller: Intel Corporation MEI Controller\n" +
		"\tRegion 0: I/O ports at c000 [size=8]\n" +
		"00:02.0 VGA compatible controller: Intel Corporation Device 0166 (rev 09) (prog-if 00 [VGA controller])\n" +
		"\tRegion 4: I/O ports at f000 [size=64]\n"
	ports, err := FromLspci(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 4 {
		t.Fatalf("ports = %+v", ports)
	}
	kt, ox, exar := ports[0], ports[1], ports[2]
	if ports[3].IOBase != 0xd008 {
		t.Errorf("second UART of the dual card: %+v", ports[3])
	}
	if kt.PCI != "0000:00:16.3" || kt.IOBase != 0xf0e0 || !kt.Usable() {
		t.Errorf("KT = %+v", kt)
	}
	if ox.Usable() || ox.MMIOBase != 0xf7a00000 || !strings.Contains(ox.Note, "port I/O") {
		t.Errorf("OXPCIe952 = %+v", ox)
	}
	if exar.IOBase != 0xd000 || exar.IOSize != 8 || !exar.IODisabled || exar.IRQ != 16 || !strings.Contains(exar.Note, "--pci") {
		t.Errorf("Exar = %+v", exar)
	}
	if opts, err := TbootOptions(exar, Options{Baud: 115200, Format: "8n1", WithPCI: true}); err != nil || opts != "logging=serial serial=115200,8n1,0xd000,16,04:00.0" {
		t.Errorf("Exar options %q, %v", opts, err)
	}
}

func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestMainFind(t *testing.T) {
	code, out, errs := runMain(t, "find", "--lspci", "testdata/seed-nuc-lspci-vvv.txt")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{
		"02:00.0  0xe030    17   logging=serial serial=115200,8n1,0xe030",
		"02:00.1  0xe020    18   logging=serial serial=115200,8n1,0xe020",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	f := buildMachine(t, true)
	code, out, errs = runMain(t, "find", "--sysfs", f.root, "--json", "--baud", "57600")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rows []row
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rows {
		got[r.label()] = r.Tboot + r.Problem
	}
	if got["ttyS4"] != "logging=serial serial=57600,8n1,0xe030" || got["ttyS5"] != "logging=serial serial=57600,8n1,0xe020" {
		t.Errorf("rows: %v", got)
	}
	if got["ttyS6"] != "logging=serial serial=57600/14745600,8n1,0xd000" {
		t.Errorf("ttyS6: %q", got["ttyS6"])
	}
	if !strings.Contains(got["ttyS10"], "port I/O only") {
		t.Errorf("ttyS10: %q", got["ttyS10"])
	}
	// Refused settings are usage errors, before anything is read.
	for _, args := range [][]string{
		{"find", "--baud", "230400"}, {"find", "--baud", "300"}, {"find", "--format", "8n2"},
		{"find", "extra"}, {"nope"}, {}, {"find", "--bogus"}, {"find", "--sysfs", "/sys", "--lspci", "-"},
	} {
		if code, _, _ := runMain(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	// No usable port: exit 1.
	empty := newFakeSysfs(t)
	empty.write("class/tty/.keep", "")
	if code, _, _ := runMain(t, "find", "--sysfs", empty.root); code != 1 {
		t.Errorf("empty sysfs: exit %d, want 1", code)
	}
	if code, out, _ := runMain(t, "--help"); code != 0 || !strings.Contains(out, "1200..115200") {
		t.Errorf("--help: %d %s", code, out)
	}
}
