package metacmd

import (
	"errors"
	"io"
	"strings"
	"testing"
)

type scanner interface {
	io.Writer
	Close() error
}

// scan feeds sql in chunks of n bytes (all at once when n is 0).
func scan(s scanner, sql string, n int) error {
	if n == 0 {
		n = len(sql) + 1
	}
	for len(sql) > 0 {
		k := min(n, len(sql))
		if _, err := s.Write([]byte(sql[:k])); err != nil {
			return err
		}
		sql = sql[k:]
	}
	return s.Close()
}

type tc struct {
	sql  string
	line int // 0: accepted
	want string
}

func check(t *testing.T, name string, fresh func() scanner, cases []tc) {
	t.Helper()
	for _, c := range cases {
		for _, n := range []int{0, 1, 2, 5} {
			err := scan(fresh(), c.sql, n)
			var e *Error
			switch {
			case c.line == 0 && err != nil:
				t.Errorf("%s %q (chunks of %d): refused: %v", name, c.sql, n, err)
			case c.line != 0 && !errors.As(err, &e):
				t.Errorf("%s %q (chunks of %d): %v, want a refusal on line %d", name, c.sql, n, err, c.line)
			case c.line != 0 && (e.Line != c.line || !strings.Contains(e.What, c.want)):
				t.Errorf("%s %q (chunks of %d): %v, want line %d %q", name, c.sql, n, err, c.line, c.want)
			}
		}
	}
}

const dumpall = "--\n-- PostgreSQL database cluster dump\n--\n\n\\restrict abcDEF123\n\nSET standard_conforming_strings = on;\n" +
	"CREATE ROLE x;\n\n\\unrestrict abcDEF123\n\n--\n-- PostgreSQL database cluster dump complete\n--\n\n"

func TestPSQL(t *testing.T) {
	check(t, "psql", func() scanner { return &PSQL{} }, []tc{
		{dumpall, 0, ""},
		{"SELECT 1;\n\\! touch /tmp/x\n", 2, `"\\! touch /tmp/x"`},
		{"SELECT 1; \\! touch /tmp/x\n", 1, "meta-command"},
		{"SELECT '\\! touch x';\n", 0, ""},
		{"SELECT E'a\\\\';\nSELECT 'it''s \\! no';\n", 0, ""},
		{"SELECT 'a\\'; \\! id '\n", 1, "odd number of backslashes"},
		{"SELECT E'\\'' \\! id '\n", 1, "odd number of backslashes"},
		{"CREATE FUNCTION f() RETURNS int AS $body$\n\\! touch x\nSELECT 1 $x$ $$\n$body$ LANGUAGE sql;\n", 0, ""},
		{"SELECT $$a$$, 1;\n\\! id\n", 2, "meta-command"},
		{"SELECT a$b$ \\! id $b$;\n", 1, "meta-command"},
		{"SELECT 1$a$ junk $a$ \\! id;\n", 1, "meta-command"},
		{"SELECT $1$a$ x $a$ \\! id;\n", 1, "meta-command"},
		{"SELECT \"a\\\" \\! b\";\n", 1, "meta-command"},
		{"SELECT \"a\"\"\"; \\! x\n", 1, "meta-command"},
		{"-- \\! in a comment\n/* \\! /* nested */ \\! still */ SELECT 1;\n", 0, ""},
		{"/* a /* b */ */ \\! x\n", 1, "meta-command"},
		{"/**/ \\! x\n", 1, "meta-command"},
		{"SELECT 1 -- x\n\\! y\n", 2, "meta-command"},
		{"SELECT 1 \x00' \n\\! id\n'\n", 1, "NUL"},
		{"\\restrict k1\nSELECT 1;\n\\unrestrict k2\n", 3, `"\\unrestrict k2"`},
		{"SELECT 1;\n\\restrict k1\n\\unrestrict k1\n", 2, "restrict k1"},
		{"\\restrict k1\nSELECT 1;\n", 3, "no matching"},
		{"\\restrict k1\n\\unrestrict k1\nSELECT 1;\n", 3, "after pg_dumpall's"},
		{"\\restrict k1\n\\restrict k1\n", 2, "meta-command"},
		{"\\restrict k1 \\! id\n\\unrestrict k1\n", 1, "meta-command"},
		{"SELECT 1;\n\\unrestrict\n", 2, "meta-command"},
		{"COPY t FROM stdin;\n'\n\\.\n\\! id\n'\n", 1, "FROM STDIN"},
		{"COPY t FROM STDIN", 1, "FROM STDIN"},
		{"SELECT stdin_x, \"stdin\", 'stdin', xstdin;\n", 0, ""},
	})
}

func TestPSQLPair(t *testing.T) {
	var s PSQL
	if err := scan(&s, dumpall, 3); err != nil {
		t.Fatal(err)
	}
	if r, u := s.PairLines(); s.Key() != "abcDEF123" || r != 5 || u != 10 {
		t.Errorf("key %q on lines %d, %d", s.Key(), r, u)
	}
}

const mariadbDump = SandboxLine + " \n-- MariaDB dump 10.19\n--\n-- Host: x    Database: a\\b\n" +
	"/*!40101 SET NAMES utf8mb4 */;\n" +
	"DROP TABLE IF EXISTS `t\\x`;\nCREATE TABLE `t\\x` (\n  `id` int,\n  `status` text\n);\n" +
	"INSERT INTO `t\\x` VALUES (1,'a\\'b\\\\'),(2,'\\\\! x'),(3,\"q\\\"\");\n" +
	"DELIMITER ;;\n/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER tr AFTER INSERT ON t FOR EACH ROW INSERT INTO log VALUES (NEW.id) */;;\n" +
	"DELIMITER ;\nuse other\n# a comment \\! x\n-- Dump completed on 2026-01-01\n"

func TestMySQL(t *testing.T) {
	check(t, "mysql", func() scanner { return &MySQL{} }, []tc{
		{mariadbDump, 0, ""},
		{"SELECT 1;\n\\! touch /tmp/x\n", 2, "backslash"},
		{"SELECT 1; \\! touch x\n", 1, "backslash"},
		{"system touch x\n", 1, `"system"`},
		{"  SOURCE /etc/x\n", 1, `"source"`},
		{"SELECT 1;\ntee /tmp/out\n", 2, `"tee"`},
		{"pager sh\n", 1, `"pager"`},
		{"systemd_table\n", 0, ""},
		{"SELECT '\\! touch x';\n", 0, ""},
		{"SELECT 'a\\' \\! id '\n", 0, ""},
		{"SET sql_mode = 'STRICT_ALL_TABLES,NO_BACKSLASH_ESCAPES';\n", 1, "no_backslash_escapes"},
		{"SET sql_mode = ansi;\n", 1, "ansi"},
		{"SELECT 'a' \\! id '\n", 1, "backslash"},
		{"SELECT 'it''s', \"x\"\"y\", `a``b`;\n\\! id\n", 2, "backslash"},
		{"SELECT `a\\` \\! id `\n", 1, "backslash"},
		{"SELECT '\\\\' \\! id\n", 1, "backslash"},
		{"/* \\! x */ SELECT 1;\n", 0, ""},
		{"/*!40101 \\! id */;\n", 1, "backslash"},
		{"/*!40101 SET @a='x \\! y' */;\n", 1, "backslash"},
		{"/*M!999999\\- enable the sandbox mode */\n\\! id\n", 2, "backslash"},
		{"SELECT 1;\n/*M!999999\\- enable the sandbox mode */\n", 2, "backslash"},
		{"/*M!999999\\- enable the sandbox mode */ x\n", 1, "backslash"},
		{"/*M!999999\\- enable the sandbox mode */", 1, "backslash"},
		{"/*M!999999\\- enable the sandbox mode */\n", 0, ""},
		{"# \\! x\n-- \\! y\n--\\! z\n", 3, "backslash"},
		{"SELECT 1 \x00 '\n\\! id\n'", 1, "NUL"},
		{"SET NAMES sjis;\n", 1, "sjis"},
		{"SET character_set_client = 'GBK';\n", 1, "gbk"},
		{"SELECT 'sjis is a charset';\n", 0, ""},
	})
}

// FuzzPSQL checks that the verdict does not depend on how the input is
// split, and that a refused backslash is on the line named.
func FuzzPSQL(f *testing.F) {
	for _, s := range []string{dumpall, "SELECT $a$ \\! $a$;", "SELECT E'\\\\' /* /* */ */ \\!", "a$b$ 1$c$ $1 \"x\"\"\" 'y'''"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, sql string, n int) {
		fuzzOne(t, sql, n, func() scanner { return &PSQL{} })
	})
}

// FuzzMySQL is FuzzPSQL for the MySQL scanner.
func FuzzMySQL(f *testing.F) {
	for _, s := range []string{mariadbDump, "/*!40101 '*/' \\! id '*/", "SELECT `a\\` 'b\\\\' \"c\\\"\" -- x\n#y\nsystem z"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, sql string, n int) {
		fuzzOne(t, sql, n, func() scanner { return &MySQL{} })
	})
}

func fuzzOne(t *testing.T, sql string, n int, fresh func() scanner) {
	whole := scan(fresh(), sql, 0)
	split := scan(fresh(), sql, 1+abs(n)%7)
	if (whole == nil) != (split == nil) || whole != nil && whole.Error() != split.Error() {
		t.Fatalf("whole: %v; in chunks of %d: %v", whole, 1+abs(n)%7, split)
	}
	var e *Error
	if !errors.As(whole, &e) {
		return
	}
	lines := strings.SplitAfter(sql, "\n")
	if e.Line < 1 || e.Line > len(lines) {
		t.Fatalf("%v: the input has %d lines", e, len(lines))
	}
	if strings.Contains(e.What, "backslash outside") && !strings.Contains(lines[e.Line-1], `\`) {
		t.Fatalf("%v: line %q holds no backslash", e, lines[e.Line-1])
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// BenchmarkMySQL scans a 16 MiB dump-like text: rows of quoted text.
func BenchmarkMySQL(b *testing.B) {
	row := "INSERT INTO `posts` VALUES (1,'Hello, it\\'s a post about \\\\ paths and \"quotes\" ',NULL,0x00FF),(2,'another row of text here');\n"
	sql := []byte(strings.Repeat(row, 16<<20/len(row)))
	b.SetBytes(int64(len(sql)))
	for b.Loop() {
		var s MySQL
		for i := 0; i < len(sql); i += 32 << 10 {
			s.Write(sql[i:min(i+32<<10, len(sql))])
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPSQL scans a 16 MiB SQL text.
func BenchmarkPSQL(b *testing.B) {
	row := "ALTER ROLE \"some role\" SET search_path TO 'a', \"b\"; COMMENT ON ROLE x IS 'a comment -- not one /* */';\n"
	sql := []byte(strings.Repeat(row, 16<<20/len(row)))
	b.SetBytes(int64(len(sql)))
	for b.Loop() {
		var s PSQL
		s.Write(sql)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
