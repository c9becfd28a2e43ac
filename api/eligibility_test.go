package api_test

import (
	"strings"
	"testing"

	onestopv1 "onestop/api/onestop/v1"
)

// TestGetEligibility: who the person is (masked), the categories valid on the date, and what
// is left of each pool given the ledger's accumulators.
func TestGetEligibility(t *testing.T) {
	j := journal(t)
	w := newWorld(t, j)
	cl := caseClient(t, w, "p02-dibian-threshold.json") // medical_aid.inpatient_chronic.threshold 1500 counted
	w.seed(t, cl)
	resp, err := cl.eligibility.GetEligibility(cl.ctx, &onestopv1.GetEligibilityRequest{
		InstitutionId: cl.inst, Date: "2022-06-15",
		Credential: &onestopv1.Credential{Type: onestopv1.CredentialType_ID_CARD, Value: cl.idNumber},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Person.IdNumberMasked != cl.idNumber[:4]+"**********"+cl.idNumber[14:] || !strings.Contains(resp.Person.NameMasked, "*") {
		t.Errorf("person not masked: %+v", resp.Person)
	}
	if len(resp.Categories) != 1 || resp.Categories[0].Code != "dibian" || !resp.ChronicRegistered || resp.Policy.GetId() != "province-aid-2022" {
		t.Errorf("got categories %v, chronic %v, policy %v", resp.Categories, resp.ChronicRegistered, resp.Policy)
	}
	left := map[string]*onestopv1.PoolRemaining{}
	for _, r := range resp.Remaining {
		left[r.Fund+"."+r.Pool] = r
	}
	aid := left["medical_aid.inpatient_chronic"]
	if aid == nil || aid.ThresholdKind != "annual" || aid.ThresholdRemaining != "2500.00" || aid.CapRemaining != "150000.00" {
		t.Errorf("medical_aid.inpatient_chronic: got %+v, want annual threshold 2500.00 left (4000 - 1500), cap 150000.00", aid)
	}
	if basic := left["basic_resident.chronic"]; basic == nil || basic.ThresholdRemaining != "0.00" {
		t.Errorf("basic_resident.chronic: got %+v, want the 200 threshold already paid", basic)
	}
}
