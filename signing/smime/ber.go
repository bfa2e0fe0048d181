package smime

import (
	"errors"
	"fmt"
)

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 64

// normalizeBER rewrites BER length encodings (indefinite lengths, non-minimal
// long forms) as DER lengths so cryptobyte can read what `openssl smime
// -sign -stream` and other BER producers write. Tags and contents are kept;
// constructed strings are not merged (only eContent would use them, and a
// detached signature has none).
func normalizeBER(in []byte) ([]byte, error) {
	out, rest, err := berElement(in, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("ber: %d trailing bytes", len(rest))
	}
	return out, nil
}

func berElement(in []byte, depth int) (out, rest []byte, err error) {
	if depth > maxDepth {
		return nil, nil, errors.New("ber: nesting too deep")
	}
	if len(in) < 2 {
		return nil, nil, errors.New("ber: truncated element")
	}
	// Identifier octets (multi-byte tag numbers are copied as they are).
	i := 1
	if in[0]&0x1f == 0x1f {
		for {
			if i >= len(in) {
				return nil, nil, errors.New("ber: truncated tag")
			}
			i++
			if in[i-1]&0x80 == 0 {
				break
			}
		}
	}
	tag := in[:i]
	constructed := in[0]&0x20 != 0
	if i >= len(in) {
		return nil, nil, errors.New("ber: truncated length")
	}
	l := in[i]
	i++
	var body []byte
	switch {
	case l == 0x80: // indefinite
		if !constructed {
			return nil, nil, errors.New("ber: indefinite length on a primitive")
		}
		rest = in[i:]
		for {
			if len(rest) >= 2 && rest[0] == 0 && rest[1] == 0 {
				rest = rest[2:]
				break
			}
			if len(rest) == 0 {
				return nil, nil, errors.New("ber: missing end-of-contents")
			}
			var child []byte
			child, rest, err = berElement(rest, depth+1)
			if err != nil {
				return nil, nil, err
			}
			body = append(body, child...)
		}
		return append(append(append([]byte{}, tag...), derLength(len(body))...), body...), rest, nil
	case l < 0x80:
		n := int(l)
		if len(in)-i < n {
			return nil, nil, errors.New("ber: truncated contents")
		}
		body, rest = in[i:i+n], in[i+n:]
	default:
		nb := int(l & 0x7f)
		if nb > 4 || len(in)-i < nb {
			return nil, nil, errors.New("ber: bad length")
		}
		n := 0
		for _, c := range in[i : i+nb] {
			n = n<<8 | int(c)
		}
		i += nb
		if n < 0 || len(in)-i < n {
			return nil, nil, errors.New("ber: truncated contents")
		}
		body, rest = in[i:i+n], in[i+n:]
	}
	if constructed {
		var nb []byte
		for r := body; len(r) > 0; {
			var child []byte
			child, r, err = berElement(r, depth+1)
			if err != nil {
				return nil, nil, err
			}
			nb = append(nb, child...)
		}
		body = nb
	}
	return append(append(append([]byte{}, tag...), derLength(len(body))...), body...), rest, nil
}

func derLength(n int) []byte {
	if n < 0x80 {
		return []byte{byte(n)}
	}
	var b []byte
	for v := n; v > 0; v >>= 8 {
		b = append([]byte{byte(v)}, b...)
	}
	return append([]byte{0x80 | byte(len(b))}, b...)
}
