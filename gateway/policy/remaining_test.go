package policy

import (
	"testing"
)

// TestRemaining: after p02 (a dibian chronic visit), what is left of each pool the person
// is entitled to, outpatient and inpatient pools included.
func TestRemaining(t *testing.T) {
	p := mustPolicy(t, "province-aid-2022")
	person := Person{Scheme: "resident", Status: "adult", Categories: []Category{{Code: "dibian", From: Date{2022, 1, 1}}}}
	visit := Visit{MedType: Chronic, Level: 1, Date: Date{2022, 6, 15}, Referred: true}
	acc := Accumulators{
		"basic_resident.chronic.paid":             d("2187.25"),
		"basic_resident.chronic.threshold":        d("200.00"),
		"critical_illness.all.threshold":          d("1177.75"),
		"medical_aid.inpatient_chronic.threshold": d("2677.75"),
		"tilted_aid.all.threshold":                d("1177.75"),
	}
	got, err := Remaining(p, person, visit, acc)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		pool      string
		kind      ThresholdKind
		threshold string
		capped    bool
		room      string
	}
	want := []row{
		{"basic_resident.outpatient", "", "0.00", true, "800.00"},
		{"basic_resident.chronic", Annual, "0.00", true, "2812.75"},
		{"basic_resident.inpatient", PerVisit, "200.00", true, "350000.00"},
		{"critical_illness.all", Annual, "6822.25", false, ""},          // dibian: threshold 8000, no cap
		{"medical_aid.outpatient", Annual, "4000.00", true, "10000.00"}, // its own threshold accumulator
		{"medical_aid.inpatient_chronic", Annual, "1322.25", true, "150000.00"},
		{"tilted_aid.all", Annual, "8822.25", true, "50000.00"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d pools, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		room := ""
		if g.Capped {
			room = g.CapRoom.StringFixed(2)
		}
		gr := row{g.Fund + "." + g.Pool, g.ThresholdKind, g.Threshold.StringFixed(2), g.Capped, room}
		if gr != w {
			t.Errorf("pool %d: got %+v, want %+v", i, gr, w)
		}
	}
}
