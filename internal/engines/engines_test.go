package engines

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"mbackup/internal/config"
	"mbackup/internal/engine"
)

func TestRegistry(t *testing.T) {
	if got := strings.Join(Names(), ","); got != "postgres,redis,mysql,files" {
		t.Errorf("Names() = %s; want the order snapshots are taken in", got)
	}
	seen := map[string]bool{}
	for _, e := range All {
		c := string(e.Component())
		if seen[c] {
			t.Errorf("component %s registered twice", c)
		}
		seen[c] = true
		if f, ok := Find(e.Component()); !ok || f != e {
			t.Errorf("Find(%s) = %v, %v", c, f, ok)
		}
	}
	if _, ok := Find("tarballs"); ok {
		t.Error("Find(tarballs) found an engine")
	}
	order := InRestoreOrder()
	if last := order[len(order)-1].Component(); last != "files" {
		t.Errorf("files restored at %v, not last", last)
	}
	var drillable []string
	for _, e := range All {
		if _, ok := e.(engine.Drillable); ok {
			drillable = append(drillable, string(e.Component()))
		}
	}
	if !slices.Equal(drillable, []string{"postgres", "mysql"}) {
		t.Errorf("drillable engines: %v", drillable)
	}
}

// closedPort is a local port nothing listens on.
func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// TestJobsUnreachable: a server that cannot be reached is one failed job
// of its component, and the other components' jobs are still made, in
// order; only selects components.
func TestJobsUnreachable(t *testing.T) {
	port := closedPort(t)
	cfg := &config.Config{
		Postgres: &config.Postgres{Host: "127.0.0.1", Port: port, User: "postgres", SSLMode: "disable", Globals: true},
		Redis:    []config.Redis{{Name: "main", URL: fmt.Sprintf("redis://127.0.0.1:%d", port)}},
		MySQL:    &config.MySQL{Host: "127.0.0.1", Port: port, User: "root"},
		Files:    []string{"/nonexistent/mbackup-test"},
	}
	js := Jobs(context.Background(), cfg, nil)
	var got []string
	for _, j := range js {
		got = append(got, j.Component+"/"+j.Name)
	}
	if strings.Join(got, ",") != "postgres/server,redis/main,mysql/server,files//nonexistent/mbackup-test" {
		t.Fatalf("jobs %v", got)
	}
	if js[0].Err == nil || js[2].Err == nil || js[1].Err != nil || js[1].Ext != ".rdb" || js[3].Ext != ".tar" {
		t.Errorf("jobs %+v", js)
	}
	if js := Jobs(context.Background(), cfg, []string{"redis"}); len(js) != 1 || js[0].Name != "main" {
		t.Errorf("only redis: %+v", js)
	}
	if js := Jobs(context.Background(), &config.Config{}, nil); len(js) != 0 {
		t.Errorf("nothing configured: %+v", js)
	}
}
