package artifact

import (
	"fmt"
	"strings"
)

// EncodeName is the form of a database (or Redis) name inside an artifact
// key: every byte outside [A-Za-z0-9_-] is written %XX in upper-case hex,
// '.' and '%' included. The result never holds a path separator, a dot
// segment or a leading dot, and names made only of safe bytes
// (mastodon_production, main) are unchanged. DecodeName reverses it.
func EncodeName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if safeByte(c) {
			b.WriteByte(c)
			continue
		}
		const hex = "0123456789ABCDEF"
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// DecodeName returns the name EncodeName encoded as s. It accepts only
// what EncodeName writes: safe bytes and %XX in upper-case hex of a byte
// that is not safe, so each name has exactly one encoding.
func DecodeName(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if safeByte(c) {
			b.WriteByte(c)
			continue
		}
		switch {
		case c != '%':
			return "", fmt.Errorf("artifact: decode name %q: byte %q at %d is neither [A-Za-z0-9_-] nor %%XX", s, c, i)
		case i+2 >= len(s):
			return "", fmt.Errorf("artifact: decode name %q: truncated %%XX at %d", s, i)
		}
		hi, lo := unhex(s[i+1]), unhex(s[i+2])
		if hi < 0 || lo < 0 {
			return "", fmt.Errorf("artifact: decode name %q: %q at %d is not %%XX in upper-case hex", s, s[i:i+3], i)
		}
		d := byte(hi<<4 | lo)
		if safeByte(d) {
			return "", fmt.Errorf("artifact: decode name %q: %q at %d encodes a byte that is written as itself", s, s[i:i+3], i)
		}
		b.WriteByte(d)
		i += 2
	}
	return b.String(), nil
}

func safeByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
