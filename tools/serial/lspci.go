package serial

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

var (
	// 02:00.0 Serial controller: NetMos ... (prog-if 02 [16550])
	// 0000:00:16.3 Serial controller [0700]: Intel ... [8086:1e3d] (rev 04) (prog-if 02 [16550])
	// 02:00.0 0700: 9710:9865 (rev 01) (prog-if 02 [16550])          (lspci -n)
	reLspciDev = regexp.MustCompile(`^((?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])\s+([^:]+?)(?:\s+\[([0-9a-fA-F]{4})\])?:\s*(.*)$`)
	// Region 0: I/O ports at e030 [size=8]   (lspci -vv)
	// I/O ports at e030 [size=8]             (lspci -v)
	// Region 2: I/O ports at e000 [virtual] [disabled] [size=8]
	reLspciIO  = regexp.MustCompile(`^(?:Region (\d+): )?I/O ports at ([0-9a-fA-F]+|<\w+>)((?: \[[^\]]*\])*)`)
	reLspciMem = regexp.MustCompile(`^(?:Region (\d+): )?Memory at ([0-9a-fA-F]+|<\w+>)`)
	reLspciIRQ = regexp.MustCompile(`^Interrupt: pin [A-D] routed to IRQ (\d+)`)
	reFlagsIRQ = regexp.MustCompile(`\bIRQ (\d+)`)
	reSize     = regexp.MustCompile(`\[size=(\d+)([KMG]?)\]`)
	reIDs      = regexp.MustCompile(`\[([0-9a-fA-F]{4}):([0-9a-fA-F]{4})\]`)
	reNumIDs   = regexp.MustCompile(`^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})\b`)
	// lspci -mm: 02:00.0 "Serial controller" "NetMos..." "PCI 9865..." -r01 -p02 ...
	reMM = regexp.MustCompile(`^((?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]) "([^"]*)" "([^"]*)" "([^"]*)"`)
)

// region is one BAR as lspci shows it.
type region struct {
	index    int // BAR number, -1 when lspci -v left it out
	io       bool
	base     uint64
	size     uint64
	disabled bool
	virtual  bool
}

// lspciDev is one device record.
type lspciDev struct {
	addr, className, classID, desc string
	vendor, device                 uint16
	irq                            int
	regions                        []region
	ioDecodeOff                    bool   // "Control: I/O-"
	driver                         string // "Kernel driver in use:"
	mmOnly                         bool   // from lspci -mm: no regions listed
}

// FromLspci lists the serial ports in lspci output, in every form people
// paste: -v/-vv/-vvv (with or without -nn, -k, [virtual] regions, tabs or
// spaces), -n (numeric class and ids only) and -mm/-vmm (machine
// readable, which lists no regions). A card may carry several UARTs behind
// one function; each UART window becomes a Port (see uartWindows). lspci
// does not know tty names, so those stay empty.
func FromLspci(r io.Reader) ([]Port, error) {
	var devs []*lspciDev
	var cur *lspciDev
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		raw := strings.TrimRight(strings.ReplaceAll(sc.Text(), "\x00", ""), "\r")
		if strings.TrimSpace(raw) == "" {
			continue
		}
		// lspci -vmm records: "Slot:\t02:00.0", "Class:\tSerial controller", ...
		if k, v, ok := strings.Cut(raw, ":\t"); ok && raw[0] != ' ' && raw[0] != '\t' && !strings.Contains(k, " ") {
			v = strings.TrimSpace(v)
			switch k {
			case "Slot":
				cur = &lspciDev{addr: v, mmOnly: true}
				devs = append(devs, cur)
			case "Class":
				if cur != nil {
					cur.className = v
				}
			case "Vendor", "Device":
				if cur != nil && cur.mmOnly {
					if cur.desc != "" {
						cur.desc += " "
					}
					cur.desc += v
				}
			case "Driver":
				if cur != nil {
					cur.driver = v
				}
			}
			continue
		}
		if raw[0] != ' ' && raw[0] != '\t' {
			cur = nil
			if m := reMM.FindStringSubmatch(raw); m != nil {
				cur = &lspciDev{addr: m[1], className: m[2], desc: strings.TrimSpace(m[3] + " " + m[4]), mmOnly: true}
				devs = append(devs, cur)
				continue
			}
			m := reLspciDev.FindStringSubmatch(raw)
			if m == nil {
				continue // noise, or a "Unable to load libkmod" warning
			}
			cur = &lspciDev{addr: m[1], className: strings.TrimSpace(m[2]), classID: m[3], desc: strings.TrimSpace(m[4])}
			if isHex4(cur.className) && cur.classID == "" {
				cur.classID, cur.className = cur.className, "" // lspci -n
			}
			if ids := reIDs.FindAllStringSubmatch(cur.desc, -1); len(ids) > 0 {
				cur.vendor, cur.device = hex16(ids[len(ids)-1][1]), hex16(ids[len(ids)-1][2])
			} else if ids := reNumIDs.FindStringSubmatch(cur.desc); ids != nil {
				cur.vendor, cur.device = hex16(ids[1]), hex16(ids[2])
			}
			devs = append(devs, cur)
			continue
		}
		if cur == nil {
			continue
		}
		line := strings.TrimSpace(raw)
		switch {
		case strings.HasPrefix(line, "Control:"):
			cur.ioDecodeOff = strings.Contains(line, " I/O-")
			continue
		case strings.HasPrefix(line, "Kernel driver in use:"):
			cur.driver = strings.TrimSpace(strings.TrimPrefix(line, "Kernel driver in use:"))
			continue
		case strings.HasPrefix(line, "Flags:"):
			if m := reFlagsIRQ.FindStringSubmatch(line); m != nil && cur.irq == 0 {
				cur.irq, _ = strconv.Atoi(m[1])
			}
			continue
		}
		if m := reLspciIO.FindStringSubmatch(line); m != nil {
			rg := region{index: -1, io: true}
			if m[1] != "" {
				rg.index, _ = strconv.Atoi(m[1])
			}
			if !strings.HasPrefix(m[2], "<") {
				rg.base, _ = strconv.ParseUint(m[2], 16, 64)
			}
			rg.size = 0
			if s := reSize.FindStringSubmatch(m[3]); s != nil {
				rg.size = sizeValue(s[1], s[2])
			}
			rg.disabled = strings.Contains(m[3], "[disabled]")
			rg.virtual = strings.Contains(m[3], "[virtual]")
			cur.regions = append(cur.regions, rg)
			continue
		}
		if m := reLspciMem.FindStringSubmatch(line); m != nil {
			rg := region{index: -1}
			if m[1] != "" {
				rg.index, _ = strconv.Atoi(m[1])
			}
			if !strings.HasPrefix(m[2], "<") {
				rg.base, _ = strconv.ParseUint(m[2], 16, 64)
			}
			if s := reSize.FindStringSubmatch(line); s != nil {
				rg.size = sizeValue(s[1], s[2])
			}
			cur.regions = append(cur.regions, rg)
			continue
		}
		if m := reLspciIRQ.FindStringSubmatch(line); m != nil {
			cur.irq, _ = strconv.Atoi(m[1])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read lspci output: %w", err)
	}
	var ports []Port
	for _, d := range devs {
		l, known := chipLayouts[[2]uint16{d.vendor, d.device}]
		if !isSerialClass(d.className, d.classID, d.desc) && !(known && l.max > 0) {
			continue
		}
		ports = append(ports, d.ports()...)
	}
	return ports, nil
}

func isHex4(s string) bool {
	if len(s) != 4 {
		return false
	}
	_, err := strconv.ParseUint(s, 16, 16)
	return err == nil
}

func hex16(s string) uint16 {
	v, _ := strconv.ParseUint(s, 16, 16)
	return uint16(v)
}

// serialDrivers are the Linux drivers that run PCI UARTs; any other bound
// driver (vfio-pci for a VM, pci-stub) means the port is not this OS's.
var serialDrivers = map[string]bool{"serial": true, "8250_pci": true, "parport_serial": true, "exar_serial": true, "8250_exar": true, "8250_mid": true, "8250_lpss": true}

// ports turns a device record into its UART windows.
func (d *lspciDev) ports() []Port {
	base := Port{PCI: d.addr, Desc: d.desc, Source: "lspci", IRQ: d.irq}
	var warn []string
	if d.ioDecodeOff {
		base.IODisabled = true
		warn = append(warn, "I/O decoding is off (Control: I/O-): use --pci so serial= carries the IRQ and PCI address and tboot turns decoding on")
	}
	if d.driver != "" && !serialDrivers[d.driver] {
		warn = append(warn, fmt.Sprintf("bound to %s, not the serial driver: the port belongs to something else (a VM with vfio-pci?); tboot can still use it, Linux will not", d.driver))
	}
	if d.mmOnly {
		base.Note = "lspci -mm lists no regions: run lspci -vv (as root) for the I/O address"
		return []Port{base}
	}
	wins, why := uartWindows(d)
	if len(wins) == 0 {
		p := base
		for _, rg := range d.regions {
			if !rg.io && rg.base != 0 && p.MMIOBase == 0 {
				p.MMIOBase = rg.base
			}
		}
		switch {
		case why != "":
			p.Note = why
		case p.MMIOBase != 0:
			p.Note = "memory-mapped only: tboot can only drive port I/O UARTs"
		default:
			p.Note = "no I/O region listed (use lspci -v or more)"
		}
		p.Note = joinNotes(append([]string{p.Note}, warn...))
		return []Port{p}
	}
	out := make([]Port, 0, len(wins))
	for i, w := range wins {
		p := base
		p.IOBase, p.IOSize = w.base, 8
		notes := append([]string{}, warn...)
		if len(wins) > 1 {
			p.Desc = fmt.Sprintf("%s (UART %d of %d)", d.desc, i+1, len(wins))
		}
		if w.disabled {
			p.IODisabled = true
			notes = append(notes, "I/O decoding is disabled: add the IRQ and PCI address to serial= (--pci) so tboot enables it")
		}
		if w.note != "" {
			notes = append(notes, w.note)
		}
		p.Note = joinNotes(notes)
		out = append(out, p)
	}
	return out
}

func joinNotes(n []string) string {
	var keep []string
	for _, s := range n {
		if s != "" {
			keep = append(keep, s)
		}
	}
	return strings.Join(keep, "; ")
}

// window is one 16550's 8 I/O ports.
type window struct {
	base     uint64
	disabled bool
	note     string
}

// chipLayout says where a known chip keeps its 16550s: in which BAR, at
// which offset, how many, 8 ports apart. From the chips' datasheets (and
// Linux 8250_pci's board table, which encodes the same facts).
type chipLayout struct {
	bar    int    // BAR holding the UARTs; -1: every 8-byte I/O BAR in order
	offset uint64 // first UART's offset in the BAR
	max    int    // at most this many UARTs
	name   string
}

var chipLayouts = map[[2]uint16]chipLayout{
	{0x1c00, 0x3253}: {bar: 0, offset: 0xc0, max: 2, name: "WCH CH382 2S: UARTs at 0xC0/0xC8 of BAR0"},
	{0x1c00, 0x3250}: {bar: 0, offset: 0xc0, max: 2, name: "WCH CH382 2S1P: UARTs at 0xC0/0xC8 of BAR0"},
	{0x1c00, 0x3470}: {bar: 0, offset: 0xc0, max: 4, name: "WCH CH384 4S: UARTs from 0xC0 of BAR0"},
	{0x4348, 0x3253}: {bar: -1, max: 2, name: "WCH CH352 2S: one UART per 8-byte BAR"},
	{0x9710, 0x9835}: {bar: -1, max: 2, name: "NetMos 9835: UARTs in BAR0 and BAR1 (the others are the parallel port)"},
	{0x9710, 0x9815}: {bar: -1, max: 0, name: "NetMos 9815: parallel ports only"},
	{0x9710, 0x9845}: {bar: -1, max: 4, name: "NetMos 9845: one UART per 8-byte BAR, up to 4"},
	{0x9710, 0x9865}: {bar: 0, max: 1, name: "MosChip 9865: one UART per function, in BAR0"},
	{0x9710, 0x9912}: {bar: 0, max: 1, name: "MosChip 9912: one UART per function, in BAR0"},
	{0x9710, 0x9922}: {bar: 0, max: 1, name: "MosChip 9922: one UART per function, in BAR0"},
	{0x1415, 0x9501}: {bar: 0, max: 4, name: "Oxford OX16PCI954: UARTs in BAR0; BAR1 is the local configuration block"},
	{0x1415, 0x950a}: {bar: 0, max: 4, name: "Oxford OX16PCI954: UARTs in BAR0; BAR1 is the local configuration block"},
	{0x1415, 0x9521}: {bar: 0, max: 2, name: "Oxford OX16PCI952: UARTs in BAR0"},
}

// uartWindows finds the 16550 windows among a device's I/O regions. A
// 16550 has 8 registers, so an 8-byte I/O region is one UART. Known chips
// follow their datasheet layout (chipLayouts). Otherwise, when there is no
// 8-byte region, the first I/O region of 16 to 64 bytes is taken as UARTs
// 8 ports apart (as many as the name says: Dual 2, Quad 4, Octal 8). An I/O
// region of 128 bytes or more is a bridge's register block (a PLX 9050's
// local configuration registers, for one) and is never offered.
func uartWindows(d *lspciDev) ([]window, string) {
	var ios []region
	for _, rg := range d.regions {
		if rg.io && rg.base != 0 {
			ios = append(ios, rg)
		}
	}
	mk := func(rg region, off uint64, n int, note string) []window {
		var w []window
		for i := 0; i < n && off+uint64(i+1)*8 <= max64(rg.size, 8); i++ {
			w = append(w, window{base: rg.base + off + uint64(i)*8, disabled: rg.disabled, note: note})
		}
		return w
	}
	if l, ok := chipLayouts[[2]uint16{d.vendor, d.device}]; ok {
		if l.max == 0 {
			return nil, l.name
		}
		if l.bar == -1 {
			var out []window
			for _, rg := range ios {
				if rg.size == 8 && len(out) < l.max {
					out = append(out, window{base: rg.base, disabled: rg.disabled})
				}
			}
			return out, ""
		}
		for i, rg := range ios {
			if rg.index == l.bar || (rg.index == -1 && i == 0) {
				return mk(rg, l.offset, l.max, ""), ""
			}
		}
		return nil, l.name + ", but that BAR is not an I/O region here"
	}
	var out []window
	for _, rg := range ios {
		if rg.size == 8 || rg.size == 0 {
			out = append(out, window{base: rg.base, disabled: rg.disabled})
		}
	}
	if len(out) > 0 {
		return out, ""
	}
	for _, rg := range ios {
		if rg.size >= 16 && rg.size <= 64 && rg.size%8 == 0 {
			n := int(rg.size / 8)
			if c := namedCount(d.desc); c > 0 && c < n {
				n = c
			}
			return mk(rg, 0, n, fmt.Sprintf("%d-byte I/O region taken as %d UARTs 8 ports apart (chip not in xt's table: check against its datasheet)", rg.size, n)), ""
		}
	}
	for _, rg := range ios {
		if rg.size >= 128 {
			return nil, fmt.Sprintf("the I/O region at 0x%x (%d bytes) is a bridge's register block, not a 16550", rg.base, rg.size)
		}
	}
	return nil, ""
}

func max64(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// namedCount reads the UART count a device name states.
func namedCount(desc string) int {
	d := strings.ToLower(desc)
	switch {
	case strings.Contains(d, "octal") || strings.Contains(d, "8-port") || strings.Contains(d, "8 port"):
		return 8
	case strings.Contains(d, "quad") || strings.Contains(d, "4-port") || strings.Contains(d, "4 port"):
		return 4
	case strings.Contains(d, "dual") || strings.Contains(d, "2-port") || strings.Contains(d, "2 port"):
		return 2
	case strings.Contains(d, "single"):
		return 1
	}
	return 0
}

// isSerialClass accepts PCI class 0x0700 ("Serial controller") and, for
// cards that report the generic communication class (0x0780), those whose
// name says they are UARTs.
func isSerialClass(className, classID, rest string) bool {
	c := strings.ToLower(className)
	switch {
	case classID == "0700" || c == "serial controller":
		return true
	case classID == "0780" || c == "communication controller":
		r := strings.ToLower(rest)
		return strings.Contains(r, "16550") || strings.Contains(r, "uart") || strings.Contains(r, "serial")
	}
	return false
}

func sizeValue(n, unit string) uint64 {
	v, _ := strconv.ParseUint(n, 10, 64)
	switch unit {
	case "K":
		v <<= 10
	case "M":
		v <<= 20
	case "G":
		v <<= 30
	}
	return v
}
