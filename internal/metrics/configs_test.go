package metrics

// Tests of the deployment files in configs/ that depend on this package's
// series: the systemd unit, the Prometheus rules and the Grafana dashboard.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

var configsDir = filepath.Join("..", "..", "configs")

const (
	unitPath        = "systemd/mbackup.service"
	alertsPath      = "prometheus/mbackup-alerts.yaml"
	alertTestsPath  = "prometheus/mbackup-alerts.test.yaml"
	promConfigPath  = "prometheus/prometheus.example.yml"
	dashboardPath   = "grafana/mbackup.json"
	installPromtool = "apt-get install -y --no-install-recommends prometheus"
)

func readConfig(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(configsDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// unitKeys returns section -> key -> values of a systemd unit file.
func unitKeys(t *testing.T, unit []byte) map[string]map[string][]string {
	t.Helper()
	keys := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(unit))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			keys[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a key=value in a section: %q", unitPath, n, line)
			}
			keys[section][k] = append(keys[section][k], v)
		}
	}
	return keys
}

func TestSystemdUnit(t *testing.T) {
	unit := readConfig(t, unitPath)
	keys := unitKeys(t, unit)
	svc := keys["Service"]
	if svc == nil {
		t.Fatal("no [Service] section")
	}
	want := map[string]string{
		"User":                     "mbackup",
		"ExecStart":                "/usr/local/bin/mbackup daemon",
		"ExecReload":               "/bin/kill -HUP $MAINPID",
		"Restart":                  "on-failure",
		"TimeoutStopSec":           "120",
		"RuntimeDirectory":         "mbackup",
		"RuntimeDirectoryPreserve": "yes",
		"ProtectSystem":            "strict",
		"ProtectHome":              "true",
		"NoNewPrivileges":          "true",
		"PrivateTmp":               "true",
		"PrivateDevices":           "true",
		"ProtectKernelTunables":    "true",
		"ProtectKernelModules":     "true",
		"ProtectKernelLogs":        "true",
		"RestrictAddressFamilies":  "AF_UNIX AF_INET AF_INET6",
		"LockPersonality":          "true",
		"MemoryDenyWriteExecute":   "true",
		"SystemCallArchitectures":  "native",
	}
	for k, v := range want {
		if got := svc[k]; !slices.Equal(got, []string{v}) {
			t.Errorf("[Service] %s = %q, want %q", k, got, v)
		}
	}
	if !slices.Contains(svc["Environment"], "MBACKUP_CONFIG=/etc/mbackup/mbackup.yaml") {
		t.Errorf("[Service] Environment = %q, want MBACKUP_CONFIG=/etc/mbackup/mbackup.yaml", svc["Environment"])
	}
	if rw := strings.Join(svc["ReadWritePaths"], " "); !regexp.MustCompile(`(^|\s)-?/var/backups/mbackup(\s|$)`).MatchString(rw) {
		t.Errorf("[Service] ReadWritePaths = %q, want /var/backups/mbackup", rw)
	}
	if keys["Install"]["WantedBy"] == nil {
		t.Error("no [Install] WantedBy: systemctl enable would do nothing")
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not found: the unit was checked textually only")
		return
	}
	dir := t.TempDir()
	// verify insists that ExecStart's binary exists: point it at /bin/true.
	testable := bytes.Replace(unit, []byte("ExecStart=/usr/local/bin/mbackup "), []byte("ExecStart=/bin/true "), 1)
	if bytes.Equal(testable, unit) {
		t.Fatal("ExecStart=/usr/local/bin/mbackup not found in the unit")
	}
	probe := filepath.Join(dir, "probe.service")
	path := filepath.Join(dir, "mbackup.service")
	if err := os.WriteFile(probe, []byte("[Service]\nType=oneshot\nExecStart=/bin/true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, testable, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command(analyze, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return strings.TrimSpace(out.String()), err
	}
	// A trivial unit first: if that does not verify cleanly, systemd-analyze
	// cannot work in this environment, and says nothing about ours.
	if out, err := run("verify", "--man=no", probe); err != nil || out != "" {
		t.Logf("systemd-analyze verify does not work here (%v: %s): the unit was checked textually only", err, out)
		return
	}
	// verify exits 0 on unknown keys and bad values, only warning: any
	// output is a failure.
	if out, err := run("verify", "--man=no", path); err != nil || out != "" {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unitPath, err, out)
	}
	// The exposure score of the sandboxing (0 best, 10 worst); 1.6 when
	// written. --offline needs systemd >= 252.
	if out, err := run("security", "--offline=true", "--threshold=100", probe); err != nil {
		t.Logf("systemd-analyze security --offline does not work here (%v: %s)", err, lastLine(out))
		return
	}
	out, err := run("security", "--offline=true", "--threshold=25", path)
	if err != nil {
		t.Errorf("systemd-analyze security: exposure above 2.5: %v\n%s", err, out)
	}
	t.Log(lastLine(out))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func promtool(t *testing.T, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found; install it: %s", installPromtool)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = filepath.Join(configsDir, "prometheus")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestPrometheusRules(t *testing.T) {
	promtool(t, "check", "rules", filepath.Base(alertsPath))
	promtool(t, "test", "rules", filepath.Base(alertTestsPath))
	promtool(t, "check", "config", filepath.Base(promConfigPath))
}

type alertRules struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Alert       string
			Expr        string
			Labels      map[string]string
			Annotations map[string]string
		}
	}
}

func loadAlerts(t *testing.T) alertRules {
	t.Helper()
	var rules alertRules
	if err := yaml.Unmarshal(readConfig(t, alertsPath), &rules); err != nil {
		t.Fatalf("%s: %v", alertsPath, err)
	}
	return rules
}

func TestAlertsHaveRunbookHints(t *testing.T) {
	n := 0
	for _, g := range loadAlerts(t).Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("group %s: a rule without alert or expr: %+v", g.Name, r)
				continue
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("%s: no summary", r.Alert)
			}
			if d := r.Annotations["description"]; !strings.Contains(d, "journalctl -u mbackup") {
				t.Errorf("%s: the description does not say where to look (journalctl -u mbackup): %q", r.Alert, d)
			}
		}
	}
	if n < 6 {
		t.Errorf("%d alerting rules, want at least 6", n)
	}
}

type dashboard struct {
	Inputs []struct {
		Name, Type, PluginID string
	} `json:"__inputs"`
	SchemaVersion int `json:"schemaVersion"`
	UID           string
	Panels        []panel
	Templating    struct {
		List []variable
	}
}

// variable is a template variable; Query is a string for a datasource
// variable and an object for a query variable.
type variable struct {
	Name       string
	Type       string
	Query      json.RawMessage
	Definition string
	Datasource *struct{ Type, UID string }
}

type panel struct {
	ID         int
	Type       string
	Title      string
	Datasource *struct{ Type, UID string }
	Targets    []struct {
		Expr         string
		LegendFormat string
		Datasource   *struct{ Type, UID string }
	}
	Panels []panel // of a collapsed row
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal(readConfig(t, dashboardPath), &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	return d
}

func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d", d.SchemaVersion)
	}
	// A datasource variable, not an import-time input: the file works
	// when provisioned as it is.
	if len(d.Inputs) != 0 {
		t.Errorf("__inputs = %+v, want none (a datasource variable instead)", d.Inputs)
	}
	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if ds := vars["datasource"]; ds.Type != "datasource" || string(ds.Query) != `"prometheus"` {
		t.Errorf("variable datasource = %+v, want type datasource, query prometheus", ds)
	}
	inst := vars["instance"]
	if inst.Datasource == nil || inst.Datasource.UID != "${datasource}" {
		t.Errorf("variable instance: datasource %+v, want ${datasource}", inst.Datasource)
	}
	if q := string(inst.Query) + inst.Definition; strings.Contains(q, "job") || !strings.Contains(q, "label_values("+RunsTotal+", instance)") {
		t.Errorf("variable instance queries %s, want label_values(%s, instance) with no job", q, RunsTotal)
	}
	ids := map[int]bool{}
	queries := 0
	for _, p := range allPanels(d.Panels) {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want ${datasource}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			queries++
			if q.Datasource == nil || q.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: a query's datasource %+v, want ${datasource}", p.Title, q.Datasource)
			}
			for _, m := range legendLabel.FindAllStringSubmatch(q.LegendFormat, -1) {
				if !knownLabels[m[1]] {
					t.Errorf("panel %q: legend uses label %q, which no series has", p.Title, m[1])
				}
			}
		}
	}
	if queries < 7 {
		t.Errorf("%d queries, want at least 7", queries)
	}
}

var (
	seriesName  = regexp.MustCompile(`\bmbackup_[a-zA-Z0-9_:]*[a-zA-Z0-9]`)
	legendLabel = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
	alertLabel  = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
	// Labels of this package's series, and the job and instance labels
	// Prometheus adds.
	knownLabels = map[string]bool{
		TaskLabel: true, ResultLabel: true, componentLabel: true, dbLabel: true,
		statusLabel: true, actionLabel: true, sideLabel: true, "job": true, "instance": true,
	}
	// Series the configs query that are not mbackup_*: up is made by
	// Prometheus itself; the others must be exposed by the registry.
	otherSeries = []string{"up", "process_start_time_seconds"}
)

// TestConfigsQueryExportedSeries: every mbackup_* series that an alert or a
// dashboard query names is one this package exports, and every series this
// package exports is used by one of them.
func TestConfigsQueryExportedSeries(t *testing.T) {
	var exprs []string
	for _, g := range loadAlerts(t).Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
			for _, a := range r.Annotations {
				for _, m := range alertLabel.FindAllStringSubmatch(a, -1) {
					if !knownLabels[m[1]] {
						t.Errorf("alert %s: annotation uses $labels.%s, which no series has", r.Alert, m[1])
					}
				}
			}
		}
	}
	alertExprs := len(exprs)
	for _, p := range allPanels(loadDashboard(t).Panels) {
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
		}
	}
	if alertExprs < 6 || len(exprs)-alertExprs < 7 {
		t.Fatalf("found %d alert and %d dashboard expressions: is the parsing broken?", alertExprs, len(exprs)-alertExprs)
	}

	exported := Names()
	used := map[string]bool{}
	for _, e := range exprs {
		for _, name := range seriesName.FindAllString(e, -1) {
			used[name] = true
			if !slices.Contains(exported, name) {
				t.Errorf("query %q uses %s, which internal/metrics does not export", e, name)
			}
		}
	}
	for _, name := range exported {
		if !used[name] {
			t.Errorf("%s is exported but no alert or dashboard panel uses it", name)
		}
	}

	// Names anywhere else in the files (descriptions, comments, the rule
	// tests' input series) must exist too.
	for _, rel := range []string{alertsPath, alertTestsPath, dashboardPath} {
		for _, name := range seriesName.FindAllString(string(readConfig(t, rel)), -1) {
			if !slices.Contains(exported, name) {
				t.Errorf("%s mentions %s, which internal/metrics does not export", rel, name)
			}
		}
	}

	// The non-mbackup series the configs use.
	m := New()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var daemon []string
	for _, mf := range mfs {
		daemon = append(daemon, mf.GetName())
	}
	all := strings.Join(exprs, "\n")
	for _, name := range otherSeries {
		if name != "up" && !slices.Contains(daemon, name) {
			t.Errorf("the configs rely on %s, which the daemon does not expose", name)
		}
	}
	other := regexp.MustCompile(`\b(go|process|promhttp)_[a-z0-9_]+`).FindAllString(all, -1)
	sort.Strings(other)
	for _, name := range slices.Compact(other) {
		if !slices.Contains(otherSeries, name) {
			t.Errorf("the configs use %s: add it to otherSeries", name)
		}
	}
}

// TestReadmeDaemonSteps: the README's daemon steps are the unit's own
// install comment, for the unit's user and group: the user, the
// configuration directory the group may enter, files it may read.
func TestReadmeDaemonSteps(t *testing.T) {
	unit := readConfig(t, unitPath)
	svc := unitKeys(t, unit)["Service"]
	user, group := strings.Join(svc["User"], ""), strings.Join(svc["Group"], "")
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Run it as a daemon\n")
	_, block, ok2 := strings.Cut(section, "```sh\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal(`README.md has no sh block in "## Run it as a daemon"`)
	}
	var steps []string
	for _, l := range strings.Split(block, "\n") {
		if cmd, _, _ := strings.Cut(l, "   #"); strings.TrimSpace(cmd) != "" {
			steps = append(steps, strings.TrimSpace(cmd))
		}
	}
	for _, want := range []string{
		"useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin " + user,
		"install -d -m 0750 -o root -g " + group + " /etc/mbackup",
		"mbackup init --group " + group + " --from /home/mastodon/live/.env.production -o /etc/mbackup/mbackup.yaml",
		"install -d -m 0700 -o " + user + " -g " + group + " /var/backups/mbackup",
	} {
		if !slices.Contains(steps, want) {
			t.Errorf("the README's daemon steps lack %q:\n%s", want, strings.Join(steps, "\n"))
		}
		if !strings.Contains(string(unit), "#   "+want) {
			t.Errorf("the unit's install comment lacks %q", want)
		}
	}
}
