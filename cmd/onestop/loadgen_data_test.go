package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"onestop/gateway/policy"
	"onestop/gateway/refdata"
	"onestop/loadtest/loadgen"
)

// TestLoadgenData: the command writes every file the printed `onestop dev` line names, in
// a form the gateway's loaders accept, and the bills asked for.
func TestLoadgenData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cmd := loadgenDataCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--out", dir, "--persons", "50", "--bills", "40", "--seed", "3"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"50 persons", "40 bills", "onestop dev --snapshot " + filepath.Join(dir, "snapshot.jsonl"),
		"--policies " + filepath.Join(dir, "policies"), "--data-dir " + filepath.Join(dir, "ledger"), "ONESTOP_DATA=" + dir} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output lacks %q:\n%s", want, out.String())
		}
	}
	bills, err := loadgen.LoadBills(filepath.Join(dir, "bills.json"))
	if err != nil || len(bills) != 40 {
		t.Fatalf("%d bills, %v", len(bills), err)
	}
	snap, err := os.ReadFile(filepath.Join(dir, "snapshot.jsonl"))
	if err != nil || bytes.Count(snap, []byte("\n")) != 50 {
		t.Errorf("snapshot: %d lines, %v", bytes.Count(snap, []byte("\n")), err)
	}
	if _, err := refdata.LoadInstitutions(filepath.Join(dir, "institutions.yaml")); err != nil {
		t.Error(err)
	}
	if _, err := refdata.LoadCatalog(filepath.Join(dir, "catalog.csv")); err != nil {
		t.Error(err)
	}
	if _, err := policy.LoadDir(filepath.Join(dir, "policies")); err != nil {
		t.Error(err)
	}
}

func TestLoadgenDataRefusesNoPersons(t *testing.T) {
	cmd := loadgenDataCmd()
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetArgs([]string{"--out", t.TempDir(), "--persons", "0"})
	if err := cmd.Execute(); err == nil {
		t.Error("no error for --persons 0")
	}
}
