package b2test

import (
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// B2 limits the fake enforces.
const (
	minPartSize     = 5_000_000     // absoluteMinimumPartSize
	recommendedPart = 100_000_000   // recommendedPartSize
	maxParts        = 10_000        // parts of one large file
	maxUploadSize   = 5_000_000_000 // one b2_upload_file or one part
	maxNameLen      = 1024          // bytes of UTF-8
	maxInfoEntries  = 10            // fileInfo entries per file
)

// bucket is one bucket and its settings; its files live in Server.files.
type bucket struct {
	id, name, typ string
	info          map[string]string
	rules         json.RawMessage // lifecycleRules, kept as sent
	cors          json.RawMessage
	sse           json.RawMessage // defaultServerSideEncryption value
	replication   json.RawMessage
	lockEnabled   bool
	defaultRet    retention // default retention of new versions
	rev           int
}

// file is one version of a name: an upload, a hide marker, or an unfinished
// large file ("start") with its parts.
type file struct {
	id, name, action string
	bucket           *bucket
	size             int64
	sha1             string // 40 hex digits, or "none" for large files
	contentType      string
	info             map[string]string
	uploaded         time.Time
	seq              int64 // creation order: a larger seq is a newer version
	data             []byte
	discarded        bool
	parts            map[int]*part
	lockMode         string    // "governance", "compliance", or "" for none
	retainUntil      time.Time // end of the retention when lockMode is set
}

// part is one uploaded part of an unfinished large file.
type part struct {
	size      int64
	sha1      string
	data      []byte
	discarded bool
}

// File describes one stored version, as Versions and Unfinished report it.
type File struct {
	Name     string
	ID       string
	Action   string // "upload", "hide" or "start" (unfinished large file)
	Size     int64  // bytes; for "start", the sum of the parts uploaded so far
	SHA1     string // hex, or "none" for large files
	Info     map[string]string
	Uploaded time.Time
	// LockMode and RetainUntil are the version's Object Lock retention
	// ("" and zero when none).
	LockMode    string
	RetainUntil time.Time
}

// CreateBucket makes a private bucket named name, if it does not exist yet.
func (s *Server) CreateBucket(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.createBucket(name, "allPrivate")
}

// createBucket adds a bucket; s.mu is held.
func (s *Server) createBucket(name, typ string) *bucket {
	if b, ok := s.buckets[name]; ok {
		return b
	}
	s.seq++
	b := &bucket{
		id:    fmt.Sprintf("bkt%021d", s.seq),
		name:  name,
		typ:   typ,
		info:  map[string]string{},
		rules: json.RawMessage("[]"),
		cors:  json.RawMessage("[]"),
		rev:   1,
	}
	s.buckets[name] = b
	return b
}

// bucketByID finds a bucket; s.mu is held.
func (s *Server) bucketByID(id string) *bucket {
	for _, b := range s.buckets {
		if b.id == id {
			return b
		}
	}
	return nil
}

// newFile registers a version of name in b; s.mu is held.
func (s *Server) newFile(b *bucket, name, action string) *file {
	s.seq++
	f := &file{
		id:       fmt.Sprintf("4_z%s_f%020d", b.id, s.seq),
		name:     name,
		action:   action,
		bucket:   b,
		uploaded: s.now(),
		seq:      s.seq,
	}
	s.files[f.id] = f
	return f
}

// versions returns every version in b, names ascending by bytes, newest
// first within a name; s.mu is held.
func (s *Server) versions(b *bucket) []*file {
	var out []*file
	for _, f := range s.files {
		if f.bucket == b {
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].name != out[j].name {
			return out[i].name < out[j].name
		}
		return out[i].seq > out[j].seq
	})
	return out
}

// latest returns the newest finished version (upload or hide) of name in b,
// or nil; s.mu is held.
func (s *Server) latest(b *bucket, name string) *file {
	var best *file
	for _, f := range s.files {
		if f.bucket == b && f.name == name && f.action != "start" && (best == nil || f.seq > best.seq) {
			best = f
		}
	}
	return best
}

// Versions returns every version in the bucket, including hide markers and
// unfinished large files: names ascending, newest first within a name.
func (s *Server) Versions(bucketName string) []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucketName]
	if b == nil {
		return nil
	}
	var out []File
	for _, f := range s.versions(b) {
		out = append(out, f.export())
	}
	return out
}

// Unfinished returns the bucket's unfinished large files, oldest first.
func (s *Server) Unfinished(bucketName string) []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucketName]
	if b == nil {
		return nil
	}
	var out []File
	for _, f := range s.unfinished(b) {
		out = append(out, f.export())
	}
	return out
}

// unfinished returns b's unfinished large files in the order they were
// started; s.mu is held.
func (s *Server) unfinished(b *bucket) []*file {
	var out []*file
	for _, f := range s.files {
		if f.bucket == b && f.action == "start" {
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// Content returns the bytes of the newest version of name if it is a
// visible upload whose content was kept.
func (s *Server) Content(bucketName, name string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucketName]
	if b == nil {
		return nil, false
	}
	f := s.latest(b, name)
	if f == nil || f.action != "upload" || f.discarded {
		return nil, false
	}
	return append([]byte{}, f.data...), true
}

func (f *file) export() File {
	size := f.size
	for _, p := range f.parts {
		size += p.size
	}
	return File{
		Name: f.name, ID: f.id, Action: f.action, Size: size, SHA1: f.sha1,
		Info: maps.Clone(f.info), Uploaded: f.uploaded,
		LockMode: f.lockMode, RetainUntil: f.retainUntil,
	}
}

// checkName applies B2's file name rules.
func checkName(name string) error {
	switch {
	case name == "":
		return badRequest("file name is empty")
	case len(name) > maxNameLen:
		return badRequest("file name is longer than %d bytes", maxNameLen)
	case !utf8.ValidString(name):
		return badRequest("file name is not valid UTF-8")
	case strings.HasPrefix(name, "/"), strings.HasSuffix(name, "/"):
		return badRequest("file names must not start or end with '/'")
	case strings.Contains(name, "//"):
		return badRequest("file names must not contain '//'")
	}
	for _, r := range name {
		if r < 32 || r == 127 || r == '\\' {
			return badRequest("file name contains a forbidden character %q", r)
		}
	}
	return nil
}

// checkInfo applies B2's file info rules: at most 10 entries, names of
// letters, digits, '-' and '_' up to 50 bytes.
func checkInfo(info map[string]string) error {
	if len(info) > maxInfoEntries {
		return badRequest("too many file info entries: %d (at most %d)", len(info), maxInfoEntries)
	}
	for k := range info {
		if k == "" || len(k) > 50 || strings.IndexFunc(k, badInfoRune) >= 0 {
			return badRequest("invalid file info name %q", k)
		}
	}
	return nil
}

func badInfoRune(r rune) bool {
	return !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
}
