package config

import (
	"strings"
	"testing"
	"time"
)

func TestReplicaSettings(t *testing.T) {
	t.Setenv("MRHUB_DATABASE_REPLICA_URLS", " postgres://u:pw@r1:5432/mrhub , postgresql://u:pw@r2:5433/mrhub ")
	t.Setenv("MRHUB_REPLICA_MAX_LAG", "2s")
	c := FromEnv()
	if len(c.DatabaseReplicaURLs) != 2 || c.DatabaseReplicaURLs[1] != "postgresql://u:pw@r2:5433/mrhub" || c.ReplicaMaxLag != 2*time.Second {
		t.Fatalf("replicas %q, max lag %v", c.DatabaseReplicaURLs, c.ReplicaMaxLag)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("valid replica settings refused: %v", err)
	}
	if Default().ReplicaMaxLag != 5*time.Second || len(Default().DatabaseReplicaURLs) != 0 {
		t.Errorf("defaults: no replica, 5 s lag limit; got %v, %v", Default().DatabaseReplicaURLs, Default().ReplicaMaxLag)
	}

	t.Setenv("MRHUB_DATABASE_REPLICA_URLS", "host=r1 password=pw")
	t.Setenv("MRHUB_REPLICA_MAX_LAG", "soon")
	err := FromEnv().Validate()
	if err == nil || !strings.Contains(err.Error(), "MRHUB_REPLICA_MAX_LAG") || !strings.Contains(err.Error(), "MRHUB_DATABASE_REPLICA_URLS entry 1") {
		t.Fatalf("bad replica settings: %v", err)
	}
	if strings.Contains(err.Error(), "pw") {
		t.Errorf("the error prints the replica URL's password: %v", err)
	}
}
