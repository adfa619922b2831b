package configured

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mbackup/internal/config"
	"mbackup/internal/lock"
	"mbackup/internal/storage"
)

// TestStoreKeyCanonical: two spellings of one b2 or s3 store are one lock,
// two stores are two.
func TestStoreKeyCanonical(t *testing.T) {
	b2 := func(endpoint, bucket, prefix string) config.Storage {
		return config.Storage{Type: config.StorageB2, Endpoint: endpoint, Bucket: bucket, Prefix: prefix}
	}
	s3 := func(endpoint, bucket, prefix string) config.Storage {
		return config.Storage{Type: config.StorageS3, Endpoint: endpoint, Bucket: bucket, Prefix: prefix}
	}
	same := [][2]config.Storage{
		{b2("", "bk", "mastodon"), b2("https://api.backblazeb2.com/", "bk", "/mastodon/")},
		{b2("", "bk", ""), b2("https://API.backblazeb2.com", "bk", "/")},
		{s3("s3.example.com", "bk", "p/q"), s3("https://S3.Example.com:443/", "bk", "p/q/")},
		{s3("http://minio.lan", "bk", ""), s3("minio.lan:80", "bk", "")},
		{s3("http://[::1]:9000", "bk", "x"), s3("http://[::1]:9000/", "bk", "/x")},
	}
	for _, c := range same {
		if Key(c[0]) != Key(c[1]) {
			t.Errorf("two spellings of one store, two keys: %q, %q", Key(c[0]), Key(c[1]))
		}
	}
	different := [][2]config.Storage{
		{b2("", "bk", "a"), b2("", "bk", "b")},
		{b2("", "bk", ""), b2("", "bk2", "")},
		{b2("", "bk", ""), b2("http://127.0.0.1:1234", "bk", "")},
		{s3("s3.example.com", "bk", ""), s3("s3.example.com:9000", "bk", "")},
		{s3("s3.example.com", "bk", ""), b2("https://s3.example.com", "bk", "")},
	}
	for _, c := range different {
		if Key(c[0]) == Key(c[1]) {
			t.Errorf("two stores, one key: %q", Key(c[0]))
		}
	}
}

// TestOpenConfigErrors: an unknown type or an s3 endpoint that does not
// parse is ErrConfig, with the cause's text and no key in it.
func TestOpenConfigErrors(t *testing.T) {
	for _, c := range []struct {
		s    config.Storage
		want string
	}{
		{config.Storage{Type: "ftp"}, `storage.type "ftp" is not b2, s3 or local`},
		{config.Storage{Type: config.StorageS3, Endpoint: "ftp://host", Bucket: "bk", AccessKeyID: "id",
			SecretAccessKey: config.NewSecret("s3cr3t-xyzzy")}, "must be host[:port]"},
	} {
		s, err := Open(context.Background(), c.s)
		if s != nil || !errors.Is(err, ErrConfig) || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("Open(%+v) = %v, %v; want ErrConfig %q", c.s.Type, s, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "xyzzy") {
			t.Errorf("the error holds the key: %v", err)
		}
	}
	called := false
	err := With(context.Background(), config.Storage{Type: "ftp"}, func(storage.Store) error { called = true; return nil })
	if !errors.Is(err, ErrConfig) || called {
		t.Errorf("With on an unknown type: %v, fn called %v", err, called)
	}
}

// TestLocalStore: a local store opens its directory, lists it, and its
// locks are in it whatever the spelling: a second writer through another
// spelling is refused; a reader beside the writer is not; a prune
// without waiting is refused while the reader reads.
func TestLocalStore(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	c := config.Storage{Type: config.StorageLocal, Path: store}
	var listed int
	err := With(context.Background(), c, func(s storage.Store) error {
		return s.List(context.Background(), "", func(storage.Object) error { listed++; return nil })
	})
	if err != nil || listed != 0 {
		t.Fatalf("an empty local store: %d listed, %v", listed, err)
	}
	w, err := Lock(c, "the writer")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Release()
	os.Symlink(store, filepath.Join(dir, "link"))
	alias := config.Storage{Type: config.StorageLocal, Path: filepath.Join(dir, "link") + "/"}
	if _, err := Lock(alias, "the second writer"); !errors.Is(err, lock.ErrBusy) || !strings.Contains(err.Error(), "the writer") {
		t.Errorf("a second writer through a symlink: %v", err)
	}
	r, err := ReadLock(context.Background(), alias, "the reader", nil)
	if err != nil {
		t.Fatalf("a reader beside the writer: %v", err)
	}
	defer r.Release()
	if _, err := PruneLock(context.Background(), c, "the prune", nil); !errors.Is(err, lock.ErrReaders) {
		t.Errorf("a prune beside the reader: %v", err)
	}
}
