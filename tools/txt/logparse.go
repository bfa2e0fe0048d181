package txt

import (
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Log is a tboot serial capture split into boots.
type Log struct {
	Boots []*Boot
	// Stat is txt-stat's register report when the capture is txt-stat
	// output (register dump, then "TBOOT log:" with the memory log).
	Stat *StatReport
}

// StatReport is what txt-stat printed about the TXT registers.
type StatReport struct {
	Line int
	// MeasuredLaunch is the header's "TXT measured launch: TRUE|FALSE",
	// which txt-stat takes from TXT.STS SENTER.DONE.
	MeasuredLaunch *bool
	ErrorCode      *uint32
	TXTReset       *bool
	// AllOnes: registers read as all ones (0xffff...), which is what a
	// platform without TXT register space returns.
	AllOnes bool
	// NotSupported: txt-stat itself said "Intel(r) TXT is not supported".
	NotSupported bool
}

// Boot is what one tboot run logged.
type Boot struct {
	Index     int // 1-based, in capture order
	FirstLine int
	LastLine  int
	Version   string
	Cmdline   string

	Platform Platform
	ACMs     []*ACMAttempt
	// NoSINIT: tboot said "no SINIT AC module found".
	NoSINIT bool
	// BIOSSINIT: tboot used the SINIT the BIOS had loaded.
	BIOSSINIT bool

	TPMFamily      string // "1.2", "2.0", "2.0 (Intel PTT)"
	TPMReady       bool
	NVLocked       *bool
	TPMDisabled    bool
	TPMDeactivated bool

	Errors []*ErrorReport
	// LastBootError is tboot's own verdict on the previous launch
	// ("last boot has error." / "last boot has no error.").
	LastBootError *bool
	// ResetSTS: TXT_RESET.STS was set, so SENTER is refused until a power cycle.
	ResetSTS bool

	ReadyForSENTER bool
	SENTER         bool // "executing GETSEC[SENTER]..." was logged
	Launched       bool // a post-launch success line was logged
	// PostLaunch: the capture holds the post-launch run of tboot (its
	// second banner, then "SINIT ACM successfully returned..."), which
	// belongs to this boot and is not a reboot.
	PostLaunch bool
	// PostLaunchLine is where the post-launch run starts.
	PostLaunchLine int
	// HandedOff: tboot transferred control to the kernel.
	HandedOff bool
	// Events are the decisive messages of this boot (messages.go).
	Events []Event
	// NoTXT: a message proved the platform cannot do TXT at all.
	NoTXT bool
	// Truncated counts messages that were cut short in the capture.
	Truncated int
}

// Platform is the host identity tboot prints before matching ACMs.
type Platform struct {
	ProductionFused *bool
	ChipsetKnown    bool
	Vendor          uint32
	Device          uint32
	Revision        uint32
	FMSKnown        bool
	FMS             uint32
	PlatformIDKnown bool
	PlatformID      uint64
}

// ChipsetID is one entry of an ACM's chipset list.
type ChipsetID struct {
	Vendor, Device, Flags, Revision uint32
}

// ProcessorID is one entry of an ACM's processor list.
type ProcessorID struct {
	FMS, FMSMask             uint32
	PlatformID, PlatformMask uint64
}

// ACMAttempt is one SINIT module tboot checked against the platform.
type ACMAttempt struct {
	// Seq is the 1-based position among the modules this boot checked.
	Seq        int
	Module     string
	Line       int
	Chipsets   []ChipsetID
	Processors []ProcessorID
	// Verdict is tboot's own: "match", or the mismatch it printed;
	// empty when the log does not say.
	Verdict string
	// Warnings tboot printed that did not stop the match.
	Warnings []string
}

// ErrorReport is one TXT.ERRORCODE dump.
type ErrorReport struct {
	Line int
	Code uint32
	// CodeKnown is false when the value was cut off in the capture and only
	// tboot's own breakdown (the "AC module error" line) is available.
	CodeKnown bool
	// From tboot's breakdown line, when present.
	ACMLine                       bool
	ACMType, Progress, ErrorField uint32
	ProcessorLine                 bool
	ProcessorType                 uint32
	ESTS, E2STS                   *uint64
}

var (
	reBanner     = regexp.MustCompile(`^\*{5,}\s*TBOOT\s*\*{5,}$`)
	reVersion    = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} .*?\s(\d+\.\d+(?:\.\d+)?\S*)$`)
	reCmdline    = regexp.MustCompile(`^command line:\s?(.*)$`)
	reFamily     = regexp.MustCompile(`^TPM:.*Family 0x([0-9a-fA-F]+)`)
	reNVLocked   = regexp.MustCompile(`nv_locked:\s*(TRUE|FALSE)`)
	reCheckMod   = regexp.MustCompile(`^checking if module\s?(.*?)\s?is an SINIT for this platform`)
	reFused      = regexp.MustCompile(`^chipset production fused:\s*([0-9a-fA-F]+)$`)
	reChipsetIDs = regexp.MustCompile(`^chipset ids: vendor: 0x([0-9a-fA-F]+), device: 0x([0-9a-fA-F]+), revision: 0x([0-9a-fA-F]+)$`)
	reFMS        = regexp.MustCompile(`^processor family/model/stepping: 0x([0-9a-fA-F]+)$`)
	rePlatformID = regexp.MustCompile(`^platform id: 0x([0-9a-fA-F]+)$`)
	reChipsetEnt = regexp.MustCompile(`^vendor: 0x([0-9a-fA-F]+), device: 0x([0-9a-fA-F]+), flags: 0x([0-9a-fA-F]+), revision: 0x([0-9a-fA-F]+)`)
	reProcEnt    = regexp.MustCompile(`^fms: 0x([0-9a-fA-F]+), fms_mask: 0x([0-9a-fA-F]+), platform_id: 0x([0-9a-fA-F]+), platform_mask: 0x([0-9a-fA-F]+)$`)
	reErrorCode  = regexp.MustCompile(`^TXT\.ERRORCODE:\s*0x([0-9a-fA-F]+)$`)
	reACMError   = regexp.MustCompile(`^AC module error\s*:\s*acm_type=0x([0-9a-fA-F]+), progress=0x([0-9a-fA-F]+), error=0x([0-9a-fA-F]+)$`)
	reProcError  = regexp.MustCompile(`^processor error 0x([0-9a-fA-F]+)$`)
	reESTS       = regexp.MustCompile(`^TXT\.ESTS:\s*0x([0-9a-fA-F]+)$`)
	reE2STS      = regexp.MustCompile(`^TXT\.E2STS:\s*0x([0-9a-fA-F]+)$`)
)

// anchors are literal strings each pattern needs; lines without them are
// not run through the pattern.
var anchors = map[*regexp.Regexp]string{
	reVersion:    "-",
	reCmdline:    "command line:",
	reNVLocked:   "nv_locked",
	reCheckMod:   "checking if module",
	reFamily:     "Family 0x",
	reFused:      "production fused",
	reChipsetIDs: "chipset ids:",
	reFMS:        "family/model/stepping",
	rePlatformID: "platform id:",
	reChipsetEnt: "vendor:",
	reProcEnt:    "fms:",
	reErrorCode:  "ERRORCODE",
	reACMError:   "AC module error",
	reProcError:  "processor error",
	reESTS:       "ESTS",
	reE2STS:      "E2STS",
}

// acmVerdicts are the lines tboot prints when it rejects a module.
var acmVerdicts = []string{
	"chipset id mismatch",
	"processor mismatch",
	"production/debug mismatch between chipset and ACM",
	"ACM size mismatch",
	"ACM type/vendor mismatch",
	"Non-client ACM on client platform",
	"Non-server ACM on server platform",
	"ACM header size in bytes overflows",
	"ACM info_table version unsupported",
	"unknown UUID",
	"ACM is not an SINIT ACM",
}

// ParseLog reads a tboot capture (serial log, memory log text, a mailing
// list paste) and splits it into boots.
func ParseLog(r io.Reader) (*Log, error) {
	p := &logParser{log: &Log{}}
	err := StreamLog(r, p.line, p.other)
	if err != nil {
		return nil, err
	}
	return p.log, nil
}

// ParseLines builds boots from scanned messages.
func ParseLines(lines []LogLine) *Log {
	p := &logParser{log: &Log{}}
	for _, l := range lines {
		p.line(l)
	}
	return p.log
}

type logParser struct {
	log *Log
	cur *Boot
	acm *ACMAttempt
}

var (
	reStatBool = regexp.MustCompile(`^(TXT measured launch|txt_reset|senter_done):\s*(TRUE|FALSE)$`)
	reStatReg  = regexp.MustCompile(`^(STS|ESTS|E2STS|ERRORCODE|DIDVID):\s*0x([0-9a-fA-F]+)$`)
)

// other reads the lines outside tboot messages: txt-stat's report.
func (p *logParser) other(no int, line string) {
	t := strings.TrimSpace(line)
	if t == "" || (p.log.Stat == nil && !strings.HasPrefix(t, "Intel(r) TXT")) {
		return
	}
	st := func() *StatReport {
		if p.log.Stat == nil {
			p.log.Stat = &StatReport{Line: no}
		}
		return p.log.Stat
	}
	switch {
	case strings.HasPrefix(t, "Intel(r) TXT Configuration Registers"):
		st()
		return
	case strings.HasPrefix(t, "Intel(r) TXT is not supported"):
		st().NotSupported = true
		return
	}
	if m := reStatBool.FindStringSubmatch(t); m != nil && p.log.Stat != nil {
		v := m[2] == "TRUE"
		switch m[1] {
		case "TXT measured launch":
			p.log.Stat.MeasuredLaunch = &v
		case "txt_reset":
			p.log.Stat.TXTReset = &v
		}
		return
	}
	if m := reStatReg.FindStringSubmatch(t); m != nil && p.log.Stat != nil {
		v, _ := hexU64(m[2])
		if strings.Trim(strings.ToLower(m[2]), "f") == "" && len(m[2]) >= 8 {
			p.log.Stat.AllOnes = true
		}
		if m[1] == "ERRORCODE" {
			c := uint32(v)
			p.log.Stat.ErrorCode = &c
		}
	}
}

func (p *logParser) newBoot(l LogLine) {
	p.cur = &Boot{Index: len(p.log.Boots) + 1, FirstLine: l.No, LastLine: l.No}
	p.log.Boots = append(p.log.Boots, p.cur)
	p.acm = nil
}

func (p *logParser) boot(l LogLine) *Boot {
	if p.cur == nil {
		p.newBoot(l)
	}
	return p.cur
}

// hadReset says the current boot went into SENTER without a success line:
// anything from the start of a boot that follows belongs to the next boot,
// even when the banner was lost.
func (p *logParser) hadReset() bool {
	return p.cur != nil && p.cur.SENTER && !p.cur.Launched
}

func hexU32(s string) (uint32, bool) {
	v, err := strconv.ParseUint(s, 16, 32)
	return uint32(v), err == nil
}

func hexU64(s string) (uint64, bool) {
	v, err := strconv.ParseUint(s, 16, 64)
	return v, err == nil
}

func (p *logParser) line(l LogLine) {
	t := l.Text
	if t == "" {
		return
	}
	switch {
	case strings.HasPrefix(t, "*****") && reBanner.MatchString(t):
		if p.cur == nil || p.cur.Version != "" || p.cur.Cmdline != "" || p.cur.SENTER || len(p.cur.ACMs) > 0 || len(p.cur.Errors) > 0 {
			p.newBoot(l)
		}
	case strings.HasPrefix(t, "command line:"):
		if p.cur != nil && (p.cur.Cmdline != "" || p.hadReset()) {
			p.newBoot(l)
		}
	case strings.HasPrefix(t, "checking if module"), strings.HasPrefix(t, "TXT.ERRORCODE"), strings.HasPrefix(t, "checking previous errors"):
		if p.hadReset() {
			p.newBoot(l)
		}
	}
	if strings.HasPrefix(t, "SINIT ACM successfully returned") {
		p.postLaunch(l)
	}
	b := p.boot(l)
	b.LastLine = l.No
	if l.Truncated {
		b.Truncated++
	}
	if !l.Truncated {
		if e, ok := classify(l); ok {
			b.Events = append(b.Events, e)
			if c, ok := classByID(e.ID); ok && c.NoTXT {
				b.NoTXT = true
			}
		}
	}
	trusted := !l.Truncated
	// sub runs re only on trusted messages that contain its literal anchor,
	// which keeps a long capture cheap: most lines match nothing.
	find := func(re *regexp.Regexp) []string {
		if !strings.Contains(t, anchors[re]) {
			return nil
		}
		return re.FindStringSubmatch(t)
	}
	sub := func(re *regexp.Regexp) []string {
		if !trusted {
			return nil
		}
		return find(re)
	}

	if m := sub(reVersion); m != nil && b.Version == "" {
		b.Version = m[1]
		return
	}
	if m := sub(reCmdline); m != nil {
		b.Cmdline = m[1]
		return
	}
	if m := sub(reFamily); m != nil {
		// Every tboot since 1.7 prints one of: "TPM: TPM Family 0x0"
		// (1.7-1.8: 0 is 1.2, 1 is 2.0), "TPM: discrete TPM1.2 Family
		// 0x0", "TPM: discrete TPM2.0 Family 0x1" (0x2 for a CRB TPM),
		// "TPM: This is Intel PTT, TPM Family 0x2".
		switch {
		case strings.Contains(t, "Intel PTT"):
			b.TPMFamily = "2.0 (Intel PTT)"
		case strings.Contains(t, "TPM2.0"):
			b.TPMFamily = "2.0"
		case strings.Contains(t, "TPM1.2"):
			b.TPMFamily = "1.2"
		case m[1] == "0":
			b.TPMFamily = "1.2"
		default:
			b.TPMFamily = "2.0"
		}
		return
	}
	if m := find(reNVLocked); m != nil {
		v := m[1] == "TRUE"
		b.NVLocked = &v
		return
	}
	switch {
	case strings.HasPrefix(t, "TPM is ready"):
		b.TPMReady = true
		return
	case strings.HasPrefix(t, "TPM is disabled"):
		b.TPMDisabled = true
		return
	case strings.HasPrefix(t, "TPM is deactivated"):
		b.TPMDeactivated = true
		return
	}

	// SINIT selection.
	if m := find(reCheckMod); m != nil {
		name := strings.TrimSpace(m[1])
		if !trusted {
			name = ""
		}
		p.acm = &ACMAttempt{Seq: len(b.ACMs) + 1, Module: name, Line: l.No}
		b.ACMs = append(b.ACMs, p.acm)
		return
	}
	if strings.HasPrefix(t, "BIOS has already loaded an SINIT module") {
		p.acm = &ACMAttempt{Seq: len(b.ACMs) + 1, Module: "(BIOS-loaded SINIT)", Line: l.No}
		b.ACMs = append(b.ACMs, p.acm)
		return
	}
	if m := sub(reFused); m != nil {
		v := m[1] != "0"
		b.Platform.ProductionFused = &v
		return
	}
	if m := sub(reChipsetIDs); m != nil {
		b.Platform.Vendor, _ = hexU32(m[1])
		b.Platform.Device, _ = hexU32(m[2])
		b.Platform.Revision, _ = hexU32(m[3])
		b.Platform.ChipsetKnown = true
		return
	}
	if m := sub(reFMS); m != nil {
		b.Platform.FMS, b.Platform.FMSKnown = hexU32(m[1])
		return
	}
	if m := sub(rePlatformID); m != nil {
		b.Platform.PlatformID, b.Platform.PlatformIDKnown = hexU64(m[1])
		return
	}
	if m := sub(reChipsetEnt); m != nil && p.acm != nil {
		var c ChipsetID
		c.Vendor, _ = hexU32(m[1])
		c.Device, _ = hexU32(m[2])
		c.Flags, _ = hexU32(m[3])
		c.Revision, _ = hexU32(m[4])
		p.acm.Chipsets = append(p.acm.Chipsets, c)
		return
	}
	if m := sub(reProcEnt); m != nil && p.acm != nil {
		var e ProcessorID
		e.FMS, _ = hexU32(m[1])
		e.FMSMask, _ = hexU32(m[2])
		e.PlatformID, _ = hexU64(m[3])
		e.PlatformMask, _ = hexU64(m[4])
		p.acm.Processors = append(p.acm.Processors, e)
		return
	}
	if strings.HasPrefix(t, "SINIT matches platform") {
		if p.acm == nil {
			p.acm = &ACMAttempt{Seq: len(b.ACMs) + 1, Line: l.No}
			b.ACMs = append(b.ACMs, p.acm)
		}
		p.acm.Verdict = "match"
		return
	}
	if strings.HasPrefix(t, "ACM info_table version mismatch") && p.acm != nil {
		p.acm.Warnings = append(p.acm.Warnings, t)
		return
	}
	for _, v := range acmVerdicts {
		if strings.Contains(t, v) && p.acm != nil && p.acm.Verdict == "" {
			p.acm.Verdict = v
			return
		}
	}
	switch {
	case strings.HasPrefix(t, "no SINIT AC module found"):
		b.NoSINIT = true
		return
	case strings.HasPrefix(t, "no SINIT provided by bootloader; using BIOS SINIT"),
		strings.HasPrefix(t, "BIOS-provided SINIT is newer, so using it"):
		b.BIOSSINIT = true
		return
	}

	// Error dump.
	if strings.HasPrefix(t, "TXT.ERRORCODE") {
		e := &ErrorReport{Line: l.No}
		if m := sub(reErrorCode); m != nil {
			if v, err := ParseCode(m[1]); err == nil {
				e.Code, e.CodeKnown = v, true
			}
		}
		b.Errors = append(b.Errors, e)
		return
	}
	if last := lastError(b); last != nil {
		if m := sub(reACMError); m != nil {
			last.ACMLine = true
			last.ACMType, _ = hexU32(m[1])
			last.Progress, _ = hexU32(m[2])
			last.ErrorField, _ = hexU32(m[3])
			return
		}
		if m := sub(reProcError); m != nil {
			last.ProcessorLine = true
			last.ProcessorType, _ = hexU32(m[1])
			return
		}
		if m := sub(reESTS); m != nil {
			v, _ := hexU64(m[1])
			last.ESTS = &v
			return
		}
		if m := sub(reE2STS); m != nil {
			v, _ := hexU64(m[1])
			last.E2STS = &v
			return
		}
	}
	if strings.Contains(t, "last boot has no error") {
		v := false
		b.LastBootError = &v
		return
	}
	if strings.Contains(t, "last boot has error") {
		v := true
		b.LastBootError = &v
		return
	}
	if strings.HasPrefix(t, "TXT_RESET.STS is set") {
		b.ResetSTS = true
		return
	}
	switch {
	case strings.HasPrefix(t, "CPU is ready for SENTER"):
		b.ReadyForSENTER = true
	case strings.HasPrefix(t, "executing GETSEC"):
		b.SENTER = true
	case strings.HasPrefix(t, "measured launch succeeded"), strings.HasPrefix(t, "SINIT ACM successfully returned"):
		b.Launched = true
	case strings.HasPrefix(t, "transfering control to kernel"), strings.HasPrefix(t, "transferring control to kernel"):
		b.HandedOff = true
	}
}

// postLaunch handles "SINIT ACM successfully returned...": tboot prints it
// in its post-launch run, which starts with the banner (and version,
// command line) again. When the boot before went into SENTER, the run
// that the second banner opened is that boot's post-launch half: fold it
// back in, so a healthy launch is one boot and never a "reboot".
func (p *logParser) postLaunch(l LogLine) {
	bs := p.log.Boots
	if p.cur == nil || len(bs) < 2 || p.cur != bs[len(bs)-1] {
		if p.cur != nil && !p.cur.PostLaunch {
			p.cur.PostLaunch, p.cur.PostLaunchLine = true, l.No
		}
		return
	}
	prev, cur := bs[len(bs)-2], p.cur
	if !prev.SENTER || prev.Launched || cur.SENTER || len(cur.ACMs) > 0 || len(cur.Errors) > 0 {
		if !cur.PostLaunch {
			cur.PostLaunch, cur.PostLaunchLine = true, l.No
		}
		return
	}
	prev.PostLaunch, prev.PostLaunchLine = true, cur.FirstLine
	prev.LastLine = cur.LastLine
	prev.Truncated += cur.Truncated
	prev.Events = append(prev.Events, cur.Events...)
	if prev.TPMFamily == "" {
		prev.TPMFamily = cur.TPMFamily
	}
	p.log.Boots = bs[:len(bs)-1]
	p.cur = prev
	p.acm = nil
}

func lastError(b *Boot) *ErrorReport {
	if len(b.Errors) == 0 {
		return nil
	}
	return b.Errors[len(b.Errors)-1]
}
