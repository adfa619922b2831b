package mysqldump

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mbackup/internal/dump"
)

// optionDirs lists the option file directories under the temporary
// directory, to show that none is left behind.
func optionDirs(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(os.TempDir(), "mbackup-mysql-*"))
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

func TestDumpErrors(t *testing.T) {
	ensureBlog(t)
	wrong := config()
	wrong.Password = "not-the-password-3141"
	noUser := config()
	noUser.User = "nobody"
	cases := []struct {
		name, db string
		cfg      Config
		want     string
	}{
		{"wrong password", "blog", wrong, "mysqldump: dump blog: connect: "},
		{"unknown user", "blog", noUser, "Access denied for user 'nobody'"},
		{"missing database", "nope", config(), `mysqldump: dump nope: database "nope" does not exist`},
		{"empty name", "", config(), "empty database name"},
		{"unreachable", "blog", Config{Host: "127.0.0.1", Port: 1, Password: "pw-1618"}, "Can't connect"},
		{"missing dumper", "blog", Config{Dumper: "/nonexistent/mariadb-dump"}, "apt-get install -y mariadb-client"},
	}
	before := optionDirs(t)
	for _, c := range cases {
		var out bytes.Buffer
		_, err := Dump(context.Background(), c.cfg, c.db, &out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Dump = %v; want %q", c.name, err, c.want)
			continue
		}
		if (c.cfg.Password != "" && strings.Contains(err.Error(), c.cfg.Password)) || out.Len() > 0 {
			t.Errorf("%s: password in %q, or %d bytes written", c.name, err, out.Len())
		}
		t.Logf("%s: %v", c.name, err)
	}
	if after := optionDirs(t); len(after) != len(before) {
		t.Errorf("option directories left behind: %q (before: %q)", after, before)
	}
}

// TestDumpNastyPassword logs in with a password holding the characters an
// option file treats specially.
func TestDumpNastyPassword(t *testing.T) {
	ensureBlog(t)
	const password = `p"a#s's\w;rd x ` + "\t"
	db.Exec(t, "", `CREATE USER IF NOT EXISTS 'nasty'@'%' IDENTIFIED BY 'p"a#s\'s\\w;rd x `+"\t"+`';
		GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON blog.* TO 'nasty'@'%'`)
	cfg := Config{Host: db.Host, Port: db.Port, User: "nasty", Password: password}
	n := 0
	info, err := Dump(context.Background(), cfg, "blog", writerFunc(func(p []byte) (int, error) {
		n += len(p)
		return len(p), nil
	}))
	if err != nil || len(info.Tables) != 2 || n < 1<<20 {
		t.Fatalf("Dump = %v, %d bytes, %v", info, n, err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestDumpKilled(t *testing.T) {
	ensureBlog(t)
	_, err := Dump(context.Background(), config(), "blog", &killDumper{t: t})
	if err == nil || !strings.Contains(err.Error(), "mysqldump: dump blog: ") || !strings.Contains(err.Error(), "signal: killed") {
		t.Fatalf("Dump = %v", err)
	}
}

func TestDumpWriteFails(t *testing.T) {
	ensureBlog(t)
	boom := errors.New("upload gone")
	_, err := Dump(context.Background(), config(), "blog", writerFunc(func([]byte) (int, error) { return 0, boom }))
	if !errors.Is(err, boom) {
		t.Fatalf("Dump = %v", err)
	}
}

func TestDumpCancelled(t *testing.T) {
	ensureBlog(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := Dump(ctx, config(), "blog", writerFunc(func(p []byte) (int, error) {
		cancel()
		return len(p), nil
	}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Dump = %v", err)
	}
}

// TestDumpNotesChanges shows that rows written during the dump are named
// in the notes: the writer inserts a row while the dump runs.
func TestDumpNotesChanges(t *testing.T) {
	ensureBlog(t)
	db.Exec(t, "", "CREATE DATABASE IF NOT EXISTS busy; CREATE TABLE IF NOT EXISTS busy.t (id INT) ENGINE=InnoDB;"+
		"CREATE TABLE IF NOT EXISTS busy.quiet (id INT) ENGINE=InnoDB; INSERT INTO busy.t VALUES (1)")
	wrote := false
	info, err := Dump(context.Background(), config(), "busy", writerFunc(func(p []byte) (int, error) {
		if !wrote {
			wrote = true
			db.Exec(t, "busy", "INSERT INTO t VALUES (2)")
		}
		return len(p), nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := []dump.TableCount{{Schema: "busy", Table: "quiet", Rows: 0}, {Schema: "busy", Table: "t", Rows: 1}}
	if !equalTables(info.Tables, want) || len(info.Notes) != 1 || !strings.HasSuffix(info.Notes[0], "approximate: t") {
		t.Errorf("Tables %v, Notes %q", info.Tables, info.Notes)
	}
}

func equalTables(a, b []dump.TableCount) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestQuoting(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:      `'plain'`,
		`it's \ ok`:  `'it\'s \\ ok'`,
		"nul\x00end": `'nul\0end'`,
	} {
		if got := literal(in); got != want {
			t.Errorf("literal(%q) = %s; want %s", in, got, want)
		}
	}
	if got := ident("a`b"); got != "`a``b`" {
		t.Errorf("ident = %s", got)
	}
	if got := optionValue("p\"a#s\\w\n"); got != `"p\"a#s\\w\n"` {
		t.Errorf("optionValue = %s", got)
	}
}

// TestDumpExitZeroIncomplete runs a stand-in dumper that exits 0 after
// part of a dump: the exit status alone must not make a dump good.
func TestDumpExitZeroIncomplete(t *testing.T) {
	ensureBlog(t)
	dumper := filepath.Join(t.TempDir(), "mariadb-dump")
	script := "#!/bin/sh\ncase \"$*\" in\n*--version*) echo 'mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB' ;;\n" +
		"*) printf -- '-- MariaDB dump\\nCREATE TABLE `posts` (\\n' ;;\nesac\nexit 0\n"
	if err := os.WriteFile(dumper, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := config()
	cfg.Dumper = dumper
	_, err := Dump(context.Background(), cfg, "blog", &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), `mysqldump: dump blog: mariadb-dump exited 0 but its output does not end with "-- Dump completed"`) {
		t.Fatalf("Dump = %v", err)
	}
}

func TestTailWriter(t *testing.T) {
	for _, chunk := range []int{1, tailKeep - 1, tailKeep, tailKeep + 1, 1 << 20} {
		for _, end := range []string{"-- Dump completed on 2026-11-23  9:32:34\n", "-- Dump completed\n\n", "INSERT INTO t VALUES (1);\n", ""} {
			in := strings.Repeat("x", 1000) + "\n" + end
			var out bytes.Buffer
			tw := &tailWriter{w: &out}
			for p := []byte(in); len(p) > 0; p = p[min(chunk, len(p)):] {
				tw.Write(p[:min(chunk, len(p))])
			}
			if want := strings.HasPrefix(end, "-- Dump completed"); tw.completed() != want || out.String() != in {
				t.Errorf("chunk %d, end %q: completed %v", chunk, end, tw.completed())
			}
		}
	}
}
