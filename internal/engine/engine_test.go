package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mbackup/internal/dump"
)

func TestCheckRows(t *testing.T) {
	want := []dump.TableCount{{Schema: "public", Table: "a", Rows: 3}, {Schema: "public", Table: "b", Rows: 0}}
	if n, err := CheckRows(want, want, nil); n != 2 || err != nil {
		t.Errorf("equal counts: %d, %v", n, err)
	}
	got := []dump.TableCount{{Schema: "public", Table: "a", Rows: 2}, {Schema: "public", Table: "c", Rows: 1}}
	n, err := CheckRows(want, got, nil)
	for _, s := range []string{"row counts differ", "public.a: 2 rows, dumped with 3", "public.b: missing", "public.c: 1 rows, not in the dump"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("CheckRows = %d, %v; want %q", n, err, s)
		}
	}
	if _, err := CheckRows(want, nil, errors.New("connection lost")); err == nil || !strings.Contains(err.Error(), "counting its rows failed: connection lost") {
		t.Errorf("failed count: %v", err)
	}
}

func TestConnPassword(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_ENGINE_PW", "from-env")
	for _, tc := range []struct {
		c    Conn
		want string
	}{
		{Conn{PassFile: file, PassEnv: "TEST_ENGINE_PW"}, "from-file"},
		{Conn{PassEnv: "TEST_ENGINE_PW"}, "from-env"},
		{Conn{PassEnv: "TEST_ENGINE_UNSET"}, ""},
	} {
		if err := tc.c.Ask(nil, "title", "password"); err != nil || tc.c.Password != tc.want {
			t.Errorf("Ask(%+v) = %v, password %q; want %q", tc.c, err, tc.c.Password, tc.want)
		}
	}
	c := Conn{PassFile: filepath.Join(dir, "missing")}
	if err := c.Ask(nil, "title", "password"); err == nil || !strings.HasPrefix(err.Error(), "password file: ") {
		t.Errorf("missing password file: %v", err)
	}
}
