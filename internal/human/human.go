// Package human formats sizes and durations for people to read, the same
// way in every command's output.
//
// Invariants: a size is exact below 1 KiB and otherwise in the largest
// binary unit it reaches, with one decimal ("512 B", "1.5 KiB",
// "3.2 GiB"); a duration keeps two or three significant digits; Printable
// text holds no control or formatting character.
package human

import (
	"fmt"
	"time"
	"unicode"
)

// Bytes formats n in binary units: "512 B", "1.5 KiB", "3.2 GiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Duration rounds d to two or three significant digits: milliseconds
// below a second, tenths below a minute, seconds above.
func Duration(d time.Duration) time.Duration {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond)
	case d < time.Minute:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

// Printable returns s for a terminal: every control or invisible
// formatting character (an escape sequence or a bidi override in a table's
// name, say) and every invalid byte replaced by '?', and cut to at most n
// runes, the last an ellipsis when it was cut.
func Printable(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		r = append(r[:max(n-1, 0)], '…')
	}
	for i, c := range r {
		if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) || c == unicode.ReplacementChar {
			r[i] = '?'
		}
	}
	return string(r)
}
