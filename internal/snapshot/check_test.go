package snapshot

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
)

func TestCheck(t *testing.T) {
	tk, id := newTaker(t)
	jobs := []Job{
		{Component: "postgres", Name: "a", Ext: ".dump", Produce: shell("head -c 300000 /dev/urandom")},
		{Component: "postgres", Name: "b", Ext: ".dump", Produce: shell("seq 1 100000")},
		{Component: "redis", Name: "c", Ext: ".rdb", Produce: shell("seq 1 1000")},
	}
	m, err := tk.Take(context.Background(), jobs)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(context.Background(), tk.Store, m); err != nil {
		t.Fatalf("Check without a key: %v", err)
	}
	if err := Check(context.Background(), tk.Store, m, id); err != nil {
		t.Fatalf("Check with the identity: %v", err)
	}
	other, _ := age.GenerateX25519Identity()
	if err := Check(context.Background(), tk.Store, m, other); err == nil || !strings.Contains(err.Error(), "identity did not match any of the recipients") {
		t.Errorf("Check with a wrong identity: %v", err)
	}

	get := func(key string) []byte {
		rc, _ := tk.Store.Get(context.Background(), key)
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		return b
	}
	// Truncate a, flip a byte of b, delete c: each is named, all are found.
	a, b := get(m.Artifacts[0].Key), get(m.Artifacts[1].Key)
	tk.Store.Put(context.Background(), m.Artifacts[0].Key, bytes.NewReader(a[:len(a)/2]))
	b[len(b)/2] ^= 0x40
	tk.Store.Put(context.Background(), m.Artifacts[1].Key, bytes.NewReader(b))
	tk.Store.Delete(context.Background(), m.Artifacts[2].Key)
	err = Check(context.Background(), tk.Store, m)
	for _, want := range []string{"a.dump.zst.age: stored size", "b.dump.zst.age: stored sha256 differs", "c.rdb.zst.age: local: get", "no such file"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check of damaged artifacts = %v; want %q", err, want)
		}
	}
	if err := Check(context.Background(), tk.Store, m, id); err == nil || !strings.Contains(err.Error(), "b.dump.zst.age") {
		t.Errorf("Check with the identity of damaged artifacts = %v", err)
	}
}
