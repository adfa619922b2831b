package mysqldump

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mbackup/internal/dump"
	"mbackup/internal/dump/metacmd"
)

// forgedDump is a real dump of a small database with line inserted before
// its data, as a forger who can write to the store would.
func forgedDump(t *testing.T, line string) string {
	t.Helper()
	db.Exec(t, "", "CREATE DATABASE IF NOT EXISTS forge_src")
	db.Exec(t, "forge_src", "CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY, v TEXT); INSERT IGNORE INTO t VALUES (1, 'it''s \\\\ ok')")
	var out bytes.Buffer
	if _, err := Dump(context.Background(), config(), "forge_src", &out); err != nil {
		t.Fatal(err)
	}
	sql := out.String()
	i := strings.Index(sql, "\n--\n-- Dumping data for table `t`")
	if i < 0 {
		t.Fatalf("dump not as expected:\n%s", sql)
	}
	return sql[:i+1] + line + "\n" + sql[i+1:]
}

// TestRestoreRefusesClientCommands: a dump carrying a client command is
// refused naming the line, nothing of it stays and the command never
// runs; one that only looks like a command inside a string restores.
func TestRestoreRefusesClientCommands(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pwned")
	for _, line := range []string{
		`\! touch ` + marker,
		`SELECT 1; \! touch ` + marker,
		`system touch ` + marker,
		`/*!40101 \! touch ` + marker + ` */;`,
		`SET sql_mode = 'NO_BACKSLASH_ESCAPES';`,
	} {
		sql := forgedDump(t, line)
		err := Restore(context.Background(), config(), "forge_dst", strings.NewReader(sql), RestoreOptions{})
		wantErr(t, err, "mysqldump: restore forge_dst: the dump holds line ")
		wantErr(t, err, "refused (the database this restore created was dropped again)")
		if _, serr := os.Stat(marker); serr == nil {
			t.Fatalf("%q ran: the marker exists", line)
		}
		if n := db.Query(t, "", "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'forge_dst'"); n != "0" {
			t.Fatalf("%q: forge_dst is left", line)
		}
		var scan metacmd.MySQL
		if _, err := io.WriteString(&scan, sql); err == nil && scan.Close() == nil {
			t.Errorf("the scanner passed %q", line)
		}
	}
	sql := forgedDump(t, `INSERT INTO t VALUES (2, '\\! touch `+marker+`'), (3, "system \" touch");`)
	if err := Restore(context.Background(), config(), "forge_dst", strings.NewReader(sql), RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := db.Query(t, "forge_dst", "SELECT GROUP_CONCAT(v ORDER BY id SEPARATOR '|') FROM t"); got != `it's \\ ok|\\! touch `+marker+`|system " touch` {
		t.Errorf("restored rows %q", got)
	}
	db.Exec(t, "", "DROP DATABASE forge_dst")
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the marker exists")
	}
}

// TestSandboxHolds bypasses the scanner: the client itself, as feed runs
// it, and with --sandbox alone and --binary-mode alone, refuses every
// command, and none runs.
func TestSandboxHolds(t *testing.T) {
	c, err := open(config())
	if err != nil {
		t.Fatal(err)
	}
	args, _, err := c.loadArgs(context.Background(), "sandbox_t")
	if err != nil || !slices.Contains(args, "--sandbox") || !slices.Contains(args, "--binary-mode") || !slices.Contains(args, "--local-infile=0") {
		t.Fatalf("the client (MariaDB 10.11.8 or later here) loads dumps with %q, %v", args, err)
	}
	db.Exec(t, "", "CREATE DATABASE IF NOT EXISTS sandbox_t")
	marker := filepath.Join(t.TempDir(), "pwned")
	runs := map[string]func(sql string) error{
		"feed": func(sql string) error { return c.feed(context.Background(), "sandbox_t", strings.NewReader(sql)) },
	}
	for _, flag := range []string{"--sandbox", "--binary-mode"} {
		runs[flag] = func(sql string) error {
			cmd, done, err := c.command(context.Background(), c.cli, flag, "--batch", "--database=sandbox_t")
			if err != nil {
				return err
			}
			defer done()
			cmd.Stdin = strings.NewReader(sql)
			return dump.Run(context.Background(), cmd, io.Discard)
		}
	}
	for name, run := range runs {
		for _, sql := range []string{
			"SELECT 1;\n\\! touch " + marker + "\n",
			"SELECT 1; \\! touch " + marker + "\n",
			"system touch " + marker + "\n",
			"/*!40101 \\! touch " + marker + " */;\n",
			"\\. " + marker + "\n",
			"tee " + marker + "\nSELECT 1;\n",
		} {
			err := run(sql)
			if err == nil {
				t.Errorf("%s %q: no error", name, sql)
			}
			t.Logf("%s %q: %v", name, sql, err)
			if _, serr := os.Stat(marker); serr == nil {
				t.Fatalf("%s %q ran: the marker exists", name, sql)
			}
		}
	}
}

// TestLocalInfileRefused: a dump cannot make the client read a file of the
// restore host into a table.
func TestLocalInfileRefused(t *testing.T) {
	c, err := open(config())
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "identity.txt")
	os.WriteFile(secret, []byte("AGE-SECRET-KEY-1NOTREAL\n"), 0o600)
	db.Exec(t, "", "CREATE DATABASE IF NOT EXISTS infile_t")
	db.Exec(t, "infile_t", "CREATE TABLE IF NOT EXISTS loot (line TEXT)")
	err = c.feed(context.Background(), "infile_t", strings.NewReader("LOAD DATA LOCAL INFILE '"+secret+"' INTO TABLE loot;\n"))
	if err == nil {
		t.Error("LOAD DATA LOCAL INFILE ran")
	}
	t.Log(err)
	if n := db.Query(t, "infile_t", "SELECT COUNT(*) FROM loot"); n != "0" {
		t.Errorf("the table holds %s lines of the file", n)
	}
}
