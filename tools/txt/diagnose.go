package txt

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Diagnosis is the report on a tboot log: one entry per boot, then what
// went wrong overall and what to do next.
type Diagnosis struct {
	Boots     []BootReport `json:"boots"`
	Findings  []string     `json:"findings"`
	NextSteps []string     `json:"next_steps"`
	// Problem is set when something stops a measured launch.
	Problem bool `json:"problem"`
}

// BootReport is the diagnosis of one boot.
type BootReport struct {
	Index      int          `json:"boot"`
	FirstLine  int          `json:"first_line"`
	LastLine   int          `json:"last_line"`
	Version    string       `json:"tboot_version,omitempty"`
	Cmdline    string       `json:"command_line,omitempty"`
	Platform   *PlatformRep `json:"platform,omitempty"`
	ACMs       []ACMReport  `json:"sinit_acms"`
	MatchedACM string       `json:"matched_acm,omitempty"`
	NoSINIT    bool         `json:"no_sinit_found,omitempty"`
	TPMFamily  string       `json:"tpm_family,omitempty"`
	NVLocked   *bool        `json:"nv_locked,omitempty"`
	// NVLockedNA: the TPM is a 2.0 one, which has no nv_locked flag.
	NVLockedNA bool `json:"nv_locked_not_applicable,omitempty"`
	// Events are the decisive tboot messages of this boot.
	Events []Event `json:"events,omitempty"`
	// PostLaunchLine is where tboot's post-launch run starts (its second
	// banner); 0 when the capture has none.
	PostLaunchLine int        `json:"post_launch_line,omitempty"`
	HandedOff      bool       `json:"handed_off_to_kernel,omitempty"`
	Errors         []ErrorRep `json:"txt_errorcodes"`
	// LastBootError is tboot's own "last boot has (no) error" verdict.
	LastBootError *bool    `json:"last_boot_error,omitempty"`
	ResetSTS      bool     `json:"txt_reset_sts,omitempty"`
	SENTER        bool     `json:"senter_executed"`
	Launched      bool     `json:"launch_succeeded"`
	Rebooted      bool     `json:"rebooted_after_senter"`
	Launch        string   `json:"launch"`
	Notes         []string `json:"notes,omitempty"`
}

// PlatformRep is the host identity in a report.
type PlatformRep struct {
	ProductionFused *bool  `json:"production_fused,omitempty"`
	Chipset         string `json:"chipset,omitempty"`
	FMS             string `json:"fms,omitempty"`
	CPU             string `json:"cpu,omitempty"`
	PlatformID      string `json:"platform_id,omitempty"`
}

// ACMReport says whether one SINIT matched and why.
type ACMReport struct {
	Module  string `json:"module"`
	Line    int    `json:"line"`
	Verdict string `json:"tboot_verdict,omitempty"`
	Match   bool   `json:"match"`
	// Decided is false when the log ends before a verdict and the ids
	// logged are not enough to compute one.
	Decided  bool     `json:"decided"`
	Reason   string   `json:"reason"`
	Warnings []string `json:"warnings,omitempty"`
}

// ErrorRep is one decoded TXT.ERRORCODE.
type ErrorRep struct {
	Line int `json:"line"`
	// ForBoot is the boot whose launch left the code: the previous one
	// for a code shown before SENTER, this boot for one its post-launch
	// run shows.
	ForBoot int `json:"for_boot,omitempty"`
	// Previous: the code was left by a launch before this one (shown
	// before SENTER); false for the post-launch run's code.
	Previous bool    `json:"previous_launch"`
	Decoded  Decoded `json:"decoded"`
	// Partial: the value was cut off and rebuilt from tboot's breakdown
	// line; the minor code is unknown.
	Partial bool   `json:"partial,omitempty"`
	ESTS    string `json:"txt_ests,omitempty"`
	E2STS   string `json:"txt_e2sts,omitempty"`
}

// DiagnoseLog parses and diagnoses a tboot capture.
func DiagnoseLog(r io.Reader) (*Diagnosis, error) {
	l, err := ParseLog(r)
	if err != nil {
		return nil, err
	}
	return Diagnose(l), nil
}

const nvlockFix = "xt tpm nvlock fix"

// Diagnose turns a parsed log into findings and next steps.
func Diagnose(l *Log) *Diagnosis {
	d := &Diagnosis{Boots: []BootReport{}, Findings: []string{}, NextSteps: []string{}}
	var order []string
	boots := map[string][]int{}
	curBoot := 0
	// find records a finding for the boot being looked at; the same finding
	// in several boots is reported once, naming them all.
	find := func(s string) {
		bs, seen := boots[s]
		if !seen {
			order = append(order, s)
		}
		if curBoot != 0 && (len(bs) == 0 || bs[len(bs)-1] != curBoot) {
			bs = append(bs, curBoot)
		}
		boots[s] = bs
	}
	defer func() {
		for _, f := range order {
			d.Findings = append(d.Findings, bootList(boots[f])+f)
		}
	}()
	seenS := map[string]bool{}
	step := func(s string) {
		if !seenS[s] {
			seenS[s] = true
			d.NextSteps = append(d.NextSteps, s)
		}
	}
	if len(l.Boots) == 0 {
		find("no tboot messages found (tboot prefixes each line with \"TBOOT: \")")
		step("check that tboot logs to this port: logging=serial and serial=BAUD,8n1,IOBASE on the tboot line (`xt serial find` prints it), and that the capture baud matches")
		d.Problem = true
		return d
	}

	matched := make([]*ACMAttempt, len(l.Boots))
	for i, b := range l.Boots {
		for _, a := range b.ACMs {
			if acmMatches(b.Platform, a) {
				matched[i] = a
				break
			}
		}
	}

	for i, b := range l.Boots {
		curBoot = b.Index
		rep := BootReport{
			Index: b.Index, FirstLine: b.FirstLine, LastLine: b.LastLine,
			Version: b.Version, Cmdline: b.Cmdline, TPMFamily: b.TPMFamily, NVLocked: b.NVLocked,
			NoSINIT: b.NoSINIT, LastBootError: b.LastBootError, ResetSTS: b.ResetSTS,
			SENTER: b.SENTER, Launched: b.Launched, ACMs: []ACMReport{}, Errors: []ErrorRep{},
			Events: b.Events, PostLaunchLine: b.PostLaunchLine, HandedOff: b.HandedOff,
		}
		if strings.HasPrefix(b.TPMFamily, "2.0") {
			rep.NVLockedNA = true
		}
		rep.Platform = platformRep(b.Platform)
		for _, a := range b.ACMs {
			rep.ACMs = append(rep.ACMs, acmReport(b.Platform, a))
		}
		if m := matched[i]; m != nil {
			rep.MatchedACM = displayModule(m)
		}

		// The code a boot reports was left by the launch before it: the
		// previous boot in this log, or one before the capture started.
		tableACM, tablePlat := matched[i], b.Platform
		forBoot := 0
		if i > 0 && l.Boots[i-1].SENTER {
			forBoot = l.Boots[i-1].Index
			if matched[i-1] != nil {
				tableACM, tablePlat = matched[i-1], l.Boots[i-1].Platform
			}
		}
		table := tableForACM(tableACM, tablePlat)
		for _, e := range b.Errors {
			er, ok := errorRep(e, table)
			if !ok {
				rep.Notes = append(rep.Notes, fmt.Sprintf("line %d: TXT.ERRORCODE value cut off in the capture", e.Line))
				continue
			}
			er.ForBoot, er.Previous = forBoot, true
			if b.PostLaunchLine > 0 && e.Line >= b.PostLaunchLine {
				er.ForBoot, er.Previous = b.Index, false
			}
			rep.Errors = append(rep.Errors, er)
			errorFindings(er, find, step, d)
		}

		next := (*Boot)(nil)
		if i+1 < len(l.Boots) {
			next = l.Boots[i+1]
		}
		blocking := ""
		for _, e := range b.Events {
			if e.ID == "sinit-not-provided" && b.NoSINIT {
				continue // reported with the per-module reasons below
			}
			if b.NoTXT && (e.ID == "sinit-not-provided" || e.ID == "txt-not-supported") {
				continue // the hardware cannot do TXT: no ACM advice
			}
			f, st, blocks := eventFinding(e)
			find(f)
			if st != "" {
				step(st)
			}
			if blocks {
				d.Problem = true
				if blocking == "" {
					blocking = f
				}
			}
		}
		switch {
		case b.Launched && blocking != "" && b.PostLaunchLine > 0:
			rep.Launch = "SINIT returned (the measured launch happened), then tboot's post-launch run stopped: " + blocking
		case b.Launched && b.HandedOff:
			rep.Launch = "measured launch succeeded; tboot handed control to the kernel"
		case b.Launched:
			rep.Launch = "measured launch succeeded"
		case b.SENTER && next != nil:
			rep.Rebooted = true
			rep.Launch = fmt.Sprintf("GETSEC[SENTER] executed, then the machine reset (boot %d follows)", next.Index)
			if c, partial, ok := firstErrorCode(next); ok && !IsSuccess(c) {
				if partial {
					rep.Launch += fmt.Sprintf(" and reports an ACM error, class 0x%x major 0x%x (value cut off)", bits(c, 9, 4), bits(c, 14, 10))
				} else {
					rep.Launch += fmt.Sprintf(" and reports TXT.ERRORCODE 0x%08x", c)
				}
			}
			find("SENTER failed and the machine rebooted")
			d.Problem = true
		case b.SENTER:
			rep.Launch = "GETSEC[SENTER] executed and the log ends without a success line; if the machine reset, capture the next boot: its TXT.ERRORCODE says why"
		case blocking != "" && b.HandedOff:
			rep.Launch = "no measured launch: tboot started the kernel without TXT (" + blocking + ")"
		case blocking != "":
			rep.Launch = "no measured launch: " + blocking
		case next == nil:
			rep.Launch = "the log ends before GETSEC[SENTER]"
		default:
			rep.Launch = "GETSEC[SENTER] not reached"
		}

		if b.NVLocked != nil && !*b.NVLocked {
			find(fmt.Sprintf("TPM nv_locked: FALSE, the TPM's NV RAM is not locked (TPM_NV_INDEX_LOCK, index 0xFFFFFFFF, is not defined); SINIT refuses to launch on such a TPM"))
			step(nvlockStep)
			d.Problem = true
		}
		if b.NoSINIT && !b.NoTXT {
			find(fmt.Sprintf("no SINIT ACM matched this platform (%s)", platformLine(b.Platform)))
			for _, a := range rep.ACMs {
				if a.Decided && !a.Match {
					find(fmt.Sprintf("%s does not fit: %s", a.Module, a.Reason))
				}
			}
			step("add the SINIT ACM made for this platform as a boot module (grub: module2 /boot/<sinit>.bin after the kernel and initrd); the per-ACM reasons above show what each offered module expects")
			d.Problem = true
		}
		for _, a := range rep.ACMs {
			if a.Verdict == "production/debug mismatch between chipset and ACM" {
				find(fmt.Sprintf("%s is signed for the other fusing (production vs debug)", a.Module))
				step("use an ACM signed for this chipset's fusing: production ACMs for production-fused chipsets")
			}
		}
		if b.ResetSTS {
			find("TXT_RESET.STS is set, so the processor refuses SENTER")
			step("power the machine off completely (remove power, not a reboot) and boot again; TXT_RESET.STS clears only on a power cycle")
			d.Problem = true
		}
		if b.Truncated > 0 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%d message(s) were cut short in the capture; values in them were not used", b.Truncated))
		}
		d.Boots = append(d.Boots, rep)
	}
	last := l.Boots[len(l.Boots)-1]
	if st := l.Stat; st != nil {
		noTXT := false
		for _, b := range l.Boots {
			noTXT = noTXT || b.NoTXT
		}
		switch {
		case st.MeasuredLaunch != nil && *st.MeasuredLaunch && (noTXT || st.AllOnes || st.NotSupported):
			curBoot = 0
			find("txt-stat's header says \"TXT measured launch: TRUE\", but " + map[bool]string{true: "the tboot log says this platform cannot do TXT", false: "the TXT registers read as all ones"}[noTXT] + ": there is no TXT register space, every bit reads as set, and the header is not to be trusted")
			d.Problem = true
		case st.MeasuredLaunch != nil && !*st.MeasuredLaunch && last.Launched:
			curBoot = 0
			find("txt-stat says \"TXT measured launch: FALSE\" while the log shows a launch: the registers were read after a reboot or S3 that left TXT")
		}
	}
	if !d.Problem && last.Launched {
		curBoot = last.Index
		find("measured launch succeeded")
	}
	if len(d.NextSteps) == 0 && !last.Launched {
		step("capture a full boot with loglvl=all logging=serial on the tboot line: the log has no launch result yet")
	}
	return d
}

const nvlockStep = "lock the TPM's NV RAM: run `" + nvlockFix + "` (it defines TPM_NV_INDEX_LOCK, index 0xFFFFFFFF, size 0; `xt tpm nvlock check` shows the state), then reboot into tboot; the log should now say `TPM nv_locked: TRUE`"

func acmMatches(p Platform, a *ACMAttempt) bool {
	if a.Verdict != "" {
		return a.Verdict == "match"
	}
	r := Evaluate(p, a)
	return r.Evaluated && r.Match
}

func displayModule(a *ACMAttempt) string {
	if a.Module == "" {
		return fmt.Sprintf("module #%d (unnamed in the log)", a.Seq)
	}
	return a.Module
}

func acmReport(p Platform, a *ACMAttempt) ACMReport {
	r := Evaluate(p, a)
	rep := ACMReport{Module: displayModule(a), Line: a.Line, Verdict: a.Verdict, Warnings: a.Warnings}
	switch {
	case a.Verdict == "match":
		rep.Match = true
		rep.Reason = "tboot: SINIT matches platform"
		if r.Evaluated {
			rep.Reason = r.Reason
			if !r.Match {
				rep.Reason += " (tboot says it matches, our check of the logged ids disagrees)"
			}
		}
	case a.Verdict != "":
		rep.Reason = "tboot: " + a.Verdict
		if r.Evaluated && !r.Match {
			rep.Reason += ": " + r.Reason
		}
	case r.Evaluated:
		rep.Match = r.Match
		rep.Reason = r.Reason + " (tboot's verdict is not in the log; computed from the logged ids)"
	default:
		rep.Reason = "the log has no verdict and not enough ids to check"
		return rep
	}
	rep.Decided = true
	return rep
}

func platformRep(p Platform) *PlatformRep {
	if p.ProductionFused == nil && !p.ChipsetKnown && !p.FMSKnown && !p.PlatformIDKnown {
		return nil
	}
	r := &PlatformRep{ProductionFused: p.ProductionFused}
	if p.ChipsetKnown {
		r.Chipset = fmt.Sprintf("%04x:%04x rev 0x%x", p.Vendor, p.Device, p.Revision)
	}
	if p.FMSKnown {
		r.FMS = fmt.Sprintf("0x%x", p.FMS)
		r.CPU = DescribeFMS(p.FMS)
	}
	if p.PlatformIDKnown {
		r.PlatformID = fmt.Sprintf("0x%x", p.PlatformID)
	}
	return r
}

func platformLine(p Platform) string {
	r := platformRep(p)
	if r == nil {
		return "platform ids not in the log"
	}
	s := ""
	if r.Chipset != "" {
		s += "chipset " + r.Chipset
	}
	if r.FMS != "" {
		s += ", processor fms " + r.FMS
	}
	if r.PlatformID != "" {
		s += ", platform id " + r.PlatformID
	}
	return s
}

func firstErrorCode(b *Boot) (code uint32, partial, ok bool) {
	for _, e := range b.Errors {
		if e.CodeKnown {
			return e.Code, false, true
		}
		if e.ACMLine {
			return rebuildCode(e), true, true
		}
	}
	return 0, false, false
}

// rebuildCode puts tboot's breakdown line back into register form when the
// value itself was lost; the minor code is not in that line.
func rebuildCode(e *ErrorReport) uint32 {
	return 0xC0000000 | (e.ErrorField&0x1f)<<10 | (e.Progress&0x3f)<<4 | e.ACMType&0xf
}

func errorRep(e *ErrorReport, table string) (ErrorRep, bool) {
	er := ErrorRep{Line: e.Line}
	code := e.Code
	switch {
	case e.CodeKnown:
	case e.ACMLine:
		code, er.Partial = rebuildCode(e), true
	case e.ProcessorLine:
		code, er.Partial = 0x80000000|e.ProcessorType&0x3fffffff, true
	default:
		return er, false
	}
	dec, err := Decode(code, table)
	if err != nil { // table names come from tableForACM, so this cannot fail
		dec, _ = Decode(code, "")
	}
	if er.Partial {
		dec.Partial = true
		dec.Notes = append(dec.Notes, "rebuilt from tboot's breakdown line: the value was cut off in the capture")
		for i := range dec.Fields {
			if k := dec.Fields[i].Key; k == "minor" || k == "reserved" {
				dec.Fields[i].Meaning, dec.Fields[i].Origin = "not in the log (value cut off)", ""
			}
		}
		if dec.Source == SourceACM {
			class, _ := dec.Field("class")
			major, _ := dec.Field("major")
			dec.Summary = fmt.Sprintf("%s error: class 0x%x (%s), major 0x%x (%s), minor not in the log",
				shortModule(code&0xf), class.Value, orUnknown(class.Meaning), major.Value, orUnknown(major.Meaning))
		}
	}
	if e.ESTS != nil {
		er.ESTS = fmt.Sprintf("0x%x", *e.ESTS)
	}
	if e.E2STS != nil {
		er.E2STS = fmt.Sprintf("0x%x", *e.E2STS)
	}
	er.Decoded = dec
	return er, true
}

func errorFindings(er ErrorRep, find, step func(string), d *Diagnosis) {
	dec := er.Decoded
	if dec.Success {
		return
	}
	where := fmt.Sprintf("TXT.ERRORCODE 0x%08x", dec.Code)
	if er.Partial {
		where = "TXT.ERRORCODE (value cut off, from tboot's breakdown)"
	}
	d.Problem = true
	switch dec.Source {
	case SourceProcessor:
		t, _ := dec.Field("type")
		find(where + ": " + dec.Summary)
		switch t.Value {
		case 5, 6, 7, 8, 14:
			step("the processor rejected the SINIT itself: pass only the SINIT for this platform, check the file is intact (compare its sha256 with the one in Intel's zip) and that it is not a debug-signed ACM on a production part")
		case 0:
			step("legacy shutdown after launch is usually a triple fault in the measured environment: try a tboot release that supports this ACM and platform, and capture with loglvl=all")
		default:
			step("look the processor error up in the MLE developer's guide (chapter on TXT.ERRORCODE) for this CPU generation")
		}
	case SourceSoftware:
		find(where + ": " + dec.Summary)
		step("the MLE (tboot) reported its own error: read the tboot messages just before the reset")
	case SourceACM:
		find(where + ": " + dec.Summary)
		class, _ := dec.Field("class")
		major, _ := dec.Field("major")
		switch {
		case class.Value == 0x4 && major.Value == 0x4:
			step(nvlockStep)
		case class.Value == 0x4 && (major.Value == 0x5 || major.Value == 0x6):
			step("enable and activate the TPM in the firmware setup, then boot again")
		case class.Value == 0x10:
			step("the launch control policy rejected this launch: check the LCP policy in TPM NV (owner policy index 0x40000001 on TPM 1.2, 0x01C10106 on TPM 2.0) or remove it to use the default policy")
		case class.Value == 0x1 && major.Value == 0x9:
			step("this ACM is revoked on this platform: use a newer SINIT release for it")
		default:
			if orUnknown(class.Meaning) == "unknown" || orUnknown(major.Meaning) == "unknown" {
				st := fmt.Sprintf("look up class 0x%x, major 0x%x in the SINIT error list (a PDF in the ACM's zip) of the matched ACM", class.Value, major.Value)
				if minor, _ := dec.Field("minor"); orUnknown(minor.Meaning) != "unknown" && minor.Origin != "" {
					st += fmt.Sprintf("; the %s table names this code: %s", dec.ACM, minor.Meaning)
				}
				step(st)
			}
		}
	}
}

// bootList renders "boot 1: " or "boots 1, 2, 3: ".
func bootList(bs []int) string {
	switch len(bs) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf("boot %d: ", bs[0])
	}
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = strconv.Itoa(b)
	}
	return "boots " + strings.Join(parts, ", ") + ": "
}
