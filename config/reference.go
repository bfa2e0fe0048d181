package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// Reference renders docs/config.md from the struct tags and the built-in
// profile, so the reference cannot drift from the code (a test compares).
func Reference() []byte {
	prof, _ := profile()
	var b strings.Builder
	b.WriteString("# xtbuild.toml reference\n\n")
	b.WriteString("<!-- Generated from config/types.go by `go test ./config -run TestReferenceUpToDate -update`; do not edit. -->\n\n")
	b.WriteString("Load order: built-in defaults (the OpenXT profile, `config/profiles/openxt.toml`) ← `xtbuild.toml` ")
	b.WriteString("in the current directory (or the file named by `XTBUILD_CONFIG`) ← environment overrides. ")
	b.WriteString("Unknown keys and wrong types are errors naming file, line and key. ")
	b.WriteString("Relative paths are relative to the config file's directory and may not climb out of it. ")
	b.WriteString("`go run mage.go init` writes the profile as a starting file; `go run mage.go migrate PATH` converts an OpenXT `.config`, ")
	b.WriteString("an openxt-manifest XML (repo manifest) or a bordel template or configured build directory.\n\n")
	b.WriteString("Values of typed keys are data. A key marked \"Written to BitBake as data\" goes into the generated conf or recipe, ")
	b.WriteString("and a `${...}` expansion in it (inline Python `${@...}` above all) is refused with file:line:key, ")
	b.WriteString("whether it comes from the file or from an `XTBUILD_*` variable. ")
	b.WriteString("Only `[local_conf] extra` (and a board's `local_conf`) carries raw BitBake, checked for syntax only. ")
	b.WriteString("Integer keys are bounded to the range given with each.\n")

	ct := reflect.TypeOf(Config{})
	cv := reflect.ValueOf(*prof)
	for i := 0; i < ct.NumField(); i++ {
		f := ct.Field(i)
		name := tomlName(f)
		if name == "-" {
			continue
		}
		switch f.Type.Kind() {
		case reflect.Struct:
			fmt.Fprintf(&b, "\n## `[%s]`\n\n%s\n\n", name, f.Tag.Get("doc"))
			fieldTable(&b, f.Type, cv.Field(i), true)
		case reflect.Slice:
			fmt.Fprintf(&b, "\n## `[[%s]]`\n\n%s\n\n", name, f.Tag.Get("doc"))
			fieldTable(&b, f.Type.Elem(), reflect.Value{}, false)
		case reflect.Map:
			if f.Type.Elem().Kind() != reflect.Struct {
				// A plain table of values, e.g. [srcrev] recipe = "commit".
				fmt.Fprintf(&b, "\n## `[%s]`\n\n%s Each value is a %s.\n", name, f.Tag.Get("doc"), typeName(f.Type.Elem()))
				continue
			}
			fmt.Fprintf(&b, "\n## `[%s.<name>]`\n\n%s\n\n", name, f.Tag.Get("doc"))
			fieldTable(&b, f.Type.Elem(), reflect.Value{}, false)
		}
		if name == "steps" {
			stepTable(&b, prof)
		}
		if name == "layer" {
			b.WriteString("\nThe profile's layers:\n\n| name | kind | url | sublayers |\n|---|---|---|---|\n")
			for _, l := range prof.Layers {
				fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", l.Name, l.Kind, l.URL, strings.Join(l.Sublayers, ", "))
			}
		}
	}
	b.WriteString("\n## Environment overrides\n\n| variable | overrides |\n|---|---|\n")
	for _, o := range EnvOverrides {
		fmt.Fprintf(&b, "| `%s` | `%s` |\n", o.Name, o.Key)
	}
	b.WriteString("| `XTBUILD_CONFIG` | the config file |\n")
	b.WriteString("\n## Options\n\nMage targets take no flags; these variables are the options.\n\n| variable | meaning |\n|---|---|\n")
	for _, o := range OptionVars {
		fmt.Fprintf(&b, "| `%s` | %s |\n", o.Name, o.Doc)
	}
	b.WriteString("\n## Supported Yocto releases\n\nThe release facts xtbuild uses (config.Releases): the conf it writes and how MACHINE reaches BitBake. The Python each release's BitBake runs on and the hosts it was validated for are doctor's (`go run mage.go doctor`; setupoe checks them before cloning).\n\n| release | version | bitbake | override syntax | CONF_VERSION | MACHINE passed by |\n|---|---|---|---|---|---|\n")
	for _, r := range Releases {
		syntax := "`VAR_append`"
		if r.ColonOverrides {
			syntax = "`VAR:append`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | `%s` |\n", r.Name, r.Version, r.Bitbake, syntax, r.ConfVersion, r.EnvPassthrough)
	}
	return []byte(b.String())
}

func fieldTable(b *strings.Builder, t reflect.Type, v reflect.Value, defaults bool) {
	if defaults {
		b.WriteString("| key | type | default | meaning |\n|---|---|---|---|\n")
	} else {
		b.WriteString("| key | type | meaning |\n|---|---|---|\n")
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if defaults {
			fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", tomlName(f), typeName(f.Type), defaultText(v.Field(i)), mdText(docOf(f)))
		} else {
			fmt.Fprintf(b, "| `%s` | %s | %s |\n", tomlName(f), typeName(f.Type), mdText(docOf(f)))
		}
	}
}

func stepTable(b *strings.Builder, prof *Config) {
	b.WriteString("\nThe profile's steps (OpenXT's step table):\n\n| step | kind | machine | targets | depends on |\n|---|---|---|---|---|\n")
	names := make([]string, 0, len(prof.Steps))
	for n := range prof.Steps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := prof.Steps[n]
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", n, s.StepKind(), s.Machine, strings.Join(s.Images, ", "), strings.Join(s.Depends, ", "))
	}
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int:
		return "integer"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return "array of tables"
		}
		return "array of " + typeName(t.Elem())
	}
	return t.Kind().String()
}

func defaultText(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		if v.String() == "" {
			return `""`
		}
		return "`" + v.String() + "`"
	case reflect.Slice:
		var parts []string
		for i := 0; i < v.Len(); i++ {
			parts = append(parts, fmt.Sprint(v.Index(i).Interface()))
		}
		if len(parts) > 6 {
			parts = append(parts[:6], "…")
		}
		return "`[" + strings.Join(parts, ", ") + "]`"
	}
	return fmt.Sprintf("`%v`", v.Interface())
}

// docOf is a key's doc tag plus what its bb and range tags say.
func docOf(f reflect.StructField) string {
	if t := tagDoc(f); t != "" {
		return f.Tag.Get("doc") + " " + t
	}
	return f.Tag.Get("doc")
}

// mdText keeps <placeholders> visible in Markdown.
func mdText(s string) string { return strings.ReplaceAll(s, "<", "&lt;") }
