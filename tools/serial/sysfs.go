package serial

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// sysfs io_type values (include/uapi/linux/serial.h); only port I/O (0) is
// something tboot can drive.
var ioTypes = map[int]string{0: "port", 1: "hub6", 2: "mmio", 3: "mmio32", 4: "au", 5: "tsi", 6: "mmio32be", 7: "mmio16"}

var rePCIAddr = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`)

// I/O resource flag bits in a PCI device's sysfs resource file.
const (
	ioResourceIO  = 0x100
	ioResourceMem = 0x200
)

// pciClassSerial is PCI base class 0x07 (communication), subclass 0x00
// (serial controller): 16450/16550-style UARTs.
const pciClassSerial = 0x0700

// FromSysfs lists the serial ports below a sysfs mount (normally /sys):
// every /class/tty/ttyS* that is a real UART (type != 0, the 8250 driver
// registers empty placeholders), and every PCI serial controller with no
// tty bound (driver not loaded), from its BARs.
func FromSysfs(sysfs string) ([]Port, error) {
	if fi, err := os.Stat(sysfs); err != nil {
		return nil, fmt.Errorf("sysfs %s: %w", sysfs, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("sysfs %s: not a directory", sysfs)
	}
	if _, err := os.Stat(filepath.Join(sysfs, "class")); err != nil {
		return nil, fmt.Errorf("sysfs %s: no class/ directory, not a sysfs tree: %w", sysfs, err)
	}
	ttys, err := filepath.Glob(filepath.Join(sysfs, "class", "tty", "ttyS*"))
	if err != nil {
		return nil, fmt.Errorf("list ttys: %w", err)
	}
	sort.Slice(ttys, func(i, j int) bool { return ttyLess(filepath.Base(ttys[i]), filepath.Base(ttys[j])) })
	var ports []Port
	seenPCI := map[string]bool{}
	for _, dir := range ttys {
		p, ok, err := ttyPort(dir)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if p.PCI != "" {
			seenPCI[p.PCI] = true
		}
		ports = append(ports, p)
	}
	devs, err := filepath.Glob(filepath.Join(sysfs, "bus", "pci", "devices", "*"))
	if err != nil {
		return nil, fmt.Errorf("list PCI devices: %w", err)
	}
	sort.Strings(devs)
	for _, dir := range devs {
		addr := filepath.Base(dir)
		if seenPCI[addr] {
			continue
		}
		class, err := readHex(filepath.Join(dir, "class"))
		if err != nil || class>>8 != pciClassSerial {
			continue
		}
		p := Port{PCI: addr, Source: "sysfs pci", Desc: pciDesc(dir)}
		bars, err := readResources(filepath.Join(dir, "resource"))
		if err != nil {
			return nil, err
		}
		vendor, _ := readHex(filepath.Join(dir, "vendor"))
		device, _ := readHex(filepath.Join(dir, "device"))
		setFromBARs(&p, bars, uint16(vendor), uint16(device))
		if irq, err := readInt(filepath.Join(dir, "irq")); err == nil {
			p.IRQ = irq
		}
		if p.Note == "" {
			p.Note = "no ttyS bound (serial driver not loaded?)"
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// ttyPort reads one /sys/class/tty/ttySN directory.
func ttyPort(dir string) (Port, bool, error) {
	name := filepath.Base(dir)
	typ, err := readInt(filepath.Join(dir, "type"))
	if errors.Is(err, fs.ErrNotExist) {
		return Port{}, false, nil // not a UART (e.g. a virtual tty)
	}
	if err != nil {
		return Port{}, false, fmt.Errorf("read %s type: %w", name, err)
	}
	if typ == 0 {
		return Port{}, false, nil // an empty 8250 placeholder
	}
	p := Port{TTY: name, Source: "sysfs tty"}
	if v, err := readHex(filepath.Join(dir, "port")); err == nil {
		p.IOBase = v
	}
	ioType := 0
	if v, err := readInt(filepath.Join(dir, "io_type")); err == nil {
		ioType = v
	}
	if v, err := readHex(filepath.Join(dir, "iomem_base")); err == nil && ioType != 0 {
		p.MMIOBase = v
	}
	if v, err := readInt(filepath.Join(dir, "irq")); err == nil {
		p.IRQ = v
	}
	if v, err := readInt(filepath.Join(dir, "uartclk")); err == nil && v > 0 {
		p.UARTClock = uint64(v)
	}
	if ioType != 0 {
		p.IOBase = 0
		p.Note = fmt.Sprintf("%s UART (io_type %d): tboot can only drive port I/O UARTs", ioTypeName(ioType), ioType)
	}
	// The device link says what the UART sits on: a PCI function, a PNP
	// (ACPI) node, or a platform device. Since Linux 6.5 it points at the
	// serial core's port device (0000:02:00.0:0.0, 00:00:0.0), a child of
	// its controller, itself a child of the real parent: walk up to it.
	if target, err := filepath.EvalSymlinks(filepath.Join(dir, "device")); err == nil {
		owner := ownerDevice(target)
		base := filepath.Base(owner)
		switch {
		case rePCIAddr.MatchString(base):
			p.PCI = base
			p.Desc = pciDesc(owner)
			if bars, err := readResources(filepath.Join(owner, "resource")); err == nil {
				for _, b := range bars {
					if b.flags&ioResourceIO != 0 && p.IOBase >= b.start && p.IOBase <= b.end {
						p.IOSize = b.end - b.start + 1
					}
				}
			}
		case strings.Contains(owner, string(filepath.Separator)+"pnp"):
			p.Desc = "pnp " + base
			if id, err := os.ReadFile(filepath.Join(owner, "id")); err == nil {
				p.Desc += " (" + strings.TrimSpace(firstLine(string(id))) + ")"
			}
		default:
			p.Desc = base
		}
	}
	if p.IOBase != 0 && p.IOSize == 0 {
		p.IOSize = 8
	}
	return p, true, nil
}

// reSerialCoreDev matches the serial core's controller and port devices,
// named after their parent with ":N" and ":N.M" appended.
var reSerialCoreDev = regexp.MustCompile(`:\d+(\.\d+)?$`)

// ownerDevice climbs from a tty's device link target past the serial
// core's own devices to the device that owns the UART.
func ownerDevice(target string) string {
	d := target
	for i := 0; i < 2; i++ {
		parent := filepath.Dir(d)
		base, pbase := filepath.Base(d), filepath.Base(parent)
		if !reSerialCoreDev.MatchString(base) || !strings.HasPrefix(base, pbase) {
			break
		}
		d = parent
	}
	return d
}

func ioTypeName(t int) string {
	if n, ok := ioTypes[t]; ok {
		return n
	}
	return "unknown"
}

type resource struct{ start, end, flags uint64 }

// readResources parses a PCI resource file: one "start end flags" line per
// BAR (0-5), then the ROM and bridge windows.
func readResources(path string) ([]resource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read PCI resources: %w", err)
	}
	defer f.Close()
	var out []resource
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			return nil, fmt.Errorf("read PCI resources %s: bad line %q", path, sc.Text())
		}
		var r resource
		var errs [3]error
		r.start, errs[0] = strconv.ParseUint(fields[0], 0, 64)
		r.end, errs[1] = strconv.ParseUint(fields[1], 0, 64)
		r.flags, errs[2] = strconv.ParseUint(fields[2], 0, 64)
		if err := errors.Join(errs[:]...); err != nil {
			return nil, fmt.Errorf("read PCI resources %s: %w", path, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read PCI resources %s: %w", path, err)
	}
	return out, nil
}

// setFromBARs picks the UART window among BARs 0-5 with the same rules as
// for lspci output (uartWindows): 8-byte I/O BARs, known chips' layouts,
// never a bridge's register block.
func setFromBARs(p *Port, bars []resource, vendor, device uint16) {
	d := &lspciDev{vendor: vendor, device: device, desc: p.Desc}
	for i, b := range bars {
		if i > 5 || b.start == 0 {
			continue
		}
		d.regions = append(d.regions, region{index: i, io: b.flags&ioResourceIO != 0, base: b.start, size: b.end - b.start + 1})
	}
	wins, why := uartWindows(d)
	if len(wins) > 0 {
		p.IOBase, p.IOSize = wins[0].base, 8
		p.Note = wins[0].note
		if len(wins) > 1 {
			p.Note = joinNotes([]string{fmt.Sprintf("%d UARTs: the first is shown; the others are at %s", len(wins), otherBases(wins[1:])), p.Note})
		}
		return
	}
	for _, rg := range d.regions {
		if !rg.io {
			p.MMIOBase = rg.base
			p.Note = joinNotes([]string{why, "memory-mapped only: tboot can only drive port I/O UARTs"})
			return
		}
	}
	p.Note = joinNotes([]string{why, "no BAR assigned"})
}

func otherBases(ws []window) string {
	s := make([]string, len(ws))
	for i, w := range ws {
		s[i] = fmt.Sprintf("0x%x", w.base)
	}
	return strings.Join(s, ", ")
}

func pciDesc(dir string) string {
	v, err1 := readHex(filepath.Join(dir, "vendor"))
	d, err2 := readHex(filepath.Join(dir, "device"))
	if err1 != nil || err2 != nil {
		return ""
	}
	return fmt.Sprintf("pci %04x:%04x", v, d)
}

func readString(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func readInt(path string) (int, error) {
	s, err := readString(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return int(v), nil
}

// readHex parses sysfs hex such as "0x3F8" or "0x070002" (any case).
func readHex(path string) (uint64, error) {
	s, err := readString(path)
	if err != nil {
		return 0, err
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return v, nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// ttyLess orders ttyS2 before ttyS10.
func ttyLess(a, b string) bool {
	na, ea := strconv.Atoi(strings.TrimPrefix(a, "ttyS"))
	nb, eb := strconv.Atoi(strings.TrimPrefix(b, "ttyS"))
	if ea == nil && eb == nil {
		return na < nb
	}
	return a < b
}
