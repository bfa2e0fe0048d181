package ds1077l

import (
	"errors"
	"math/big"
	"math/rand"
	"testing"
)

// independentSolve is a separate brute force over every (P1, divisor) pair
// with integer arithmetic: the error of d = P1*N is |mclk - t*d| / d, so
// two errors compare by cross-multiplying. Preference on equal errors:
// bypass, then larger P1.
func independentSolve(mclk, target int64) (p1, divisor int) {
	bestNum, bestDen := int64(-1), int64(1)
	better := func(p, n int) bool {
		d := int64(p * n)
		num := mclk - target*d
		if num < 0 {
			num = -num
		}
		if bestNum < 0 {
			bestNum, bestDen = num, d
			return true
		}
		l, r := num*bestDen, bestNum*d
		if l < r {
			bestNum, bestDen = num, d
			return true
		}
		if l > r {
			return false
		}
		// Equal error: bypass beats divider; then the larger prescaler.
		if (n == 1) != (divisor == 1) {
			if n == 1 {
				bestNum, bestDen = num, d
				return true
			}
			return false
		}
		if p > p1 {
			bestNum, bestDen = num, d
			return true
		}
		return false
	}
	for _, p := range []int{1, 2, 4, 8} {
		for n := 1; n <= 1025; n++ {
			if better(p, n) {
				p1, divisor = p, n
			}
		}
	}
	return p1, divisor
}

// Targets chosen by hand, with the answer worked out on paper.
func TestSolveHandTable(t *testing.T) {
	for _, tc := range []struct {
		grade   string
		target  string
		p1, div int
		out     string
		exact   bool
	}{
		{"66", "33MHz", 2, 1, "33.333 MHz", false},        // the seed: prescaler alone, divider bypassed
		{"66", "33.333MHz", 2, 1, "33.333 MHz", true},     // same setting, exact
		{"66", "66.666 MHz", 1, 1, "66.666 MHz", true},    // top of the range
		{"-40", "10MHz", 4, 1, "10 MHz", true},            // bypass beats P1=2,N=2 and P1=1,N=4
		{"40", "1MHz", 8, 5, "1 MHz", true},               // P8/N5 = P4/N10 = ...: largest prescaler
		{"50", "20MHz", 1, 3, "16.666667 MHz", false},     // 16.67 is closer than 25
		{"60", "7.32kHz", 8, 1025, "7.317073 kHz", false}, // bottom of the range
		{"DS1077L-60", "14.634146kHz", 4, 1025, "14.634146 kHz", false},
		{"66", "8.13kHz", 8, 1025, "8.13 kHz", true}, // bottom: 66.666 MHz / 8200 is exactly 8.13 kHz
		{"50", "3e6", 1, 17, "2.941176 MHz", false},  // 50/17 (off 58.8 kHz) beats 50/16 (off 125 kHz)
	} {
		g, err := LookupGrade(tc.grade)
		if err != nil {
			t.Fatal(err)
		}
		target, err := ParseFreq(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		sol, err := Solve(g, target)
		if err != nil {
			t.Fatalf("%s @ %s: %v", tc.target, tc.grade, err)
		}
		if sol.Setting.P1 != tc.p1 || sol.Setting.Divisor != tc.div || FormatHz(sol.Output) != tc.out || sol.Exact() != tc.exact {
			t.Errorf("%s @ -%d: P1 %d div %d out %s exact %v; want P1 %d div %d out %s exact %v",
				tc.target, g.Name, sol.Setting.P1, sol.Setting.Divisor, FormatHz(sol.Output), sol.Exact(), tc.p1, tc.div, tc.out, tc.exact)
		}
	}
}

// For every grade, a spread of targets across the range (round numbers,
// exact outputs, and random ones) against the independent brute force.
func TestSolveMatchesIndependentSearch(t *testing.T) {
	rng := rand.New(rand.NewSource(1077))
	mclks := map[int]int64{40: 40_000_000, 50: 50_000_000, 60: 60_000_000, 66: 66_666_000}
	for grade, mclk := range mclks {
		g, err := LookupGrade(big.NewInt(int64(grade)).String())
		if err != nil {
			t.Fatal(err)
		}
		lo := mclk/8200 + 1
		targets := []int64{mclk, mclk - 1, mclk * 3 / 4, mclk / 2, mclk / 3, mclk / 8, 33_000_000, 25_000_000, 14_318_180, 1_843_200, 32_768, 10_000, lo}
		for i := 0; i < 400; i++ {
			targets = append(targets, lo+rng.Int63n(mclk-lo))
		}
		for _, tg := range targets {
			if tg > mclk {
				continue
			}
			p1, div := independentSolve(mclk, tg)
			sol, err := Solve(g, big.NewRat(tg, 1))
			if err != nil {
				t.Fatalf("-%d %d Hz: %v", grade, tg, err)
			}
			if sol.Setting.P1 != p1 || sol.Setting.Divisor != div {
				t.Errorf("-%d %d Hz: Solve P1 %d div %d, independent P1 %d div %d", grade, tg, sol.Setting.P1, sol.Setting.Divisor, p1, div)
			}
		}
	}
}

func TestSolveErrors(t *testing.T) {
	g, _ := LookupGrade("66")
	for _, s := range []string{"66.7MHz", "100MHz", "8kHz", "1Hz"} {
		f, err := ParseFreq(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Solve(g, f); !errors.Is(err, ErrUnreachable) {
			t.Errorf("%s: %v, want ErrUnreachable", s, err)
		}
	}
	for _, s := range []string{"33", "-33", "100", "DS1077L-133", "", "sixty-six"} {
		if _, err := LookupGrade(s); !errors.Is(err, ErrUnknownGrade) {
			t.Errorf("grade %q: %v, want ErrUnknownGrade", s, err)
		}
	}
	for _, s := range []string{"", "MHz", "abc", "-5MHz", "0", "1/3MHz", "33 GHz", "1e999999999MHz", "1e+99"} {
		if _, err := ParseFreq(s); err == nil {
			t.Errorf("ParseFreq(%q) accepted", s)
		}
	}
}

func TestParseAndFormatFreq(t *testing.T) {
	for _, tc := range []struct{ in, out string }{
		{"33MHz", "33 MHz"}, {"33 mhz", "33 MHz"}, {"33M", "33 MHz"}, {"33.333MHz", "33.333 MHz"},
		{"8.13kHz", "8.13 kHz"}, {"4000000", "4 MHz"}, {"33e6 Hz", "33 MHz"}, {"999", "999 Hz"}, {"1500k", "1.5 MHz"},
	} {
		f, err := ParseFreq(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if got := FormatHz(f); got != tc.out {
			t.Errorf("%q formats as %q, want %q", tc.in, got, tc.out)
		}
	}
	if got := formatHz(big.NewRat(333000, 1), true); got != "+333 kHz" {
		t.Errorf("signed format: %q", got)
	}
	if got := formatHz(big.NewRat(-1, 3), true); got != "-0.333333 Hz" {
		t.Errorf("negative format: %q", got)
	}
}

func BenchmarkSolve(b *testing.B) {
	g, _ := LookupGrade("66")
	target := big.NewRat(33_000_000, 1)
	for i := 0; i < b.N; i++ {
		if _, err := Solve(g, target); err != nil {
			b.Fatal(err)
		}
	}
}

// ParseFreq never panics, and whatever it accepts is a positive frequency
// that formats and parses back to a value within the printed precision.
func FuzzParseFreq(f *testing.F) {
	for _, s := range []string{"33MHz", "8.13kHz", "4000000", "33e6 Hz", "1.5k", "-1", "1/3", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseFreq(s)
		if err != nil {
			return
		}
		if r.Sign() <= 0 {
			t.Fatalf("%q parsed to %v", s, r)
		}
	})
}
