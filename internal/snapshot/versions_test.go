package snapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	blazer "github.com/Backblaze/blazer/b2"

	"mbackup/internal/b2test"
	"mbackup/internal/sshsig"
	"mbackup/internal/storage"
	"mbackup/internal/storage/b2"
	"mbackup/internal/stream"
)

// versioned is a signed Taker on a b2 store over a lock-enabled bucket of
// the fake B2 server, and a blazer client with the same key for the
// attacks.
type versioned struct {
	tk     *Taker
	store  *b2.Store
	bucket *blazer.Bucket
	id     *age.X25519Identity
	signer *sshsig.Signer
}

func newVersioned(t *testing.T) *versioned {
	t.Helper()
	ctx := context.Background()
	srv := b2test.New(t)
	srv.CreateLockedBucket("backups", "governance", 30)
	s, err := b2.New(ctx, b2.Config{KeyID: srv.KeyID, AppKey: srv.AppKey, Bucket: "backups", Prefix: "mastodon/",
		APIBase: srv.URL, CallTimeout: 5 * time.Second, StallTimeout: 2 * time.Second, UploadRetries: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := blazer.NewClient(ctx, srv.KeyID, srv.AppKey, blazer.APIBase(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	bk, err := c.Bucket(ctx, "backups")
	if err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	sig := newSigner(t)
	return &versioned{
		tk: &Taker{Store: s, Recipients: []age.Recipient{id.Recipient()}, RecipientIDs: []string{id.Recipient().String()},
			Host: "test", Tool: "mbackup test", Signer: sig},
		store: s, bucket: bk, id: id, signer: sig,
	}
}

func (v *versioned) take(t *testing.T, at time.Time) *Manifest {
	t.Helper()
	v.tk.Now = func() time.Time { return at }
	m, err := v.tk.Take(context.Background(), []Job{
		{Component: "postgres", Name: "db", Ext: ".dump", Produce: shell("seq 1 20000")},
		{Component: "redis", Name: "main", Ext: ".rdb", Produce: shell("echo redis")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// hide hides key with the host's own key (b2_hide_file).
func (v *versioned) hide(t *testing.T, key string) {
	t.Helper()
	if err := v.bucket.Object("mastodon/" + key).Hide(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// put uploads a new version of key through the store.
func (v *versioned) put(t *testing.T, key string, data []byte) {
	t.Helper()
	if _, err := v.store.Put(context.Background(), key, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}

// forge overwrites m's artifacts with one tiny sealed file each and its
// manifest with one that describes them; signWith, when set, also signs
// it (the host's signing key taken with the host).
func (v *versioned) forge(t *testing.T, m *Manifest, signWith *sshsig.Signer) {
	t.Helper()
	var sealed bytes.Buffer
	w, err := stream.Seal(&sealed, v.id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "nothing")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	sums := w.Sums()
	f := *m
	f.Artifacts = nil
	for _, a := range m.Artifacts {
		v.put(t, a.Key, sealed.Bytes())
		a.Sums = sums
		f.Artifacts = append(f.Artifacts, a)
	}
	data, _ := json.Marshal(f)
	if signWith != nil {
		v.put(t, SignatureKey(m.ID), signWith.Sign(data))
	}
	v.put(t, ManifestKey(m.ID), data)
}

// restorable pins f's picked version and checks it in full.
func (v *versioned) restorable(t *testing.T, f *Found) *Manifest {
	t.Helper()
	ctx := context.Background()
	if f.Pick < 0 {
		t.Fatalf("%s: no version picked: %+v", f.ID, f.Manifests)
	}
	view, err := f.Pin(ctx, v.store, f.Pick)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Authenticate(ctx, view, f.ID, v.signer.PublicKey())
	if err != nil {
		t.Fatalf("%s: picked version does not authenticate: %v", f.ID, err)
	}
	if err := Check(ctx, view, m, v.id); err != nil {
		t.Fatalf("%s: picked version does not check: %v", f.ID, err)
	}
	return m
}

func TestFindHidden(t *testing.T) {
	ctx := context.Background()
	v := newVersioned(t)
	old := v.take(t, time.Now().Add(-48*time.Hour))
	m := v.take(t, time.Now().Add(-time.Hour))
	for _, key := range []string{ManifestKey(m.ID), SignatureKey(m.ID), m.Artifacts[0].Key} {
		v.hide(t, key)
	}
	if entries, err := List(ctx, v.store); err != nil || len(entries) != 2 || entries[0].Status != StatusIncomplete {
		t.Fatalf("List after the hide: %v %+v", err, entries)
	}
	all, err := FindAll(ctx, v.store, v.signer.PublicKey())
	if err != nil || len(all) != 2 {
		t.Fatalf("FindAll: %v, %d found", err, len(all))
	}
	f := all[0]
	if f.ID != m.ID || !f.Hidden || f.Overwritten || f.HiddenArtifacts != 2 || len(f.Manifests) != 2 || f.Pick != 1 ||
		f.Manifests[1].Signature != SigValid || f.AsStored() || len(f.Missing) != 0 {
		t.Errorf("hidden snapshot found as %+v", f)
	}
	if f.Manifests[1].RetainUntil.Before(time.Now().Add(29*24*time.Hour)) || f.Manifests[1].LockMode != "governance" {
		t.Errorf("retention not reported: %+v", f.Manifests[1].Version)
	}
	if got := v.restorable(t, f); got.ID != m.ID {
		t.Errorf("restored %s", got.ID)
	}
	if all[1].ID != old.ID || all[1].Hidden || !all[1].AsStored() {
		t.Errorf("untouched snapshot found as %+v", all[1])
	}
	s, err := SurveyVersions(ctx, v.store)
	if err != nil || len(s.Hidden) != 1 || s.Hidden[0] != m.ID || len(s.Overwritten) != 0 || len(s.Dates) != 2 {
		t.Errorf("SurveyVersions: %v %+v", err, s)
	}
}

func TestFindOverwritten(t *testing.T) {
	ctx := context.Background()
	v := newVersioned(t)
	forged := v.take(t, time.Now().Add(-3*time.Hour))
	signed := v.take(t, time.Now().Add(-2*time.Hour))
	v.forge(t, forged, nil)
	v.forge(t, signed, v.signer) // the attacker signs with the stolen key

	// The store as it stands: the forged manifest fails its signature, the
	// signed forgery verifies and checks (its artifacts are the tiny files).
	if _, err := Authenticate(ctx, v.store, forged.ID, v.signer.PublicKey()); !errors.Is(err, sshsig.ErrBadSignature) {
		t.Errorf("forged manifest: %v", err)
	}
	if m, err := Authenticate(ctx, v.store, signed.ID, v.signer.PublicKey()); err != nil || Check(ctx, v.store, m, v.id) != nil {
		t.Fatalf("the signed forgery should pass as stored (what versions defeat): %v", err)
	}

	for _, c := range []struct {
		m      *Manifest
		newest string
	}{{forged, SigInvalid}, {signed, SigValid}} {
		f, err := FindOne(ctx, v.store, c.m.ID, v.signer.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		if !f.Overwritten || f.Hidden || len(f.Manifests) != 2 || f.Pick != 1 || f.Manifests[0].Signature != c.newest ||
			f.AsStored() || f.Manifests[0].SHA256 == f.Manifests[1].SHA256 {
			t.Errorf("%s: found as %+v", c.m.ID, f)
		}
		got := v.restorable(t, f)
		if got.Artifacts[0].StoredSHA256 != c.m.Artifacts[0].StoredSHA256 {
			t.Errorf("%s: picked the forged manifest", c.m.ID)
		}
		i, err := f.Version(f.Manifests[0].ID)
		if err != nil || i != 0 {
			t.Fatalf("Version: %d %v", i, err)
		}
		// The newest version, picked by hand, is the forgery: verify
		// refuses it (signature) or reads the tiny files it names.
		view, err := f.Pin(ctx, v.store, 0)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Authenticate(ctx, view, f.ID, v.signer.PublicKey())
		if c.newest == SigInvalid && !errors.Is(err, sshsig.ErrBadSignature) {
			t.Errorf("%s: the forged version authenticated: %v", f.ID, err)
		}
		if c.newest == SigValid && (err != nil || m.Artifacts[0].StoredBytes == c.m.Artifacts[0].StoredBytes) {
			t.Errorf("%s: the signed forgery as pinned: %v", f.ID, err)
		}
	}
	s, err := SurveyVersions(ctx, v.store)
	if err != nil || len(s.Overwritten) != 2 || len(s.Hidden) != 0 {
		t.Errorf("SurveyVersions: %v %+v", err, s)
	}
}

// TestPinSameSize: an artifact overwritten by bytes of its own size is
// told apart by its stored SHA-256.
func TestPinSameSize(t *testing.T) {
	ctx := context.Background()
	v := newVersioned(t)
	m := v.take(t, time.Now().Add(-time.Hour))
	a := m.Artifacts[0]
	v.put(t, a.Key, bytes.Repeat([]byte{'x'}, int(a.StoredBytes)))
	f, err := FindOne(ctx, v.store, m.ID, v.signer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if f.Pick != 0 || f.Overwritten || f.AsStored() || f.RewrittenArtifacts != 1 || len(f.Missing) != 0 {
		t.Errorf("found as %+v", f)
	}
	view, err := f.Pin(ctx, v.store, f.Pick)
	if err != nil {
		t.Fatal(err)
	}
	ver, ok := view.Pinned(a.Key)
	if !ok {
		t.Fatal("artifact not pinned")
	}
	rc, err := view.Get(ctx, a.Key)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	io.Copy(h, rc)
	rc.Close()
	if hex.EncodeToString(h.Sum(nil)) != a.StoredSHA256 {
		t.Errorf("pinned version %s is not the original", ver.ID)
	}
	if err := Check(ctx, v.store, m, v.id); err == nil {
		t.Error("the store as it stands should fail: its artifact was overwritten")
	}
	v.restorable(t, f)
}

func TestViewReadOnly(t *testing.T) {
	ctx := context.Background()
	v := newVersioned(t)
	m := v.take(t, time.Now().Add(-time.Hour))
	f, err := FindOne(ctx, v.store, m.ID, v.signer.PublicKey())
	if err != nil || !f.AsStored() {
		t.Fatalf("FindOne: %v %+v", err, f)
	}
	view, err := f.Pin(ctx, v.store, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := view.Put(ctx, "x", strings.NewReader("x")); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Put: %v", err)
	}
	if err := view.Delete(ctx, ManifestKey(m.ID)); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Delete: %v", err)
	}
	if _, err := view.Get(ctx, "snapshots/other"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Get of a key not pinned: %v", err)
	}
	if _, err := view.Stat(ctx, "snapshots/other"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat of a key not pinned: %v", err)
	}
	var keys []string
	view.List(ctx, Root, func(o storage.Object) error { keys = append(keys, o.Key); return nil })
	if len(keys) != 4 || keys[0] >= keys[1] || keys[2] >= keys[3] {
		t.Errorf("List: %q", keys)
	}
	if o, err := view.Stat(ctx, m.Artifacts[0].Key); err != nil || o.Size != m.Artifacts[0].StoredBytes {
		t.Errorf("Stat: %+v %v", o, err)
	}
	stop := errors.New("stop")
	if err := view.List(ctx, Root, func(storage.Object) error { return stop }); err != stop {
		t.Errorf("List does not stop at its callback's error: %v", err)
	}
	if _, err := FindOne(ctx, v.store, "20200101T000000Z-aaaaaa", nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("FindOne of a missing id: %v", err)
	}
	if _, err := f.Version("nope"); !errors.Is(err, ErrVersionNotFound) {
		t.Errorf("Version of an unknown id: %v", err)
	}
}

// TestFindUnsigned: with a pinned signer, an unsigned snapshot has no
// version to pick; without one, its only version is picked.
func TestFindUnsigned(t *testing.T) {
	ctx := context.Background()
	v := newVersioned(t)
	v.tk.Signer = nil
	m := v.take(t, time.Now().Add(-time.Hour))
	f, err := FindOne(ctx, v.store, m.ID, v.signer.PublicKey())
	if err != nil || f.Pick != -1 || f.Picked() != nil || f.Manifests[0].Signature != SigUnsigned {
		t.Errorf("unsigned, signer pinned: %v %+v", err, f)
	}
	if _, err := f.Pin(ctx, v.store, 0); err != nil {
		t.Errorf("Pin by hand: %v", err)
	}
	f, err = FindOne(ctx, v.store, m.ID, nil)
	if err != nil || f.Pick != 0 || f.Manifests[0].Signature != SigUnchecked {
		t.Errorf("unsigned, no signer: %v %+v", err, f)
	}
	// A manifest version that does not load is never picked.
	v.put(t, ManifestKey(m.ID), []byte("{not json"))
	f, err = FindOne(ctx, v.store, m.ID, nil)
	if err != nil || f.Pick != 1 || f.Manifests[0].Problem == "" || !f.Overwritten {
		t.Errorf("a damaged newest version: %v %+v", err, f)
	}
	if _, err := f.Pin(ctx, v.store, 0); err == nil {
		t.Error("Pin of a version that does not load")
	}
}

// TestFindSameBytesTwice: a manifest uploaded twice with the same bytes (a
// retried upload) is neither overwritten nor a reason to read versions.
func TestFindSameBytesTwice(t *testing.T) {
	ctx := context.Background()
	v := newVersioned(t)
	m := v.take(t, time.Now().Add(-time.Hour))
	data, err := readAll(ctx, v.store, ManifestKey(m.ID), maxManifest)
	if err != nil {
		t.Fatal(err)
	}
	v.put(t, ManifestKey(m.ID), data)
	f, err := FindOne(ctx, v.store, m.ID, v.signer.PublicKey())
	if err != nil || f.Overwritten || len(f.Manifests) != 2 || f.Pick != 1 || !f.AsStored() {
		t.Errorf("found as %+v, %v", f, err)
	}
	s, err := SurveyVersions(ctx, v.store)
	if err != nil || len(s.Overwritten) != 1 {
		t.Errorf("SurveyVersions counts uploaded versions, not bytes: %+v %v", s, err)
	}
}
