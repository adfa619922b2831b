package rowcount

import (
	"bytes"
	"fmt"
)

// state is the part of the archive read next.
type state uint8

const (
	stHeader       state = iota // magic, version, sizes, format
	stCompression               // the compression algorithm or level
	stHeaderFields              // the date and three strings
	stTOCCount                  // the number of TOC entries
	stTOC                       // the TOC entries
	stBlockStart                // a data block's type byte, or the end of the archive
	stBlockID                   // its dump id
	stBlobOID                   // the next large object's oid in a BLOBS block, 0 at its end
	stChunkLen                  // a data chunk's length, 0 at the end of the data
	stChunkData                 // a data chunk's bytes
)

// step runs the step of the current state; false when it needs more input
// or failed.
func (c *Counter) step() bool {
	switch c.state {
	case stHeader:
		return c.header()
	case stCompression:
		return c.compression()
	case stHeaderFields:
		return c.headerFields()
	case stTOCCount:
		return c.tocCount()
	case stTOC:
		return c.tocEntries()
	case stBlockStart:
		return c.blockStart()
	case stBlockID:
		return c.blockID()
	case stBlobOID:
		return c.blobOID()
	case stChunkLen:
		return c.chunkLen()
	default:
		return c.chunkData()
	}
}

func (c *Counter) blockStart() bool {
	if len(c.in) == 0 {
		return false
	}
	b, _ := c.take(1)
	if b[0] != blkData && b[0] != blkBlobs {
		c.fail(fmt.Errorf("data block of type %d (known: %d, %d)", b[0], blkData, blkBlobs))
		return false
	}
	c.blkType, c.state = b[0], stBlockID
	return true
}

// blockID reads the block's dump id, which must be that of an entry with
// data not read yet: the rows of a TABLE DATA entry's block are counted,
// every other block is skipped.
func (c *Counter) blockID() bool {
	id, ok := c.readInt()
	if !ok {
		return false
	}
	e := c.entries[id]
	if e == nil {
		c.fail(fmt.Errorf("data block for dump id %d, which the table of contents has no data for", id))
		return false
	}
	if e.seen {
		c.fail(fmt.Errorf("a second data block for %s %s.%s", e.desc, e.schema, e.table))
		return false
	}
	e.seen, c.block = true, nil
	if c.blkType == blkBlobs {
		c.state = stBlobOID
		return true
	}
	if e.desc == tableData {
		c.block = e
	}
	c.state = stChunkLen
	return true
}

func (c *Counter) blobOID() bool {
	oid, ok := c.readInt()
	if !ok {
		return false
	}
	if oid == 0 {
		c.state = stBlockStart
	} else {
		c.state = stChunkLen
	}
	return true
}

// chunkLen reads a chunk's length; 0 ends the data of a table, or of one
// large object. Whole chunks in the input (pg_dump writes one per row) are
// counted in one loop first.
func (c *Counter) chunkLen() bool {
	c.wholeChunks()
	n, ok := c.readInt()
	if !ok {
		return false
	}
	switch {
	case n < 0:
		c.fail(fmt.Errorf("data chunk of length %d", n))
		return false
	case n > 0:
		c.chunk, c.state = n, stChunkData
	case c.blkType == blkBlobs:
		c.state = stBlobOID
	default:
		c.state = stBlockStart
		return c.endTable()
	}
	return true
}

// wholeChunks counts the chunks that are whole in the input, up to the
// first that is not or the end of the data (a length of 0 or less, which
// chunkLen reads).
func (c *Counter) wholeChunks() {
	n := 1 + c.intSize
	e := c.block
	for len(c.acc) == 0 && len(c.in) >= n {
		v := decodeInt(c.in, c.intSize)
		if v <= 0 || v > int64(len(c.in)-n) {
			return
		}
		p := c.in[n : n+int(v)]
		if e != nil {
			e.count(p)
		}
		c.in = c.in[n+int(v):]
		c.off += int64(n) + v
	}
}

// chunkData counts the newlines of a chunk of a table's data, in place.
func (c *Counter) chunkData() bool {
	k := int(min(c.chunk, int64(len(c.in))))
	if e := c.block; e != nil && k > 0 {
		e.count(c.in[:k])
	}
	c.in = c.in[k:]
	c.off += int64(k)
	c.chunk -= int64(k)
	if c.chunk > 0 {
		return false
	}
	c.state = stChunkLen
	return true
}

// endTable checks the end of a table's data: COPY text ends with a
// newline. pg_dump 15 ends it with the COPY terminator and two empty
// lines ("\\.\n\n\n"): a last line `\.` is the terminator, never a row
// (a backslash in a value is doubled), and the empty lines after it are
// not rows either.
func (c *Counter) endTable() bool {
	e := c.block
	c.block = nil
	if e == nil || e.bytes == 0 {
		return true
	}
	t := e.tail[len(e.tail)-int(min(e.bytes, int64(len(e.tail)))):]
	if t[len(t)-1] != '\n' {
		c.fail(fmt.Errorf("the data of table %s.%s does not end with a newline", e.schema, e.table))
		return false
	}
	e.rows -= terminatorLines(t, e.bytes == int64(len(t)))
	return true
}

// terminatorLines is the number of lines at the end of tail (the last
// bytes of a table's data; whole says they are all of it) that are the
// COPY terminator `\.` and the empty lines after it: 0 when there is no
// terminator.
func terminatorLines(tail []byte, whole bool) int64 {
	end := len(tail) - 1 // the last newline
	var empty int64
	for end > 0 && tail[end-1] == '\n' {
		end--
		empty++
	}
	line := tail[:end]
	switch {
	case bytes.HasSuffix(line, []byte("\n\\.")), whole && string(line) == "\\.":
		return empty + 1
	}
	return 0
}

// count counts the rows of p, the next bytes of a table's data.
func (e *entry) count(p []byte) {
	e.rows += int64(bytes.Count(p, newline))
	e.bytes += int64(len(p))
	e.keepTail(p)
}

var newline = []byte{'\n'}

// keepTail keeps the last bytes of a table's data, p being the latest.
func (e *entry) keepTail(p []byte) {
	if len(p) >= len(e.tail) {
		copy(e.tail[:], p[len(p)-len(e.tail):])
		return
	}
	n := copy(e.tail[:], e.tail[len(p):])
	copy(e.tail[n:], p)
}
