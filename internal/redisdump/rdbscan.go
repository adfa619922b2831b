package redisdump

// Key counting: Count walks an RDB file opcode by opcode and skips every
// value by its lengths, without decoding its elements (a ziplist, listpack
// or intset is one string; an LZF string is skipped by its compressed
// length). Its memory is bounded by its read buffer whatever the lengths
// say: nothing is allocated by a length read from the file. It does not
// check the CRC-64 (the dump's rdbStream does, and so does redis-server
// when it loads the file).

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"mbackup/internal/dump"
)

// ErrUncountable is wrapped by Count's error when the RDB holds something
// it cannot skip without knowing the code that wrote it: an unknown value
// type or opcode, a pre-release module or function format, or an RDB
// version newer than it knows. The file is not known to be corrupt then.
var ErrUncountable = errors.New("the RDB holds data the key counter cannot skip")

// maxRDBVersion is the newest RDB format Count knows (Redis 7.4).
const maxRDBVersion = 12

// Counts is what Count found: DBs in ascending DB number, only the
// databases that hold keys in the file.
type Counts struct {
	DBs []DBCount
}

// DBCount is the keys of one database. Keys counts every key in the file,
// Expires those with an expiry. For a load in [t0, t1] (see Count),
// ExpiredBy0 are the keys whose expiry is before t0, which a master
// drops when it loads the file, and ExpiringIn those whose expiry is in
// [t0, t1), which it may or may not drop.
type DBCount struct {
	DB         int
	Keys       int64
	Expires    int64
	ExpiredBy0 int64
	ExpiringIn int64
}

// Keyspace returns the counts for a manifest. An RDB without keys gives
// database 0 with 0 keys, so that a manifest tells an empty server from
// one made before keys were counted.
func (c Counts) Keyspace() []dump.DBKeys {
	out := make([]dump.DBKeys, 0, max(len(c.DBs), 1))
	for _, d := range c.DBs {
		out = append(out, dump.DBKeys{DB: d.DB, Keys: d.Keys, Expires: d.Expires})
	}
	if len(out) == 0 {
		out = append(out, dump.DBKeys{})
	}
	return out
}

// Bounds returns the least and the most keys database db must hold after
// a master loaded the file at a time in [t0, t1] (the times given to
// Count): a master drops the keys whose expiry has passed when it loads.
// Keys expiring after the load are removed later by the server, so t1
// must be no earlier than when the caller counts the loaded keys. A
// database not in the file gives 0, 0.
func (c Counts) Bounds(db int) (min, max int64) {
	for _, d := range c.DBs {
		if d.DB == db {
			max = d.Keys - d.ExpiredBy0
			return max - d.ExpiringIn, max
		}
	}
	return 0, 0
}

// Count reads a whole RDB from r and counts its keys per database. With t0
// or t1 non-zero it also splits the keys with an expiry for a load in
// [t0, t1] (see Bounds). Empty collections (which a buggy Redis 6.2 could
// write, and which Redis drops when loading) are counted as keys.
func Count(r io.Reader, t0, t1 time.Time) (Counts, error) {
	s := &scanner{r: bufio.NewReaderSize(r, 64<<10)}
	if !t0.IsZero() || !t1.IsZero() {
		s.split, s.t0, s.t1 = true, t0.UnixMilli(), t1.UnixMilli()
	}
	s.scan()
	if s.err != nil {
		return Counts{}, fmt.Errorf("redisdump: count keys: %w", s.err)
	}
	slices.SortFunc(s.dbs, func(a, b DBCount) int { return cmp.Compare(a.DB, b.DB) })
	return Counts{DBs: s.dbs}, nil
}

// scanner reads an RDB. Its methods set err once and then do nothing, so
// a caller checks err where it loops or decides.
type scanner struct {
	r       *bufio.Reader
	off     int64 // bytes read so far
	err     error
	buf     [16]byte
	version int

	dbs    []DBCount
	db     int // the selected database
	in     int // its index in dbs, -1 until it has a key
	split  bool
	t0, t1 int64 // Unix milliseconds
}

// fail records the first error, at offset at.
func (s *scanner) fail(at int64, err error) {
	if s.err == nil {
		s.err = fmt.Errorf("at byte %d: %w", at, err)
	}
}

func (s *scanner) readErr(err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = errors.New("the RDB is truncated")
	}
	s.fail(s.off, err)
}

// read returns the next n (at most 16) bytes.
func (s *scanner) read(n int) []byte {
	if s.err != nil {
		return s.buf[:n]
	}
	k, err := io.ReadFull(s.r, s.buf[:n])
	s.off += int64(k)
	if err != nil {
		s.readErr(err)
	}
	return s.buf[:n]
}

func (s *scanner) byte() byte {
	if s.err != nil {
		return 0
	}
	b, err := s.r.ReadByte()
	if err != nil {
		s.readErr(err)
		return 0
	}
	s.off++
	return b
}

// skip drops the next n bytes without holding them.
func (s *scanner) skip(n uint64) {
	for n > 0 && s.err == nil {
		k := int(min(n, 1<<30))
		d, err := s.r.Discard(k)
		s.off += int64(d)
		n -= uint64(d)
		if err != nil {
			s.readErr(err)
		}
	}
}

// length reads an RDB length; special reports the 0b11 prefix of a
// string's special encoding, whose 6 bits are then returned.
func (s *scanner) length() (n uint64, special bool) {
	b := s.byte()
	switch {
	case b>>6 == 3:
		return uint64(b & 0x3f), true
	case b>>6 == 0:
		return uint64(b & 0x3f), false
	case b>>6 == 1:
		return uint64(b&0x3f)<<8 | uint64(s.byte()), false
	case b == 0x80:
		return uint64(binary.BigEndian.Uint32(s.read(4))), false
	case b == 0x81:
		return binary.BigEndian.Uint64(s.read(8)), false
	}
	s.fail(s.off-1, fmt.Errorf("bad length encoding 0x%02x", b))
	return 0, false
}

// plainLength is a length that must not be a special encoding.
func (s *scanner) plainLength() uint64 {
	at := s.off
	n, special := s.length()
	if special {
		s.fail(at, errors.New("a string encoding where a length belongs"))
	}
	return n
}

// skipString skips a string: raw, an integer or LZF-compressed.
func (s *scanner) skipString() {
	at := s.off
	n, special := s.length()
	if !special {
		s.skip(n)
		return
	}
	switch n {
	case 0, 1, 2: // int8, int16, int32
		s.skip(1 << n)
	case 3: // LZF: compressed length, uncompressed length, data
		clen := s.plainLength()
		s.plainLength()
		s.skip(clen)
	default:
		s.fail(at, fmt.Errorf("unknown string encoding %d", n))
	}
}

// skipStrings skips n strings, stopping at the first error.
func (s *scanner) skipStrings(n uint64) {
	for ; n > 0 && s.err == nil; n-- {
		s.skipString()
	}
}

func (s *scanner) scan() {
	if !s.header() {
		return
	}
	s.in = -1
	expire, hasExpire := int64(0), false
	for s.err == nil {
		at := s.off
		op := s.byte()
		switch {
		case s.err != nil:
		case op == 0xff: // EOF, then the CRC-64 since version 5
			if s.version >= 5 {
				s.read(8)
			}
			s.end()
			return
		case op == 0xfd: // EXPIRETIME: seconds, int32
			expire, hasExpire = int64(int32(binary.LittleEndian.Uint32(s.read(4))))*1000, true
		case op == 0xfc: // EXPIRETIME_MS
			expire, hasExpire = int64(binary.LittleEndian.Uint64(s.read(8))), true
		case op >= 0xf4:
			s.opcode(at, op)
		default:
			if err := typeError(op); err != nil {
				s.fail(at, err)
				return
			}
			s.skipString() // the key
			s.skipValue(op)
			if s.err == nil {
				s.count(expire, hasExpire)
			}
			hasExpire = false
		}
	}
}

// header reads the magic and the version.
func (s *scanner) header() bool {
	h := s.read(headerLen)
	if s.err != nil {
		return false
	}
	if err := checkHeader(h); err != nil {
		s.fail(0, err)
		return false
	}
	s.version = int(h[5]-'0')*1000 + int(h[6]-'0')*100 + int(h[7]-'0')*10 + int(h[8]-'0')
	if s.version < 1 {
		s.fail(5, fmt.Errorf("bad RDB version %d", s.version))
		return false
	}
	if s.version > maxRDBVersion {
		s.fail(5, fmt.Errorf("%w: RDB version %d is newer than %d", ErrUncountable, s.version, maxRDBVersion))
		return false
	}
	return true
}

// opcode reads what follows an opcode (0xf4 to 0xfe) other than the
// expiry opcodes, which belong to the next key.
func (s *scanner) opcode(at int64, op byte) {
	switch op {
	case 0xfe: // SELECTDB
		n := s.plainLength()
		if n > math.MaxInt32 {
			s.fail(at, fmt.Errorf("database number %d out of range", n))
		}
		s.db, s.in = int(n), -1
	case 0xfb: // RESIZEDB: a sizing hint, not a count other writers must keep
		s.plainLength()
		s.plainLength()
	case 0xfa: // AUX: two strings
		s.skipStrings(2)
	case 0xf9: // FREQ
		s.byte()
	case 0xf8: // IDLE
		s.plainLength()
	case 0xf7: // MODULE_AUX: module id, when opcode, when, value
		s.plainLength()
		s.plainLength()
		s.plainLength()
		s.skipModuleValue()
	case 0xf6:
		s.fail(at, fmt.Errorf("%w: a pre-release function library (opcode 0xf6)", ErrUncountable))
	case 0xf5: // FUNCTION2: the library's code
		s.skipString()
	case 0xf4: // SLOT_INFO: slot, size, expires size
		s.plainLength()
		s.plainLength()
		s.plainLength()
	}
}

// end checks that nothing follows the RDB.
func (s *scanner) end() {
	if s.err != nil {
		return
	}
	if _, err := s.r.ReadByte(); err == nil {
		s.fail(s.off, errors.New("data follows the end of the RDB"))
	} else if err != io.EOF {
		s.readErr(err)
	}
}

// count adds a key, with its expiry in Unix milliseconds if it has one,
// to the selected database (0 when none was selected).
func (s *scanner) count(expire int64, hasExpire bool) {
	if s.in < 0 {
		s.in = slices.IndexFunc(s.dbs, func(d DBCount) bool { return d.DB == s.db })
		if s.in < 0 {
			s.dbs = append(s.dbs, DBCount{DB: s.db})
			s.in = len(s.dbs) - 1
		}
	}
	d := &s.dbs[s.in]
	d.Keys++
	if !hasExpire {
		return
	}
	d.Expires++
	switch {
	case !s.split:
	case expire < s.t0:
		d.ExpiredBy0++
	case expire < s.t1:
		d.ExpiringIn++
	}
}

// typeError says why a value of type typ cannot be skipped, or is nil.
func typeError(typ byte) error {
	switch {
	case typ == 6:
		return fmt.Errorf("%w: a pre-release module value (type 6)", ErrUncountable)
	case typ == 8 || typ > 25:
		return fmt.Errorf("%w: unknown value type %d", ErrUncountable, typ)
	}
	return nil
}

// skipValue skips the value of a key of type typ, which typeError
// accepted.
func (s *scanner) skipValue(typ byte) {
	switch typ {
	case 0, // string
		9, 10, 11, 12, 13, 16, 17, 20, // zipmap, ziplists, intset, listpacks: one string
		23: // hash listpack with field TTLs (7.4 pre-release)
		s.skipString()
	case 1, 2: // list, set: elements
		s.skipStrings(s.plainLength())
	case 4: // hash: field, value pairs
		n := s.plainLength()
		for ; n > 0 && s.err == nil; n-- {
			s.skipStrings(2)
		}
	case 3, 5: // zset: member, score (a string double, or binary in zset2)
		n := s.plainLength()
		for ; n > 0 && s.err == nil; n-- {
			s.skipString()
			if typ == 5 {
				s.skip(8)
			} else if b := s.byte(); b < 253 { // 253-255: NaN, +inf, -inf
				s.skip(uint64(b))
			}
		}
	case 14: // quicklist: ziplist nodes
		s.skipStrings(s.plainLength())
	case 18: // quicklist 2: container kind, node
		n := s.plainLength()
		for ; n > 0 && s.err == nil; n-- {
			s.plainLength()
			s.skipString()
		}
	case 25: // hash listpack with field TTLs: min expiry, listpack
		s.skip(8)
		s.skipString()
	case 22, 24: // hash with field TTLs: [min expiry,] (ttl, field, value)...
		if typ == 24 {
			s.skip(8)
		}
		n := s.plainLength()
		for ; n > 0 && s.err == nil; n-- {
			s.plainLength()
			s.skipStrings(2)
		}
	case 15, 19, 21:
		s.skipStream(typ)
	case 7: // module 2: module id, then annotated values
		s.plainLength()
		s.skipModuleValue()
	}
}

// skipStream skips a stream of type 15, 19 (7.0) or 21 (7.2).
func (s *scanner) skipStream(typ byte) {
	n := s.plainLength() // listpacks: master ID, listpack
	for ; n > 0 && s.err == nil; n-- {
		s.skipStrings(2)
	}
	ids := 3 // length, last ID
	if typ >= 19 {
		ids += 5 // first ID, max deleted ID, entries added
	}
	for range ids {
		s.plainLength()
	}
	groups := s.plainLength()
	for ; groups > 0 && s.err == nil; groups-- {
		s.skipString() // name
		s.plainLength()
		s.plainLength() // last delivered ID
		if typ >= 19 {
			s.plainLength() // entries read
		}
		pel := s.plainLength() // ID, delivery time, delivery count
		for ; pel > 0 && s.err == nil; pel-- {
			s.skip(16 + 8)
			s.plainLength()
		}
		consumers := s.plainLength()
		for ; consumers > 0 && s.err == nil; consumers-- {
			s.skipString() // name
			s.skip(8)      // seen time
			if typ >= 21 {
				s.skip(8) // active time
			}
			pending := s.plainLength() // IDs
			for ; pending > 0 && s.err == nil; pending-- {
				s.skip(16)
			}
		}
	}
}

// skipModuleValue skips a module's annotated values up to their EOF.
func (s *scanner) skipModuleValue() {
	for s.err == nil {
		at := s.off
		switch op := s.plainLength(); op {
		case 0: // EOF
			return
		case 1, 2: // signed, unsigned integer
			s.plainLength()
		case 3: // float
			s.skip(4)
		case 4: // double
			s.skip(8)
		case 5: // string
			s.skipString()
		default:
			s.fail(at, fmt.Errorf("bad module value opcode %d", op))
		}
	}
}
