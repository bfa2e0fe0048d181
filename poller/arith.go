package poller

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// evalSeconds evaluates a twobit poll-interval. twobit passed the value to
// Python 2's eval() ("60*5" for five minutes); this accepts the arithmetic
// subset such values use, and nothing that could run code: decimal integer
// and float literals, + - * / // % **, unary signs and parentheses, with
// Python 2 semantics (an int divided by an int is floor division, % takes the
// divisor's sign).
func evalSeconds(s string) (float64, error) {
	p := &arith{src: s}
	v, err := p.expr()
	if err == nil {
		p.space()
		if p.pos < len(p.src) {
			err = fmt.Errorf("unexpected %q", p.src[p.pos:])
		}
	}
	if err != nil {
		return 0, fmt.Errorf("poll-interval %q: %w (want seconds as arithmetic, like 60*5)", s, err)
	}
	if math.IsNaN(v.f) || math.IsInf(v.f, 0) {
		return 0, fmt.Errorf("poll-interval %q: not a finite number", s)
	}
	return v.f, nil
}

// num is a Python number: an int (exact while it fits) or a float.
type num struct {
	f     float64
	isInt bool
}

type arith struct {
	src   string
	pos   int
	depth int
}

func (p *arith) space() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

func (p *arith) peek(op string) bool {
	p.space()
	return strings.HasPrefix(p.src[p.pos:], op)
}

func (p *arith) expr() (num, error) {
	if p.depth++; p.depth > 50 {
		return num{}, errors.New("nested too deeply")
	}
	defer func() { p.depth-- }()
	a, err := p.term()
	for err == nil {
		var op byte
		switch {
		case p.peek("+"):
			op = '+'
		case p.peek("-"):
			op = '-'
		default:
			return a, nil
		}
		p.pos++
		var b num
		if b, err = p.term(); err == nil {
			if op == '-' {
				b.f = -b.f
			}
			a = num{a.f + b.f, a.isInt && b.isInt}
		}
	}
	return a, err
}

func (p *arith) term() (num, error) {
	a, err := p.unary()
	for err == nil {
		var op string
		switch {
		case p.peek("**"):
			return a, nil // handled in power
		case p.peek("//"):
			op = "//"
		case p.peek("*"), p.peek("/"), p.peek("%"):
			op = p.src[p.pos : p.pos+1]
		default:
			return a, nil
		}
		p.pos += len(op)
		var b num
		if b, err = p.unary(); err != nil {
			break
		}
		if op != "*" && b.f == 0 {
			return num{}, errors.New("division by zero")
		}
		switch {
		case op == "*":
			a = num{a.f * b.f, a.isInt && b.isInt}
		case op == "//" || op == "/" && a.isInt && b.isInt:
			a = num{math.Floor(a.f / b.f), a.isInt && b.isInt}
		case op == "/":
			a = num{a.f / b.f, false}
		default: // %, Python: the result has the sign of the divisor
			m := math.Mod(a.f, b.f)
			if m != 0 && (m < 0) != (b.f < 0) {
				m += b.f
			}
			a = num{m, a.isInt && b.isInt}
		}
	}
	return a, err
}

func (p *arith) unary() (num, error) {
	switch {
	case p.peek("-"):
		p.pos++
		v, err := p.unary()
		v.f = -v.f
		return v, err
	case p.peek("+"):
		p.pos++
		return p.unary()
	}
	return p.power()
}

func (p *arith) power() (num, error) {
	a, err := p.atom()
	if err != nil || !p.peek("**") {
		return a, err
	}
	p.pos += 2
	b, err := p.unary()
	if err != nil {
		return num{}, err
	}
	if a.isInt && b.isInt && b.f < 0 {
		return num{math.Pow(a.f, b.f), false}, nil
	}
	return num{math.Pow(a.f, b.f), a.isInt && b.isInt}, nil
}

func (p *arith) atom() (num, error) {
	p.space()
	if p.pos >= len(p.src) {
		return num{}, errors.New("unexpected end")
	}
	if p.src[p.pos] == '(' {
		p.pos++
		v, err := p.expr()
		if err != nil {
			return num{}, err
		}
		if !p.peek(")") {
			return num{}, errors.New("missing )")
		}
		p.pos++
		return v, nil
	}
	start := p.pos
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		exp := (c == '+' || c == '-') && p.pos > start && (p.src[p.pos-1] == 'e' || p.src[p.pos-1] == 'E')
		if !(c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || exp) {
			break
		}
		p.pos++
	}
	lit := p.src[start:p.pos]
	if lit == "" {
		return num{}, fmt.Errorf("unexpected %q", p.src[start:])
	}
	if !strings.ContainsAny(lit, ".eE") {
		if len(lit) > 1 && lit[0] == '0' {
			return num{}, fmt.Errorf("%s: Python 2 octal literals are not supported", lit)
		}
		i, err := strconv.ParseInt(lit, 10, 64)
		if err != nil {
			return num{}, fmt.Errorf("bad number %q", lit)
		}
		return num{float64(i), true}, nil
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		return num{}, fmt.Errorf("bad number %q", lit)
	}
	return num{f, false}, nil
}
