// Package deploy holds no code: its tests check the deployment files beside them (Dockerfile,
// compose.yaml, Prometheus and Grafana provisioning, Kubernetes manifests) against the hub's
// source — configuration variables, HTTP routes, metric names, topics — and build the binary the
// Dockerfile builds. No Docker engine or Kubernetes cluster is needed (or used).
package deploy
