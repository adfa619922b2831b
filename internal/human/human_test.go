package human

import (
	"math"
	"testing"
	"time"
)

func TestBytes(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1025, "1.0 KiB"}, {1536, "1.5 KiB"},
		{3000, "2.9 KiB"}, {1<<20 - 1, "1024.0 KiB"}, {1 << 20, "1.0 MiB"}, {3<<30 + 1<<29, "3.5 GiB"},
		{1 << 40, "1.0 TiB"}, {1 << 50, "1.0 PiB"}, {1 << 60, "1.0 EiB"}, {math.MaxInt64, "8.0 EiB"},
	} {
		if got := Bytes(c.n); got != c.want {
			t.Errorf("Bytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, c := range []struct{ d, want time.Duration }{
		{1234567 * time.Nanosecond, time.Millisecond},
		{999400 * time.Microsecond, 999 * time.Millisecond},
		{1234 * time.Millisecond, 1200 * time.Millisecond},
		{59940 * time.Millisecond, 59900 * time.Millisecond},
		{61500 * time.Millisecond, 62 * time.Second},
		{2*time.Hour + 400*time.Millisecond, 2 * time.Hour},
	} {
		if got := Duration(c.d); got != c.want {
			t.Errorf("Duration(%v) = %v, want %v", c.d, got, c.want)
		}
	}
}
func TestBytesUnits(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{-5, "-5 B"}, {0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{1<<20 - 1, "1024.0 KiB"}, {1 << 20, "1.0 MiB"}, {1536 << 20, "1.5 GiB"}, {1 << 40, "1.0 TiB"},
		{1<<63 - 1, "8.0 EiB"},
	} {
		if got := Bytes(tc.n); got != tc.want {
			t.Errorf("Bytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestPrintable(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"public.statuses", 20, "public.statuses"},
		{"a\x1b[2Jb", 20, "a?[2Jb"},
		{"x\u202eevil", 20, "x?evil"}, // a bidi override
		{"bad\xffbyte", 20, "bad?byte"},
		{"abcdef", 4, "abc…"},
		{"ééééé", 5, "ééééé"},
	} {
		if got := Printable(c.in, c.n); got != c.want {
			t.Errorf("Printable(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
