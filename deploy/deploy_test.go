package deploy

// These tests check what can be checked of the deployment without a Docker engine or a
// Kubernetes cluster: every YAML and JSON file parses; every environment variable given to the
// hub is one pkg/config reads and its values pass config.Validate; probe and scrape paths are
// routes of pkg/hub; PromQL metric names are metrics the hub registers; compose references
// (depends_on, secrets, volumes, bind mounts) resolve; topics match what the hub creates; and the
// binary the Dockerfile builds builds, statically linked (dockerfile_test.go).

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/mrhub/mrhub/pkg/config"
	"github.com/mrhub/mrhub/pkg/hub"
)

const root = ".." // the module root, seen from this package's directory

// runtimeEnv are variables read by the Go runtime rather than pkg/config, allowed in manifests.
var runtimeEnv = map[string]bool{"GOMEMLIMIT": true, "GOMAXPROCS": true, "GOGC": true}

// ---------------------------------------------------------------------------------------------
// Facts read from the hub's source.

// configEnvVars returns the environment variables pkg/config reads: the string literals passed
// to its str/num/boolean helpers and to os.Getenv / os.LookupEnv.
func configEnvVars(t *testing.T) map[string]bool {
	t.Helper()
	f := parseGo(t, filepath.Join(root, "pkg/config/config.go"))
	vars := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		name := ""
		switch fn := call.Fun.(type) {
		case *ast.Ident:
			name = fn.Name
		case *ast.SelectorExpr:
			if x, ok := fn.X.(*ast.Ident); ok {
				name = x.Name + "." + fn.Sel.Name
			}
		}
		switch name {
		case "str", "num", "boolean", "os.Getenv", "os.LookupEnv":
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				s, _ := strconv.Unquote(lit.Value)
				vars[s] = true
			}
		}
		return true
	})
	for _, must := range []string{"MRHUB_KAFKA_BROKERS", "DATABASE_URL", "MRHUB_HTTP_ADDR", "MRHUB_GROUP_ID", "MRHUB_ID_KEY", "MRHUB_ID_KEY_FILE",
		"MRHUB_KAFKA_TLS", "MRHUB_KAFKA_TLS_CA_FILE", "MRHUB_KAFKA_SASL_MECHANISM", "MRHUB_KAFKA_SASL_PASSWORD", "MRHUB_KAFKA_SASL_PASSWORD_FILE",
		"MRHUB_HTTP_TLS_CERT_FILE"} {
		if !vars[must] {
			t.Fatalf("reading pkg/config/config.go found no %s (found %v): has FromEnv changed shape?", must, keys(vars))
		}
	}
	return vars
}

// checkComposeReplica: the postgres-replica service is a streaming standby of postgres
// (pg_basebackup -R from postgres as POSTGRES_USER, hot_standby, its own volume), postgres
// allows that replication connection and creates the physical replication slot the standby
// streams through (primary_slot_name, also used by pg_basebackup -S), with
// max_slot_wal_keep_size bounding what the slot holds back; every hub reads from it with the primary's
// credentials and database and a lag limit pkg/config accepts (config.Validate ran on the hub's
// environment already).
func checkComposeReplica(t *testing.T, c composeFile, hubs map[string]map[string]string, vals map[string]string) {
	t.Helper()
	r := c.Services["postgres-replica"]
	if r == nil {
		t.Fatal("compose.yaml: no service postgres-replica")
	}
	pg := envMap(t, "postgres", c.Services["postgres"]["environment"])
	if scalar(r["image"]) != scalar(c.Services["postgres"]["image"]) {
		t.Errorf("postgres-replica runs %v, the primary %v: a standby needs the same major version", r["image"], c.Services["postgres"]["image"])
	}
	script := strings.Join(strList(r["command"]), "\n")
	for _, want := range []string{"pg_basebackup -h postgres -p 5432 -U " + pg["POSTGRES_USER"], " -R ", "hot_standby=on"} {
		if !strings.Contains(script, want) {
			t.Errorf("postgres-replica's command lacks %q:\n%s", want, script)
		}
	}
	slot := ""
	if m := regexp.MustCompile(`primary_slot_name=([a-z0-9_]+)`).FindStringSubmatch(script); m != nil {
		slot = m[1]
	} else {
		t.Errorf("postgres-replica's postgres runs without -c primary_slot_name=SLOT: the primary may recycle WAL the standby still needs:\n%s", script)
	}
	if slot != "" && !regexp.MustCompile(`pg_basebackup [^\n]*-S `+slot+`\b`).MatchString(script) {
		t.Errorf("postgres-replica's pg_basebackup does not stream through the slot %s (-S %s):\n%s", slot, slot, script)
	}
	if pgCmd := strings.Join(strList(c.Services["postgres"]["command"]), " "); !strings.Contains(pgCmd, "max_slot_wal_keep_size=") {
		t.Errorf("postgres runs without max_slot_wal_keep_size: a replica down for long would make its slot keep WAL until the disk is full (%s)", pgCmd)
	}
	if env := envMap(t, "postgres-replica", r["environment"]); env["PGPASSWORD"] != pg["POSTGRES_PASSWORD"] {
		t.Errorf("postgres-replica's PGPASSWORD %q is not the primary's POSTGRES_PASSWORD %q", env["PGPASSWORD"], pg["POSTGRES_PASSWORD"])
	}
	if !contains(strList(r["volumes"]), "pg-replica-data:/var/lib/postgresql/data") {
		t.Errorf("postgres-replica does not keep its data in its own volume pg-replica-data: %v", r["volumes"])
	}
	var hba, slotMade bool
	for _, v := range strList(c.Services["postgres"]["volumes"]) {
		src, dst, _ := strings.Cut(v, ":")
		if !strings.HasPrefix(dst, "/docker-entrypoint-initdb.d/") {
			continue
		}
		init := readFile(t, src)
		hba = hba || strings.Contains(init, "host replication ${POSTGRES_USER}")
		slotMade = slotMade || (slot != "" && strings.Contains(init, "pg_create_physical_replication_slot('"+slot+"')"))
	}
	if !hba {
		t.Error("postgres mounts no init script allowing the replica's replication connection (pg_hba.conf `host replication`)")
	}
	if slot != "" && !slotMade {
		t.Errorf("postgres mounts no init script creating the replica's slot (SELECT pg_create_physical_replication_slot('%s'))", slot)
	}
	for name, env := range hubs {
		urls := strings.Split(env["MRHUB_DATABASE_REPLICA_URLS"], ",")
		if urls[0] == "" {
			t.Errorf("hub %s: MRHUB_DATABASE_REPLICA_URLS is not set", name)
			continue
		}
		primary, _ := url.Parse(env["DATABASE_URL"])
		for _, raw := range urls {
			u, err := url.Parse(raw)
			if err != nil || u.Host != "postgres-replica:5432" {
				t.Errorf("hub %s: replica URL does not point at postgres-replica:5432 (%v)", name, err)
				continue
			}
			if u.User.String() != primary.User.String() || u.Path != primary.Path || u.RawQuery != primary.RawQuery {
				t.Errorf("hub %s: the replica URL's user, password, database or options differ from DATABASE_URL's", name)
			}
		}
		if env["MRHUB_REPLICA_MAX_LAG"] == "" {
			t.Errorf("hub %s: MRHUB_REPLICA_MAX_LAG not set explicitly", name)
		}
	}
}

// hubRoutes returns the paths pkg/hub mounts itself (mux.Handle / mux.HandleFunc with a literal
// pattern such as "GET /healthz").
func hubRoutes(t *testing.T) map[string]bool {
	t.Helper()
	f := parseGo(t, filepath.Join(root, "pkg/hub/hub.go"))
	routes := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
			return true
		}
		if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			s, _ := strconv.Unquote(lit.Value)
			if i := strings.IndexByte(s, ' '); i >= 0 {
				s = s[i+1:]
			}
			routes[s] = true
		}
		return true
	})
	for _, must := range []string{"/healthz", "/readyz", "/metrics"} {
		if !routes[must] {
			t.Fatalf("pkg/hub/hub.go mounts no %s (found %v)", must, keys(routes))
		}
	}
	return routes
}

// metricNames returns the series names the hub exposes: every Name of a prometheus *Opts literal
// in pkg/ and consumers/ (histograms with _bucket, _sum, _count), the Go/process collectors' names
// used by the dashboard when those collectors are registered, and Prometheus' own `up`.
func metricNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{"up": true}
	for _, dir := range []string{"pkg", "consumers"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			f := parseGo(t, p)
			ast.Inspect(f, func(n ast.Node) bool {
				cl, ok := n.(*ast.CompositeLit)
				if !ok {
					return true
				}
				sel, ok := cl.Type.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				x, ok := sel.X.(*ast.Ident)
				if !ok || x.Name != "prometheus" || !strings.HasSuffix(sel.Sel.Name, "Opts") {
					return true
				}
				for _, e := range cl.Elts {
					kv, ok := e.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					if k, ok := kv.Key.(*ast.Ident); !ok || k.Name != "Name" {
						continue
					}
					lit, ok := kv.Value.(*ast.BasicLit)
					if !ok {
						continue
					}
					name, _ := strconv.Unquote(lit.Value)
					names[name] = true
					switch sel.Sel.Name {
					case "HistogramOpts":
						names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
					case "SummaryOpts":
						names[name+"_sum"], names[name+"_count"] = true, true
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	tel := readFile(t, filepath.Join(root, "pkg/telemetry/telemetry.go"))
	if strings.Contains(tel, "collectors.NewProcessCollector") {
		for _, n := range []string{"process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds"} {
			names[n] = true
		}
	}
	if strings.Contains(tel, "collectors.NewGoCollector") {
		for _, n := range []string{"go_goroutines", "go_gc_duration_seconds"} {
			names[n] = true
		}
	}
	if !names["mrhub_reports_total"] {
		t.Fatalf("found no mrhub_reports_total among %v", keys(names))
	}
	return names
}

// subcommands returns the mrhub subcommands (the keys of cmd/mrhub's commands map).
func subcommands(t *testing.T) map[string]bool {
	t.Helper()
	f := parseGo(t, filepath.Join(root, "cmd/mrhub/main.go"))
	cmds := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "commands" || len(vs.Values) != 1 {
			return true
		}
		if cl, ok := vs.Values[0].(*ast.CompositeLit); ok {
			for _, e := range cl.Elts {
				if kv, ok := e.(*ast.KeyValueExpr); ok {
					if lit, ok := kv.Key.(*ast.BasicLit); ok {
						s, _ := strconv.Unquote(lit.Value)
						cmds[s] = true
					}
				}
			}
		}
		return false
	})
	for _, must := range []string{"serve", "migrate", "seed"} {
		if !cmds[must] {
			t.Fatalf("cmd/mrhub/main.go has no %q command (found %v)", must, keys(cmds))
		}
	}
	return cmds
}

// validateConfig runs config.FromEnv().Validate() with exactly env set among the config vars.
func validateConfig(t *testing.T, vars map[string]bool, env map[string]string) error {
	t.Helper()
	for v := range vars {
		t.Setenv(v, "") // FromEnv treats empty as unset
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	return config.FromEnv().Validate()
}

// ---------------------------------------------------------------------------------------------
// Every YAML and JSON file parses.

func TestEveryYAMLAndJSONFileParses(t *testing.T) {
	var n int
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(p) {
		case ".yaml", ".yml":
			docs := loadYAMLDocs(t, p)
			if len(docs) == 0 {
				t.Errorf("%s: no YAML document", p)
			}
			n++
		case ".json":
			var v any
			if err := json.Unmarshal([]byte(readFile(t, p)), &v); err != nil {
				t.Errorf("%s: %v", p, err)
			}
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 14 {
		t.Errorf("parsed only %d YAML/JSON files under deploy/", n)
	}
}

// ---------------------------------------------------------------------------------------------
// Docker Compose.

type composeFile struct {
	Services map[string]map[string]any `yaml:"services"`
	Secrets  map[string]map[string]any `yaml:"secrets"`
	Volumes  map[string]any            `yaml:"volumes"`
}

// interpolate replaces ${VAR}, ${VAR:?msg}, ${VAR:-default} as Compose does, from vals.
var interpRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[?-])([^}]*))?\}`)

func interpolate(s string, vals map[string]string) (string, []string) {
	var used []string
	out := interpRE.ReplaceAllStringFunc(s, func(m string) string {
		sm := interpRE.FindStringSubmatch(m)
		used = append(used, sm[1])
		if v, ok := vals[sm[1]]; ok {
			return v
		}
		if strings.HasSuffix(sm[2], "-") {
			return sm[3]
		}
		return ""
	})
	return out, used
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal([]byte(readFile(t, "compose.yaml")), &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return c
}

// envExample reads deploy/env.example (the variables compose.yaml interpolates).
func envExample(t *testing.T) map[string]string {
	t.Helper()
	vals := map[string]string{}
	for _, line := range strings.Split(readFile(t, "env.example"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("env.example: bad line %q", line)
		}
		vals[k] = v
	}
	return vals
}

func envMap(t *testing.T, svc string, v any) map[string]string {
	t.Helper()
	out := map[string]string{}
	switch e := v.(type) {
	case nil:
	case map[string]any:
		for k, val := range e {
			out[k] = scalar(val)
		}
	case []any:
		for _, item := range e {
			k, val, _ := strings.Cut(scalar(item), "=")
			out[k] = val
		}
	default:
		t.Fatalf("service %s: environment of type %T", svc, v)
	}
	return out
}

func strList(v any) []string {
	var out []string
	switch x := v.(type) {
	case string:
		out = append(out, x)
	case []any:
		for _, i := range x {
			out = append(out, scalar(i))
		}
	}
	return out
}

func TestCompose(t *testing.T) {
	c := loadCompose(t)
	vars, cmds := configEnvVars(t), subcommands(t)
	vals := envExample(t)

	for _, want := range []string{"kafka", "kafka-init", "postgres", "mrhub-migrate", "mrhub-seed", "hub-1", "hub-2", "prometheus", "grafana"} {
		if c.Services[want] == nil {
			t.Errorf("compose.yaml: no service %q", want)
		}
	}
	// Every ${VAR} used is defined in env.example.
	_, used := interpolate(readFile(t, "compose.yaml"), nil)
	for _, u := range used {
		if _, ok := vals[u]; !ok {
			t.Errorf("compose.yaml uses ${%s}, which env.example does not define", u)
		}
	}

	// References: depends_on, secrets, named volumes, bind mounts, build context.
	deps := map[string][]string{}
	for name, s := range c.Services {
		if s["image"] == nil && s["build"] == nil {
			t.Errorf("service %s: neither image nor build", name)
		}
		switch d := s["depends_on"].(type) {
		case nil:
		case []any:
			deps[name] = strList(d)
		case map[string]any:
			for target, cond := range d {
				deps[name] = append(deps[name], target)
				cm, _ := cond.(map[string]any)
				switch cm["condition"] {
				case "service_started", "service_healthy", "service_completed_successfully":
				default:
					t.Errorf("service %s: depends_on %s has condition %v", name, target, cm["condition"])
				}
				if cm["condition"] == "service_healthy" && c.Services[target] != nil && c.Services[target]["healthcheck"] == nil {
					t.Errorf("service %s waits for %s to be healthy, but %s has no healthcheck", name, target, target)
				}
			}
		default:
			t.Errorf("service %s: depends_on of type %T", name, d)
		}
		for _, target := range deps[name] {
			if c.Services[target] == nil {
				t.Errorf("service %s depends on %q, which is not a service", name, target)
			} else if prof := c.Services[target]["profiles"]; prof != nil && s["profiles"] == nil {
				t.Errorf("service %s (always on) depends on %s, which only runs with profiles %v", name, target, prof)
			}
		}
		for _, sec := range strList(s["secrets"]) {
			if c.Secrets[sec] == nil {
				t.Errorf("service %s uses secret %q, not declared at the top level", name, sec)
			}
		}
		for _, vol := range strList(s["volumes"]) {
			src, _, _ := strings.Cut(vol, ":")
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("service %s bind-mounts %s: %v", name, src, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("service %s mounts volume %q, not declared at the top level", name, src)
			}
		}
		if b, ok := s["build"].(map[string]any); ok {
			df := filepath.Join(scalar(b["context"]), scalar(b["dockerfile"]))
			if _, err := os.Stat(df); err != nil {
				t.Errorf("service %s builds with %s: %v", name, df, err)
			}
		}
	}
	// No dependency cycle.
	state := map[string]int{}
	var visit func(string, []string)
	visit = func(n string, path []string) {
		switch state[n] {
		case 1:
			t.Errorf("depends_on cycle: %v", append(path, n))
			return
		case 2:
			return
		}
		state[n] = 1
		for _, d := range deps[n] {
			visit(d, append(path, n))
		}
		state[n] = 2
	}
	for n := range c.Services {
		visit(n, nil)
	}

	// mrhub services: real subcommands, real env var names, values that pass config.Validate.
	hubs := map[string]map[string]string{}
	for name, s := range c.Services {
		if scalar(s["image"]) != "mrhub:local" {
			continue
		}
		cmd := strList(s["command"])
		if len(cmd) == 0 || !cmds[cmd[0]] {
			t.Errorf("service %s: command %v is not an mrhub subcommand (%v)", name, cmd, keys(cmds))
			continue
		}
		env := envMap(t, name, s["environment"])
		for k, v := range env {
			if !vars[k] {
				t.Errorf("service %s: %s is not an environment variable of pkg/config (%v)", name, k, keys(vars))
			}
			env[k], _ = interpolate(v, vals)
		}
		if err := validateConfig(t, vars, env); err != nil {
			t.Errorf("service %s: its environment fails config.Validate: %v", name, err)
		}
		if u, err := url.Parse(env["DATABASE_URL"]); err != nil || u.Host != "postgres:5432" {
			t.Errorf("service %s: DATABASE_URL %q does not point at the postgres service", name, env["DATABASE_URL"])
		} else {
			pg := envMap(t, "postgres", c.Services["postgres"]["environment"])
			pass, _ := interpolate(pg["POSTGRES_PASSWORD"], vals)
			if p, _ := u.User.Password(); u.User.Username() != pg["POSTGRES_USER"] || p != pass || strings.TrimPrefix(u.Path, "/") != pg["POSTGRES_DB"] {
				t.Errorf("service %s: DATABASE_URL user/password/database do not match the postgres service's POSTGRES_*", name)
			}
		}
		if cmd[0] == "serve" {
			hubs[name] = env
		}
	}
	if len(hubs) != 2 {
		t.Fatalf("want 2 hub (serve) services, got %v", keys(hubs))
	}
	kafkaEnv := envMap(t, "kafka", c.Services["kafka"]["environment"])
	advertised := map[string]bool{}
	for _, l := range strings.Split(kafkaEnv["KAFKA_ADVERTISED_LISTENERS"], ",") {
		if _, hp, ok := strings.Cut(l, "://"); ok {
			advertised[hp] = true
		}
	}
	var groups, ports []string
	for name, env := range hubs {
		groups = append(groups, env["MRHUB_GROUP_ID"])
		if env["MRHUB_GROUP_ID"] == "" {
			t.Errorf("hub %s: MRHUB_GROUP_ID not set explicitly", name)
		}
		if env["MRHUB_HTTP_ADDR"] != "0.0.0.0:8080" {
			t.Errorf("hub %s: MRHUB_HTTP_ADDR = %q, want 0.0.0.0:8080", name, env["MRHUB_HTTP_ADDR"])
		}
		for _, b := range strings.Split(env["MRHUB_KAFKA_BROKERS"], ",") {
			if !advertised[b] {
				t.Errorf("hub %s: broker %s is not among Kafka's advertised listeners %v", name, b, keys(advertised))
			}
		}
		if env["MRHUB_KAFKA_BROKERS"] != "kafka:9092" {
			t.Errorf("hub %s: MRHUB_KAFKA_BROKERS = %q, want kafka:9092", name, env["MRHUB_KAFKA_BROKERS"])
		}
		keyFile := env["MRHUB_ID_KEY_FILE"]
		sec := strings.TrimPrefix(keyFile, "/run/secrets/")
		if env["MRHUB_ID_KEY"] != "" {
			t.Errorf("hub %s: MRHUB_ID_KEY in clear in compose.yaml; use the secret file", name)
		}
		if keyFile == sec || !contains(strList(c.Services[name]["secrets"]), sec) {
			t.Errorf("hub %s: MRHUB_ID_KEY_FILE %q is not a secret of the service", name, keyFile)
		}
		ports = append(ports, strList(c.Services[name]["ports"])...)
	}
	if groups[0] != groups[1] {
		t.Errorf("the hubs are in different consumer groups: %v", groups)
	}
	checkComposeReplica(t, c, hubs, vals)
	sort.Strings(ports)
	if strings.Join(ports, " ") != "8081:8080 8082:8080" {
		t.Errorf("hub ports = %v, want 8081:8080 and 8082:8080", ports)
	}

	// Kafka: KRaft, both roles, image 3.9 or later.
	k := c.Services["kafka"]
	img := scalar(k["image"])
	if !regexp.MustCompile(`^apache/kafka:(3\.(9|[1-9]\d)|[4-9]\.\d+)`).MatchString(img) {
		t.Errorf("kafka image %q: want the official apache/kafka, 3.9 or later", img)
	}
	if roles := kafkaEnv["KAFKA_PROCESS_ROLES"]; !strings.Contains(roles, "broker") || !strings.Contains(roles, "controller") {
		t.Errorf("kafka: KAFKA_PROCESS_ROLES = %q, want broker,controller (KRaft single node)", roles)
	}
	if kafkaEnv["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "" || kafkaEnv["KAFKA_NODE_ID"] == "" {
		t.Error("kafka: KRaft needs KAFKA_NODE_ID and KAFKA_CONTROLLER_QUORUM_VOTERS")
	}
	if mb, _ := strconv.Atoi(kafkaEnv["KAFKA_MESSAGE_MAX_BYTES"]); mb < config.Default().MaxMessageBytes {
		t.Errorf("kafka: KAFKA_MESSAGE_MAX_BYTES %d is below MRHUB_MAX_MESSAGE_BYTES %d", mb, config.Default().MaxMessageBytes)
	}

	// Topics: the one-shot job creates exactly what the hub would create, with our partitions.
	script := strings.Join(strList(c.Services["kafka-init"]["command"]), "\n")
	if !strings.Contains(script, "/opt/kafka/bin/kafka-topics.sh") {
		t.Error("kafka-init does not use /opt/kafka/bin/kafka-topics.sh")
	}
	hubEnv := hubs["hub-1"]
	cfg := config.Default()
	cfg.Partitions, _ = strconv.Atoi(hubEnv["MRHUB_PARTITIONS"])
	h := &hub.Hub{Cfg: cfg}
	for _, spec := range h.Topics() {
		line := ""
		for _, l := range strings.Split(script, "\n") {
			if strings.Contains(l, "--create") && strings.Contains(l, "--topic "+spec.Name+" ") {
				line = l
			}
		}
		if line == "" {
			t.Errorf("kafka-init does not create topic %s", spec.Name)
			continue
		}
		f := strings.Fields(line)
		if got := flagValue(f, "--partitions"); got != strconv.Itoa(spec.Partitions) {
			t.Errorf("topic %s: --partitions %s, the hub uses %d", spec.Name, got, spec.Partitions)
		}
		if got := flagValue(f, "--replication-factor"); got != "1" {
			t.Errorf("topic %s: --replication-factor %s on a single broker", spec.Name, got)
		}
		if !contains(f, "--if-not-exists") {
			t.Errorf("topic %s: not idempotent (--if-not-exists)", spec.Name)
		}
		for k, v := range spec.Configs {
			if !strings.Contains(line, "--config "+k+"="+v) {
				t.Errorf("topic %s: missing --config %s=%s", spec.Name, k, v)
			}
		}
		if spec.Name == config.TopicIndex && !strings.Contains(line, "cleanup.policy=compact") {
			t.Errorf("%s is not compacted", spec.Name)
		}
	}

	// PostgreSQL 15 with a volume and a healthcheck.
	if pg := c.Services["postgres"]; !strings.HasPrefix(scalar(pg["image"]), "postgres:15") || pg["healthcheck"] == nil || pg["volumes"] == nil {
		t.Errorf("postgres: want image postgres:15, a healthcheck and a volume")
	}
}

func TestPrometheusScrapesBothHubs(t *testing.T) {
	c := loadCompose(t)
	routes := hubRoutes(t)
	var p struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, "prometheus/prometheus.yml")), &p); err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, sc := range p.ScrapeConfigs {
		if sc.JobName != "mrhub" {
			continue
		}
		if sc.MetricsPath != "" && !routes[sc.MetricsPath] {
			t.Errorf("job mrhub scrapes %s, not a route of pkg/hub", sc.MetricsPath)
		}
		for _, s := range sc.StaticConfigs {
			targets = append(targets, s.Targets...)
		}
	}
	sort.Strings(targets)
	var want []string
	for name, s := range c.Services {
		if contains(strList(s["command"]), "serve") {
			addr := envMap(t, name, s["environment"])["MRHUB_HTTP_ADDR"]
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				t.Fatalf("%s: MRHUB_HTTP_ADDR %q: %v", name, addr, err)
			}
			want = append(want, name+":"+port)
		}
	}
	sort.Strings(want)
	if strings.Join(targets, " ") != strings.Join(want, " ") {
		t.Errorf("job mrhub targets %v, want every hub service %v", targets, want)
	}
}

func TestGrafanaProvisioning(t *testing.T) {
	c := loadCompose(t)
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, UID, Type, Access, URL string
			IsDefault                    bool           `yaml:"isDefault"`
			Editable                     bool           `yaml:"editable"`
			JSONData                     map[string]any `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	decodeStrict(t, "grafana/provisioning/datasources/prometheus.yaml", &ds)
	uids := map[string]bool{}
	for _, d := range ds.Datasources {
		uids[d.UID] = true
		u, err := url.Parse(d.URL)
		if err != nil || c.Services[u.Hostname()] == nil {
			t.Errorf("datasource %s: URL %s is not a compose service", d.Name, d.URL)
		}
		if d.Type != "prometheus" {
			t.Errorf("datasource %s: type %s", d.Name, d.Type)
		}
	}
	var dp struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Folder, Type    string
			DisableDeletion       bool `yaml:"disableDeletion"`
			AllowUIUpdates        bool `yaml:"allowUiUpdates"`
			UpdateIntervalSeconds int  `yaml:"updateIntervalSeconds"`
			Options               struct {
				Path                      string `yaml:"path"`
				FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	decodeStrict(t, "grafana/provisioning/dashboards/mrhub.yaml", &dp)
	mounts := map[string]string{} // container path -> host path
	for _, v := range strList(c.Services["grafana"]["volumes"]) {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 {
			mounts[parts[1]] = parts[0]
		}
	}
	for _, p := range dp.Providers {
		host, ok := mounts[p.Options.Path]
		if !ok {
			t.Errorf("dashboard provider %s reads %s, which compose does not mount into grafana (%v)", p.Name, p.Options.Path, mounts)
			continue
		}
		files, _ := filepath.Glob(filepath.Join(host, "*.json"))
		if len(files) == 0 {
			t.Errorf("dashboard provider %s: no JSON in %s", p.Name, host)
		}
	}
	if mounts["/etc/grafana/provisioning"] != "./grafana/provisioning" {
		t.Errorf("grafana does not mount ./grafana/provisioning at /etc/grafana/provisioning")
	}

	// The dashboard: datasources provisioned, every PromQL metric a real one.
	metrics := metricNames(t)
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			ID         int            `json:"id"`
			Title      string         `json:"title"`
			Datasource map[string]any `json:"datasource"`
			GridPos    map[string]int `json:"gridPos"`
			Targets    []struct {
				Expr       string         `json:"expr"`
				Datasource map[string]any `json:"datasource"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal([]byte(readFile(t, "grafana/dashboards/mrhub.json")), &dash); err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	ids := map[int]bool{}
	check := func(where, expr string) {
		names, err := promqlMetrics(expr)
		if err != nil {
			t.Errorf("%s: %q: %v", where, expr, err)
		}
		if len(names) == 0 {
			t.Errorf("%s: %q names no metric", where, expr)
		}
		for _, n := range names {
			used[n] = true
			if !metrics[n] {
				t.Errorf("%s: metric %s is not registered by the hub (pkg/, consumers/)", where, n)
			}
		}
	}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos["w"] == 0 || p.GridPos["h"] == 0 {
			t.Errorf("panel %q has no size", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if uid := scalar(p.Datasource["uid"]); !uids[uid] {
			t.Errorf("panel %q: datasource uid %q is not provisioned", p.Title, uid)
		}
		for _, tg := range p.Targets {
			check("panel "+strconv.Quote(p.Title), tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		inner := strings.TrimSuffix(strings.TrimPrefix(v.Definition, "label_values("), ")")
		if i := strings.LastIndex(inner, ","); i >= 0 {
			inner = inner[:i]
		}
		check("variable", inner)
	}
	for _, want := range []string{"mrhub_reports_total", "mrhub_consumer_lag_messages", "mrhub_dead_lettered_total",
		"mrhub_batch_seconds_bucket", "mrhub_outbox_pending", "mrhub_http_request_seconds_bucket"} {
		if !used[want] {
			t.Errorf("the dashboard has no panel on %s", want)
		}
	}
}

// promqlFuncs are the PromQL functions and aggregations the dashboard may call.
var promqlFuncs = map[string]bool{"rate": true, "irate": true, "increase": true, "sum": true, "max": true, "min": true, "avg": true,
	"count": true, "histogram_quantile": true, "topk": true, "label_values": true, "clamp_min": true, "delta": true, "deriv": true}

var promqlKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
	"group_right": true, "and": true, "or": true, "unless": true, "offset": true, "bool": true}

// promqlMetrics returns the metric names of a (simple) PromQL expression: identifiers that are
// neither functions, keywords, label names (inside {} or by/without ()), durations nor numbers.
// It also checks the brackets balance and that every called function is a known one.
func promqlMetrics(expr string) ([]string, error) {
	expr = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`).ReplaceAllString(expr, `""`)
	depth := map[byte]int{}
	pairs := map[byte]byte{')': '(', '}': '{', ']': '['}
	for i := 0; i < len(expr); i++ {
		switch ch := expr[i]; ch {
		case '(', '{', '[':
			depth[ch]++
		case ')', '}', ']':
			if depth[pairs[ch]]--; depth[pairs[ch]] < 0 {
				return nil, errors.New("unbalanced " + string(ch))
			}
		}
	}
	for _, d := range depth {
		if d != 0 {
			return nil, errors.New("unbalanced brackets")
		}
	}
	expr = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`).ReplaceAllString(expr, " ")
	expr = regexp.MustCompile(`\b(by|without|on|ignoring)\s*\([^)]*\)`).ReplaceAllString(expr, " ")
	var names []string
	ident := regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?`)
	for _, m := range ident.FindAllStringIndex(expr, -1) {
		tok := expr[m[0]:m[1]]
		if m[0] > 0 && (expr[m[0]-1] >= '0' && expr[m[0]-1] <= '9' || expr[m[0]-1] == '.') {
			continue // part of a number such as 1e3
		}
		if strings.HasSuffix(tok, "(") {
			fn := strings.TrimSpace(strings.TrimSuffix(tok, "("))
			if !promqlFuncs[fn] {
				return nil, errors.New("unknown function " + fn)
			}
			continue
		}
		if promqlKeywords[tok] {
			continue
		}
		names = append(names, tok)
	}
	return names, nil
}

// ---------------------------------------------------------------------------------------------
// Helpers.

func parseGo(t *testing.T, path string) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func loadYAMLDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader([]byte(readFile(t, path))))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// decodeStrict decodes one YAML file into v, refusing fields v does not declare.
func decodeStrict(t *testing.T, path string, v any) {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader([]byte(readFile(t, path))))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func flagValue(fields []string, name string) string {
	for i, f := range fields {
		if f == name && i+1 < len(fields) {
			return fields[i+1]
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
