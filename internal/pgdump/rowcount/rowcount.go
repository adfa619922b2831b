// Package rowcount counts the rows of every table in a pg_dump custom-format
// archive (pg_dump -Fc -Z0) as it is written, from the very bytes written.
//
// Invariants:
//   - Counter is an io.Writer that reads the bytes it is given in place and
//     keeps none of them: memory is bounded by a few fields of the table of
//     contents (names are cut at maxName bytes), never by a length read
//     from the archive, whatever the archive holds.
//   - Its Write never fails, so a tee into it never stops the dump; what it
//     could not parse is Result's error, and then no count is given at all:
//     an archive version it does not know (it knows 1.14 to 1.16, written
//     by pg_dump 12 to 18), a compressed archive, or bytes that break the
//     format. Never a partial or guessed count.
//   - A table's rows are the newline-terminated lines of its TABLE DATA
//     block (COPY text escapes the newlines inside values, so one line is
//     one row); a last line that is the COPY terminator `\.`, and empty
//     lines after it, are not rows.
//     Large objects (BLOBS blocks) are skipped, not counted.
package rowcount

import (
	"bytes"
	"errors"
	"fmt"
)

// Table is the row count of one TABLE DATA entry of the archive.
type Table struct {
	Schema string
	Table  string
	Rows   int64
}

// ErrUnsupported is wrapped by Result's error when the archive is valid as
// far as it was read but not one the counter can count: an unknown version,
// a compressed archive, another format or integer size.
var ErrUnsupported = errors.New("archive the row counter cannot read")

// The archive versions the counter reads: 1.14 added the table access
// method to the TOC (pg_dump 12), 1.15 the compression algorithm in the
// header (16), 1.16 the relkind in the TOC (17, and 18 writes it too).
const (
	minVersion = 1<<16 | 14<<8
	maxVersion = 1<<16 | 16<<8 | 0xff
	v1_15      = 1<<16 | 15<<8
	v1_16      = 1<<16 | 16<<8
)

// Block types of the data section (pg_backup_archiver.h).
const (
	blkData  = 1
	blkBlobs = 3
)

// tableData is the desc of a table's rows in the TOC.
const tableData = "TABLE DATA"

// maxName bounds the namespace, tag and desc kept of a TOC entry: a
// PostgreSQL name is at most 63 bytes, and a longer tag (a comment's, an
// ACL's) matters only when it is not a table's.
const maxName = 1024

// entry is what the counter keeps of a TOC entry that has a data block:
// a TABLE DATA entry's rows are counted, a BLOBS entry's are not.
type entry struct {
	desc          string
	schema, table string
	rows          int64
	seen          bool    // its data block was read
	bytes         int64   // bytes of its data
	tail          [8]byte // the last 8 of them (fewer at first), for the terminator check
}

// Counter parses a custom-format archive written to it. The zero value is
// not usable: use New.
type Counter struct {
	// header
	version, intSize, offSize int
	// parsing state
	err     error
	state   state            // what is read next
	in      []byte           // what is left of the current Write
	acc     []byte           // a field split across Writes
	off     int64            // bytes consumed, for errors
	field   int              // index in tocPlan of the field being read
	nTOC    int64            // TOC entries left to read
	plan    []fieldKind      // the fields of a TOC entry for this version
	cur     tocEntry         // the TOC entry being read
	str     strState         // the string being read
	entries map[int64]*entry // TABLE DATA entries by dump id
	order   []*entry         // in TOC order
	block   *entry           // the TABLE DATA entry whose data is being read, or nil
	blkType byte             // the type of the block being read
	chunk   int64            // bytes left of the current data chunk
	done    bool             // Close was called
}

// New returns a Counter waiting for the archive's first byte.
func New() *Counter {
	return &Counter{entries: map[int64]*entry{}}
}

// Write parses p. It always returns len(p), nil: see Result.
func (c *Counter) Write(p []byte) (int, error) {
	if c.err != nil || c.done {
		return len(p), nil
	}
	c.in = p
	for c.err == nil && c.step() {
	}
	c.in = nil
	return len(p), nil
}

// Close ends the archive: it must end after a whole data block.
func (c *Counter) Close() error {
	if c.done {
		return nil
	}
	c.done = true
	if c.err == nil && !c.atBlockStart() {
		c.fail(errors.New("the archive ends inside its header, its table of contents or a data block"))
	}
	if c.err == nil {
		for _, e := range c.order {
			if !e.seen {
				c.fail(fmt.Errorf("no data block for %s %s.%s", e.desc, e.schema, e.table))
				break
			}
		}
	}
	return c.err
}

// Result returns the row count of every TABLE DATA entry, in the order of
// the table of contents, after Close; or the reason there is none.
func (c *Counter) Result() ([]Table, error) {
	if !c.done {
		return nil, errors.New("rowcount: result before close")
	}
	if c.err != nil {
		return nil, c.err
	}
	out := make([]Table, 0, len(c.order))
	for _, e := range c.order {
		if e.desc == tableData {
			out = append(out, Table{Schema: e.schema, Table: e.table, Rows: e.rows})
		}
	}
	return out, nil
}

// fail records the first error, with the offset it was found at.
func (c *Counter) fail(err error) {
	if c.err == nil {
		c.err = fmt.Errorf("rowcount: at byte %d: %w", c.off, err)
	}
}

func (c *Counter) unsupported(format string, args ...any) {
	c.fail(fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...)))
}

// atBlockStart reports whether the archive may end here: after the TOC,
// between data blocks, with no field begun.
func (c *Counter) atBlockStart() bool {
	return c.state == stBlockStart && len(c.acc) == 0
}

// take returns the next n bytes, gathered across Writes in acc when the
// current input has fewer; ok is false when they have not all arrived.
// The slice is valid until the next take.
func (c *Counter) take(n int) (b []byte, ok bool) {
	if len(c.acc) == 0 && len(c.in) >= n {
		b, c.in = c.in[:n], c.in[n:]
		c.off += int64(n)
		return b, true
	}
	k := min(n-len(c.acc), len(c.in))
	c.acc = append(c.acc, c.in[:k]...)
	c.in = c.in[k:]
	c.off += int64(k)
	if len(c.acc) < n {
		return nil, false
	}
	b, c.acc = c.acc, c.acc[:0]
	return b, true
}

// readInt reads pg_dump's integer: a sign byte, then intSize bytes, least
// significant first.
func (c *Counter) readInt() (v int64, ok bool) {
	b, ok := c.take(1 + c.intSize)
	if !ok {
		return 0, false
	}
	return decodeInt(b, c.intSize), true
}

func decodeInt(b []byte, size int) int64 {
	var u uint64
	for i := size; i >= 1; i-- {
		u = u<<8 | uint64(b[i])
	}
	v := int64(u & (1<<63 - 1))
	if b[0] != 0 {
		v = -v
	}
	return v
}

// skip drops n bytes of input; false when the input ran out first (n is
// then what is left to skip).
func (c *Counter) skip(n *int64) bool {
	k := min(*n, int64(len(c.in)))
	c.in = c.in[k:]
	c.off += k
	*n -= k
	return *n == 0
}

// header reads the magic, the version, the sizes and the format, the
// compression, the date and the three strings after it.
func (c *Counter) header() bool {
	b, ok := c.take(11)
	if !ok {
		return false
	}
	if !bytes.Equal(b[:5], []byte("PGDMP")) {
		c.unsupported("no PGDMP magic: not a custom-format archive")
		return false
	}
	c.version = int(b[5])<<16 | int(b[6])<<8 | int(b[7])
	c.intSize, c.offSize = int(b[8]), int(b[9])
	switch {
	case c.version < minVersion || c.version > maxVersion:
		c.unsupported("archive version %d.%d.%d (known: 1.14 to 1.16, pg_dump 12 to 18)", b[5], b[6], b[7])
	case c.intSize < 1 || c.intSize > 8 || c.offSize < 1 || c.offSize > 8:
		c.unsupported("integer size %d, offset size %d", c.intSize, c.offSize)
	case b[10] != 1:
		c.unsupported("format %d, not custom (1)", b[10])
	}
	c.state = stCompression
	return c.err == nil
}

// compression refuses a compressed archive: an algorithm byte since 1.15,
// a zlib level before.
func (c *Counter) compression() bool {
	var level int64
	if c.version >= v1_15 {
		b, ok := c.take(1)
		if !ok {
			return false
		}
		level = int64(b[0])
	} else {
		v, ok := c.readInt()
		if !ok {
			return false
		}
		level = v
	}
	if level != 0 {
		c.unsupported("compressed (algorithm or level %d): the counter reads pg_dump -Z0 only", level)
		return false
	}
	c.plan = headerTail
	c.field, c.state = 0, stHeaderFields
	return true
}

// headerTail is what follows the compression: the date (seven ints), the
// database name, the server's version and pg_dump's.
var headerTail = []fieldKind{fInt, fInt, fInt, fInt, fInt, fInt, fInt, fStr, fStr, fStr}

func (c *Counter) headerFields() bool {
	for c.field < len(c.plan) {
		if !c.readField(c.plan[c.field]) {
			return false
		}
		c.field++
	}
	c.state = stTOCCount
	return true
}

func (c *Counter) tocCount() bool {
	n, ok := c.readInt()
	if !ok {
		return false
	}
	if n < 0 {
		c.fail(fmt.Errorf("table of contents of %d entries", n))
		return false
	}
	c.nTOC = n
	c.plan = tocPlan(c.version)
	c.field, c.cur = 0, tocEntry{}
	c.state = stTOC
	return true
}
