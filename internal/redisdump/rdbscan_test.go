package redisdump

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"mbackup/internal/dump"
)

// fillAll makes keys of every type and encoding Redis 7.0 writes, in
// databases 0, 1 and 15, some with an expiry, and a function library.
func fillAll(t *testing.T, s server) {
	t.Helper()
	hour := strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)
	s.do(t, "DEBUG", "QUICKLIST-PACKED-THRESHOLD", "1000") // big list elements get plain nodes
	s.do(t, "FUNCTION", "LOAD", "#!lua name=countlib\nredis.register_function('one', function() return 1 end)")
	for _, db := range []string{"0", "1", "15"} {
		s.do(t, "-n", db, "EVAL", `
		redis.call('SET', 'int', '12345')
		redis.call('SET', 'neg', '-70000')
		redis.call('SET', 'int32', '2000000000')
		redis.call('SET', 'embstr', 'short')
		redis.call('SET', 'lzf', string.rep('compress me ', 2000))
		redis.call('SET', 'raw', redis.sha1hex('x') .. redis.sha1hex('y'))
		redis.call('SET', 'ttl', 'bye', 'PXAT', ARGV[1])
		redis.call('RPUSH', 'list:small', 'a', 'b', 1, 2)
		for i = 1, 1000 do redis.call('RPUSH', 'list:big', 'element ' .. i) end
		redis.call('RPUSH', 'list:plain', string.rep('p', 3000), 'small')
		redis.call('SADD', 'set:int', 1, 2, 3)
		for i = 1, 600 do redis.call('SADD', 'set:big', 'member ' .. i) end
		redis.call('SADD', 'set:str', 'x', 'y')
		redis.call('ZADD', 'zset:small', 1, 'one', '2.5', 'two', '-inf', 'low', '+inf', 'high')
		for i = 1, 200 do redis.call('ZADD', 'zset:big', i / 3, 'm' .. i) end
		redis.call('ZADD', 'zset:big', '+inf', 'top')
		redis.call('HSET', 'hash:small', 'f1', 'v1', 'f2', 2)
		for i = 1, 600 do redis.call('HSET', 'hash:big', 'field' .. i, i) end
		for i = 1, 250 do redis.call('XADD', 'stream', i .. '-1', 'k', 'v' .. i) end
		redis.call('XGROUP', 'CREATE', 'stream', 'g1', '0')
		redis.call('XGROUP', 'CREATE', 'stream', 'g2', '$')
		redis.call('XREADGROUP', 'GROUP', 'g1', 'alice', 'COUNT', 3, 'STREAMS', 'stream', '>')
		redis.call('XREADGROUP', 'GROUP', 'g1', 'bob', 'COUNT', 2, 'STREAMS', 'stream', '>')
		redis.call('XADD', 'stream:empty', '1-1', 'k', 'v')
		redis.call('XDEL', 'stream:empty', '1-1')
		for _, k in ipairs({'list:big', 'set:big', 'zset:small', 'hash:big', 'stream'}) do
			redis.call('PEXPIREAT', k, ARGV[1])
		end
		for i = 1, 50 do redis.call('SET', 'many:' .. i, i) end
		for i = 1, 20 do redis.call('SET', 'many:' .. i .. ':ttl', i, 'PXAT', ARGV[1] + i) end
		`, "0", hour)
	}
	for key, enc := range map[string]string{"int": "int", "embstr": "embstr", "raw": "raw",
		"list:big": "quicklist", "set:int": "intset", "set:big": "hashtable", "zset:small": "listpack",
		"zset:big": "skiplist", "hash:small": "listpack", "hash:big": "hashtable", "stream": "stream"} {
		if got := s.do(t, "OBJECT", "ENCODING", key); got != enc {
			t.Fatalf("%s is encoded %s, not %s: the test no longer covers that encoding", key, got, enc)
		}
	}
}

// keyspace returns DBSIZE and the number of keys with an expiry of every
// database of s that has keys.
func keyspace(t *testing.T, s server) []dump.DBKeys {
	t.Helper()
	var out []dump.DBKeys
	for db := range 16 {
		n, _ := strconv.ParseInt(s.do(t, "-n", strconv.Itoa(db), "DBSIZE"), 10, 64)
		if n == 0 {
			continue
		}
		var expires int64
		for line := range strings.SplitSeq(s.do(t, "INFO", "keyspace"), "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "db"+strconv.Itoa(db)+":"); ok {
				_, after, _ := strings.Cut(rest, "expires=")
				after, _, _ = strings.Cut(after, ",")
				expires, _ = strconv.ParseInt(after, 10, 64)
			}
		}
		out = append(out, dump.DBKeys{DB: db, Keys: n, Expires: expires})
	}
	return out
}

// TestCountServer counts the keys of RDBs a real server wrote: through
// Dump's stream (Info.Keyspace) and by Count on the artifact, once with
// LFU counters (FREQ opcodes) and once with LRU idle times (IDLE).
func TestCountServer(t *testing.T) {
	s := startServer(t, "enable-debug-command local", nil)
	fillAll(t, s)
	want := keyspace(t, s)
	if len(want) != 3 || want[0].Keys != 89 || want[0].Expires != 26 {
		t.Fatalf("fill made %+v", want)
	}
	for _, policy := range []string{"allkeys-lfu", "allkeys-lru"} {
		s.do(t, "CONFIG", "SET", "maxmemory-policy", policy)
		var out bytes.Buffer
		info, err := Dump(context.Background(), s.config("main"), &out)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(info.Keyspace, want) || len(info.Notes) > 0 {
			t.Errorf("%s: Info.Keyspace = %+v, notes %q; DBSIZE says %+v", policy, info.Keyspace, info.Notes, want)
		}
		c, err := Count(bytes.NewReader(out.Bytes()), time.Time{}, time.Time{})
		if err != nil {
			t.Fatalf("%s: %v", policy, err)
		}
		if got := c.Keyspace(); !slices.Equal(got, want) {
			t.Errorf("%s: Count = %+v; DBSIZE says %+v", policy, got, want)
		}
		if policy == "allkeys-lru" {
			testTruncations(t, out.Bytes())
		}
	}
}

// testTruncations cuts rdb at many places: every cut fails, naming an
// offset and the truncation.
func testTruncations(t *testing.T, rdb []byte) {
	step := max(1, len(rdb)/1000)
	for n := 0; n < len(rdb); n += step {
		_, err := Count(bytes.NewReader(rdb[:n]), time.Time{}, time.Time{})
		if err == nil || !strings.Contains(err.Error(), "redisdump: count keys: at byte ") ||
			!strings.Contains(err.Error(), "the RDB is truncated") {
			t.Fatalf("Count of the first %d of %d bytes: %v", n, len(rdb), err)
		}
	}
	for n := len(rdb) - 9; n < len(rdb); n++ { // in the EOF opcode and checksum
		if _, err := Count(bytes.NewReader(rdb[:n]), time.Time{}, time.Time{}); err == nil {
			t.Fatalf("Count of the first %d of %d bytes succeeded", n, len(rdb))
		}
	}
}

// TestCountBounds loads an RDB with a key whose expiry has passed into a
// master, and checks the bounds against what it kept; then splits keys
// for windows before, around and after an expiry.
func TestCountBounds(t *testing.T) {
	src := startServer(t, "", nil)
	soon := time.Now().Add(3 * time.Second)
	later := time.Now().Add(time.Hour)
	src.do(t, "-n", "2", "SET", "gone", "x", "PXAT", strconv.FormatInt(soon.UnixMilli(), 10))
	src.do(t, "-n", "2", "SET", "stays", "x", "PXAT", strconv.FormatInt(later.UnixMilli(), 10))
	src.do(t, "-n", "2", "SET", "plain", "x")
	var out bytes.Buffer
	info, err := Dump(context.Background(), src.config("main"), &out)
	if err != nil {
		t.Fatal(err)
	}
	if want := []dump.DBKeys{{DB: 2, Keys: 3, Expires: 2}}; !slices.Equal(info.Keyspace, want) {
		t.Fatalf("Keyspace = %+v; want %+v (was the dump slower than 3 s?)", info.Keyspace, want)
	}
	time.Sleep(time.Until(soon) + 100*time.Millisecond)
	t0 := time.Now()
	loaded := startServer(t, "", out.Bytes())
	n, _ := strconv.ParseInt(loaded.do(t, "-n", "2", "DBSIZE"), 10, 64)
	t1 := time.Now()
	c, err := Count(bytes.NewReader(out.Bytes()), t0, t1)
	if err != nil {
		t.Fatal(err)
	}
	if lo, hi := c.Bounds(2); lo != 2 || hi != 2 || n != 2 {
		t.Errorf("Bounds = %d, %d; the server kept %d keys; want 2", lo, hi, n)
	}
	for _, w := range []struct {
		name           string
		t0, t1         time.Time
		lo, hi, gone   int64
		expiring, keys int64
	}{
		{"before both", soon.Add(-time.Second), soon.Add(-time.Millisecond), 3, 3, 0, 0, 3},
		{"around soon", soon.Add(-time.Second), soon.Add(time.Millisecond), 2, 3, 0, 1, 3},
		{"up to soon", soon.Add(-time.Second), soon, 3, 3, 0, 0, 3},
		{"from soon", soon, soon.Add(time.Second), 2, 3, 0, 1, 3},
		{"just after soon", soon.Add(time.Millisecond), soon.Add(time.Second), 2, 2, 1, 0, 3},
		{"around later", soon.Add(time.Second), later.Add(time.Second), 1, 2, 1, 1, 3},
		{"after both", later.Add(time.Second), later.Add(time.Hour), 1, 1, 2, 0, 3},
	} {
		c, err := Count(bytes.NewReader(out.Bytes()), w.t0, w.t1)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := c.Bounds(2)
		d := c.DBs[0]
		if lo != w.lo || hi != w.hi || d.ExpiredBy0 != w.gone || d.ExpiringIn != w.expiring || d.Keys != w.keys {
			t.Errorf("%s: Bounds %d, %d, %+v; want %d, %d", w.name, lo, hi, d, w.lo, w.hi)
		}
		if lo, hi := c.Bounds(0); lo != 0 || hi != 0 {
			t.Errorf("%s: Bounds of a database not in the file: %d, %d", w.name, lo, hi)
		}
	}
}

// rdbBuilder writes RDB files by hand, for what the Redis of the tests
// does not write: newer and older types, modules, corrupt files.
type rdbBuilder struct{ b []byte }

func newRDB(version int) *rdbBuilder {
	return &rdbBuilder{b: fmt.Appendf(nil, "REDIS%04d", version)}
}

func (r *rdbBuilder) op(b ...byte) *rdbBuilder { r.b = append(r.b, b...); return r }

func (r *rdbBuilder) len(n uint64) *rdbBuilder {
	switch {
	case n < 1<<6:
		r.b = append(r.b, byte(n))
	case n < 1<<14:
		r.b = append(r.b, byte(n>>8)|0x40, byte(n))
	case n < 1<<32:
		r.b = binary.BigEndian.AppendUint32(append(r.b, 0x80), uint32(n))
	default:
		r.b = binary.BigEndian.AppendUint64(append(r.b, 0x81), n)
	}
	return r
}

func (r *rdbBuilder) str(s string) *rdbBuilder {
	r.len(uint64(len(s)))
	r.b = append(r.b, s...)
	return r
}

func (r *rdbBuilder) u64(v uint64) *rdbBuilder {
	r.b = binary.LittleEndian.AppendUint64(r.b, v)
	return r
}

// file ends the RDB with the EOF opcode and its checksum.
func (r *rdbBuilder) file() []byte {
	b := append(r.b, 0xff)
	return binary.LittleEndian.AppendUint64(b, crcUpdate(0, b))
}

// everyType is an RDB 12 holding each value type and opcode Count knows,
// in databases 0 (5 keys), 4 (22 keys) and 9 (1 key).
func everyType() []byte {
	r := newRDB(12).op(0xfa).str("redis-ver").str("7.4.0").op(0xfa).str("ctime").op(0xc2, 1, 2, 3, 4)
	r.op(0xf7).len(2<<10 | 5).len(2).len(1).len(5).str("aux").len(0) // module aux
	r.op(0xf5).str("#!lua name=x\nredis.register_function('f', function() return 1 end)")
	r.op(0x00).str("db0:a").str("v")                                        // before any SELECTDB
	r.op(0xfc).u64(1000).op(0x00).str("db0:b").op(0xc0, 7)                  // int8, expiry
	r.op(0xfd, 2, 0, 0, 0).op(0x00).str("db0:c").op(0xc1, 1, 2)             // int16, seconds expiry
	r.op(0xf8).len(300).op(0x00).str("db0:d").op(0xc2, 1, 2, 3, 4)          // idle, int32
	r.op(0xf9, 5).op(0x00).str("db0:e").op(0xc3).len(3).len(10).op(1, 2, 3) // freq, LZF
	r.op(0xfe).len(4).op(0xfb).len(22).len(0).op(0xf4).len(100).len(22).len(0)
	r.op(0x01).str("list").len(2).str("a").str("b")
	r.op(0x02).str("set").len(1).str("a")
	r.op(0x03).str("zset").len(3).str("a").op(3).op('1', '.', '5').str("b").op(254).str("c").op(253)
	r.op(0x04).str("hash").len(1).str("f").str("v")
	r.op(0x05).str("zset2").len(1).str("a").u64(0)
	r.op(0x07).str("module").len(7<<10|1).len(1).len(5).len(2).len(1<<40).len(3).op(0, 0, 0, 0).
		len(4).u64(0).len(5).str("s").len(0)
	for _, typ := range []byte{9, 10, 11, 12, 13, 16, 17, 20, 23} {
		r.op(typ).str("packed" + strconv.Itoa(int(typ))).str("opaque bytes")
	}
	r.op(0x0e).str("quicklist").len(2).str("zl1").str("zl2")
	r.op(0x12).str("quicklist2").len(2).len(1).str("plain").len(2).str("packed")
	r.op(0x19).str("hashlpex").u64(5).str("listpack")
	r.op(0x18).str("hashmeta").u64(5).len(2).len(0).str("f").str("v").len(3).str("g").str("w")
	r.op(0x16).str("hashmeta0").len(1).len(77).str("f").str("v")
	r.op(0xfe).len(9)
	streamV3(r, 21, "stream3")
	r.op(0xfe).len(4)
	streamV3(r, 15, "stream1")
	streamV3(r, 19, "stream2")
	return r.file()
}

// streamV3 writes a stream of type typ with a consumer group holding two
// consumers and a pending entry.
func streamV3(r *rdbBuilder, typ byte, key string) {
	r.op(typ).str(key).len(1).str(strings.Repeat("\x00", 16)).str("listpack")
	r.len(5).len(1700000000000).len(0) // length, last ID
	if typ >= 19 {
		r.len(1).len(0).len(0).len(0).len(5) // first ID, max deleted ID, entries added
	}
	r.len(1).str("group").len(1700000000000).len(0) // one group, last delivered ID
	if typ >= 19 {
		r.len(5) // entries read
	}
	r.len(1).op(make([]byte, 16)...).u64(1700000000000).len(1) // PEL: ID, time, count
	r.len(2)
	for i, name := range []string{"alice", "bob"} {
		r.str(name).u64(1700000000000)
		if typ >= 21 {
			r.u64(1700000000000)
		}
		r.len(uint64(1 - i)).op(make([]byte, 16*(1-i))...)
	}
}

func TestCountEveryType(t *testing.T) {
	rdb := everyType()
	c, err := Count(bytes.NewReader(rdb), time.UnixMilli(1500), time.UnixMilli(3000))
	if err != nil {
		t.Fatal(err)
	}
	want := []DBCount{{DB: 0, Keys: 5, Expires: 2, ExpiredBy0: 1, ExpiringIn: 1}, {DB: 4, Keys: 22}, {DB: 9, Keys: 1}}
	if !slices.Equal(c.DBs, want) {
		t.Errorf("Count = %+v; want %+v", c.DBs, want)
	}
	if lo, hi := c.Bounds(0); lo != 3 || hi != 4 {
		t.Errorf("Bounds(0) = %d, %d; want 3, 4 (one key expires at 1 s, one at 2 s)", lo, hi)
	}
	testTruncations(t, rdb)
}

func TestCountEmpty(t *testing.T) {
	c, err := Count(bytes.NewReader(newRDB(10).op(0xfa).str("a").str("b").file()), time.Time{}, time.Time{})
	if err != nil || len(c.DBs) != 0 {
		t.Fatalf("Count = %+v, %v", c, err)
	}
	if k := c.Keyspace(); !slices.Equal(k, []dump.DBKeys{{DB: 0}}) {
		t.Errorf("Keyspace of an empty RDB = %+v", k)
	}
	// RDB versions below 5 have no checksum.
	if _, err := Count(bytes.NewReader(newRDB(4).op(0, 1, 'k', 1, 'v', 0xff).b), time.Time{}, time.Time{}); err != nil {
		t.Errorf("RDB version 4: %v", err)
	}
}

func TestCountErrors(t *testing.T) {
	key := func(r *rdbBuilder) *rdbBuilder { return r.op(0xfe).len(0).op(0).str("k").str("v") }
	tail := len(key(newRDB(10)).b) // offset of what follows the first key
	for _, c := range []struct {
		name        string
		rdb         []byte
		uncountable bool
		want        string
	}{
		{"bad magic", []byte("REDIX0010\xff"), false, "at byte 0: no RDB data: the stream starts with \"REDIX0010\", not the RDB magic"},
		{"bad version", []byte("REDIS0x10\xff"), false, "at byte 0: no RDB data: bad RDB version \"0x10\""},
		{"version 0", newRDB(0).file(), false, "at byte 5: bad RDB version 0"},
		{"newer version", newRDB(13).file(), true, "at byte 5: the RDB holds data the key counter cannot skip: RDB version 13 is newer than 12"},
		{"unknown type", key(newRDB(10)).op(0x30, 0xc9).file(), true,
			fmt.Sprintf("at byte %d: the RDB holds data the key counter cannot skip: unknown value type 48", tail)},
		{"type 8", key(newRDB(10)).op(0x08, 0xc9).file(), true, fmt.Sprintf("at byte %d: %s", tail, "the RDB holds data the key counter cannot skip: unknown value type 8")},
		{"type 26", key(newRDB(12)).op(26, 0xc9).file(), true, fmt.Sprintf("at byte %d: %s", tail, "the RDB holds data the key counter cannot skip: unknown value type 26")},
		{"module type 6", key(newRDB(10)).op(0x06, 0xc9).file(), true, fmt.Sprintf("at byte %d: %s", tail, "the RDB holds data the key counter cannot skip: a pre-release module value (type 6)")},
		{"function 0xf6", key(newRDB(10)).op(0xf6).file(), true, fmt.Sprintf("at byte %d: %s", tail, "the RDB holds data the key counter cannot skip: a pre-release function library (opcode 0xf6)")},
		{"bad length", key(newRDB(10)).op(0x01).str("k").op(0x82).file(), false, fmt.Sprintf("at byte %d: bad length encoding 0x82", tail+3)},
		{"special length", key(newRDB(10)).op(0x01).str("k").op(0xc0).file(), false, fmt.Sprintf("at byte %d: a string encoding where a length belongs", tail+3)},
		{"string encoding", key(newRDB(10)).op(0x00).str("k").op(0xc4).file(), false, fmt.Sprintf("at byte %d: unknown string encoding 4", tail+3)},
		{"module opcode", key(newRDB(10)).op(0x07).str("k").len(1).len(9).file(), false, fmt.Sprintf("at byte %d: bad module value opcode 9", tail+4)},
		{"db number", newRDB(10).op(0xfe).len(1 << 40).file(), false, "at byte 9: database number 1099511627776 out of range"},
		{"trailing data", append(key(newRDB(10)).file(), 'x'), false, fmt.Sprintf("at byte %d: data follows the end of the RDB", tail+9)},
		{"huge string", key(newRDB(10)).op(0).str("k").len(1 << 60).op('x').b, false, "the RDB is truncated"},
	} {
		_, err := Count(bytes.NewReader(c.rdb), time.Time{}, time.Time{})
		if err == nil || !strings.HasPrefix(err.Error(), "redisdump: count keys: ") || !strings.Contains(err.Error(), c.want) ||
			errors.Is(err, ErrUncountable) != c.uncountable {
			t.Errorf("%s: Count = %v; want %q, uncountable %v", c.name, err, c.want, c.uncountable)
		}
	}
}

// TestCountMemory reads lengths of 2^60: nothing that size is allocated.
func TestCountMemory(t *testing.T) {
	for _, rdb := range [][]byte{
		newRDB(10).op(0).str("k").len(1 << 60).b,
		newRDB(10).op(2).str("k").len(1 << 60).str("a").b,
		newRDB(10).op(0).str("k").op(0xc3).len(1 << 60).len(1 << 61).b,
		newRDB(12).op(21).str("k").len(0).len(0).len(0).len(0).len(0).len(0).len(0).len(0).len(0).len(1).str("g").
			len(0).len(0).len(0).len(0).len(1).str("c").u64(0).u64(0).len(1 << 60).b,
	} {
		if alloc := allocated(func() { Count(bytes.NewReader(rdb), time.Time{}, time.Time{}) }); alloc > 1<<20 {
			t.Errorf("Count allocated %d bytes for % x", alloc, rdb)
		}
	}
}

// allocated returns the bytes f allocated.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDumpCountFails dumps a valid RDB the counter cannot count (a
// stand-in redis-cli sends it): the dump succeeds, byte for byte, and its
// notes say why there are no key counts.
func TestDumpCountFails(t *testing.T) {
	dir := t.TempDir()
	rdb := newRDB(10).op(0).str("k").str("v").op(0x06).str("module").file()
	file := filepath.Join(dir, "dump.rdb")
	if err := os.WriteFile(file, rdb, 0o600); err != nil {
		t.Fatal(err)
	}
	cli := filepath.Join(dir, "redis-cli")
	script := "#!/bin/sh\ncase \"$*\" in\n*--version*) echo 'redis-cli 7.0.15' ;;\n" +
		"*INFO*) printf 'redis_version:7.0.15\\r\\n' ;;\n*--rdb*) cat " + file + " ;;\nesac\nexit 0\n"
	if err := os.WriteFile(cli, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	info, err := Dump(context.Background(), Config{Name: "m", URL: "redis://127.0.0.1:1", CLI: cli}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), rdb) || info.Keyspace != nil || len(info.Notes) != 1 ||
		!strings.Contains(info.Notes[0], "Redis key counts not recorded: redisdump: count keys: at byte 14: ") ||
		!strings.Contains(info.Notes[0], "(type 6)") {
		t.Errorf("Dump wrote %d bytes of %d, Info %+v", out.Len(), len(rdb), info)
	}
}

// FuzzCount feeds Count real RDBs of the test server, the hand-written
// one, and what the fuzzer makes of them: it never panics, its counts are
// consistent, and it allocates little whatever the lengths say.
func FuzzCount(f *testing.F) {
	shared.do(f, "-n", "7", "EVAL", `
		redis.call('SET', 'fz:s', 'v', 'PX', 3600000)
		redis.call('SET', 'fz:i', 42)
		redis.call('RPUSH', 'fz:l', 'a', 'b')
		redis.call('SADD', 'fz:set', 1, 2)
		redis.call('SADD', 'fz:sets', 'a', 'b')
		redis.call('ZADD', 'fz:z', 1, 'a')
		redis.call('HSET', 'fz:h', 'f', 'v')
		redis.call('XADD', 'fz:x', '1-1', 'f', 'v')
		redis.call('XGROUP', 'CREATE', 'fz:x', 'g', '0')
		redis.call('XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', 'fz:x', '>')`, "0")
	var out bytes.Buffer
	if _, err := Dump(context.Background(), shared.config("fuzz"), &out); err != nil {
		f.Fatal(err)
	}
	f.Add(out.Bytes())
	f.Add(everyType())
	f.Fuzz(func(t *testing.T, rdb []byte) {
		var c Counts
		var err error
		alloc := allocated(func() { c, err = Count(bytes.NewReader(rdb), time.UnixMilli(1), time.UnixMilli(1<<42)) })
		if alloc > 1<<20 {
			t.Fatalf("allocated %d bytes", alloc)
		}
		if err != nil {
			return
		}
		for i, d := range c.DBs {
			if i > 0 && c.DBs[i-1].DB >= d.DB || d.Keys < 1 || d.Expires > d.Keys || d.ExpiredBy0+d.ExpiringIn > d.Expires {
				t.Fatalf("inconsistent counts %+v", c.DBs)
			}
		}
	})
}

// TestKeyCounterDrains writes many buffers' worth after data Count stops
// at: every write returns, and close reports why Count stopped.
func TestKeyCounterDrains(t *testing.T) {
	k := newKeyCounter()
	k.Write(newRDB(10).op(0x30).str("k").b)
	chunk := bytes.Repeat([]byte{0xab}, 100_000)
	for range 3 * counterBufs * counterBufSize / len(chunk) {
		if n, err := k.Write(chunk); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if _, err := k.close(); !errors.Is(err, ErrUncountable) || !strings.Contains(err.Error(), "at byte 9: ") {
		t.Errorf("close = %v", err)
	}
}
