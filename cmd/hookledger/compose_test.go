package main

import (
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/hookledger/hookledger/adapters/config"
)

// The compose files in docs/compose cannot be run here (no Docker engine):
// they must at least parse, and the cluster's must give its hookledger
// nodes a configuration serve accepts, each with its own node id.
func TestComposeFilesParseAndTheClusterNodesAreValid(t *testing.T) {
	files, err := filepath.Glob("../../docs/compose/*.yml")
	if err != nil || len(files) < 3 {
		t.Fatalf("compose files: %v %v", files, err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Services map[string]struct {
				Environment map[string]string `yaml:"environment"`
			} `yaml:"services"`
		}
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(doc.Services) == 0 {
			t.Fatalf("%s: no services", f)
		}
		if filepath.Base(f) != "hookledger-cluster.yml" {
			continue
		}
		ids := map[string]bool{}
		for _, name := range []string{"hl1", "hl2", "hl3"} {
			env := doc.Services[name].Environment
			env["HOOKLEDGER_ADMIN_KEY"] = "" // ${...}: given by the operator
			cfg, err := config.Parse("serve", nil, func(k string) string { return env[k] })
			if err != nil {
				t.Fatalf("%s: %s's environment: %v", f, name, err)
			}
			if !cfg.Cluster || ids[cfg.NodeID] {
				t.Fatalf("%s: %s is not a cluster node with its own id: %+v", f, name, cfg)
			}
			ids[cfg.NodeID] = true
		}
	}
}
