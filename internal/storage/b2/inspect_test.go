package b2

import (
	"context"
	"slices"
	"strings"
	"testing"

	"mbackup/internal/b2test"
)

// TestInspect reads a key's capabilities and the bucket's encryption as
// the v3 API returns them, for a full key and a restricted one.
func TestInspect(t *testing.T) {
	srv, s := newStore(t, nil)
	ctx := context.Background()
	a, err := s.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Missing()) != 0 || a.Encryption != "" || !a.EncryptionReadable || a.KeyBucket != "" {
		t.Errorf("full key, no encryption: %+v", a)
	}
	srv.SetBucketEncryption(testBucket, "SSE-B2")
	if a, err = s.Inspect(ctx); err != nil || a.Encryption != "SSE-B2" {
		t.Errorf("with SSE-B2: %+v, %v", a, err)
	}
	srv.RestrictKey(testBucket, "listFiles", "readFiles", "writeFiles")
	if a, err = s.Inspect(ctx); err != nil || !slices.Equal(a.Missing(), []string{"deleteFiles"}) ||
		a.EncryptionReadable || a.Encryption != "" || a.KeyBucket != testBucket {
		t.Errorf("restricted key: %+v, %v", a, err)
	}
	cfg := s.cfg
	cfg.AppKey = "wrong-app-key-sentinel"
	bad := &Store{cfg: cfg, transport: s.transport}
	if _, err := bad.Inspect(ctx); err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "sentinel") {
		t.Errorf("a wrong key: %v", err)
	}
}

// TestInspectLock reads the bucket's file lock, default retention and
// lifecycle rules, and whether the key may read them.
func TestInspectLock(t *testing.T) {
	srv := b2test.New(t)
	srv.CreateLockedBucket(testBucket, b2test.Compliance, 30)
	seven := 7
	srv.SetLifecycleRules(testBucket, b2test.LifecycleRule{Prefix: "pfx/", DaysFromHidingToDeleting: &seven})
	s := openStore(t, srv, nil)
	ctx := context.Background()
	a, err := s.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []LifecycleRule{{Prefix: "pfx/", DaysFromHidingToDeleting: 7}}
	if !a.FileLockReadable || !a.FileLockEnabled || a.DefaultMode != Compliance || a.DefaultDays != 30 || !slices.Equal(a.Lifecycle, want) {
		t.Errorf("locked bucket: %+v", a)
	}
	if m := a.MissingFor(Lock{Mode: Compliance, Days: 30}); len(m) != 0 {
		t.Errorf("a full key misses %v", m)
	}
	srv.RestrictKey(testBucket, "listFiles", "readFiles", "writeFiles")
	if a, err = s.Inspect(ctx); err != nil || a.FileLockReadable || a.FileLockEnabled || a.DefaultMode != "" {
		t.Errorf("key without readBucketRetentions: %+v, %v", a, err)
	}
	if m := a.MissingFor(Lock{Mode: Governance, Days: 1}); !slices.Equal(m, []string{"readFileRetentions", "writeFileRetentions"}) {
		t.Errorf("MissingFor a hiding key = %v", m)
	}
	if m := a.MissingFor(Lock{}); len(m) != 0 {
		t.Errorf("MissingFor no lock, hiding key = %v", m)
	}
}

func TestNeededFor(t *testing.T) {
	for _, c := range []struct {
		l    Lock
		hide bool
		want string
	}{
		{Lock{}, false, "listFiles readFiles writeFiles deleteFiles"},
		{Lock{}, true, "listFiles readFiles writeFiles"},
		{Lock{Mode: Governance, Days: 3}, false, "listFiles readFiles writeFiles deleteFiles readFileRetentions writeFileRetentions"},
		{Lock{Mode: Compliance, Days: 3}, true, "listFiles readFiles writeFiles readFileRetentions writeFileRetentions"},
	} {
		if got := strings.Join(NeededFor(c.l, c.hide), " "); got != c.want {
			t.Errorf("NeededFor(%+v, %v) = %s; want %s", c.l, c.hide, got, c.want)
		}
		if slices.Contains(NeededFor(c.l, c.hide), "bypassGovernance") {
			t.Errorf("NeededFor(%+v) asks for bypassGovernance", c.l)
		}
	}
}
