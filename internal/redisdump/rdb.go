package redisdump

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
)

const (
	// headerLen is "REDIS" and a four-digit RDB version.
	headerLen = 9
	// trailerLen is the RDB EOF opcode (0xff) and the CRC-64 of every byte
	// before it, little-endian.
	trailerLen = 1 + 8
	// eofMarkLen is the random delimiter of a diskless transfer. redis-cli
	// strips it with ftruncate when it writes to a file, but not when it
	// writes to stdout (7.0.15 does not), so it may follow the trailer.
	eofMarkLen = 40
	// holdLen is how many bytes rdbStream holds back until it knows
	// whether they end the file or are the EOF mark.
	holdLen = trailerLen + eofMarkLen
)

// jones is Redis's CRC-64 (the Jones polynomial, reflected), which
// redis-server writes after the EOF opcode.
var jones = crc64.MakeTable(0x95ac9329ac4bc9b5)

// crcUpdate extends Redis's CRC-64 (initial value 0, no final xor) with p;
// hash/crc64 complements before and after, hence the ^s.
func crcUpdate(crc uint64, p []byte) uint64 {
	return ^crc64.Update(^crc, jones, p)
}

// errNoRDB marks a stream that is not an RDB file at all (empty, or
// something else), which is what redis-cli leaves when the server refused
// SYNC but redis-cli still exited 0.
var errNoRDB = errors.New("no RDB data")

// rdbStream passes a replication stream through to w while checking that it
// is one whole RDB file: the stream starts with the RDB magic, nothing
// reaches w before that is checked, and it ends with the EOF opcode and a
// matching CRC-64. It drops the EOF mark redis-cli leaves on stdout. It
// holds back the last holdLen bytes; finish writes them.
type rdbStream struct {
	w       io.Writer
	held    []byte
	n       int64  // bytes received
	crc     uint64 // CRC-64 of the bytes written to w
	checked bool   // the header was checked
}

func (s *rdbStream) Write(p []byte) (int, error) {
	s.n += int64(len(p))
	s.held = append(s.held, p...)
	if !s.checked && len(s.held) >= headerLen {
		if err := checkHeader(s.held[:headerLen]); err != nil {
			return 0, err
		}
		s.checked = true
	}
	if over := len(s.held) - holdLen; over > 0 {
		if _, err := s.w.Write(s.held[:over]); err != nil {
			return 0, err
		}
		s.crc = crcUpdate(s.crc, s.held[:over])
		s.held = append(s.held[:0], s.held[over:]...)
	}
	return len(p), nil
}

func checkHeader(h []byte) error {
	if string(h[:5]) != "REDIS" {
		return fmt.Errorf("%w: the stream starts with %q, not the RDB magic \"REDIS\"", errNoRDB, printable(h))
	}
	for _, c := range h[5:headerLen] {
		if c < '0' || c > '9' {
			return fmt.Errorf("%w: bad RDB version %q", errNoRDB, printable(h[5:]))
		}
	}
	return nil
}

// finish checks the end of the stream and writes the bytes held back,
// without the EOF mark if there is one.
func (s *rdbStream) finish() error {
	if !s.checked {
		if s.n == 0 {
			return fmt.Errorf("%w: the stream was empty", errNoRDB)
		}
		return fmt.Errorf("%w: only %d bytes: %q", errNoRDB, s.n, printable(s.held))
	}
	h := s.held
	end := len(h)
	switch {
	case s.trailerAt(len(h) - trailerLen):
	case len(h) == holdLen && isLowerHex(h[trailerLen:]) && s.trailerAt(0):
		end = trailerLen
	default:
		return fmt.Errorf("the RDB stream of %d bytes is truncated or corrupt: it does not end with the EOF opcode and a matching checksum", s.n)
	}
	if _, err := s.w.Write(h[:end]); err != nil {
		return err
	}
	s.held = nil
	return nil
}

// trailerAt reports whether the held bytes have the EOF opcode at i,
// followed by the checksum of everything up to it. A zero checksum means
// the server runs with rdbchecksum no; then only the opcode is checked.
func (s *rdbStream) trailerAt(i int) bool {
	h := s.held
	if i < 0 || i+trailerLen > len(h) || h[i] != 0xff {
		return false
	}
	want := binary.LittleEndian.Uint64(h[i+1 : i+trailerLen])
	return want == 0 || want == crcUpdate(s.crc, h[:i+1])
}

func isLowerHex(p []byte) bool {
	for _, c := range p {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// printable returns up to 32 bytes of p with control bytes replaced, for
// an error message.
func printable(p []byte) string {
	if len(p) > 32 {
		p = p[:32]
	}
	out := make([]byte, len(p))
	for i, c := range p {
		if c < 0x20 || c > 0x7e {
			c = '.'
		}
		out[i] = c
	}
	return string(out)
}
