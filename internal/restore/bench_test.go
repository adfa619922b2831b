package restore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"filippo.io/age"

	"mbackup/internal/snapshot"
	"mbackup/internal/storage/local"
	"mbackup/internal/stream"
)

// BenchmarkVerify measures the preflight's full read of one 64 MiB
// artifact in a local store: a database dump of random bytes, whose
// stored bytes are hashed, and MySQL SQL (rows of random hex), which is
// decrypted, decompressed and scanned as well. MB/s are of plaintext.
func BenchmarkVerify(b *testing.B) {
	dir := b.TempDir()
	s, err := local.New(dir)
	if err != nil {
		b.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	random := make([]byte, 64<<20)
	rand.Read(random)
	var sql bytes.Buffer
	for i := 0; sql.Len() < 64<<20; i += 1000 {
		sql.WriteString("INSERT INTO t VALUES (1,'" + hex.EncodeToString(random[i:i+1000]) + "');\n")
	}
	os.MkdirAll(filepath.Join(dir, "x"), 0o700)
	for _, c := range []struct {
		name, component string
		plain           []byte
	}{{"dump hashed", "postgres", random}, {"sql decrypted+scanned", "mysql", sql.Bytes()}} {
		var sealed bytes.Buffer
		w, _ := stream.Seal(&sealed, id.Recipient())
		w.Write(c.plain)
		w.Close()
		key := "x/" + c.component + ".zst.age"
		os.WriteFile(filepath.Join(dir, key), sealed.Bytes(), 0o600)
		a := snapshot.Artifact{Key: key, Component: c.component, Name: "db", Sums: w.Sums()}
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.plain)))
			for b.Loop() {
				if _, err := verify(context.Background(), s, a, []age.Identity{id}, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
