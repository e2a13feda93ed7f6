// Command schemacheck validates deploy/ against real schemas, which the main module's tests
// (deploy/*_test.go) cannot do without adding large dependencies: every Kubernetes manifest is
// decoded strictly (unknown fields refused) into its k8s.io/api type, and compose.yaml is loaded
// by compose-go, which validates it against the Compose specification's JSON Schema and resolves
// it. It is a module of its own so that the hub's go.mod does not carry these dependencies.
//
//	cd deploy/schemacheck && go run . ..
//
// Go's JSON decoding matches field names case-insensitively, so a wrong capital letter in a
// manifest key is not caught; a misspelt or unknown key is.
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

func main() {
	dir := ".."
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	bad, n := 0, 0
	files, _ := filepath.Glob(filepath.Join(dir, "k8s", "*.yaml"))
	for _, f := range files {
		if strings.HasSuffix(f, "kustomization.yaml") {
			continue
		}
		b, _ := os.ReadFile(f)
		for _, doc := range bytes.Split(b, []byte("\n---")) {
			var meta struct{ Kind string }
			if err := yaml.Unmarshal(doc, &meta); err != nil || meta.Kind == "" {
				continue
			}
			var obj any
			switch meta.Kind {
			case "Namespace":
				obj = &corev1.Namespace{}
			case "ServiceAccount":
				obj = &corev1.ServiceAccount{}
			case "ConfigMap":
				obj = &corev1.ConfigMap{}
			case "Secret":
				obj = &corev1.Secret{}
			case "Service":
				obj = &corev1.Service{}
			case "Deployment":
				obj = &appsv1.Deployment{}
			case "Job":
				obj = &batchv1.Job{}
			case "PodDisruptionBudget":
				obj = &policyv1.PodDisruptionBudget{}
			case "HorizontalPodAutoscaler":
				obj = &autoscalingv2.HorizontalPodAutoscaler{}
			default:
				fmt.Println("UNKNOWN kind", meta.Kind)
				bad++
				continue
			}
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				fmt.Printf("FAIL %s %s: %v\n", f, meta.Kind, err)
				bad++
			} else {
				fmt.Printf("ok   %s %s (strict decode into k8s.io/api types)\n", filepath.Base(f), meta.Kind)
				n++
			}
		}
	}
	// compose.yaml requires these (${VAR:?}); deploy/env.example defines them for real runs.
	for _, v := range []string{"POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"} {
		if os.Getenv(v) == "" {
			os.Setenv(v, "schemacheck")
		}
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")}, cli.WithOsEnv, cli.WithWorkingDirectory(dir))
	if err == nil {
		var p any
		p, err = opts.LoadProject(context.Background())
		if err == nil {
			fmt.Printf("ok   compose.yaml loads and validates with compose-go (schema + semantics): %T\n", p)
			n++
		}
	}
	if err != nil {
		fmt.Println("FAIL compose:", err)
		bad++
	}
	if n < 10 {
		fmt.Printf("only %d objects checked under %s\n", n, dir)
		bad++
	}
	fmt.Printf("schemacheck: %d passed, %d failed\n", n, bad)
	if bad > 0 {
		os.Exit(1)
	}
}
