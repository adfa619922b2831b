package mysqldump

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"mbackup/internal/dump/metacmd"
)

// notes is a second database with a procedure, a trigger and a view.
const notes = `
CREATE DATABASE notes CHARACTER SET latin1;
USE notes;
CREATE TABLE notes (id INT PRIMARY KEY AUTO_INCREMENT, body TEXT CHARACTER SET utf8mb4, n DECIMAL(10,3)) ENGINE=InnoDB;
CREATE TABLE tally (total INT) ENGINE=InnoDB;
INSERT INTO tally VALUES (0);
CREATE TRIGGER notes_tally AFTER INSERT ON notes FOR EACH ROW UPDATE tally SET total = total + 1;
DELIMITER //
CREATE PROCEDURE add_notes(k INT) BEGIN DECLARE i INT DEFAULT 0; WHILE i < k DO INSERT INTO notes (body, n) VALUES (CONCAT('note ', i, ' ✓'), i / 3); SET i = i + 1; END WHILE; END//
DELIMITER ;
CALL add_notes(700);
CREATE VIEW long_notes AS SELECT id FROM notes WHERE n > 100;
`

// definitions lists db's triggers, routines, events and views.
const definitions = `SELECT CONCAT('trigger ', TRIGGER_NAME) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '%s'
	UNION ALL SELECT CONCAT(ROUTINE_TYPE, ' ', ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '%s'
	UNION ALL SELECT CONCAT('event ', EVENT_NAME) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '%s'
	UNION ALL SELECT CONCAT(TABLE_TYPE, ' ', TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '%s' ORDER BY 1`

// TestRestore dumps blog and notes, restores them into new databases and
// finds equal table checksums and the same triggers, routines and events.
func TestRestore(t *testing.T) {
	ensureBlog(t)
	db.Exec(t, "", "DROP DATABASE IF EXISTS notes; DROP DATABASE IF EXISTS blog_r; DROP DATABASE IF EXISTS notes_r")
	db.Exec(t, "", notes)
	dumps := map[string][]byte{}
	for _, name := range []string{"blog", "notes"} {
		var out bytes.Buffer
		if _, err := Dump(context.Background(), config(), name, &out); err != nil {
			t.Fatal(err)
		}
		dumps[name] = out.Bytes()
		if err := Restore(context.Background(), config(), name+"_r", bytes.NewReader(out.Bytes()), RestoreOptions{}); err != nil {
			t.Fatal(err)
		}
		checkSame(t, name, name+"_r")
	}
	db.Exec(t, "notes_r", "CALL add_notes(2)")
	if got := db.Query(t, "notes_r", "SELECT total FROM tally"); got != "702" {
		t.Errorf("restored procedure and trigger: tally %s; want 702", got)
	}

	err := Restore(context.Background(), config(), "notes_r", bytes.NewReader(dumps["notes"]), RestoreOptions{})
	wantErr(t, err, "mysqldump: restore notes_r: the database exists and is not empty (3 tables and views, 1 routines, 0 events)")
	db.Exec(t, "notes_r", "CREATE TABLE extra (x INT); DELETE FROM notes WHERE id > 10")
	if err := Restore(context.Background(), config(), "notes_r", bytes.NewReader(dumps["notes"]), RestoreOptions{Clean: true}); err != nil {
		t.Fatal(err)
	}
	checkSame(t, "notes", "notes_r")
	if got := db.Query(t, "", "SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'notes_r'"); got != "utf8mb4" {
		t.Errorf("the recreated database's character set is %s", got)
	}
	// An empty database that exists is restored into.
	db.Exec(t, "", "DROP DATABASE IF EXISTS notes_e; CREATE DATABASE notes_e")
	if err := Restore(context.Background(), config(), "notes_e", bytes.NewReader(dumps["notes"]), RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	checkSame(t, "notes", "notes_e")
}

// checkSame compares two databases' definitions and CHECKSUM TABLEs.
func checkSame(t *testing.T, src, dst string) {
	t.Helper()
	want := db.Query(t, "", strings.ReplaceAll(definitions, "%s", src))
	if got := db.Query(t, "", strings.ReplaceAll(definitions, "%s", dst)); got != want {
		t.Errorf("%s: definitions\n%s\nwant\n%s", dst, got, want)
	}
	tables := strings.Fields(db.Query(t, "", "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA = '"+src+"'"))
	for _, table := range tables {
		if want, got := checksum(t, src, table), checksum(t, dst, table); got != want {
			t.Errorf("%s.%s: CHECKSUM TABLE %s; want %s", dst, table, got, want)
		}
	}
	t.Logf("%s: %d tables with equal checksums; definitions: %s", dst, len(tables), strings.ReplaceAll(want, "\n", ", "))
}

// TestRestoreFailures restores damaged dumps into new databases: each
// fails naming the database and leaves no database behind.
func TestRestoreFailures(t *testing.T) {
	ensureBlog(t)
	var out bytes.Buffer
	if _, err := Dump(context.Background(), config(), "blog", &out); err != nil {
		t.Fatal(err)
	}
	full := out.Bytes()
	lastStatement := bytes.LastIndex(full, []byte(";\n")) + 2
	cases := []struct {
		name string
		r    io.Reader
		want string
	}{
		{"truncated", bytes.NewReader(full[:len(full)/2]), "at line"},
		{"cut after a statement", bytes.NewReader(full[:lastStatement]), "it is truncated"},
		{"read error", io.MultiReader(bytes.NewReader(full[:len(full)/2]), iotest.ErrReader(io.ErrUnexpectedEOF)), "unexpected EOF"},
		{"not sql", strings.NewReader("this is not SQL\n"), "ERROR 1064"},
	}
	for _, c := range cases {
		db.Exec(t, "", "DROP DATABASE IF EXISTS broken")
		err := Restore(context.Background(), config(), "broken", c.r, RestoreOptions{})
		if err == nil || !strings.HasPrefix(err.Error(), "mysqldump: restore broken: ") || !strings.Contains(err.Error(), c.want) ||
			!strings.Contains(err.Error(), "(the database this restore created was dropped again)") {
			t.Errorf("%s: Restore = %v; want %q", c.name, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), db.Password) || strings.Contains(err.Error(), "post 1") {
			t.Errorf("%s: secret or row in %q", c.name, err)
		}
		if n := db.Query(t, "", "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'broken'"); n != "0" {
			t.Errorf("%s: the database is left behind", c.name)
		}
		t.Logf("%s: %v", c.name, err)
	}
	err := Restore(context.Background(), config(), "", strings.NewReader(""), RestoreOptions{})
	wantErr(t, err, "mysqldump: restore: empty database name")
}

func TestDropSandboxLine(t *testing.T) {
	for in, want := range map[string]string{
		metacmd.SandboxLine + "\n-- MariaDB dump\n":  "-- MariaDB dump\n",
		metacmd.SandboxLine + " \n-- MariaDB dump\n": "-- MariaDB dump\n",
		"-- MySQL dump\n":   "-- MySQL dump\n",
		metacmd.SandboxLine: metacmd.SandboxLine,
		"":                  "",
	} {
		got, err := io.ReadAll(dropSandboxLine(strings.NewReader(in)))
		if err != nil || string(got) != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
}

func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v; want %q", err, want)
	}
	t.Log(err)
}
