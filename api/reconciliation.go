package api

import (
	"context"

	"google.golang.org/grpc"

	onestopv1 "onestop/api/onestop/v1"
	"onestop/gateway"
)

// GetStatement answers an institution's monthly statement (对总账).
func (h *handlers) GetStatement(ctx context.Context, req *onestopv1.GetStatementRequest) (*onestopv1.Statement, error) {
	st, err := h.svc.Statement(ctx, caller(ctx), req.GetInstitutionId(), req.GetPeriod())
	if err != nil {
		return nil, err
	}
	return statement(st), nil
}

// ListSettlements streams the settlements of a period (对明细账). The server's stream
// interceptors authenticate, rate-limit, log and convert errors as for every other call.
func (h *handlers) ListSettlements(req *onestopv1.ListSettlementsRequest, stream grpc.ServerStreamingServer[onestopv1.SettlementLine]) error {
	return h.svc.ListSettlements(stream.Context(), caller(stream.Context()), gateway.ListRequest{
		InstitutionID: req.GetInstitutionId(), Period: req.GetPeriod(), From: req.GetFrom(), To: req.GetTo(),
	}, func(st *gateway.Settlement) error {
		return stream.Send(settlementLine(st))
	})
}

func statement(st *gateway.Statement) *onestopv1.Statement {
	out := &onestopv1.Statement{
		InstitutionId: st.InstitutionID,
		Period:        st.Period,
		From:          st.From.String(),
		To:            st.To.String(),
		Funds:         statementRows(st.Funds),
		Parts:         statementRows(st.Parts),
		GeneratedAt:   timestamp(st.GeneratedAt),
	}
	a := st.AidInpatient
	out.AidInpatient = &onestopv1.AidInpatientIndicators{
		Settlements:         a.Settlements,
		Total:               money(a.Total),
		SelfPay:             money(a.SelfPay),
		SelfPayShare:        a.SelfPayShare.StringFixed(4),
		SelfPayShareMet:     a.SelfPayShareMet,
		PersonalBurden:      money(a.PersonalBurden),
		PersonalBurdenShare: a.PersonalBurdenShare.StringFixed(4),
	}
	if q := st.GroupQuota; q != nil {
		out.GroupQuota = &onestopv1.GroupQuota{
			GroupId:             q.Group.ID,
			GroupName:           q.Group.Name,
			Members:             q.Group.Members,
			EnrolledPersons:     q.Group.EnrolledPersons,
			QuotaPerPerson:      money(q.Group.QuotaPerPerson),
			Quota:               money(q.Quota),
			PaidBefore:          money(q.PaidBefore),
			Paid:                money(q.Paid),
			WithinQuota:         money(q.WithinQuota),
			AboveQuota:          money(q.AboveQuota),
			ThisInstitutionPaid: money(q.ThisInstitutionPaid),
		}
	}
	return out
}

func statementRows(rows []gateway.StatementRow) []*onestopv1.StatementRow {
	out := make([]*onestopv1.StatementRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, &onestopv1.StatementRow{
			Name: r.Name, FundCode: r.FundCode,
			SettledCount: r.SettledCount, SettledAmount: money(r.SettledAmount),
			CancelledCount: r.CancelledCount, CancelledAmount: money(r.CancelledAmount),
			NetAmount: money(r.Net),
		})
	}
	return out
}

func settlementLine(st *gateway.Settlement) *onestopv1.SettlementLine {
	return &onestopv1.SettlementLine{
		SettlementId:   st.ID,
		RequestId:      st.RequestID,
		SettleDate:     st.Receipt.SettleDate.String(),
		SettledAt:      timestamp(st.SettledAt),
		MedType:        medTypesBack[st.Receipt.MedType],
		Total:          money(st.Total),
		FundTotal:      money(st.FundTotal),
		Hospital:       money(st.Hospital),
		Account:        money(st.Account),
		Cash:           money(st.Cash),
		Cancelled:      st.State == gateway.StateCancelled,
		CancelledAt:    timestamp(st.CancelledAt),
		FundPayments:   fundPayments(st.Payments),
		PersonIdMasked: st.Receipt.Person.IDMasked,
	}
}
