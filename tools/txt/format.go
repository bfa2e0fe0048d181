package txt

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteText prints d as a table, one row per field, each with its meaning.
func (d Decoded) WriteText(w io.Writer) error {
	if d.Partial {
		fmt.Fprintf(w, "TXT.ERRORCODE 0x????%04x (upper bits cut off): %s\n", d.Code&0xffff, d.Summary)
	} else {
		fmt.Fprintf(w, "TXT.ERRORCODE 0x%08x: %s\n", d.Code, d.Summary)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  field\tbits\tvalue\tmeaning")
	for _, f := range d.Fields {
		m := f.Meaning
		if f.Origin != "" && f.Origin != originGuide {
			m += " [" + f.Origin + "]"
		}
		fmt.Fprintf(tw, "  %s\t%s\t0x%x\t%s\n", f.Name, f.Bits, f.Value, m)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write decoded error code: %w", err)
	}
	if d.ACM != "" {
		t, _ := LookupACMTable(d.ACM)
		fmt.Fprintf(w, "  ACM table: %s (%s)\n", t.Key, t.Name)
	}
	for _, n := range d.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	return nil
}

// jsonField is one field in the JSON form.
type jsonField struct {
	Bits    string `json:"bits"`
	Value   uint32 `json:"value"`
	Hex     string `json:"hex"`
	Meaning string `json:"meaning"`
	Origin  string `json:"origin,omitempty"`
}

// MarshalJSON gives one key per field (valid, external, reserved, minor,
// sw_source, major, class, module_type; type for processor errors) next to
// code, source, acm_table, success, summary and notes.
func (d Decoded) MarshalJSON() ([]byte, error) {
	m := map[string]any{
		"code":    fmt.Sprintf("0x%08x", d.Code),
		"source":  d.Source,
		"success": d.Success,
		"summary": d.Summary,
	}
	if d.ACM != "" {
		m["acm_table"] = d.ACM
	}
	if len(d.Notes) > 0 {
		m["notes"] = d.Notes
	}
	if d.Partial {
		m["partial"] = true
	}
	for _, f := range d.Fields {
		m[f.Key] = jsonField{Bits: f.Bits, Value: f.Value, Hex: fmt.Sprintf("0x%x", f.Value), Meaning: f.Meaning, Origin: f.Origin}
	}
	return json.Marshal(m)
}
