package deploy

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type manifest struct {
	file string
	doc  map[string]any
}

func (m manifest) kind() string { return scalar(m.doc["kind"]) }
func (m manifest) name() string { return scalar(get(m.doc, "metadata", "name")) }

// get walks nested maps: get(doc, "spec", "template", "spec").
func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func list(v any) []any { l, _ := v.([]any); return l }

func loadManifests(t *testing.T) []manifest {
	t.Helper()
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no k8s/*.yaml: %v", err)
	}
	var out []manifest
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		for _, d := range loadYAMLDocs(t, f) {
			out = append(out, manifest{file: f, doc: d})
		}
	}
	return out
}

var wantAPIVersion = map[string]string{
	"Namespace": "v1", "ServiceAccount": "v1", "ConfigMap": "v1", "Secret": "v1", "Service": "v1",
	"Deployment": "apps/v1", "Job": "batch/v1", "PodDisruptionBudget": "policy/v1",
	"HorizontalPodAutoscaler": "autoscaling/v2",
}

func TestKubernetesManifests(t *testing.T) {
	ms := loadManifests(t)
	vars, routes, cmds := configEnvVars(t), hubRoutes(t), subcommands(t)
	byKind := map[string][]manifest{}
	for _, m := range ms {
		where := m.file + ": " + m.kind() + "/" + m.name()
		if scalar(m.doc["apiVersion"]) == "" || m.kind() == "" || m.name() == "" {
			t.Errorf("%s: apiVersion, kind and metadata.name are required", where)
		}
		want, known := wantAPIVersion[m.kind()]
		if !known {
			t.Errorf("%s: unexpected kind", where)
		} else if got := scalar(m.doc["apiVersion"]); got != want {
			t.Errorf("%s: apiVersion %s, want %s", where, got, want)
		}
		if m.kind() != "Namespace" && scalar(get(m.doc, "metadata", "namespace")) != "mrhub" {
			t.Errorf("%s: metadata.namespace is not mrhub", where)
		}
		if !regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`).MatchString(m.name()) {
			t.Errorf("%s: name is not a DNS-1123 label", where)
		}
		byKind[m.kind()] = append(byKind[m.kind()], m)
	}
	for k := range wantAPIVersion {
		if len(byKind[k]) == 0 {
			t.Errorf("no %s manifest", k)
		}
	}
	one := func(kind string) manifest {
		if len(byKind[kind]) != 1 {
			t.Fatalf("want one %s, got %d", kind, len(byKind[kind]))
		}
		return byKind[kind][0]
	}

	// kustomization.yaml lists every manifest file, and only existing ones.
	var kz struct {
		Resources []string `yaml:"resources"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, "k8s/kustomization.yaml")), &kz); err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, r := range kz.Resources {
		listed[r] = true
		if _, err := os.Stat(filepath.Join("k8s", r)); err != nil {
			t.Errorf("kustomization.yaml: %v", err)
		}
	}
	for _, m := range ms {
		if !listed[filepath.Base(m.file)] {
			t.Errorf("kustomization.yaml does not list %s", filepath.Base(m.file))
		}
	}

	// ConfigMaps and Secrets: real variable names, secrets on the right side.
	cms, secs := byName(byKind["ConfigMap"]), byName(byKind["Secret"])
	for _, cm := range cms {
		data, _ := cm.doc["data"].(map[string]any)
		for k := range data {
			if !vars[k] {
				t.Errorf("ConfigMap %s: %s is not an environment variable of pkg/config", cm.name(), k)
			}
			if secretVars[k] {
				t.Errorf("ConfigMap %s holds the secret %s", cm.name(), k)
			}
		}
	}
	dep, job := one("Deployment"), one("Job")
	hubC := list(get(dep.doc, "spec", "template", "spec", "containers"))[0]
	var envSecret manifest // the Secret the hub takes its environment from
	for _, ef := range list(get(hubC, "envFrom")) {
		if r := scalar(get(ef, "secretRef", "name")); r != "" {
			envSecret = secs[r]
		}
	}
	if envSecret.doc == nil {
		t.Fatal("the hub container takes no environment from a Secret (envFrom secretRef)")
	}
	secData, _ := envSecret.doc["stringData"].(map[string]any)
	for _, k := range []string{"MRHUB_ID_KEY", "DATABASE_URL", "MRHUB_KAFKA_SASL_PASSWORD"} {
		if _, ok := secData[k]; !ok {
			t.Errorf("Secret %s: no %s", envSecret.name(), k)
		}
	}
	for k := range secData {
		if !vars[k] {
			t.Errorf("Secret %s: %s is not an environment variable of pkg/config", envSecret.name(), k)
		}
	}

	// Pod specs of the Deployment and the Job.
	for _, m := range []manifest{dep, job} {
		checkPodSpec(t, m, vars, cmds, cms, secs)
	}

	// The hub's environment as the pod sees it: the placeholder key must be refused, so nobody
	// runs with a published key, and everything else must pass config.Validate, every file it
	// names (TLS certificates, CAs, password files) being mounted from a Secret of the manifests.
	env := containerEnv(t, "Deployment/"+dep.name(), hubC, cms, secs)
	if err := validateMounted(t, vars, dep, hubC, env, secs, cms); err == nil || !strings.Contains(err.Error(), "MRHUB_ID_KEY") {
		t.Errorf("the Secret's placeholder MRHUB_ID_KEY passes config.Validate (%v): make it invalid", err)
	}
	env["MRHUB_ID_KEY"] = strings.Repeat("ab", 32)
	if err := validateMounted(t, vars, dep, hubC, env, secs, cms); err != nil {
		t.Errorf("the hub container's environment fails config.Validate: %v", err)
	}
	// Security in transit is on, and nothing the hub would log as INSECURE.
	cfg := configFrom(t, vars, env)
	if !cfg.KafkaTLS || cfg.SASLMechanism() == "" || cfg.KafkaTLSCAFile == "" {
		t.Errorf("the hub pods connect to Kafka without TLS, SASL or a CA file (MRHUB_KAFKA_TLS=%v, mechanism %q, CA %q)", cfg.KafkaTLS, cfg.SASLMechanism(), cfg.KafkaTLSCAFile)
	}
	for _, w := range cfg.SecurityWarnings() {
		t.Errorf("the hub pods' configuration is insecure: %s", w)
	}
	primary, err := url.Parse(env["DATABASE_URL"])
	if err != nil || primary.Query().Get("sslmode") != "verify-full" {
		t.Errorf("DATABASE_URL of the hub pods: want sslmode=verify-full (%v)", err)
	}
	// Read replicas: in the Secret (the URLs hold the password), each with the primary's role,
	// database and TLS settings (so the mounted CA verifies them too); the lag limit is set.
	if _, ok := secData["MRHUB_DATABASE_REPLICA_URLS"]; !ok {
		t.Errorf("Secret %s: no MRHUB_DATABASE_REPLICA_URLS (read replicas)", envSecret.name())
	}
	for _, raw := range cfg.DatabaseReplicaURLs {
		u, err := url.Parse(raw)
		if err != nil || primary == nil || u.User.Username() != primary.User.Username() || u.Path != primary.Path || u.RawQuery != primary.RawQuery {
			t.Errorf("a replica URL of the hub pods differs from DATABASE_URL in role, database or TLS options (%v)", err)
		} else if u.Host == primary.Host {
			t.Errorf("a replica URL names the primary's host %s", u.Host)
		}
	}
	if len(cfg.DatabaseReplicaURLs) == 0 || env["MRHUB_REPLICA_MAX_LAG"] == "" {
		t.Errorf("the hub pods have no read replica (%d URLs) or no explicit MRHUB_REPLICA_MAX_LAG", len(cfg.DatabaseReplicaURLs))
	}
	// The Job: what it reads passes config.Validate too (it mounts no Kafka files, so it must not
	// read the Kafka TLS settings), and its DATABASE_URL files are mounted.
	for _, group := range []string{"initContainers", "containers"} {
		for _, c := range list(get(job.doc, "spec", "template", "spec", group)) {
			where := "Job/" + job.name() + " container " + scalar(get(c, "name"))
			jenv := containerEnv(t, where, c, cms, secs)
			if err := validateMounted(t, vars, job, c, jenv, secs, cms); err != nil {
				t.Errorf("%s: its environment fails config.Validate: %v", where, err)
			}
			if _, ok := jenv["MRHUB_KAFKA_SASL_PASSWORD"]; ok {
				t.Errorf("%s reads the Kafka password, which migrate and seed do not need", where)
			}
		}
	}
	_, httpPort, err := net.SplitHostPort(env["MRHUB_HTTP_ADDR"])
	if err != nil {
		t.Fatalf("ConfigMap MRHUB_HTTP_ADDR %q: %v", env["MRHUB_HTTP_ADDR"], err)
	}

	// Deployment specifics.
	if r := get(dep.doc, "spec", "replicas"); r != 2 {
		t.Errorf("Deployment replicas = %v, want 2", r)
	}
	labels, _ := get(dep.doc, "spec", "template", "metadata", "labels").(map[string]any)
	sel, _ := get(dep.doc, "spec", "selector", "matchLabels").(map[string]any)
	if len(sel) == 0 || !subset(sel, labels) {
		t.Errorf("Deployment selector %v does not match its pod labels %v", sel, labels)
	}
	pod := get(dep.doc, "spec", "template", "spec")
	if g, ok := get(pod, "terminationGracePeriodSeconds").(int); !ok || g < 30 {
		t.Errorf("terminationGracePeriodSeconds = %v, want >= 30 (the consumer drains its batch, up to 15 s, then HTTP, 5 s)", get(pod, "terminationGracePeriodSeconds"))
	}
	if a := strList(get(hubC, "args")); len(a) == 0 || a[0] != "serve" {
		t.Errorf("hub container args %v, want serve", a)
	}
	ports := map[string]string{}
	for _, p := range list(get(hubC, "ports")) {
		ports[scalar(get(p, "name"))] = scalar(get(p, "containerPort"))
	}
	if ports["http"] != httpPort {
		t.Errorf("container port http = %q, MRHUB_HTTP_ADDR listens on %s", ports["http"], httpPort)
	}
	for probe, wantPath := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": ""} {
		p := get(hubC, probe)
		if p == nil {
			t.Errorf("hub container has no %s", probe)
			continue
		}
		path := scalar(get(p, "httpGet", "path"))
		if !routes[path] || (wantPath != "" && path != wantPath) {
			t.Errorf("%s path %q: want %q, a route of pkg/hub (%v)", probe, path, wantPath, keys(routes))
		}
		port := scalar(get(p, "httpGet", "port"))
		if _, ok := ports[port]; !ok && port != httpPort {
			t.Errorf("%s port %q is not a container port", probe, port)
		}
	}
	if ann := scalar(get(dep.doc, "spec", "template", "metadata", "annotations", "prometheus.io/path")); ann != "" && !routes[ann] {
		t.Errorf("prometheus.io/path %q is not a route", ann)
	}
	memLimit := quantity(t, scalar(get(hubC, "resources", "limits", "memory")))
	if memLimit < 300<<20 {
		t.Errorf("memory limit %d bytes is below the 300 MB RSS of docs/benchmarks.md", memLimit)
	}
	for _, e := range list(get(hubC, "env")) {
		if scalar(get(e, "name")) == "GOMEMLIMIT" {
			if gl := quantity(t, strings.TrimSuffix(scalar(get(e, "value")), "B")); gl >= memLimit {
				t.Errorf("GOMEMLIMIT %d >= memory limit %d", gl, memLimit)
			}
		}
	}

	// Service, PDB, HPA point at the Deployment.
	svc := one("Service")
	ssel, _ := get(svc.doc, "spec", "selector").(map[string]any)
	if len(ssel) == 0 || !subset(ssel, labels) {
		t.Errorf("Service selector %v does not select the hub pods %v", ssel, labels)
	}
	for _, p := range list(get(svc.doc, "spec", "ports")) {
		tp := scalar(get(p, "targetPort"))
		if _, ok := ports[tp]; !ok && tp != httpPort {
			t.Errorf("Service targetPort %q is not a container port", tp)
		}
	}
	pdb := one("PodDisruptionBudget")
	if get(pdb.doc, "spec", "minAvailable") != 1 {
		t.Errorf("PDB minAvailable = %v, want 1", get(pdb.doc, "spec", "minAvailable"))
	}
	psel, _ := get(pdb.doc, "spec", "selector", "matchLabels").(map[string]any)
	if len(psel) == 0 || !subset(psel, labels) {
		t.Errorf("PDB selector %v does not select the hub pods", psel)
	}
	hpa := one("HorizontalPodAutoscaler")
	if get(hpa.doc, "spec", "scaleTargetRef", "kind") != "Deployment" || get(hpa.doc, "spec", "scaleTargetRef", "name") != dep.name() {
		t.Errorf("HPA scaleTargetRef %v is not Deployment/%s", get(hpa.doc, "spec", "scaleTargetRef"), dep.name())
	}
	minR, _ := get(hpa.doc, "spec", "minReplicas").(int)
	maxR, _ := get(hpa.doc, "spec", "maxReplicas").(int)
	if minR < 2 || maxR < minR {
		t.Errorf("HPA min/max replicas %d/%d", minR, maxR)
	}
	cpu := false
	for _, m := range list(get(hpa.doc, "spec", "metrics")) {
		if get(m, "type") == "Resource" && get(m, "resource", "name") == "cpu" {
			cpu = true
		}
	}
	if !cpu {
		t.Error("HPA has no CPU metric")
	}
	if !strings.Contains(readFile(t, hpa.file), "mrhub_consumer_lag_messages") || !metricNames(t)["mrhub_consumer_lag_messages"] {
		t.Error("hpa.yaml: the (commented) External metric should name mrhub_consumer_lag_messages, a real metric")
	}
}

func checkPodSpec(t *testing.T, m manifest, vars, cmds map[string]bool, cms, secs map[string]manifest) {
	t.Helper()
	pod := get(m.doc, "spec", "template", "spec")
	podVolumes := map[string]bool{}
	for _, v := range list(get(pod, "volumes")) {
		podVolumes[scalar(get(v, "name"))] = true
		if sec := get(v, "secret"); sec != nil {
			name := scalar(get(sec, "secretName"))
			if secs[name].doc == nil {
				t.Errorf("%s: volume %s mounts Secret %s, which is not among the manifests", m.name(), scalar(get(v, "name")), name)
			}
			if mode, ok := get(sec, "defaultMode").(int); !ok || mode > 0o777 || mode&0o027 != 0 { // no group write, nothing for others
				t.Errorf("%s: volume %s: Secret files readable by others (defaultMode %v): want 0440 with the pod's fsGroup", m.name(), scalar(get(v, "name")), get(sec, "defaultMode"))
			}
			if get(pod, "securityContext", "fsGroup") == nil {
				t.Errorf("%s: mounts Secret %s without a pod fsGroup: the non-root hub could not read files of mode 0440", m.name(), name)
			}
		}
	}
	podNonRoot := get(pod, "securityContext", "runAsNonRoot") == true
	if uid, ok := get(pod, "securityContext", "runAsUser").(int); ok && uid == 0 {
		t.Errorf("%s: pod runs as root", m.name())
	}
	var images []string
	for _, group := range []string{"initContainers", "containers"} {
		for _, c := range list(get(pod, group)) {
			where := fmt.Sprintf("%s/%s container %s", m.kind(), m.name(), scalar(get(c, "name")))
			images = append(images, scalar(get(c, "image")))
			if a := strList(get(c, "args")); len(a) == 0 || !cmds[a[0]] {
				t.Errorf("%s: args %v do not start with an mrhub subcommand", where, a)
			}
			for _, e := range list(get(c, "env")) {
				n := scalar(get(e, "name"))
				if !vars[n] && !runtimeEnv[n] {
					t.Errorf("%s: env %s is neither a pkg/config variable nor a Go runtime one", where, n)
				}
				if ref := get(e, "valueFrom", "secretKeyRef"); ref != nil {
					if keys, _ := secs[scalar(get(ref, "name"))].doc["stringData"].(map[string]any); keys[scalar(get(ref, "key"))] == nil {
						t.Errorf("%s: secretKeyRef %v does not exist", where, ref)
					}
				}
			}
			for _, ef := range list(get(c, "envFrom")) {
				if r := get(ef, "configMapRef", "name"); r != nil && cms[scalar(r)].doc == nil {
					t.Errorf("%s: configMapRef %v does not exist", where, r)
				}
				if r := get(ef, "secretRef", "name"); r != nil && secs[scalar(r)].doc == nil {
					t.Errorf("%s: secretRef %v does not exist", where, r)
				}
			}
			for _, vm := range list(get(c, "volumeMounts")) {
				if !podVolumes[scalar(get(vm, "name"))] {
					t.Errorf("%s: volumeMount %s names no volume of the pod", where, scalar(get(vm, "name")))
				}
			}
			sc := get(c, "securityContext")
			if !(podNonRoot || get(sc, "runAsNonRoot") == true) {
				t.Errorf("%s: runAsNonRoot is not set", where)
			}
			if get(sc, "readOnlyRootFilesystem") != true || get(sc, "allowPrivilegeEscalation") != false {
				t.Errorf("%s: want readOnlyRootFilesystem true and allowPrivilegeEscalation false", where)
			}
			if !contains(strList(get(sc, "capabilities", "drop")), "ALL") {
				t.Errorf("%s: capabilities are not all dropped", where)
			}
			for _, r := range []string{"requests", "limits"} {
				if get(c, "resources", r, "memory") == nil || get(c, "resources", r, "cpu") == nil {
					t.Errorf("%s: resources.%s.cpu/memory not set", where, r)
				}
			}
		}
	}
	if len(images) == 0 {
		t.Errorf("%s: no container", m.name())
	}
	sort.Strings(images)
	if len(images) > 0 && images[0] != images[len(images)-1] {
		t.Errorf("%s: containers use different images %v", m.name(), images)
	}
}

// quantity parses the Kubernetes memory quantities used here (Ki, Mi, Gi, or plain bytes).
func quantity(t *testing.T, s string) int64 {
	t.Helper()
	mult := int64(1)
	for suf, m := range map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30} {
		if strings.HasSuffix(s, suf) {
			s, mult = strings.TrimSuffix(s, suf), m
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("quantity %q: %v", s, err)
	}
	return n * mult
}

func subset(sel, labels map[string]any) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// secretVars are variables that belong in a Secret, never in a ConfigMap.
var secretVars = map[string]bool{"MRHUB_ID_KEY": true, "DATABASE_URL": true, "MRHUB_KAFKA_SASL_PASSWORD": true}

func byName(ms []manifest) map[string]manifest {
	out := map[string]manifest{}
	for _, m := range ms {
		out[m.name()] = m
	}
	return out
}

// containerEnv is the environment of container c as Kubernetes builds it: envFrom ConfigMaps
// and Secrets in order, then env (value, secretKeyRef, configMapKeyRef), which wins. Go runtime
// variables are left out.
func containerEnv(t *testing.T, where string, c any, cms, secs map[string]manifest) map[string]string {
	t.Helper()
	env := map[string]string{}
	data := func(m manifest) map[string]any {
		if d, ok := m.doc["data"].(map[string]any); ok {
			return d
		}
		d, _ := m.doc["stringData"].(map[string]any)
		return d
	}
	for _, ef := range list(get(c, "envFrom")) {
		var m manifest
		if r := scalar(get(ef, "configMapRef", "name")); r != "" {
			m = cms[r]
		} else if r := scalar(get(ef, "secretRef", "name")); r != "" {
			m = secs[r]
		}
		for k, v := range data(m) {
			env[k] = scalar(v)
		}
	}
	for _, e := range list(get(c, "env")) {
		n := scalar(get(e, "name"))
		if runtimeEnv[n] {
			continue
		}
		switch {
		case get(e, "valueFrom", "secretKeyRef") != nil:
			ref := get(e, "valueFrom", "secretKeyRef")
			env[n] = scalar(data(secs[scalar(get(ref, "name"))])[scalar(get(ref, "key"))])
		case get(e, "valueFrom", "configMapKeyRef") != nil:
			ref := get(e, "valueFrom", "configMapKeyRef")
			env[n] = scalar(data(cms[scalar(get(ref, "name"))])[scalar(get(ref, "key"))])
		case get(e, "valueFrom") != nil:
			t.Errorf("%s: env %s: valueFrom other than secretKeyRef/configMapKeyRef", where, n)
		default:
			env[n] = scalar(get(e, "value"))
		}
	}
	return env
}

// mountedFile returns the content of the file at p in container c of pod: a read-only
// volumeMount of a Secret or ConfigMap volume (items respected) whose object, among the
// manifests, has the key.
func mountedFile(pod, c any, p string, secs, cms map[string]manifest) (string, error) {
	for _, vm := range list(get(c, "volumeMounts")) {
		mp, sub := scalar(get(vm, "mountPath")), scalar(get(vm, "subPath"))
		var key string
		switch {
		case sub != "" && mp == p:
			key = sub
		case sub == "" && path.Dir(p) == path.Clean(mp):
			key = path.Base(p)
		default:
			continue
		}
		if get(vm, "readOnly") != true {
			return "", fmt.Errorf("mounted at %s without readOnly: true", mp)
		}
		for _, v := range list(get(pod, "volumes")) {
			if scalar(get(v, "name")) != scalar(get(vm, "name")) {
				continue
			}
			kind, src, objs := "Secret", get(v, "secret"), secs
			name := scalar(get(src, "secretName"))
			if src == nil {
				kind, src, objs = "ConfigMap", get(v, "configMap"), cms
				name = scalar(get(src, "name"))
			}
			if src == nil {
				return "", fmt.Errorf("volume %s (mounted at %s) is neither a Secret nor a ConfigMap", scalar(get(v, "name")), mp)
			}
			if items := list(get(src, "items")); len(items) > 0 {
				projected := false
				for _, it := range items {
					if scalar(get(it, "path")) == key {
						key, projected = scalar(get(it, "key")), true
						break
					}
				}
				if !projected {
					return "", fmt.Errorf("volume %s (%s %s) projects no file %s", scalar(get(v, "name")), kind, name, path.Base(p))
				}
			}
			obj := objs[name]
			if obj.doc == nil {
				return "", fmt.Errorf("%s %s is not among the manifests", kind, name)
			}
			if d, ok := obj.doc["stringData"].(map[string]any); ok && d[key] != nil {
				return scalar(d[key]), nil
			}
			if d, ok := obj.doc["data"].(map[string]any); ok && d[key] != nil {
				if kind == "ConfigMap" {
					return scalar(d[key]), nil
				}
				b, err := base64.StdEncoding.DecodeString(scalar(d[key]))
				return string(b), err
			}
			return "", fmt.Errorf("%s %s has no key %s", kind, name, key)
		}
		return "", fmt.Errorf("volumeMount %s names no volume of the pod", scalar(get(vm, "name")))
	}
	return "", fmt.Errorf("no volumeMount of the container provides %s", p)
}

// validateMounted runs config.Validate on env as container c of m would: every file a *_FILE
// variable or DATABASE_URL (sslrootcert, sslcert, sslkey) names must be mounted from a Secret or
// ConfigMap of the manifests (an error of t otherwise); Validate then sees those files' contents
// at temporary paths.
func validateMounted(t *testing.T, vars map[string]bool, m manifest, c any, env map[string]string, secs, cms map[string]manifest) error {
	t.Helper()
	pod := get(m.doc, "spec", "template", "spec")
	where := m.kind() + "/" + m.name() + " container " + scalar(get(c, "name"))
	files := map[string]string{}
	need := func(what, p string) {
		content, err := mountedFile(pod, c, p, secs, cms)
		if err != nil {
			t.Errorf("%s: %s names %s: %v", where, what, p, err)
			return
		}
		files[p] = content
	}
	for _, k := range keys(env) {
		if strings.HasSuffix(k, "_FILE") && vars[k] && env[k] != "" {
			need(k, env[k])
		}
	}
	if u, err := url.Parse(env["DATABASE_URL"]); err == nil {
		for _, param := range []string{"sslrootcert", "sslcert", "sslkey"} {
			if p := u.Query().Get(param); p != "" {
				need("DATABASE_URL "+param, p)
			}
		}
	}
	return validateWithFiles(t, vars, env, files)
}
