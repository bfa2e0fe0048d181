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
	reLspciDev = regexp.MustCompile(`^((?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])\s+([^:]+?)(?:\s+\[([0-9a-fA-F]{4})\])?:\s*(.*)$`)
	// Region 0: I/O ports at e030 [size=8]   (lspci -vv)
	// I/O ports at e030 [size=8]             (lspci -v)
	reLspciIO  = regexp.MustCompile(`^(?:Region \d+: )?I/O ports at ([0-9a-fA-F]+)((?: \[[^\]]*\])*)`)
	reLspciMem = regexp.MustCompile(`^(?:Region \d+: )?Memory at ([0-9a-fA-F]+)`)
	reLspciIRQ = regexp.MustCompile(`^Interrupt: pin [A-D] routed to IRQ (\d+)`)
	reSize     = regexp.MustCompile(`\[size=(\d+)([KMG]?)\]`)
)

// FromLspci lists the serial controllers in `lspci -v`/`-vv`/`-vvv` output
// (with or without -nn, tabs or spaces for indentation) with their I/O
// base. lspci does not know tty names, so those stay empty.
func FromLspci(r io.Reader) ([]Port, error) {
	var ports []Port
	var cur *Port
	var keep bool
	flush := func() {
		if cur != nil && keep {
			if cur.IOBase == 0 && cur.Note == "" {
				if cur.MMIOBase != 0 {
					cur.Note = "memory-mapped only: tboot can only drive port I/O UARTs"
				} else {
					cur.Note = "no I/O region listed (use lspci -v or more)"
				}
			}
			ports = append(ports, *cur)
		}
		cur, keep = nil, false
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		raw := strings.TrimRight(strings.ReplaceAll(sc.Text(), "\x00", ""), "\r")
		if raw == "" {
			continue
		}
		if raw[0] != ' ' && raw[0] != '\t' {
			flush()
			m := reLspciDev.FindStringSubmatch(raw)
			if m == nil {
				continue // noise, or a "Unable to load libkmod" warning
			}
			cur = &Port{PCI: m[1], Desc: strings.TrimSpace(m[4]), Source: "lspci"}
			keep = isSerialClass(m[2], m[3], m[4])
			continue
		}
		if cur == nil {
			continue
		}
		line := strings.TrimSpace(raw)
		if m := reLspciIO.FindStringSubmatch(line); m != nil {
			if cur.IOBase != 0 {
				continue // the UART is the first I/O region
			}
			v, err := strconv.ParseUint(m[1], 16, 64)
			if err != nil {
				return nil, fmt.Errorf("parse lspci I/O base %q: %w", m[1], err)
			}
			cur.IOBase = v
			cur.IOSize = 8
			if s := reSize.FindStringSubmatch(m[2]); s != nil {
				cur.IOSize = sizeValue(s[1], s[2])
			}
			if strings.Contains(m[2], "[disabled]") {
				cur.IODisabled = true
				cur.Note = "I/O decoding is disabled: add the IRQ and PCI address to serial= (--pci) so tboot enables it"
			}
			if cur.IOSize > 8 && cur.Note == "" {
				cur.Note = fmt.Sprintf("I/O region of %d bytes holds several UARTs; the first is at the base", cur.IOSize)
			}
			continue
		}
		if m := reLspciMem.FindStringSubmatch(line); m != nil && cur.MMIOBase == 0 {
			cur.MMIOBase, _ = strconv.ParseUint(m[1], 16, 64)
			continue
		}
		if m := reLspciIRQ.FindStringSubmatch(line); m != nil {
			cur.IRQ, _ = strconv.Atoi(m[1])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read lspci output: %w", err)
	}
	flush()
	return ports, nil
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
