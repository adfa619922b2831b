package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	blazer "github.com/Backblaze/blazer/b2"

	"mbackup/internal/b2test"
)

// TestVersionsRestore: a real backup into a lock-enabled bucket, every
// file then hidden with the host's key: restore ID brings the database
// back from the versions kept, saying so on standard error; --version
// picks a manifest version by hand and a forged one is refused by its
// signature; list --all-versions --json tells all of it.
func TestVersionsRestore(t *testing.T) {
	ctx := context.Background()
	maria.Exec(t, "", "CREATE DATABASE versions_blog")
	maria.Exec(t, "versions_blog", "CREATE TABLE posts (id int PRIMARY KEY); INSERT INTO posts VALUES (1), (2), (3)")
	srv := b2test.New(t)
	srv.CreateLockedBucket("backups", "governance", 15)
	srv.RestrictKey("backups", hostCaps...)
	dir, cfg := setup(t, "  databases: [postgres]\n")
	lockedB2(t, srv, dir, cfg)
	if code, out, errOut := mbackup(t, "--config", cfg, "backup", "--only", "mysql"); code != exitOK {
		t.Fatalf("backup exited %d:\n%s%s", code, out, errOut)
	}
	_, out, _ := mbackup(t, "--config", cfg, "list", "--json")
	var listed []listEntry
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 1 {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	id := listed[0].ID

	c, err := blazer.NewClient(ctx, srv.KeyID, srv.AppKey, blazer.APIBase(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	bk, err := c.Bucket(ctx, "backups")
	if err != nil {
		t.Fatal(err)
	}
	it := bk.List(ctx)
	for it.Next() {
		if err := it.Object().Hide(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if it.Err() != nil {
		t.Fatal(it.Err())
	}

	if code, _, errOut := mbackup(t, "--config", cfg, "verify"); code == exitOK || !strings.Contains(errOut, "mbackup list --all-versions") {
		t.Errorf("verify of the newest, every file hidden, exited %d:\n%s", code, errOut)
	}
	var st statusJSON
	keys, _ := jsonDoc(t, exitOK, &st, "--config", cfg, "status", "--json")
	if st.Versions == nil || len(st.Versions.Hidden) != 1 || st.Versions.Hidden[0] != id || len(st.Versions.Overwritten) != 0 {
		t.Errorf("status --json versions: %+v", st.Versions)
	}
	checkKeys(t, "status --json", keys, statusKeys, true)
	t.Setenv("MYSQL_PWD", maria.Password)
	restore := []string{"--config", cfg, "restore", id, "--yes", "-i", filepath.Join(dir, "id.txt"), "--staging", t.TempDir(),
		"--mysql-host", maria.Host, "--mysql-port", fmt.Sprint(maria.Port), "--mysql-user", maria.User, "--only", "mysql/versions_blog"}
	code, out, errOut := mbackup(t, append(restore, "--as", "versions_blog_hidden")...)
	if code != exitOK {
		t.Fatalf("restore of the hidden snapshot exited %d:\n%s%s", code, out, errOut)
	}
	t.Logf("restore of the hidden snapshot, standard error:\n%s", errOut)
	for _, want := range []string{"WARNING: snapshot " + id + ": its manifest is hidden", "the oldest version that verifies",
		"locked until", "mbackup list --all-versions"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("restore said no %q:\n%s", want, errOut)
		}
	}
	if got := maria.Query(t, "versions_blog_hidden", "SELECT count(*) FROM posts"); got != "3" {
		t.Errorf("restored posts: %s rows", got)
	}

	// A forged manifest over the hidden one: listed, and refused when
	// picked by hand.
	if code, out, errOut := mbackup(t, "--config", cfg, "list", "--all-versions", "--json"); code != exitOK {
		t.Fatalf("list --all-versions exited %d:\n%s%s", code, out, errOut)
	}
	w := bk.Object("snapshots/" + id + "/manifest.json").NewWriter(ctx)
	fmt.Fprintf(w, `{"format": 1, "id": %q, "status": "complete", "artifacts": []}`, id)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var doc versionsDoc
	keys, _ = jsonDoc(t, exitOK, &doc, "--config", cfg, "list", "--all-versions", "--json")
	checkKeys(t, "list --all-versions --json", keys, versionsKeys, false)
	if len(doc.Snapshots) != 1 {
		t.Fatalf("list --all-versions --json: %+v", doc)
	}
	raw, _ := json.Marshal(doc)
	out = string(raw)
	en := doc.Snapshots[0]
	if en.ID != id || en.Hidden || !en.Overwritten || en.ForgedVersions != 1 || !en.Restorable || len(en.Versions) != 3 ||
		en.UseVersion != en.Versions[2].VersionID || en.Versions[0].Signature != "invalid" || !en.Versions[1].Hidden ||
		en.Versions[2].Signature != "valid" || en.Versions[2].RetainUntil == nil || en.HiddenFiles == 0 || !strings.HasPrefix(doc.Signer, "SHA256:") {
		t.Errorf("list --all-versions --json:\n%s", out)
	}
	code, _, errOut = mbackup(t, append(restore, "--as", "versions_blog_forged", "--version", en.Versions[0].VersionID)...)
	if code == exitOK || !strings.Contains(errOut, "signature") {
		t.Errorf("restore --version of the forged manifest exited %d:\n%s", code, errOut)
	}
	code, _, errOut = mbackup(t, append(restore, "--version", "4_nonesuch")...)
	if code == exitOK || !strings.Contains(errOut, "no such version of the manifest") || !strings.Contains(errOut, en.Versions[2].VersionID) {
		t.Errorf("restore --version of no version exited %d:\n%s", code, errOut)
	}
	code, out, errOut = mbackup(t, "--config", cfg, "verify", id, "--version", en.UseVersion)
	if code != exitOK || !strings.Contains(errOut, "picked with --version") || !strings.Contains(out, id+": complete") {
		t.Errorf("verify --version exited %d:\n%s%s", code, out, errOut)
	}
	_, text, _ := mbackup(t, "--config", cfg, "list", "--all-versions")
	t.Logf("list --all-versions:\n%s", text)
	for _, want := range []string{"OVERWRITTEN, 1 FORGED", "└ used", "└ newest", "signature invalid", "hide marker",
		"1 snapshot has a manifest version that fails its signature"} {
		if !strings.Contains(text, want) {
			t.Errorf("list --all-versions printed no %q:\n%s", want, text)
		}
	}
}

var versionsKeys = []string{"snapshots", "snapshots[].id", "snapshots[].time", "snapshots[].hidden", "snapshots[].overwritten",
	"snapshots[].forged_versions", "snapshots[].hidden_files", "snapshots[].rewritten_files", "snapshots[].use_version",
	"snapshots[].status", "snapshots[].missing_artifacts", "snapshots[].restorable", "snapshots[].versions",
	"snapshots[].versions[].version_id", "snapshots[].versions[].uploaded", "snapshots[].versions[].hidden",
	"snapshots[].versions[].bytes", "snapshots[].versions[].sha256", "snapshots[].versions[].signature",
	"snapshots[].versions[].error", "snapshots[].versions[].retain_until", "snapshots[].versions[].lock_mode",
	"signer", "summary"}

// TestVersionsUsage: --version and --all-versions on a store that keeps
// no versions, and --version without an id, are usage errors.
func TestVersionsUsage(t *testing.T) {
	dir, cfg := setup(t, "  databases: [postgres]\n")
	if code, out, errOut := mbackup(t, "--config", cfg, "backup", "--only", "redis"); code != exitOK {
		t.Fatalf("backup exited %d:\n%s%s", code, out, errOut)
	}
	_, out, _ := mbackup(t, "--config", cfg, "list", "--json")
	var listed []listEntry
	json.Unmarshal([]byte(out), &listed)
	if len(listed) != 1 {
		t.Fatalf("list --json:\n%s", out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"list", "--all-versions"}, "a local store keeps no versions"},
		{[]string{"verify", listed[0].ID, "--version", "v1"}, "keeps no versions"},
		{[]string{"verify", "--version", "v1"}, "needs the snapshot ID"},
		{[]string{"restore", "--yes", "-i", filepath.Join(dir, "id.txt"), "--version", "v1"}, "needs the snapshot ID"},
		{[]string{"restore", listed[0].ID, "--yes", "-i", filepath.Join(dir, "id.txt"), "--version", "v1"}, "keeps no versions"},
	} {
		code, _, errOut := mbackup(t, append([]string{"--config", cfg}, c.args...)...)
		if code != exitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("%q exited %d:\n%s", c.args, code, errOut)
		}
	}
	// On a store that keeps no versions, nothing changes for an id.
	if code, out, errOut := mbackup(t, "--config", cfg, "verify", listed[0].ID); code != exitOK || errOut != "" {
		t.Errorf("verify exited %d:\n%s%s", code, out, errOut)
	}
}

// TestVersionsDrill: drill ID of a snapshot whose files were all hidden
// restores it from its versions, saying so, and records the drill.
func TestVersionsDrill(t *testing.T) {
	ctx := context.Background()
	redis.Do(t, "CONFIG", "SET", "repl-diskless-sync-delay", "0")
	redis.Do(t, "SET", "versions-drill", "v")
	srv := b2test.New(t)
	srv.CreateLockedBucket("backups", "governance", 15)
	srv.RestrictKey("backups", hostCaps...)
	dir, cfg := setup(t, "  databases: [postgres]\n")
	lockedB2(t, srv, dir, cfg)
	if code, out, errOut := mbackup(t, "--config", cfg, "backup", "--only", "redis"); code != exitOK {
		t.Fatalf("backup exited %d:\n%s%s", code, out, errOut)
	}
	_, out, _ := mbackup(t, "--config", cfg, "list", "--json")
	var listed []listEntry
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 1 {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	c, err := blazer.NewClient(ctx, srv.KeyID, srv.AppKey, blazer.APIBase(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	bk, err := c.Bucket(ctx, "backups")
	if err != nil {
		t.Fatal(err)
	}
	for it := bk.List(ctx); it.Next(); {
		if err := it.Object().Hide(ctx); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := mbackup(t, "--config", cfg, "drill", listed[0].ID, "-i", filepath.Join(dir, "id.txt"), "--dir", t.TempDir())
	if code != exitOK || !strings.Contains(out, "drill: ok") || !strings.Contains(errOut, "WARNING: snapshot "+listed[0].ID+": its manifest is hidden") {
		t.Errorf("drill of the hidden snapshot exited %d:\n%s\n%s", code, out, lastLines(errOut, 20))
	}
}
