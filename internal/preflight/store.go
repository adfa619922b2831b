package preflight

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"mbackup/internal/config"
	"mbackup/internal/explain"
	"mbackup/internal/retention"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
	"mbackup/internal/storage/b2"
	"mbackup/internal/storage/configured"
	"mbackup/internal/storage/local"
	"mbackup/internal/storage/s3"
)

// MarkerPrefix is where the store probe writes its marker object.
const MarkerPrefix = "check/"

// store lists the snapshots, writes, reads back and deletes a marker
// object, and reports each snapshot that needs a look; for B2 also the
// key's capabilities and the bucket's encryption.
// It returns the listing, nil (not empty) when the store could not be listed.
func store(ctx context.Context, sc config.Storage) ([]Result, []snapshot.Entry) {
	r := &results{what: "storage " + sc.Type}
	if sc.Type == config.StorageLocal {
		if _, err := local.Open(sc.Path); errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
			// check never creates the store: it says whether the
			// first backup will be able to.
			notYet(r, sc.Path)
			return r.rs, []snapshot.Entry{}
		}
	}
	var key, more []Result
	var listed []snapshot.Entry
	err := configured.With(ctx, sc, func(s storage.Store) error {
		entries, err := snapshot.List(ctx, s)
		if err != nil {
			return fmt.Errorf("list: %w", err)
		}
		listed = append([]snapshot.Entry{}, entries...) // not nil: listed, maybe empty
		if bs, ok := s.(*b2.Store); ok {
			// Before the probe: a lock the bucket cannot honour fails
			// the probe's write, and these lines say why.
			key = b2Key(ctx, bs, sc)
		}
		if ss, ok := s.(*s3.Store); ok {
			key = s3Lock(ctx, ss, sc)
		}
		locked, err := probe(ctx, s)
		if err != nil {
			return err
		}
		r.ok(fmt.Sprintf("listed %d snapshot(s); wrote, read back and deleted a test object%s", len(entries), locked))
		more = snapshots(entries)
		return nil
	})
	if err != nil {
		fix := storeFix(sc.Type)
		switch {
		case explain.StorageCap(err):
			fix = explain.StorageCapFix
		case sc.Lock != nil && (strings.Contains(err.Error(), "object lock cannot be applied") ||
			strings.Contains(err.Error(), "has no Object Lock, which storage.lock needs")):
			// The b2 store refuses to upload unlocked: the lines
			// below say what the bucket or the key lacks.
			fix = "make the bucket and the key fit storage.lock, as the lock lines below say, or remove storage.lock"
		}
		r.fail(err.Error(), fix)
		return append(r.rs, key...), nil
	}
	return append(append(r.rs, more...), key...), listed
}

// notYet reports a local store directory that does not exist yet, and
// whether this user may create it: the nearest existing parent must be a
// directory it may write and enter.
func notYet(r *results, path string) {
	abs, _ := filepath.Abs(path)
	parent := filepath.Dir(abs)
	for {
		if _, err := os.Stat(parent); err == nil || parent == filepath.Dir(parent) {
			break
		}
		parent = filepath.Dir(parent)
	}
	if err := unix.Access(parent, unix.W_OK|unix.X_OK); err != nil {
		r.fail(fmt.Sprintf("storage.path %s does not exist, and this user may not create it in %s: %v", abs, parent, err),
			"create the directory for the user mbackup runs as, or set storage.path to a directory it may write")
		return
	}
	r.warn(fmt.Sprintf("storage.path %s does not exist yet: the first mbackup backup creates it (in %s, which this user may write); nothing was listed or written", abs, parent),
		"run mbackup backup, or check storage.path if the store should already be there")
}

// storeFix is what to look at when a store of type typ cannot be used.
func storeFix(typ string) string {
	switch typ {
	case config.StorageB2:
		return "check storage.bucket, storage.key_id and storage.application_key_file (b2 key list shows the keys), " +
			"and that this host reaches api.backblazeb2.com"
	case config.StorageS3:
		return "check storage.endpoint, storage.region, storage.bucket, storage.access_key_id and storage.secret_access_key"
	case config.StorageLocal:
		return "storage.path must be a directory this user may write"
	}
	return "set storage.type to b2, s3 or local"
}

// snapshots warns about each snapshot whose manifest does not load or
// that is dated in the future, saying what to do.
func snapshots(entries []snapshot.Entry) []Result {
	var rs []Result
	for _, en := range entries {
		r := &results{what: "snapshot " + en.ID}
		switch {
		case en.Reason != "":
			r.warn(fmt.Sprintf("%s: %s; never deleted by prune, never restored by default", en.Status, en.Reason), en.Hint())
		case en.Future:
			r.warn(fmt.Sprintf("dated in the future (%s): a wrong clock on the backup host or a forged manifest; "+
				"never taken as the newest, nor counted by retention", en.Date().UTC().Format(time.RFC3339)),
				fmt.Sprintf("check the clock (timedatectl), then delete it by hand (%s%s/)", snapshot.Root, en.ID))
		}
		rs = append(rs, r.rs...)
	}
	return rs
}

// probe writes, reads back and deletes a small object under MarkerPrefix.
// The object is deleted whatever happens after it was written. Under
// Object Lock the deletion is refused, which is the lock at work: it
// returns how long the object stays, and no error.
func probe(ctx context.Context, s storage.Store) (locked string, err error) {
	var b [8]byte
	rand.Read(b[:])
	key, body := MarkerPrefix+hex.EncodeToString(b[:]), "mbackup check "+time.Now().UTC().Format(time.RFC3339)
	if _, err := s.Put(ctx, key, strings.NewReader(body)); err != nil {
		return "", fmt.Errorf("write %s: %w", key, err)
	}
	deleted := false
	defer func() {
		if !deleted {
			s.Delete(context.WithoutCancel(ctx), key)
		}
	}()
	rc, err := s.Get(ctx, key)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", key, err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != body {
		return "", fmt.Errorf("read %s back: got %d bytes (%v)", key, len(got), err)
	}
	err = s.Delete(ctx, key)
	deleted = err == nil
	var le *storage.LockedError
	if errors.As(err, &le) {
		deleted = true
		return fmt.Sprintf("; it stays, locked until %s: Object Lock works", le.Until.UTC().Format(time.RFC3339)), nil
	}
	if err != nil {
		return "", fmt.Errorf("delete %s: %w", key, err)
	}
	return "", nil
}

// b2Key reports whether the B2 key has the capabilities a backup needs,
// whether the bucket encrypts at rest, and what Object Lock protects
// (b2Lock): with storage.lock the key is checked for the lock instead.
func b2Key(ctx context.Context, s *b2.Store, sc config.Storage) []Result {
	key := &results{what: "storage b2 key"}
	a, err := s.Inspect(ctx)
	if err != nil {
		key.fail(err.Error(), storeFix(config.StorageB2))
		return key.rs
	}
	lock := b2Lock(a, sc, retention.Hides(s))
	if sc.Lock != nil {
		return append(lock, encryption(a)...)
	}
	if m := a.Missing(); len(m) > 0 {
		key.fail("lacks "+strings.Join(m, ", "), fmt.Sprintf("make a key with %s (b2 key create --bucket BUCKET NAME %s)",
			strings.Join(b2.Needed, ", "), strings.Join(b2.Needed, ",")))
	} else {
		key.ok("has " + strings.Join(b2.Needed, ", "))
	}
	return append(append(key.rs, encryption(a)...), lock...)
}

// encryption reports whether the bucket encrypts at rest.
func encryption(a b2.Access) []Result {
	enc := &results{what: "storage b2 encryption"}
	switch {
	case !a.EncryptionReadable:
		enc.warn("this key may not read the bucket's default encryption (readBucketEncryption); check it in the B2 web console", "")
	case a.Encryption == "":
		enc.warn("the bucket's default server-side encryption is off", "turn on SSE-B2 in its settings "+
			"(defence in depth: the artifacts are age-encrypted anyway)")
	default:
		enc.ok("bucket default encryption " + a.Encryption)
	}
	return enc.rs
}
