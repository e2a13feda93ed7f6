package deploy

// Security in transit in the deployment files: every variable they name (comments included, so
// the commented optional settings and the SASL_SSL variant of compose.yaml cannot rot) is one
// pkg/config reads; docs/reference.md's configuration reference lists every variable pkg/config reads;
// env.example's hub security settings pass config.Validate without an INSECURE warning. The
// Kubernetes side (files mounted from Secrets, Validate on each container's environment) is in
// k8s_test.go.

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mrhub/mrhub/pkg/config"
)

// validateWithFiles runs config.Validate on env after writing files (path -> content) to
// temporary files and pointing the *_FILE variables that name them there.
func validateWithFiles(t *testing.T, vars map[string]bool, env map[string]string, files map[string]string) error {
	t.Helper()
	return validateConfig(t, vars, withFiles(t, env, files))
}

func withFiles(t *testing.T, env map[string]string, files map[string]string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
		content, ok := files[v]
		if !ok || !strings.HasSuffix(k, "_FILE") {
			continue
		}
		f := filepath.Join(dir, strings.ToLower(k))
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		out[k] = f
	}
	return out
}

// configFrom returns config.FromEnv() with exactly env set among the config vars.
func configFrom(t *testing.T, vars map[string]bool, env map[string]string) config.Config {
	t.Helper()
	for v := range vars {
		t.Setenv(v, "")
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	return config.FromEnv()
}

var mrhubVarRE = regexp.MustCompile(`\bMRHUB_[A-Z0-9_]*[A-Z0-9](_?\*)?`)

// TestDeployNamesOnlyKnownVariables scans every file under deploy/ but the Go sources, comments
// included: each MRHUB_* name is a variable pkg/config reads (NAME_* a prefix of one).
func TestDeployNamesOnlyKnownVariables(t *testing.T) {
	vars := configEnvVars(t)
	n := 0
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "schemacheck" || d.Name() == "secrets" {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, ".go") || strings.HasSuffix(p, ".sum") || strings.HasSuffix(p, ".mod") {
			return nil
		}
		for i, line := range strings.Split(readFile(t, p), "\n") {
			for _, name := range mrhubVarRE.FindAllString(line, -1) {
				n++
				if prefix, ok := strings.CutSuffix(name, "*"); ok {
					if !hasPrefixed(vars, prefix) {
						t.Errorf("%s:%d: %s matches no variable of pkg/config", p, i+1, name)
					}
					continue
				}
				if !vars[name] {
					t.Errorf("%s:%d: %s is not an environment variable of pkg/config (%v)", p, i+1, name, keys(vars))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"MRHUB_KAFKA_TLS_CA_FILE", "MRHUB_KAFKA_SASL_MECHANISM", "MRHUB_KAFKA_SASL_PASSWORD", "MRHUB_HTTP_TLS_CERT_FILE"} {
		if !strings.Contains(readFile(t, "k8s/configmap.yaml")+readFile(t, "k8s/secret.yaml"), must) {
			t.Errorf("deploy/k8s does not mention %s", must)
		}
		if !strings.Contains(readFile(t, "env.example"), must) {
			t.Errorf("deploy/env.example does not mention %s", must)
		}
	}
	if n < 50 {
		t.Errorf("found only %d MRHUB_* names under deploy/", n)
	}
}

func hasPrefixed(vars map[string]bool, prefix string) bool {
	for v := range vars {
		if strings.HasPrefix(v, prefix) {
			return true
		}
	}
	return false
}

// TestReferenceConfiguration: docs/reference.md's "Configuration" section lists every variable
// pkg/config reads, and every MRHUB_* it lists is read somewhere in the hub's source (the
// broker, demo and test variables are not pkg/config's). "`MRHUB_X_CERT_FILE` / `_KEY_FILE`"
// abbreviates MRHUB_X_KEY_FILE.
func TestReferenceConfiguration(t *testing.T) {
	vars := configEnvVars(t)
	readme := readFile(t, filepath.Join(root, "docs", "reference.md"))
	start := strings.Index(readme, "\n## Configuration\n")
	if start < 0 {
		t.Fatal("docs/reference.md has no \"## Configuration\" section")
	}
	section := readme[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	for _, v := range keys(vars) {
		if !strings.Contains(section, "`"+v+"`") {
			t.Errorf("docs/reference.md \"Configuration\" does not list %s, which pkg/config reads", v)
		}
	}
	// Every MRHUB_ string literal of the Go sources outside deploy/.
	inSource := map[string]bool{}
	lit := regexp.MustCompile(`"(MRHUB_[A-Z0-9_]+)"`)
	for _, dir := range []string{"cmd", "pkg", "consumers", "tests"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(p, ".go") {
				for _, m := range lit.FindAllStringSubmatch(readFile(t, p), -1) {
					inSource[m[1]] = true
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	token := regexp.MustCompile("`(_?[A-Z][A-Z0-9_]*)`")
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cell := strings.SplitN(line, "|", 3)[1]
		last := ""
		for _, m := range token.FindAllStringSubmatch(cell, -1) {
			name := m[1]
			if strings.HasPrefix(name, "_") { // abbreviation of the previous full name
				full := ""
				for i := len(last) - 1; i > 0; i-- {
					if last[i] == '_' && (inSource[last[:i]+name] || vars[last[:i]+name]) {
						full = last[:i] + name
						break
					}
				}
				if full == "" {
					t.Errorf("docs/reference.md \"Configuration\": %s after %s names no variable the source reads", name, last)
				}
				continue
			}
			last = name
			if strings.HasPrefix(name, "MRHUB_") && !vars[name] && !inSource[name] {
				t.Errorf("docs/reference.md \"Configuration\" lists %s, which no Go source reads", name)
			}
		}
	}
}

// TestEnvExampleHubSecurity: the commented hub settings of env.example ("# MRHUB_X=value" lines)
// are pkg/config variables, pass config.Validate (their files present) and make the hub speak
// TLS + SCRAM to Kafka with nothing it would log as INSECURE.
func TestEnvExampleHubSecurity(t *testing.T) {
	vars := configEnvVars(t)
	line := regexp.MustCompile(`^#\s*((?:MRHUB_[A-Z0-9_]+|DATABASE_URL))=(\S*)\s*$`)
	env, files := map[string]string{}, map[string]string{}
	for _, l := range strings.Split(readFile(t, "env.example"), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if !vars[m[1]] {
			t.Errorf("env.example: %s is not an environment variable of pkg/config", m[1])
		}
		if _, dup := env[m[1]]; dup {
			t.Errorf("env.example: %s given twice", m[1])
		}
		env[m[1]] = m[2]
		if strings.HasSuffix(m[1], "_FILE") {
			if !strings.HasPrefix(m[2], "/run/secrets/") {
				t.Errorf("env.example: %s=%s is not a Compose secret (/run/secrets/...)", m[1], m[2])
			}
			files[m[2]] = "placeholder"
		}
	}
	if len(env) < 5 {
		t.Fatalf("env.example: only %d commented hub settings (# MRHUB_...=...)", len(env))
	}
	env["MRHUB_ID_KEY"] = strings.Repeat("ab", 32)
	if err := validateWithFiles(t, vars, env, files); err != nil {
		t.Errorf("env.example's hub settings fail config.Validate: %v", err)
	}
	cfg := configFrom(t, vars, withFiles(t, env, files))
	if !cfg.KafkaTLS || !strings.HasPrefix(cfg.SASLMechanism(), "SCRAM-") {
		t.Errorf("env.example's hub settings: MRHUB_KAFKA_TLS=%v, mechanism %q: want TLS with SCRAM", cfg.KafkaTLS, cfg.SASLMechanism())
	}
	for _, w := range cfg.SecurityWarnings() {
		t.Errorf("env.example's hub settings are insecure: %s", w)
	}
	// They are the SASL_SSL variant of compose.yaml: same values, commented there too.
	compose := readFile(t, "compose.yaml")
	for k, v := range env {
		if k == "MRHUB_ID_KEY" {
			continue
		}
		if !regexp.MustCompile(`(?m)^\s*#\s*` + k + `:\s*"?` + regexp.QuoteMeta(v) + `"?\s*$`).MatchString(compose) {
			t.Errorf("compose.yaml's SASL_SSL variant does not set %s: %s as env.example does", k, v)
		}
		if strings.HasPrefix(v, "/run/secrets/") {
			sec := strings.TrimPrefix(v, "/run/secrets/")
			if !regexp.MustCompile(`(?m)^\s*#\s*` + regexp.QuoteMeta(sec) + `:\s*$`).MatchString(compose) {
				t.Errorf("compose.yaml's SASL_SSL variant declares no secret %s (for %s)", sec, k)
			}
		}
	}
}
