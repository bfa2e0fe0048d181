package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Two struct tags on the config types drive one rule each, applied to every
// key that carries them (validated by walkTagged, documented by Reference):
//
//   - bb:"data" marks a value that xtbuild writes into BitBake's conf (or a
//     generated recipe). Such values are data: a "${" would make BitBake
//     expand it, and "${@" would run it as Python. Both are refused unless the
//     tag names the variables a key may expand, as bb:"data expand=TOPDIR"
//     would allow ${TOPDIR} and nothing else. Raw BitBake belongs in
//     [local_conf] extra (and a board's local_conf), which carry no tag.
//   - range:"MIN,MAX" bounds an integer key.
const (
	tagBB    = "bb"
	tagRange = "range"
)

// walkTagged calls fn for every tagged field reachable from c, with the key
// path the way errors name it: build.distro, layer[2].path,
// steps.dom0.machine, mirrors.sources[1], boards.apu.layer[0].sublayers[0].
func walkTagged(c *Config, fn func(key string, f reflect.StructField, v reflect.Value)) {
	walkStruct(reflect.ValueOf(c).Elem(), "", fn)
}

func walkStruct(v reflect.Value, prefix string, fn func(string, reflect.StructField, reflect.Value)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := tomlName(f)
		if name == "-" || !f.IsExported() {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		fv := v.Field(i)
		if f.Tag.Get(tagBB) != "" || f.Tag.Get(tagRange) != "" {
			fn(key, f, fv)
		}
		switch fv.Kind() {
		case reflect.Struct:
			walkStruct(fv, key, fn)
		case reflect.Slice:
			if fv.Type().Elem().Kind() == reflect.Struct {
				for j := 0; j < fv.Len(); j++ {
					walkStruct(fv.Index(j), fmt.Sprintf("%s[%d]", key, j), fn)
				}
			}
		case reflect.Map:
			if fv.Type().Elem().Kind() != reflect.Struct {
				continue
			}
			keys := fv.MapKeys()
			sort.Slice(keys, func(a, b int) bool { return keys[a].String() < keys[b].String() })
			for _, k := range keys {
				// Map values are not addressable: walk a copy.
				cp := reflect.New(fv.Type().Elem()).Elem()
				cp.Set(fv.MapIndex(k))
				walkStruct(cp, key+"."+k.String(), fn)
			}
		}
	}
}

// bbTag is a parsed bb:"data expand=A,B" tag.
type bbTag struct {
	data   bool
	expand []string
}

func parseBBTag(s string) bbTag {
	var t bbTag
	for _, part := range strings.Fields(s) {
		switch {
		case part == "data":
			t.data = true
		case strings.HasPrefix(part, "expand="):
			t.expand = strings.Split(strings.TrimPrefix(part, "expand="), ",")
		}
	}
	return t
}

// parseRange reads range:"MIN,MAX".
func parseRange(s string) (lo, hi int, ok bool) {
	a, b, found := strings.Cut(s, ",")
	if !found {
		return 0, 0, false
	}
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	return lo, hi, err1 == nil && err2 == nil
}

// checkTagged applies the bb and range rules to every tagged key.
func (v *validator) checkTagged(c *Config) {
	walkTagged(c, func(key string, f reflect.StructField, fv reflect.Value) {
		if r := f.Tag.Get(tagRange); r != "" && fv.Kind() == reflect.Int {
			lo, hi, ok := parseRange(r)
			if !ok {
				panic(fmt.Sprintf("config: bad range tag %q on %s", r, key))
			}
			if n := int(fv.Int()); n < lo || n > hi {
				v.add(key, "%d is out of range: want %d..%d", n, lo, hi)
			}
		}
		tag := parseBBTag(f.Tag.Get(tagBB))
		if !tag.data {
			return
		}
		switch fv.Kind() {
		case reflect.String:
			v.dataValue(key, fv.String(), tag)
		case reflect.Slice:
			if fv.Type().Elem().Kind() == reflect.String {
				for j := 0; j < fv.Len(); j++ {
					v.dataValue(fmt.Sprintf("%s[%d]", key, j), fv.Index(j).String(), tag)
				}
			}
		}
	})
}

// dataValue refuses BitBake expansions in a value that is data.
func (v *validator) dataValue(key, val string, tag bbTag) {
	rest := val
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			return
		}
		rest = rest[i+2:]
		if strings.HasPrefix(rest, "@") {
			v.add(key, "%q contains inline Python (${@...}), which BitBake would run: values of typed keys are data; put raw BitBake in [local_conf] extra", val)
			return
		}
		name, _, closed := strings.Cut(rest, "}")
		if closed && contains(tag.expand, name) {
			continue
		}
		allowed := "no ${...} expansion is allowed here"
		if len(tag.expand) > 0 {
			allowed = "only ${" + strings.Join(tag.expand, "}, ${") + "} may be expanded here"
		}
		v.add(key, "%q contains a BitBake expansion: values of typed keys are data (%s); put raw BitBake in [local_conf] extra", val, allowed)
		return
	}
}

// tagDoc is the sentence Reference adds to a tagged key's description.
func tagDoc(f reflect.StructField) string {
	var parts []string
	if r := f.Tag.Get(tagRange); r != "" {
		if lo, hi, ok := parseRange(r); ok {
			parts = append(parts, fmt.Sprintf("Range %d..%d.", lo, hi))
		}
	}
	if t := parseBBTag(f.Tag.Get(tagBB)); t.data {
		if len(t.expand) > 0 {
			parts = append(parts, "Written to BitBake as data: only ${"+strings.Join(t.expand, "}, ${")+"} is expanded.")
		} else {
			parts = append(parts, "Written to BitBake as data: no ${...}.")
		}
	}
	return strings.Join(parts, " ")
}
