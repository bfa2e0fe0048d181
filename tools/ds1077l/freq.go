package ds1077l

import (
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// Grade is a DS1077L frequency grade: the part number suffix and its master
// clock (the highest OUT1 frequency, P1 = 1 with the divider bypassed).
type Grade struct {
	Name int      // 40, 50, 60 or 66
	MCLK *big.Rat // Hz
}

// The datasheet's standard frequency options. -66 is printed as 66.666 MHz;
// that figure is used as is (the part's ±0.5% initial tolerance dwarfs the
// question of whether it is really 200/3 MHz). There is no -33 grade.
var gradeHz = map[int]int64{40: 40_000_000, 50: 50_000_000, 60: 60_000_000, 66: 66_666_000}

// ErrUnknownGrade is returned for a grade the DS1077L does not come in.
var ErrUnknownGrade = errors.New("unknown DS1077L grade")

// Grades lists the grade names in ascending order.
func Grades() []int {
	out := make([]int, 0, len(gradeHz))
	for g := range gradeHz {
		out = append(out, g)
	}
	sort.Ints(out)
	return out
}

// LookupGrade accepts "66", "-66", "DS1077L-66" or "ds1077lz-66+" forms.
func LookupGrade(s string) (Grade, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "+")
	if i := strings.LastIndexByte(t, '-'); i >= 0 {
		t = t[i+1:]
	}
	n, err := strconv.Atoi(t)
	hz, ok := gradeHz[n]
	if err != nil || !ok {
		return Grade{}, fmt.Errorf("grade %q: %w (the DS1077L comes as -40, -50, -60 and -66)", s, ErrUnknownGrade)
	}
	return Grade{Name: n, MCLK: new(big.Rat).SetInt64(hz)}, nil
}

// Setting is what drives OUT1: a prescaler and a divisor, where divisor 1
// means the N divider is bypassed (MUX DIV1 = 1).
type Setting struct {
	P1      int
	Divisor int // 1 (bypass) or 2..1025
}

// Bypass reports whether the N divider is bypassed.
func (s Setting) Bypass() bool { return s.Divisor == 1 }

// Out is OUT1 for this setting at master clock mclk.
func (s Setting) Out(mclk *big.Rat) *big.Rat {
	return new(big.Rat).Quo(mclk, new(big.Rat).SetInt64(int64(s.P1*s.Divisor)))
}

// Range returns the lowest and highest OUT1 frequency of a grade.
func (g Grade) Range() (lo, hi *big.Rat) {
	return Setting{P1: 8, Divisor: MaxDivisor}.Out(g.MCLK), new(big.Rat).Set(g.MCLK)
}

// Solution is the setting closest to a target frequency.
type Solution struct {
	Grade   Grade
	Target  *big.Rat
	Setting Setting
	Output  *big.Rat
}

// Exact reports whether the output equals the target.
func (s Solution) Exact() bool { return s.Output.Cmp(s.Target) == 0 }

// Error is output minus target, in Hz.
func (s Solution) Error() *big.Rat { return new(big.Rat).Sub(s.Output, s.Target) }

// ErrorPPM is the relative error in parts per million.
func (s Solution) ErrorPPM() float64 {
	r := new(big.Rat).Quo(s.Error(), s.Target)
	f, _ := r.Mul(r, big.NewRat(1_000_000, 1)).Float64()
	return f
}

// ErrUnreachable is returned for a target outside what a grade can produce.
var ErrUnreachable = errors.New("frequency out of reach")

// Solve finds the OUT1 setting closest to target. Equal errors are broken
// towards lower power: the divider bypassed if a prescaler alone gets there
// (the divider is then idle), else the largest prescaler, so the divider
// runs on the slowest clock.
func Solve(g Grade, target *big.Rat) (Solution, error) {
	lo, hi := g.Range()
	if target.Sign() <= 0 || target.Cmp(lo) < 0 || target.Cmp(hi) > 0 {
		return Solution{}, fmt.Errorf("%s Hz with a DS1077L-%d: %w (it reaches %s to %s)",
			target.FloatString(3), g.Name, ErrUnreachable, FormatHz(lo), FormatHz(hi))
	}
	// Candidates in order of preference; only a strictly smaller error
	// displaces an earlier one. For a fixed P1 the error falls and then rises
	// as N grows, so only the two divisors around MCLK/(P1*target) can be
	// closest; the exhaustive search in the tests confirms it.
	var cands []Setting
	for _, p := range []int{8, 4, 2, 1} {
		cands = append(cands, Setting{P1: p, Divisor: 1})
	}
	for _, p := range []int{8, 4, 2, 1} {
		ideal := new(big.Rat).Quo(g.MCLK, new(big.Rat).Mul(target, big.NewRat(int64(p), 1)))
		fl := new(big.Int).Quo(ideal.Num(), ideal.Denom()).Int64()
		for _, n := range []int64{fl, fl + 1} {
			if n >= MinDivisor && n <= MaxDivisor {
				cands = append(cands, Setting{P1: p, Divisor: int(n)})
			}
		}
		switch {
		case fl+1 < MinDivisor:
			cands = append(cands, Setting{P1: p, Divisor: MinDivisor})
		case fl > MaxDivisor:
			cands = append(cands, Setting{P1: p, Divisor: MaxDivisor})
		}
	}
	var best Solution
	var bestErr *big.Rat
	diff := new(big.Rat)
	for _, c := range cands {
		out := c.Out(g.MCLK)
		diff.Sub(out, target)
		diff.Abs(diff)
		if bestErr == nil || diff.Cmp(bestErr) < 0 {
			best = Solution{Grade: g, Target: target, Setting: c, Output: out}
			bestErr = new(big.Rat).Set(diff)
		}
	}
	return best, nil
}

// ParseFreq reads a frequency such as "33MHz", "33.333 MHz", "8.13kHz",
// "4000000" or "33e6 Hz". Units (case-insensitive): Hz, kHz, MHz, or k and M
// alone; M means mega (millihertz makes no sense for this part).
func ParseFreq(s string) (*big.Rat, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"mhz", 1_000_000}, {"khz", 1_000}, {"hz", 1}, {"m", 1_000_000}, {"k", 1_000}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	// big.Rat would expand any exponent; a frequency needs no more than this.
	if i := strings.IndexByte(t, 'e'); i >= 0 {
		if exp, err := strconv.Atoi(t[i+1:]); err != nil || exp < -15 || exp > 15 {
			return nil, fmt.Errorf("frequency %q: exponent out of range: %w", s, ErrInvalid)
		}
	}
	r, ok := new(big.Rat).SetString(t)
	if !ok || t == "" || strings.ContainsAny(t, "/") {
		return nil, fmt.Errorf("frequency %q: not a number with an optional Hz, kHz or MHz unit: %w", s, ErrInvalid)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	if r.Sign() <= 0 {
		return nil, fmt.Errorf("frequency %q: must be above 0: %w", s, ErrInvalid)
	}
	return r, nil
}

// FormatHz prints a frequency with a unit, at most 6 decimals, no trailing
// zeros: "33.333 MHz", "8.129878 kHz", "500 Hz". Negative values keep their
// sign; "+" is added when plus is set.
func FormatHz(r *big.Rat) string { return formatHz(r, false) }

func formatHz(r *big.Rat, plus bool) string {
	a := new(big.Rat).Abs(r)
	unit, div := "Hz", int64(1)
	switch {
	case a.Cmp(big.NewRat(1_000_000, 1)) >= 0:
		unit, div = "MHz", 1_000_000
	case a.Cmp(big.NewRat(1_000, 1)) >= 0:
		unit, div = "kHz", 1_000
	}
	v := new(big.Rat).Quo(a, new(big.Rat).SetInt64(div)).FloatString(6)
	v = strings.TrimRight(strings.TrimRight(v, "0"), ".")
	sign := ""
	switch {
	case r.Sign() < 0:
		sign = "-"
	case plus:
		sign = "+"
	}
	return sign + v + " " + unit
}
