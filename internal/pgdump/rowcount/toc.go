package rowcount

import (
	"fmt"
)

// fieldKind is one field of the header's tail or of a TOC entry.
type fieldKind uint8

const (
	fInt       fieldKind = iota // an integer, dropped
	fStr                        // a string, dropped
	fDumpID                     // the entry's dump id
	fHadDumper                  // whether it has a data block
	fTag                        // the object's name
	fDesc                       // its kind, such as TABLE DATA
	fNamespace                  // its schema
	fDeps                       // strings up to a NULL one: the dependencies
	fOffset                     // the custom format's data offset: a flag byte and offSize bytes
)

// tocPlan is the fields of a TOC entry (ReadToc and the custom format's
// _ReadExtraToc in pg_dump): dump id, had dumper, table oid, oid, tag,
// desc, section, defn, drop statement, copy statement, namespace,
// tablespace, table access method, relkind (1.16), owner, "with oids",
// dependencies, data offset.
func tocPlan(version int) []fieldKind {
	p := []fieldKind{fDumpID, fHadDumper, fStr, fStr, fTag, fDesc, fInt, fStr, fStr, fStr, fNamespace, fStr, fStr}
	if version >= v1_16 {
		p = append(p, fInt)
	}
	return append(p, fStr, fStr, fDeps, fOffset)
}

// tocEntry is what is read of the TOC entry at hand.
type tocEntry struct {
	dumpID, hadDumper int64
	tag, desc, ns     string
	cut               bool // a name was longer than maxName
}

// strState is the string being read: its length once known, and what is
// kept of it.
type strState struct {
	started bool
	null    bool  // a NULL string (length -1)
	left    int64 // bytes left to read
	keep    []byte
	cut     bool
}

// readString reads a string: an int length (-1 for NULL), then its bytes,
// of which up to maxName are kept when keep is set. It allocates nothing
// by the length it reads.
func (c *Counter) readString(keep bool) (done bool) {
	s := &c.str
	if !s.started {
		n, ok := c.readInt()
		if !ok {
			return false
		}
		if n < -1 {
			c.fail(fmt.Errorf("string of length %d", n))
			return false
		}
		*s = strState{started: true, null: n == -1, left: max(n, 0), keep: s.keep[:0]}
	}
	for s.left > 0 && len(c.in) > 0 {
		k := min(s.left, int64(len(c.in)))
		if keep {
			room := min(k, int64(maxName-len(s.keep)))
			s.keep = append(s.keep, c.in[:room]...)
			s.cut = s.cut || room < k
		}
		c.in = c.in[k:]
		c.off += k
		s.left -= k
	}
	if s.left > 0 {
		return false
	}
	s.started = false
	return true
}

// readField reads one field of the plan into cur; false when it needs more
// input.
func (c *Counter) readField(k fieldKind) bool {
	switch k {
	case fInt, fDumpID, fHadDumper:
		v, ok := c.readInt()
		if !ok {
			return false
		}
		if k == fDumpID {
			c.cur.dumpID = v
		} else if k == fHadDumper {
			c.cur.hadDumper = v
		}
	case fStr:
		return c.readString(false)
	case fTag, fDesc, fNamespace:
		if !c.readString(true) {
			return false
		}
		v := string(c.str.keep)
		c.cur.cut = c.cur.cut || c.str.cut
		switch k {
		case fTag:
			c.cur.tag = v
		case fDesc:
			c.cur.desc = v
		default:
			c.cur.ns = v
		}
	case fDeps:
		for {
			if !c.readString(false) {
				return false
			}
			if c.str.null {
				return true
			}
		}
	case fOffset:
		_, ok := c.take(1 + c.offSize)
		return ok
	}
	return true
}

// tocEntries reads the TOC entries one field at a time and keeps the ones
// that have a data block.
func (c *Counter) tocEntries() bool {
	for c.nTOC > 0 {
		for c.field < len(c.plan) {
			if !c.readField(c.plan[c.field]) {
				return false
			}
			c.field++
		}
		if !c.keepEntry() {
			return false
		}
		c.nTOC--
		c.field, c.cur = 0, tocEntry{}
	}
	c.state = stBlockStart
	return true
}

// keepEntry records an entry that has a data block; false (with an error)
// on an entry that breaks the format.
func (c *Counter) keepEntry() bool {
	e := c.cur
	if e.dumpID <= 0 {
		c.fail(fmt.Errorf("TOC entry with dump id %d", e.dumpID))
		return false
	}
	if e.hadDumper == 0 {
		return true
	}
	if e.cut && e.desc == tableData {
		c.fail(fmt.Errorf("TABLE DATA entry %d: a name longer than %d bytes", e.dumpID, maxName))
		return false
	}
	if _, dup := c.entries[e.dumpID]; dup {
		c.fail(fmt.Errorf("two TOC entries with dump id %d", e.dumpID))
		return false
	}
	t := &entry{desc: e.desc, schema: e.ns, table: e.tag}
	c.entries[e.dumpID] = t
	c.order = append(c.order, t)
	return true
}
