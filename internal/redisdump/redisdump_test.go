package redisdump

import (
	"bytes"
	"context"
	"errors"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"mbackup/internal/testenv"
)

var shared server

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "redisdump-test-")
	if err != nil {
		log.Fatal(err)
	}
	r, stop, err := testenv.LaunchRedis(dir)
	if err != nil {
		os.RemoveAll(dir)
		log.Fatal(err)
	}
	shared = fromTestenv(r)
	// The default 5 s wait for more replicas would slow every dump.
	if _, err := shared.run("CONFIG", "SET", "repl-diskless-sync-delay", "0"); err != nil {
		stop()
		os.RemoveAll(dir)
		log.Fatal(err)
	}
	code := m.Run()
	stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fill creates a key of every type, some with TTLs, in databases 0 and 3.
func fill(t *testing.T, s server) {
	t.Helper()
	expireAt := strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)
	for _, cmd := range [][]string{
		{"SET", "str", "hello\nworld"},
		{"SET", "str:ttl", "bye", "PXAT", expireAt},
		{"SET", "bin", "\x01\xff\xfe\r\n"},
		{"RPUSH", "list", "a", "b", "c", "a"},
		{"SADD", "set", "x", "y", "z"},
		{"SADD", "intset", "1", "2", "3"},
		{"ZADD", "zset", "1", "one", "2.5", "two", "-3", "minus"},
		{"HSET", "hash", "f1", "v1", "f2", "v2"},
		{"XADD", "stream", "1-1", "field", "value"},
		{"XADD", "stream", "2-1", "other", "thing"},
		{"XGROUP", "CREATE", "stream", "readers", "0"},
		{"XREADGROUP", "GROUP", "readers", "alice", "COUNT", "1", "STREAMS", "stream", ">"},
		{"PEXPIREAT", "list", expireAt},
		{"PEXPIREAT", "hash", expireAt},
		{"PEXPIREAT", "stream", expireAt},
		{"-n", "3", "SET", "other:db", "three"},
	} {
		s.do(t, cmd...)
	}
}

// fillBig writes about 2 MB of hardly compressible strings into db.
func fillBig(t *testing.T, s server, db string) {
	t.Helper()
	s.do(t, "-n", db, "EVAL", `for i = 1, 2000 do
		local v = {}
		for j = 1, 25 do v[j] = redis.sha1hex(i .. ':' .. j) end
		redis.call('SET', 'big:' .. i, table.concat(v))
	end`, "0")
}

// contents describes every key of db: its type, DUMP payload and absolute
// expiry in milliseconds (-1: none), which change if anything is lost.
func contents(t *testing.T, s server, db string) []string {
	t.Helper()
	keys := strings.Split(s.do(t, "-n", db, "KEYS", "*"), "\n")
	slices.Sort(keys)
	var out []string
	for _, k := range keys {
		typ := s.do(t, "-n", db, "TYPE", k)
		value := s.do(t, "-n", db, "DUMP", k)
		if typ == "set" { // a hash table: DUMP's order changes on load
			members := strings.Split(s.do(t, "-n", db, "SMEMBERS", k), "\n")
			slices.Sort(members)
			value = strings.Join(members, ",")
		}
		out = append(out, strings.Join([]string{k, typ, strconv.Quote(value),
			s.do(t, "-n", db, "PEXPIRETIME", k)}, " "))
	}
	return out
}

// argvChecker, on its first write (redis-cli --rdb is running then),
// checks that the running redis-cli has the password in its environment
// and nowhere in its command line.
type argvChecker struct {
	t        *testing.T
	password string
	checked  bool
	buf      bytes.Buffer
}

func (a *argvChecker) Write(p []byte) (int, error) {
	if !a.checked {
		a.checked = true
		pids := children(a.t, "redis-cli")
		if len(pids) != 1 {
			a.t.Errorf("redis-cli children: %v", pids)
		}
		for _, pid := range pids {
			cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			environ, err2 := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
			if err := errors.Join(err, err2); err != nil {
				a.t.Error(err)
				continue
			}
			if bytes.Contains(cmdline, []byte(a.password)) {
				a.t.Errorf("password in argv: %q", cmdline)
			}
			if !bytes.Contains(cmdline, []byte("--rdb")) {
				a.t.Errorf("argv %q: not the dump", cmdline)
			}
			if !bytes.Contains(environ, []byte("\x00REDISCLI_AUTH="+a.password+"\x00")) &&
				!bytes.HasPrefix(environ, []byte("REDISCLI_AUTH="+a.password+"\x00")) {
				a.t.Error("REDISCLI_AUTH not in redis-cli's environment")
			}
		}
	}
	return a.buf.Write(p)
}

// TestDumpLoads dumps every key type with TTLs, then starts a second
// server on the RDB and finds every key, value and expiry again.
func TestDumpLoads(t *testing.T) {
	src := startServer(t, "", nil)
	fill(t, src)
	fillBig(t, src, "5") // so that redis-cli is still running at the first write
	out := &argvChecker{t: t, password: src.password}
	info, err := Dump(context.Background(), src.config("main"), out)
	if err != nil {
		t.Fatal(err)
	}
	rdb := out.buf.Bytes()
	if !bytes.HasPrefix(rdb, []byte("REDIS00")) || rdb[len(rdb)-9] != 0xff {
		t.Fatalf("not an RDB file: % x ... % x", rdb[:9], rdb[len(rdb)-9:])
	}
	if !strings.HasPrefix(info.Version, "redis-cli ") || info.ServerVersion == "" ||
		!strings.HasSuffix(info.Command, " --rdb -") || strings.Contains(info.Command, src.password) {
		t.Errorf("info = %+v", info)
	}
	if v := src.do(t, "INFO", "server"); !strings.Contains(v, "redis_version:"+info.ServerVersion+"\r") {
		t.Errorf("server version %q; INFO says %q", info.ServerVersion, v)
	}
	loaded := startServer(t, "", rdb)
	if want, got := src.do(t, "-n", "5", "DBSIZE"), loaded.do(t, "-n", "5", "DBSIZE"); want != got {
		t.Errorf("db 5 has %s keys after loading the RDB; want %s", got, want)
	}
	for _, db := range []string{"0", "3"} {
		want, got := contents(t, src, db), contents(t, loaded, db)
		if !slices.Equal(want, got) {
			t.Errorf("db %s after loading the RDB:\n%q\nwant\n%q", db, got, want)
		}
	}
	if n := src.do(t, "DBSIZE"); n != "9" {
		t.Errorf("DBSIZE = %s; fill changed?", n)
	}
	if want := keyspace(t, src); !slices.Equal(info.Keyspace, want) || len(want) != 3 {
		t.Errorf("Info.Keyspace = %+v; DBSIZE and INFO keyspace say %+v", info.Keyspace, want)
	}
}

// TestDumpACLUsers dumps as users with the least rights: with replconf
// (diskless, redis-cli leaves the EOF mark) and without (the server sends
// a length-prefixed RDB from its disk, without a mark).
func TestDumpACLUsers(t *testing.T) {
	shared.do(t, "SET", "acl:key", "value")
	for _, rules := range []string{"+info +sync +psync +replconf", "+info +sync +psync"} {
		name := "u" + strconv.Itoa(len(rules))
		shared.do(t, append([]string{"ACL", "SETUSER", name, "reset", "on", ">pw-" + name, "-@all"}, strings.Fields(rules)...)...)
		var out bytes.Buffer
		cfg := Config{Name: name, URL: "redis://" + name + "@" + shared.addr + "/0", Password: "pw-" + name}
		info, err := Dump(context.Background(), cfg, &out)
		if err != nil {
			t.Errorf("%s: %v", rules, err)
			continue
		}
		if !strings.Contains(info.Command, "--user "+name) || !bytes.Contains(out.Bytes(), []byte("acl:key")) {
			t.Errorf("%s: Info %+v, %d bytes", rules, info, out.Len())
		}
	}
}
