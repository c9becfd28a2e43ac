package api

import (
	"time"

	"github.com/shopspring/decimal"
	"google.golang.org/protobuf/types/known/timestamppb"

	onestopv1 "onestop/api/onestop/v1"
	"onestop/gateway"
	"onestop/gateway/policy"
)

var medTypes = map[onestopv1.MedType]string{
	onestopv1.MedType_OUTPATIENT: policy.Outpatient,
	onestopv1.MedType_CHRONIC:    policy.Chronic,
	onestopv1.MedType_INPATIENT:  policy.Inpatient,
}

var medTypesBack = map[string]onestopv1.MedType{
	policy.Outpatient: onestopv1.MedType_OUTPATIENT,
	policy.Chronic:    onestopv1.MedType_CHRONIC,
	policy.Inpatient:  onestopv1.MedType_INPATIENT,
}

var credentialTypes = map[onestopv1.CredentialType]gateway.CredentialType{
	onestopv1.CredentialType_E_VOUCHER:            gateway.CredentialEVoucher,
	onestopv1.CredentialType_ID_CARD:              gateway.CredentialIDCard,
	onestopv1.CredentialType_SOCIAL_SECURITY_CARD: gateway.CredentialSocialCard,
}

func credential(c *onestopv1.Credential) gateway.Credential {
	return gateway.Credential{Type: credentialTypes[c.GetType()], Value: c.GetValue()}
}

func settleRequest(r *onestopv1.SettleRequest) *gateway.SettleRequest {
	req := &gateway.SettleRequest{
		RequestID:        r.GetRequestId(),
		InstitutionID:    r.GetInstitutionId(),
		Credential:       credential(r.GetCredential()),
		MedType:          medTypes[r.GetMedType()],
		SettleDate:       r.GetSettleDate(),
		AdmissionDate:    r.GetAdmissionDate(),
		ReferralNo:       r.GetReferralNo(),
		UseAccount:       r.GetUseAccount(),
		ConfirmDuplicate: r.GetConfirmDuplicate(),
		Lines:            make([]gateway.BillLine, len(r.GetLines())),
	}
	for i, l := range r.GetLines() {
		req.Lines[i] = gateway.BillLine{Code: l.GetCode(), Name: l.GetName(), Quantity: l.GetQuantity(), UnitPrice: l.GetUnitPrice(), Amount: l.GetAmount()}
	}
	return req
}

// money writes an amount as every onestop answer does: yuan with two decimals.
func money(d decimal.Decimal) string { return d.StringFixed(2) }

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

var states = map[gateway.State]onestopv1.SettlementState{
	gateway.StatePreSettled: onestopv1.SettlementState_PRESETTLED,
	gateway.StateSettled:    onestopv1.SettlementState_SETTLED,
	gateway.StateCancelled:  onestopv1.SettlementState_CANCELLED,
}

// settleResponse answers with a settlement; inst, the caller's institution (the
// settlement's own: the gateway refuses others), names it for receipts.
func settleResponse(st *gateway.Settlement, replayed bool, inst *gateway.Institution) *onestopv1.SettleResponse {
	r := st.Receipt
	resp := &onestopv1.SettleResponse{
		SettlementId:     st.ID,
		RequestId:        st.RequestID,
		State:            states[st.State],
		Total:            money(st.Total),
		Excluded:         money(r.Excluded),
		Overlimit:        money(r.Overlimit),
		Preselfpay:       money(r.Preselfpay),
		PolicyScope:      money(st.PolicyScope),
		Hospital:         money(st.Hospital),
		Account:          money(st.Account),
		Cash:             money(st.Cash),
		Person:           personSummary(r.Person),
		Policy:           policyRef(r.Policy),
		EligibilityAsOf:  timestamp(r.EligibilityAsOf),
		EligibilityStale: r.EligibilityStale,
		Notes:            r.Notes,
		Replayed:         replayed,
		InstitutionId:    st.InstitutionID,
		MedType:          medTypesBack[r.MedType],
		SettleDate:       r.SettleDate.String(),
		SettledAt:        timestamp(st.SettledAt),
		CancelledAt:      timestamp(st.CancelledAt),
	}
	if inst != nil && inst.ID == st.InstitutionID {
		resp.InstitutionName = inst.Name
	}
	resp.FundPayments = fundPayments(st.Payments)
	for _, l := range r.Lines {
		line := &onestopv1.LineResult{Code: l.Code, Name: l.Name, Class: l.Class, Amount: money(l.Amount)}
		if l.Ceiling.Valid {
			line.Ceiling = money(l.Ceiling.Decimal)
		}
		resp.Lines = append(resp.Lines, line)
	}
	resp.Remaining = remaining(r.Remaining)
	return resp
}

func fundPayments(ps []gateway.FundPayment) []*onestopv1.FundPayment {
	out := make([]*onestopv1.FundPayment, 0, len(ps))
	for _, p := range ps {
		out = append(out, &onestopv1.FundPayment{
			Fund: p.Fund, FundCode: p.FundCode, Pool: p.Pool, Amount: money(p.Amount),
			ThresholdApplied: money(p.ThresholdApplied), Ratio: p.Ratio.String(), Category: p.Category,
		})
	}
	return out
}

func remaining(rs []gateway.PoolRemaining) []*onestopv1.PoolRemaining {
	out := make([]*onestopv1.PoolRemaining, 0, len(rs))
	for _, r := range rs {
		pr := &onestopv1.PoolRemaining{Fund: r.Fund, Pool: r.Pool, ThresholdKind: r.ThresholdKind,
			ThresholdRemaining: money(r.ThresholdRemaining), Capped: r.Capped, MedTypes: r.MedTypes}
		if r.Capped {
			pr.CapRemaining = money(r.CapRemaining)
		}
		out = append(out, pr)
	}
	return out
}

func personSummary(p gateway.PersonSummary) *onestopv1.PersonSummary {
	return &onestopv1.PersonSummary{NameMasked: p.NameMasked, IdNumberMasked: p.IDMasked, Scheme: p.Scheme, Status: p.Status, InsuredRegion: p.InsuredRegion}
}

func cancelResponse(st *gateway.Settlement, requestID string, replayed bool) *onestopv1.CancelSettlementResponse {
	resp := &onestopv1.CancelSettlementResponse{
		SettlementId:  st.ID,
		RequestId:     requestID,
		State:         states[st.State],
		CancelledAt:   timestamp(st.CancelledAt),
		Replayed:      replayed,
		Reversed:      fundPayments(st.Payments),
		CashRefund:    money(st.Cash),
		AccountRefund: money(st.Account),
	}
	return resp
}

func eligibilityResponse(v *gateway.EligibilityView) *onestopv1.GetEligibilityResponse {
	resp := &onestopv1.GetEligibilityResponse{
		Person:            personSummary(v.Person),
		Flags:             v.Flags,
		Remaining:         remaining(v.Remaining),
		AccountBalance:    money(v.AccountBalance),
		Policy:            policyRef(v.Policy),
		EligibilityAsOf:   timestamp(v.AsOf),
		EligibilityStale:  v.Stale,
		AidPaidHere:       v.AidPaidHere,
		ChronicRegistered: v.ChronicRegistered,
		ChronicDiseases:   v.ChronicDiseases,
	}
	for _, c := range v.Categories {
		resp.Categories = append(resp.Categories, &onestopv1.AidCategory{Code: c.Code, From: c.From.String(), To: c.To.String()})
	}
	return resp
}

func policyRef(p gateway.PolicyRef) *onestopv1.PolicyRef {
	return &onestopv1.PolicyRef{Id: p.ID, Name: p.Name, Region: p.Region, Year: int32(p.Year), File: p.File, Version: p.Version}
}
