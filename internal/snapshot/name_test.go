package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"mbackup/internal/artifact"
	"mbackup/internal/storage"
)

func TestEncodeName(t *testing.T) {
	unicode := strings.Repeat("é", 31) + "x" // 63 bytes
	cases := map[string]string{
		"mastodon_production":       "mastodon_production",
		"writefreely":               "writefreely",
		"main":                      "main",
		"a-b_C9":                    "a-b_C9",
		"zz/../mastodon_production": "zz%2F%2E%2E%2Fmastodon_production",
		"../../../escape":           "%2E%2E%2F%2E%2E%2F%2E%2E%2Fescape",
		"/etc/passwd":               "%2Fetc%2Fpasswd",
		"etc/passwd":                "etc%2Fpasswd",
		`a\b`:                       "a%5Cb",
		".hidden":                   "%2Ehidden",
		"..":                        "%2E%2E",
		"100%":                      "100%25",
		"%2F":                       "%252F",
		"with space":                "with%20space",
		"":                          "",
		unicode:                     strings.Repeat("%C3%A9", 31) + "x",
	}
	keys := map[string]string{}
	for name, want := range cases {
		got := artifact.EncodeName(name)
		if got != want {
			t.Errorf("EncodeName(%q) = %q, want %q", name, got, want)
		}
		if back, err := artifact.DecodeName(got); err != nil || back != name {
			t.Errorf("DecodeName(%q) = %q, %v; want %q", got, back, err, name)
		}
		if strings.ContainsAny(got, `/\.`) {
			t.Errorf("EncodeName(%q) = %q holds a separator or a dot", name, got)
		}
		id := "20261122T120000Z-1a2b3c"
		key := ArtifactKey(id, "postgres", name, ".dump")
		if name != "" && !strings.HasPrefix(key, "snapshots/"+id+"/postgres/") || path.Clean(key) != key {
			t.Errorf("ArtifactKey for %q = %q: not in its own directory", name, key)
		}
		if err := storage.ValidKey(key); err != nil {
			t.Errorf("ArtifactKey for %q: %v", name, err)
		}
		if other, dup := keys[key]; dup {
			t.Errorf("names %q and %q share the key %s", name, other, key)
		}
		keys[key] = name
	}
	if !utf8.ValidString(unicode) || len(unicode) != 63 {
		t.Fatalf("test name is %d bytes", len(unicode))
	}
}

func TestTakeRefusesRepeatedKeys(t *testing.T) {
	tk, _ := newTaker(t)
	jobs := []Job{
		{Component: "postgres", Name: "mastodon_production", Ext: ".dump", Produce: shell("echo production")},
		{Component: "postgres", Name: "mastodon_production", Ext: ".dump", Produce: shell("echo other")},
	}
	m, err := tk.Take(context.Background(), jobs)
	if err == nil || m != nil || !strings.Contains(err.Error(), "nothing committed") || !strings.Contains(err.Error(), "also another artifact's") {
		t.Fatalf("Take = %+v, %v; want a refusal", m, err)
	}
	t.Log(err)
	entries, err := List(context.Background(), tk.Store)
	if err != nil || len(entries) != 1 || entries[0].Status != StatusIncomplete {
		t.Fatalf("List = %+v, %v; want one incomplete run", entries, err)
	}
	if _, err := tk.Store.Stat(context.Background(), ManifestKey(entries[0].ID)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("manifest committed: %v", err)
	}
}

func TestCheckKeys(t *testing.T) {
	const id = "20261122T120000Z-1a2b3c"
	dir := "snapshots/" + id + "/"
	for keys, want := range map[string]string{
		dir + "postgres/a.dump.zst.age," + dir + "postgres/b.dump.zst.age": "",
		dir + "postgres/a.dump.zst.age," + dir + "postgres/a.dump.zst.age": "also another artifact's",
		"snapshots/20261122T110000Z-000000/postgres/a.dump.zst.age":        "is outside " + dir,
		dir + "../20261122T110000Z-000000/postgres/a.dump.zst.age":         "dot segment",
		dir + "postgres/a\\b.dump.zst.age":                                 "backslash",
		"escape.zst.age":                                                   "outside",
		dir + "manifest.json":                                              "is the manifest's",
		dir + "postgres//a.dump.zst.age":                                   "empty path segment",
	} {
		m := &Manifest{ID: id}
		for _, k := range strings.Split(keys, ",") {
			m.Artifacts = append(m.Artifacts, Artifact{Key: k, Component: "postgres", Name: "a"})
		}
		err := CheckKeys(m)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckKeys(%s) = %v; want %q", keys, err, want)
		}
	}
}

// TestListUnreadable puts an invalid manifest, a newer format's, and ones
// whose keys leave their directory or repeat beside a good snapshot: List
// returns each with its status and reason, and the good one as before.
func TestListUnreadable(t *testing.T) {
	tk, _ := newTaker(t)
	ctx := context.Background()
	good, err := tk.Take(ctx, []Job{{Component: "redis", Name: "main", Ext: ".rdb", Produce: shell("echo ok")}})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Hour)
	bad := map[string]string{}
	add := func(doc func(id string) string, status, reason string) {
		id := NewID(base.Add(time.Duration(len(bad)) * time.Minute))
		if _, err := tk.Store.Put(ctx, ArtifactKey(id, "redis", "main", ".rdb"), strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := tk.Store.Put(ctx, ManifestKey(id), strings.NewReader(doc(id))); err != nil {
			t.Fatal(err)
		}
		bad[id] = status + "|" + reason
	}
	add(func(id string) string { return `{"format": 1, "id": "` + id + `", "sta` }, StatusUnreadable, "unexpected end of JSON input")
	add(func(id string) string { return `{"format": 2, "id": "` + id + `", "status": "complete"}` }, StatusNewerFormat, "format 2 is newer")
	add(func(id string) string {
		return fmt.Sprintf(`{"format": 1, "id": %q, "status": "complete", "artifacts": [{"key": %q}]}`, id,
			ArtifactKey(good.ID, "redis", "main", ".rdb"))
	}, StatusUnreadable, "is outside")
	add(func(id string) string {
		k := ArtifactKey(id, "redis", "main", ".rdb")
		return fmt.Sprintf(`{"format": 1, "id": %q, "status": "complete", "artifacts": [{"key": %q}, {"key": %q}]}`, id, k, k)
	}, StatusUnreadable, "also another artifact's")
	entries, err := List(ctx, tk.Store)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(entries) != len(bad)+1 {
		t.Fatalf("%d entries, want %d", len(entries), len(bad)+1)
	}
	for _, e := range entries {
		if e.ID == good.ID {
			if e.Status != StatusComplete || e.Manifest == nil || e.Reason != "" {
				t.Errorf("good snapshot listed as %+v", e)
			}
			continue
		}
		status, reason, _ := strings.Cut(bad[e.ID], "|")
		if e.Status != status || e.Manifest != nil || !strings.Contains(e.Reason, reason) || len(e.Keys) != 2 {
			t.Errorf("%s: %s (%s), want %s (%s)", e.ID, e.Status, e.Reason, status, reason)
		}
	}
	if n, ok := NewestGood(entries, time.Now()); !ok || n.ID != good.ID {
		t.Errorf("NewestGood = %s, %v; want %s", n.ID, ok, good.ID)
	}
}

// TestFutureDated takes a snapshot with a clock a year ahead beside one
// with the right clock: the first is flagged and never the newest good.
func TestFutureDated(t *testing.T) {
	tk, _ := newTaker(t)
	ctx := context.Background()
	job := []Job{{Component: "redis", Name: "main", Ext: ".rdb", Produce: shell("echo ok")}}
	real, err := tk.Take(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	ahead := time.Now().AddDate(1, 0, 0)
	tk.Now = func() time.Time { return ahead }
	future, err := tk.Take(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := List(ctx, tk.Store)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].ID != future.ID || !entries[0].Future || entries[1].Future {
		t.Fatalf("entries %+v", entries)
	}
	if n, ok := NewestGood(entries, time.Now()); !ok || n.ID != real.ID {
		t.Errorf("NewestGood = %s, %v; want %s", n.ID, ok, real.ID)
	}
	if n, ok := NewestGood(entries[:1], time.Now()); ok {
		t.Errorf("NewestGood of the future snapshot alone = %s", n.ID)
	}
	// A forged manifest: an id of today, a start a year ahead.
	forged := *real
	forged.Started = ahead
	e := Entry{ID: real.ID, Status: StatusComplete, Manifest: &forged}
	if !e.FutureAt(time.Now()) || e.Good(time.Now()) {
		t.Errorf("a manifest started a year ahead is not future-dated")
	}
	// Half an hour ahead is within FutureSkew: a clock a little fast.
	e = Entry{ID: NewID(time.Now().Add(30 * time.Minute)), Status: StatusComplete, Manifest: real}
	if e.FutureAt(time.Now()) {
		t.Errorf("half an hour ahead taken for the future")
	}
}

// TestOldKeysLoad: a format-1 manifest written before names were encoded
// holds the name verbatim in its key ("my db.v2"); it loads, and Check
// reads the artifact at the key the manifest holds.
func TestOldKeysLoad(t *testing.T) {
	tk, id := newTaker(t)
	ctx := context.Background()
	m, err := tk.Take(ctx, []Job{{Component: "postgres", Name: "my db.v2", Ext: ".dump", Produce: shell("seq 1 1000")}})
	if err != nil {
		t.Fatal(err)
	}
	a := &m.Artifacts[0]
	if a.Key != "snapshots/"+m.ID+"/postgres/my%20db%2Ev2.dump.zst.age" {
		t.Fatalf("key %s", a.Key)
	}
	old := "snapshots/" + m.ID + "/postgres/my db.v2.dump.zst.age"
	rc, err := tk.Store.Get(ctx, a.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Store.Put(ctx, old, rc); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if err := tk.Store.Delete(ctx, a.Key); err != nil {
		t.Fatal(err)
	}
	a.Key = old
	if err := tk.commit(ctx, m); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(ctx, tk.Store, m.ID)
	if err != nil || loaded.Artifacts[0].Key != old {
		t.Fatalf("Load = %+v, %v", loaded, err)
	}
	if err := Check(ctx, tk.Store, loaded, id); err != nil {
		t.Errorf("Check of the old key: %v", err)
	}
}
