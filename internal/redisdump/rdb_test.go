package redisdump

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// rdbFile returns a file of n bytes shaped like an RDB: the magic, filler,
// the EOF opcode and a checksum (zero if !sum, as with rdbchecksum no).
func rdbFile(n int, sum bool) []byte {
	b := []byte("REDIS0010")
	r := rand.New(rand.NewPCG(1, uint64(n)))
	for len(b) < n-trailerLen {
		b = append(b, byte(r.Uint32()))
	}
	b = append(b, 0xff)
	var crc uint64
	if sum {
		crc = crcUpdate(0, b)
	}
	return binary.LittleEndian.AppendUint64(b, crc)
}

const mark = "0123456789abcdef0123456789abcdef01234567"

// pass writes in through an rdbStream in chunks of size chunk.
func pass(in []byte, chunk int) ([]byte, error) {
	var out bytes.Buffer
	s := &rdbStream{w: &out}
	for len(in) > 0 {
		n := min(chunk, len(in))
		if _, err := s.Write(in[:n]); err != nil {
			return out.Bytes(), err
		}
		in = in[n:]
	}
	err := s.finish()
	return out.Bytes(), err
}

func TestRDBStreamValid(t *testing.T) {
	for _, size := range []int{headerLen + trailerLen, holdLen - 1, holdLen, holdLen + 1, 100_000} {
		for _, sum := range []bool{true, false} {
			rdb := rdbFile(size, sum)
			for _, in := range [][]byte{rdb, append(append([]byte{}, rdb...), mark...)} {
				for _, chunk := range []int{1, 7, 32 << 10} {
					out, err := pass(in, chunk)
					if err != nil || !bytes.Equal(out, rdb) {
						t.Errorf("size %d sum %v mark %v chunk %d: %d bytes, %v", size, sum, len(in) > size, chunk, len(out), err)
					}
				}
			}
		}
	}
}

func TestRDBStreamInvalid(t *testing.T) {
	rdb := rdbFile(100_000, true)
	flipped := append([]byte{}, rdb...)
	flipped[50_000] ^= 1
	withMark := append(append([]byte{}, rdb...), mark...)
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "no RDB data: the stream was empty"},
		{"error text", []byte("-ERR unknown command 'SYNC'\r\n"), `no RDB data: the stream starts with "-ERR unkn"`},
		{"short", []byte("REDIS"), "no RDB data: only 5 bytes"},
		{"bad version", []byte("REDISxyz1 and more"), "bad RDB version"},
		{"truncated", rdb[:len(rdb)-1], "truncated or corrupt"},
		{"truncated more", rdb[:60_000], "truncated or corrupt"},
		{"truncated mark", withMark[:len(withMark)-1], "truncated or corrupt"},
		{"flipped bit", flipped, "truncated or corrupt"},
	}
	for _, c := range cases {
		out, err := pass(c.in, 4096)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want %q", c.name, err, c.want)
		}
		if strings.HasPrefix(c.want, "no RDB") && (!errors.Is(err, errNoRDB) || len(out) > 0) {
			t.Errorf("%s: %v, %d bytes written; want errNoRDB and nothing", c.name, err, len(out))
		}
	}
}

func TestRDBStreamWriteFails(t *testing.T) {
	boom := errors.New("upload gone")
	s := &rdbStream{w: writerFunc(func([]byte) (int, error) { return 0, boom })}
	if _, err := s.Write(rdbFile(1000, true)); !errors.Is(err, boom) {
		t.Fatalf("Write = %v", err)
	}
}

func TestConnArgs(t *testing.T) {
	cases := []struct {
		url, want, password string
	}{
		{"redis://localhost", "-h localhost -p 6379", ""},
		{"redis://10.0.0.5:6380/2", "-h 10.0.0.5 -p 6380", ""},
		{"redis://backup@db.internal:6379/0", "--user backup -h db.internal -p 6379", ""},
		{"redis://:s3cret@db.internal/0", "-h db.internal -p 6379", "s3cret"},
		{"redis://[::1]:7000", "-h ::1 -p 7000", ""},
		{"unix:///run/redis/redis.sock", "-s /run/redis/redis.sock", ""},
		{"rediss://redis.example.com:25061", "-h redis.example.com -p 25061 --tls --sni redis.example.com", ""},
		{"rediss://10.0.0.5:6380?cacert=/etc/ca.pem", "-h 10.0.0.5 -p 6380 --tls --cacert /etc/ca.pem", ""},
		{"rediss://10.0.0.5?sni=redis.example.com&cacert=/ca.pem", "-h 10.0.0.5 -p 6379 --tls --cacert /ca.pem --sni redis.example.com", ""},
	}
	for _, c := range cases {
		args, pw, err := connArgs(c.url)
		if got := strings.Join(args, " "); err != nil || got != c.want || pw != c.password {
			t.Errorf("connArgs(%q) = %q, %q, %v; want %q, %q", c.url, got, pw, err, c.want, c.password)
		}
	}
	for _, bad := range []string{"", "http://x", "redis://", "redis://host/x", "redis://host?sni=x",
		"rediss://host?verify=no", "rediss://host?sni=", "unix://", "redis://:pw@host:bad port"} {
		_, _, err := connArgs(bad)
		if err == nil || strings.Contains(err.Error(), "pw@") {
			t.Errorf("connArgs(%q) = %v; want an error without the URL", bad, err)
		}
	}
}
