package b2

import (
	"context"
	"slices"
	"strings"
	"testing"
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
