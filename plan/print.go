package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// WriteText prints the plan for people (and buildbot logs): no escape codes.
func (p *Plan) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "build %s (config sha256 %s)\n", p.Name, short(p.ConfigHash, 12))
	fmt.Fprintf(w, "build dir  %s\noutput     %s/%s\n\n", p.BuildDir, p.OutputDir, p.Name)
	fmt.Fprintln(w, "layers:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, l := range p.Layers {
		rev := l.Pinning
		if l.Commit != "" {
			rev = fmt.Sprintf("%s (%s)", short(l.Commit, 12), l.Pinning)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", l.Name, l.Ref, rev, l.URL)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nsteps:")
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for i, s := range p.Steps {
		note := ""
		if !s.Requested {
			note = " (dependency)"
		}
		what := s.Kind
		if s.Kind == "bitbake" {
			what = commandLine(s)
		}
		fmt.Fprintf(tw, "  %d.\t%s%s\t%s\n", i+1, s.Name, note, what)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(p.Repository) > 0 {
		fmt.Fprintln(w, "\nrepository (packages.main, in XC-PACKAGES order):")
		tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, f := range p.Repository {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s <- %s (step %s)\n", f.ID, f.Format, f.Mount, f.File, f.Deploy, f.Step)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(p.Boards) > 0 {
		fmt.Fprintln(w, "\nboards (go run mage.go board NAME):")
		tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, b := range p.Boards {
			fmt.Fprintf(tw, "  %s\tMACHINE=%s bitbake %s\ttools: %s\tlayers: %s\n", b.Name, b.Machine, b.Image, strings.Join(b.Tools, ","), strings.Join(b.Layers, ","))
		}
		return tw.Flush()
	}
	return nil
}

// commandLine renders a step's exact command with its environment.
func commandLine(s Step) string {
	var parts []string
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+"="+s.Env[k])
	}
	return strings.Join(append(parts, s.Command...), " ")
}

// WriteJSON prints the plan as JSON.
func (p *Plan) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

func short(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
