package mysqldump

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"mbackup/internal/dump"
	"mbackup/internal/testenv"
)

var db *testenv.MariaDB

func TestMain(m *testing.M) {
	if cfg := os.Getenv(kill9Env); cfg != "" {
		kill9Child(cfg)
		return
	}
	dir, err := os.MkdirTemp("", "mysqldump-test-")
	if err != nil {
		log.Fatal(err)
	}
	mdb, stop, err := testenv.LaunchMariaDB(dir)
	if err != nil {
		os.RemoveAll(dir)
		log.Fatal(err)
	}
	db = mdb
	code := m.Run()
	stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

func config() Config {
	return Config{Host: db.Host, Port: db.Port, User: db.User, Password: db.Password}
}

// blog is a database with a trigger, a function, an event, a view and
// binary data, large enough (about 3 MB of SQL) that the dumper is still
// running when its first bytes arrive.
const blog = `
CREATE DATABASE blog;
USE blog;
CREATE TABLE posts (id INT PRIMARY KEY AUTO_INCREMENT, title VARCHAR(200) CHARACTER SET utf8mb4, body BLOB) ENGINE=InnoDB;
CREATE TABLE audit (id INT PRIMARY KEY AUTO_INCREMENT, post_id INT, note VARCHAR(100)) ENGINE=InnoDB;
CREATE TRIGGER posts_created AFTER INSERT ON posts FOR EACH ROW INSERT INTO audit (post_id, note) VALUES (NEW.id, 'created');
CREATE FUNCTION title_len(p INT) RETURNS INT READS SQL DATA RETURN (SELECT CHAR_LENGTH(title) FROM posts WHERE id = p);
CREATE EVENT tidy ON SCHEDULE EVERY 1 DAY DO DELETE FROM audit WHERE id < 0;
CREATE VIEW titles AS SELECT id, title FROM posts;
INSERT INTO posts (title, body) VALUES ('hello 🐘 ''quoted''', X'00FF0A0D27225C1A00');
INSERT INTO posts (title, body) SELECT CONCAT('post ', seq), UNHEX(SHA2(seq, 512)) FROM seq_1_to_20000;
`

// ensureBlog creates the blog database once.
func ensureBlog(t *testing.T) {
	t.Helper()
	if db.Query(t, "", "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'blog'") == "0" {
		db.Exec(t, "", blog)
	}
}

// childInspector, on its first write (the dumper is running then), checks
// the dumper's argv and its option file.
type childInspector struct {
	t       *testing.T
	buf     bytes.Buffer
	options string // where the dumper's option pipe was seen
}

func (c *childInspector) Write(p []byte) (int, error) {
	if c.options == "" {
		c.options = "(not seen)"
		pids := children(c.t, "mariadb-dump")
		if len(pids) != 1 {
			c.t.Errorf("mariadb-dump children: %v", pids)
		}
		for _, pid := range pids {
			cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			if err != nil {
				c.t.Fatal(err)
			}
			args := strings.Split(string(cmdline), "\x00")
			if bytes.Contains(cmdline, []byte(db.Password)) || len(args) < 2 {
				c.t.Errorf("argv %q", args)
				continue
			}
			if args[1] != "--defaults-extra-file=/dev/fd/3" {
				c.t.Errorf("first option %q; want --defaults-extra-file=/dev/fd/3", args[1])
				continue
			}
			c.options = fmt.Sprintf("/proc/%d/fd/3", pid)
			if fi, err := os.Stat(c.options); err != nil || fi.Mode().Type() != os.ModeNamedPipe {
				c.t.Errorf("the dumper's descriptor 3: %v, %v; want a pipe", fi, err)
			}
		}
	}
	return c.buf.Write(p)
}

// TestDumpRestores dumps blog, loads the SQL into a database of another
// name and finds the same rows, checksums, trigger, function and event.
func TestDumpRestores(t *testing.T) {
	ensureBlog(t)
	out := &childInspector{t: t}
	info, err := Dump(context.Background(), config(), "blog", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.options, "/proc/") {
		t.Errorf("the dumper's options were not seen: %s", out.options)
	}
	checkInfo(t, info)
	sql := out.buf.String()
	if strings.Contains(sql, "CREATE DATABASE") || strings.Contains(sql, "\nUSE ") {
		t.Error("the dump names its database")
	}
	db.Exec(t, "", "DROP DATABASE IF EXISTS restored; CREATE DATABASE restored")
	restore(t, "restored", sql)
	for _, table := range []string{"posts", "audit"} {
		want := checksum(t, "blog", table)
		if got := checksum(t, "restored", table); got != want {
			t.Errorf("restored %s: CHECKSUM TABLE %s; want %s", table, got, want)
		}
	}
	for _, q := range []string{
		"SELECT TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '%s'",
		"SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '%s'",
		"SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '%s'",
		"SELECT COUNT(*) FROM %s.titles",
		"SELECT HEX(body), title, %s.title_len(id) FROM %s.posts WHERE id = 1",
	} {
		want := db.Query(t, "", strings.ReplaceAll(q, "%s", "blog"))
		if got := db.Query(t, "", strings.ReplaceAll(q, "%s", "restored")); got != want || want == "" {
			t.Errorf("%s: restored %q; want %q", q, got, want)
		}
	}
	db.Exec(t, "restored", "INSERT INTO posts (title) VALUES ('after the restore')")
	if n := db.Query(t, "restored", "SELECT COUNT(*) FROM audit"); n != "20002" {
		t.Errorf("the restored trigger did not fire: audit has %s rows", n)
	}
}

func checkInfo(t *testing.T, info dump.Info) {
	t.Helper()
	want := []dump.TableCount{{Schema: "blog", Table: "audit", Rows: 20001}, {Schema: "blog", Table: "posts", Rows: 20001}}
	if !slices.Equal(info.Tables, want) {
		t.Errorf("Tables = %v; want %v", info.Tables, want)
	}
	if !strings.Contains(info.Version, "mariadb-dump") || !strings.Contains(info.ServerVersion, "MariaDB") ||
		!strings.Contains(info.Command, " --defaults-extra-file=") || !strings.HasSuffix(info.Command, " -- blog") ||
		strings.Contains(info.Command, db.Password) || len(info.Notes) > 0 {
		t.Errorf("Info = %+v", info)
	}
	if v := db.Query(t, "", "SELECT VERSION()"); info.ServerVersion != v {
		t.Errorf("ServerVersion %q; want %q", info.ServerVersion, v)
	}
}

// restore loads sql into database name with the mariadb client.
func restore(t *testing.T, name, sql string) {
	t.Helper()
	client := testenv.LookBinary(t, "mariadb", testenv.MariaDBInstall)
	cmd := exec.Command(client, "--defaults-file="+db.DefaultsFile, "--database="+name)
	cmd.Stdin = strings.NewReader(sql)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("restore: %v: %s", err, out)
	}
}

func checksum(t *testing.T, schema, table string) string {
	t.Helper()
	fields := strings.Fields(db.Query(t, "", "CHECKSUM TABLE "+schema+"."+table))
	if len(fields) != 2 {
		t.Fatalf("CHECKSUM TABLE %s.%s: %q", schema, table, fields)
	}
	return fields[1]
}

func TestDatabases(t *testing.T) {
	ensureBlog(t)
	db.Exec(t, "", "CREATE DATABASE IF NOT EXISTS `odd-name ``x`")
	got, err := Databases(context.Background(), config())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, "blog") || !slices.Contains(got, "odd-name `x") || !slices.IsSorted(got) {
		t.Errorf("Databases = %q", got)
	}
	for _, sys := range []string{"information_schema", "performance_schema", "mysql", "sys"} {
		if slices.Contains(got, sys) {
			t.Errorf("Databases = %q holds %s", got, sys)
		}
	}
	cfg := config()
	cfg.Databases = []string{"only"}
	if got, err := Databases(context.Background(), cfg); err != nil || !slices.Equal(got, []string{"only"}) {
		t.Errorf("configured: Databases = %q, %v", got, err)
	}
}

// children returns the pids of this process's children running comm.
func children(t *testing.T, comm string) []int {
	t.Helper()
	return childrenOf(t, os.Getpid(), comm)
}

// killDumper kills the running dumper on its first write.
type killDumper struct {
	t      *testing.T
	killed bool
}

func (k *killDumper) Write(p []byte) (int, error) {
	if !k.killed {
		k.killed = true
		pids := children(k.t, "mariadb-dump")
		if len(pids) != 1 {
			k.t.Fatalf("mariadb-dump children: %v", pids)
		}
		if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
			k.t.Fatal(err)
		}
	}
	return len(p), nil
}
