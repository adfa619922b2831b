package pgdump

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"mbackup/internal/engine"
	"mbackup/internal/testenv"
)

// oddNames are database names PostgreSQL holds that a client may take for
// something else: a connection string, a URI, a path, a quote.
var oddNames = []string{
	"a=b", "host=elsewhere dbname=x", "postgresql://x/y", "with space", `quo'te"s`, "a/b", `back\slash`,
	"..", ".hidden", "../../etc", strings.Repeat("é", 31) + "x", // 63 bytes
}

// TestOddNamesRoundTrip dumps a database of every odd name and restores
// it under the same name into a second server: the rows are all there.
func TestOddNamesRoundTrip(t *testing.T) {
	target := testenv.StartPostgres(t)
	tcfg := configOf(target)
	ctx := context.Background()
	for i, name := range oddNames {
		if len(name) > 63 {
			t.Fatalf("%q is %d bytes", name, len(name))
		}
		pg.Exec(t, "postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		pg.Exec(t, "dbname="+quoteConninfo(name), fmt.Sprintf("CREATE TABLE t AS SELECT generate_series(1, %d) AS n", 100+i))
		var out bytes.Buffer
		info, err := open(t, superuser()).Dump(ctx, name, &out)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if len(info.Tables) != 1 || info.Tables[0].Rows != int64(100+i) {
			t.Fatalf("%q: counted %+v", name, info.Tables)
		}
		f := filepath.Join(t.TempDir(), "x.dump")
		if err := os.WriteFile(f, out.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := CheckTarget(ctx, tcfg, name, false); err != nil {
			t.Fatalf("%q: CheckTarget: %v", name, err)
		}
		if err := RestoreDatabase(ctx, tcfg, name, f, RestoreOptions{}); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		got, err := CountRows(ctx, tcfg, name)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if diffs := engine.CompareCounts(info.Tables, got); len(diffs) > 0 {
			t.Errorf("%q: %v", name, diffs)
		}
		if err := CheckTarget(ctx, tcfg, name, false); err == nil || !strings.Contains(err.Error(), "not empty") {
			t.Errorf("%q: CheckTarget after the restore: %v", name, err)
		}
		if err := DropDatabase(ctx, tcfg, name); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
	if got := target.Query(t, "postgres", "SELECT count(*) FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres'"); got != "0" {
		t.Errorf("%s databases left on the target", got)
	}
}
