package mysqldump

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"mbackup/internal/testenv"
)

// oddNames are database names MariaDB holds that a path, a quote or an
// escape could turn into another.
var oddNames = []string{
	"a/b", `a\b`, "..x", ".hidden", "back`tick", "quo'te\"s", "a=b", "with space", "../../etc",
	strings.Repeat("é", 64), // 64 characters, MariaDB's limit
}

// TestOddNamesRoundTrip dumps a database of every odd name and restores
// it under the same name into a second server: the rows are all there.
func TestOddNamesRoundTrip(t *testing.T) {
	target := testenv.StartMariaDB(t)
	tcfg := Config{Host: target.Host, Port: target.Port, User: target.User, Password: target.Password}
	ctx := context.Background()
	for i, name := range oddNames {
		execUTF8(t, config(), fmt.Sprintf("CREATE DATABASE %s; USE %s; CREATE TABLE t (n INT); INSERT INTO t SELECT seq FROM seq_1_to_%d;\n",
			ident(name), ident(name), 100+i))
		var out bytes.Buffer
		info, err := Dump(ctx, config(), name, &out)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if len(info.Tables) != 1 || info.Tables[0].Rows != int64(100+i) {
			t.Fatalf("%q: counted %+v", name, info.Tables)
		}
		if err := CheckTarget(ctx, tcfg, name, false); err != nil {
			t.Fatalf("%q: CheckTarget: %v", name, err)
		}
		if err := Restore(ctx, tcfg, name, bytes.NewReader(out.Bytes()), RestoreOptions{}); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		got, err := CountRows(ctx, tcfg, name)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if !equalTables(got, info.Tables) {
			t.Errorf("%q: restored %+v, dumped %+v", name, got, info.Tables)
		}
		if err := CheckTarget(ctx, tcfg, name, false); err == nil || !strings.Contains(err.Error(), "not empty") {
			t.Errorf("%q: CheckTarget after the restore: %v", name, err)
		}
		if err := DropDatabase(ctx, tcfg, name); err != nil {
			t.Errorf("%q: %v", name, err)
		}
		execUTF8(t, config(), "DROP DATABASE "+ident(name)+";\n")
	}
	if got := target.Query(t, "", "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN "+
		"('information_schema', 'performance_schema', 'mysql', 'sys', 'test')"); got != "0" {
		t.Errorf("%s databases left on the target", got)
	}
}

// execUTF8 runs sql through the client as the package does (utf8mb4; the
// testenv client speaks latin1).
func execUTF8(t *testing.T, cfg Config, sql string) {
	t.Helper()
	c, err := open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.query(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}
