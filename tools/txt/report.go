package txt

import (
	"fmt"
	"io"
	"strings"
)

// WriteText prints the diagnosis for a person at a console.
func (d *Diagnosis) WriteText(w io.Writer) error {
	var sb strings.Builder
	for _, b := range d.Boots {
		fmt.Fprintf(&sb, "boot %d (log lines %d-%d)", b.Index, b.FirstLine, b.LastLine)
		if b.Version != "" {
			fmt.Fprintf(&sb, ", tboot %s", b.Version)
		}
		sb.WriteString("\n")
		if b.Cmdline != "" {
			fmt.Fprintf(&sb, "  command line: %s\n", b.Cmdline)
		}
		if p := b.Platform; p != nil {
			var parts []string
			if p.ProductionFused != nil {
				parts = append(parts, fmt.Sprintf("production fused %v", *p.ProductionFused))
			}
			if p.Chipset != "" {
				parts = append(parts, "chipset "+p.Chipset)
			}
			if p.FMS != "" {
				parts = append(parts, fmt.Sprintf("processor fms %s (%s)", p.FMS, p.CPU))
			}
			if p.PlatformID != "" {
				parts = append(parts, "platform id "+p.PlatformID)
			}
			fmt.Fprintf(&sb, "  platform: %s\n", strings.Join(parts, "; "))
		}
		if len(b.ACMs) > 0 {
			sb.WriteString("  SINIT ACMs tried:\n")
			for _, a := range b.ACMs {
				v := "no match"
				switch {
				case !a.Decided:
					v = "undecided"
				case a.Match:
					v = "MATCH"
				}
				fmt.Fprintf(&sb, "    %s (line %d): %s: %s\n", a.Module, a.Line, v, a.Reason)
				for _, warn := range a.Warnings {
					fmt.Fprintf(&sb, "      warning: %s\n", warn)
				}
			}
		}
		if b.NoSINIT {
			sb.WriteString("  no SINIT AC module found\n")
		}
		if b.TPMFamily != "" || b.NVLocked != nil {
			sb.WriteString("  TPM:")
			if b.TPMFamily != "" {
				fmt.Fprintf(&sb, " family %s", b.TPMFamily)
			}
			if b.NVLocked != nil {
				fmt.Fprintf(&sb, " nv_locked %s", strings.ToUpper(fmt.Sprint(*b.NVLocked)))
			} else if b.NVLockedNA {
				sb.WriteString(" (nv_locked: not applicable to TPM 2.0)")
			}
			sb.WriteString("\n")
		}
		if b.LastBootError != nil {
			fmt.Fprintf(&sb, "  tboot on the previous launch: %s\n", map[bool]string{true: "last boot has error", false: "last boot has no error"}[*b.LastBootError])
		}
		for _, e := range b.Errors {
			fmt.Fprintf(&sb, "  TXT.ERRORCODE (line %d)", e.Line)
			if e.ForBoot > 0 {
				fmt.Fprintf(&sb, ", left by boot %d's launch", e.ForBoot)
			}
			sb.WriteString(":\n")
			var db strings.Builder
			if err := e.Decoded.WriteText(&db); err != nil {
				return err
			}
			for _, l := range strings.Split(strings.TrimRight(db.String(), "\n"), "\n") {
				sb.WriteString("    " + l + "\n")
			}
			if e.ESTS != "" || e.E2STS != "" {
				fmt.Fprintf(&sb, "    TXT.ESTS %s, TXT.E2STS %s\n", orDash(e.ESTS), orDash(e.E2STS))
			}
		}
		if b.ResetSTS {
			sb.WriteString("  TXT_RESET.STS is set: SENTER disabled until a power cycle\n")
		}
		fmt.Fprintf(&sb, "  launch: %s\n", b.Launch)
		for _, n := range b.Notes {
			fmt.Fprintf(&sb, "  note: %s\n", n)
		}
		sb.WriteString("\n")
	}
	sb.WriteString("diagnosis:\n")
	for _, f := range d.Findings {
		fmt.Fprintf(&sb, "  - %s\n", f)
	}
	if len(d.Findings) == 0 {
		sb.WriteString("  - nothing wrong found in this log\n")
	}
	if len(d.NextSteps) > 0 {
		sb.WriteString("next steps:\n")
		for i, s := range d.NextSteps {
			fmt.Fprintf(&sb, "  %d. %s\n", i+1, s)
		}
	}
	_, err := io.WriteString(w, sb.String())
	if err != nil {
		return fmt.Errorf("write diagnosis: %w", err)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
