package rowcount

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// archive builds a custom-format archive the way pg_dump writes one to a
// pipe: the header, the TOC (offsets not set), then the data blocks in TOC
// order, one chunk per row as pg_dump's COPY loop writes them.
type archive struct {
	major, minor byte
	intSize      int
	format       byte
	compression  int    // algorithm (1.15+) or zlib level
	terminator   string // appended to each table's data: pg_dump 15 writes "\\.\n\n\n"
	tables       []table
	blobs        [][]byte // large objects, in one BLOBS block
}

type table struct {
	schema, name string
	rows         []string // each with its newline
}

func (a archive) version() int { return int(a.major)<<16 | int(a.minor)<<8 }

func (a archive) bytes() []byte {
	var b bytes.Buffer
	b.WriteString("PGDMP")
	b.Write([]byte{a.major, a.minor, 0, byte(a.intSize), 8, a.format})
	if a.version() >= v1_15 {
		b.WriteByte(byte(a.compression))
	} else {
		a.int(&b, int64(a.compression))
	}
	for _, v := range []int64{5, 4, 3, 2, 1, 126, 0} {
		a.int(&b, v)
	}
	a.str(&b, "db")
	a.str(&b, "15.20")
	a.str(&b, "15.20")
	a.toc(&b)
	for i, t := range a.tables {
		b.WriteByte(blkData)
		a.int(&b, int64(100+i))
		for _, r := range append(t.rows, a.terminator) {
			if r != "" {
				a.int(&b, int64(len(r)))
				b.WriteString(r)
			}
		}
		a.int(&b, 0)
	}
	if a.blobs != nil {
		b.WriteByte(blkBlobs)
		a.int(&b, 99)
		for i, lo := range a.blobs {
			a.int(&b, int64(16400+i))
			if len(lo) > 0 {
				a.int(&b, int64(len(lo)))
				b.Write(lo)
			}
			a.int(&b, 0)
		}
		a.int(&b, 0)
	}
	return b.Bytes()
}

// toc writes an ENCODING entry, a TABLE (no data), the TABLE DATA entries
// and the BLOBS entry.
func (a archive) toc(b *bytes.Buffer) {
	n := 2 + len(a.tables)
	if a.blobs != nil {
		n++
	}
	a.int(b, int64(n))
	a.entry(b, 1, false, "ENCODING", "ENCODING", "", "SET client_encoding = 'UTF8';\n")
	a.entry(b, 2, false, "t", "TABLE", "public", "CREATE TABLE public.t (v text);\n")
	for i, t := range a.tables {
		a.entry(b, int64(100+i), true, t.name, "TABLE DATA", t.schema, "")
	}
	if a.blobs != nil {
		a.entry(b, 99, true, "BLOBS", "BLOBS", "", "")
	}
}

func (a archive) entry(b *bytes.Buffer, id int64, data bool, tag, desc, ns, defn string) {
	a.int(b, id)
	a.int(b, map[bool]int64{false: 0, true: 1}[data])
	a.str(b, "1259")
	a.str(b, "16384")
	a.str(b, tag)
	a.str(b, desc)
	a.int(b, 2) // section
	a.str(b, defn)
	a.str(b, "")
	a.str(b, "COPY x FROM stdin;\n")
	a.str(b, ns)
	a.str(b, "")
	a.nullStr(b) // table access method
	if a.version() >= v1_16 {
		a.int(b, 'r')
	}
	a.str(b, "postgres")
	a.str(b, "false")
	a.str(b, "1")
	a.str(b, "22")
	a.nullStr(b)
	b.WriteByte(1) // K_OFFSET_POS_NOT_SET
	b.Write(make([]byte, 8))
}

func (a archive) int(b *bytes.Buffer, v int64) {
	sign := byte(0)
	if v < 0 {
		sign, v = 1, -v
	}
	b.WriteByte(sign)
	for i := 0; i < a.intSize; i++ {
		b.WriteByte(byte(v))
		v >>= 8
	}
}

func (a archive) str(b *bytes.Buffer, s string) {
	a.int(b, int64(len(s)))
	b.WriteString(s)
}

func (a archive) nullStr(b *bytes.Buffer) { a.int(b, -1) }

// sample is an archive of every kind of table data: rows with escaped
// newlines, tabs and backslashes, an empty string, no rows at all, and
// large objects.
func sample(major, minor byte) archive {
	return archive{major: major, minor: minor, intSize: 4, format: 1, terminator: "\\.\n\n\n",
		tables: []table{
			{"public", "accounts", []string{"1\talice\n", "2\tbob\n", "3\t\\N\n"}},
			{"public", "empty", nil},
			{"side", "Odd Name", []string{"a\\nb\n", "tab\\there\n", "back\\\\slash\n", "\\\\.\n", ".\n", "\n", "\\r\\n\n"}},
		},
		blobs: [][]byte{[]byte("large\nobject\n"), {}},
	}
}

const sampleWant = "public.accounts=3 public.empty=0 side.Odd Name=7"

func count(t testing.TB, writes ...[]byte) (string, error) {
	t.Helper()
	c := New()
	for _, w := range writes {
		if n, err := c.Write(w); n != len(w) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if err := c.Close(); err != nil {
		if r, rerr := c.Result(); r != nil || rerr == nil {
			t.Fatalf("Close failed (%v) but Result = %v, %v", err, r, rerr)
		}
		return "", err
	}
	r, err := c.Result()
	if err != nil {
		t.Fatalf("Close succeeded, Result failed: %v", err)
	}
	var s []string
	for _, x := range r {
		s = append(s, fmt.Sprintf("%s.%s=%d", x.Schema, x.Table, x.Rows))
	}
	return strings.Join(s, " "), nil
}

func TestVersions(t *testing.T) {
	for _, minor := range []byte{14, 15, 16} {
		for _, term := range []string{"\\.\n\n\n", "\\.\n", ""} {
			a := sample(1, minor)
			a.terminator = term
			got, err := count(t, a.bytes())
			if err != nil || got != sampleWant {
				t.Errorf("1.%d, terminator %q: %q, %v; want %q", minor, term, got, err, sampleWant)
			}
		}
	}
	a := sample(1, 16)
	a.intSize = 8
	if got, err := count(t, a.bytes()); err != nil || got != sampleWant {
		t.Errorf("8-byte ints: %q, %v", got, err)
	}
}

// TestPG15Archive reads an archive pg_dump 15.20 wrote with -Fc -Z0 (the
// tables of TestDumpRestoresWithTheCountedRows and a large object), whole,
// split at every byte, and a byte at a time.
func TestPG15Archive(t *testing.T) {
	b, err := os.ReadFile("testdata/pg15.dump")
	if err != nil {
		t.Fatal(err)
	}
	const want = "public.accounts=1234 public.empty=0 public.events_2026=77 public.weird=7 side.Odd Name=2"
	if got, err := count(t, b); err != nil || got != want {
		t.Fatalf("%q, %v; want %q", got, err, want)
	}
	for i := 0; i < len(b); i = next(i, len(b)) {
		if got, err := count(t, b[:i], b[i:]); err != nil || got != want {
			t.Fatalf("split at %d: %q, %v", i, got, err)
		}
	}
	var bytewise [][]byte
	for i := range b {
		bytewise = append(bytewise, b[i:i+1])
	}
	if got, err := count(t, bytewise...); err != nil || got != want {
		t.Fatalf("a byte at a time: %q, %v", got, err)
	}
}

// next is the next position to split or cut the archive at: every byte
// of its header and the start of its TOC, and of its data blocks at its
// end, and every 61st in between (which keeps the test quick with -race).
func next(i, n int) int {
	if i < 256 || i >= n-512 {
		return i + 1
	}
	return i + 61
}

// TestTruncated: an archive cut anywhere fails, never counts.
func TestTruncated(t *testing.T) {
	b, err := os.ReadFile("testdata/pg15.dump")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(b); i = next(i, len(b)) {
		if got, err := count(t, b[:i]); err == nil {
			t.Fatalf("cut at %d of %d: counted %q", i, len(b), got)
		}
	}
}

func TestUnsupported(t *testing.T) {
	for name, a := range map[string]archive{
		"1.13":               sample(1, 13),
		"1.17":               sample(1, 17),
		"2.0":                sample(2, 0),
		"gzip level 6, 1.14": func() archive { a := sample(1, 14); a.compression = 6; return a }(),
		"lz4, 1.15":          func() archive { a := sample(1, 15); a.compression = 2; return a }(),
		"zstd, 1.16":         func() archive { a := sample(1, 16); a.compression = 3; return a }(),
		"tar format":         func() archive { a := sample(1, 16); a.format = 3; return a }(),
		"int size 0":         func() archive { a := sample(1, 16); a.intSize = 0; return a }(),
	} {
		_, err := count(t, a.bytes())
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", name, err)
		}
	}
	if _, err := count(t, []byte("--\n-- PostgreSQL database dump\n")); !errors.Is(err, ErrUnsupported) {
		t.Errorf("plain SQL: %v", err)
	}
}

func TestBroken(t *testing.T) {
	good := sample(1, 16).bytes()
	i := bytes.Index(good, []byte("1\talice\n"))
	noNewline := sample(1, 16)
	noNewline.terminator = ""
	noNewline.tables[0].rows[2] = "3\t\\N"
	for name, b := range map[string][]byte{
		"a block of type 2":       replaceAt(good, i-11, []byte{2}),
		"a negative chunk length": replaceAt(good, i-5, []byte{1}),
		"bytes after the end":     append(bytes.Clone(good), 0),
		"no final newline":        noNewline.bytes(),
	} {
		if got, err := count(t, b); err == nil || errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
}

// replaceAt returns b with r written over it at i.
func replaceAt(b []byte, i int, r []byte) []byte {
	b = bytes.Clone(b)
	copy(b[i:], r)
	return b
}

func TestResultBeforeClose(t *testing.T) {
	c := New()
	c.Write(sample(1, 16).bytes())
	if _, err := c.Result(); err == nil {
		t.Error("Result before Close succeeded")
	}
}

// FuzzCounter: whatever the bytes, the counter neither panics nor grows
// without bound, and how they are split into writes changes nothing.
func FuzzCounter(f *testing.F) {
	if b, err := os.ReadFile("testdata/pg15.dump"); err == nil {
		f.Add(b, uint16(1000))
	}
	f.Add(sample(1, 14).bytes(), uint16(7))
	f.Add(sample(1, 15).bytes(), uint16(300))
	f.Add(sample(1, 16).bytes(), uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, split uint16) {
		whole, errWhole := count(t, b)
		i := int(split) % (len(b) + 1)
		parts, errParts := count(t, b[:i], b[i:])
		var bytewise [][]byte
		for j := range b {
			bytewise = append(bytewise, b[j:j+1])
		}
		single, errSingle := count(t, bytewise...)
		if whole != parts || whole != single || fmt.Sprint(errWhole) != fmt.Sprint(errParts) || fmt.Sprint(errWhole) != fmt.Sprint(errSingle) {
			t.Fatalf("whole %q %v, split at %d %q %v, bytewise %q %v", whole, errWhole, i, parts, errParts, single, errSingle)
		}
	})
}

// BenchmarkCounter measures the counter on a real archive named by
// MBACKUP_BENCH_DUMP (pg_dump -Fc -Z0), else on the pg_dump 15 fixture,
// in 1 MiB writes as the dump's tee hands them over.
func BenchmarkCounter(b *testing.B) {
	path := os.Getenv("MBACKUP_BENCH_DUMP")
	if path == "" {
		path = "testdata/pg15.dump"
	}
	plain, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		c := New()
		for p := plain; len(p) > 0; {
			n := min(len(p), 1<<20)
			c.Write(p[:n])
			p = p[n:]
		}
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
