package policy_test

import (
	"fmt"

	"github.com/shopspring/decimal"

	"onestop/gateway/policy"
)

// A dibao recipient's level-2 inpatient stay under the Changzhou-like resident policy:
// basic insurance pays first, the critical-illness threshold absorbs what is left, and
// medical aid pays 80% of the rest.
func ExampleSplit() {
	set, err := policy.LoadDir("../../testdata/policy/policies")
	if err != nil {
		panic(err)
	}
	p, err := set.Select("320400", policy.Date{Year: 2022, Month: 6, Day: 15})
	if err != nil {
		panic(err)
	}
	person := policy.Person{
		Scheme:     "resident",
		Status:     "adult",
		Categories: []policy.Category{{Code: "dibao", From: policy.Date{Year: 2022, Month: 1, Day: 1}}},
	}
	visit := policy.Visit{MedType: policy.Inpatient, Level: 2, Date: policy.Date{Year: 2022, Month: 6, Day: 15}, Referred: true}
	lines := []policy.Line{
		{Code: "SVC-5001", Class: policy.ClassA, Amount: decimal.RequireFromString("9000.00")},
		{Code: "DRUG-5002", Class: policy.ClassB, Amount: decimal.RequireFromString("2000.00")},
		{Code: "MAT-5003", Class: policy.ClassC, Amount: decimal.RequireFromString("500.00")},
	}
	res, err := policy.Split(p, person, visit, nil, lines)
	if err != nil {
		panic(err)
	}
	fmt.Println("policy scope", res.PolicyScope.StringFixed(2))
	fmt.Println("basic_resident", res.Funds["basic_resident"].StringFixed(2))
	fmt.Println("medical_aid", res.Funds["medical_aid"].StringFixed(2))
	fmt.Println("cash", res.Cash.StringFixed(2))
	// Output:
	// policy scope 10800.00
	// basic_resident 7650.00
	// medical_aid 2520.00
	// cash 1330.00
}
