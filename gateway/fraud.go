package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	"onestop/gateway/policy"
)

// The fund-supervision regulation's two counter-side checks (医保基金使用监督管理条例:
// 重复结算, 分解住院/挂床住院). Both run inside the ledger transaction, on the person's
// history read under the person's lock.

// fingerprint identifies a bill's content for the repeated-bill check: institution, medical
// type and the items with their quantities and amounts, in any order, ignoring the request
// id, dates and free text. Quantities are compared by value ("2" = "2.000").
func (b *bill) fingerprint() string {
	if b.print != "" {
		return b.print
	}
	lines := make([]string, len(b.lines))
	for i, l := range b.lines {
		lines[i] = l.Code + "\x00" + l.quantity.String() + "\x00" + l.amount.StringFixed(2)
	}
	slices.Sort(lines)
	h := sha256.New()
	for _, s := range append([]string{b.req.InstitutionID, b.req.MedType}, lines...) {
		putString(h, s)
	}
	b.print = hex.EncodeToString(h.Sum(nil))
	return b.print
}

// historyQuery asks the ledger for what checkFraud reads.
func (s *Service) historyQuery(pc *prepared) HistoryQuery {
	var q HistoryQuery
	if s.DuplicateWindow > 0 {
		q.SettledSince = s.now().Add(-s.DuplicateWindow)
	}
	if pc.bill.req.MedType == policy.Inpatient {
		q.StaysEndingFrom = pc.bill.admission
	}
	return q
}

// checkFraud holds a bill settled again under a new request id within the window (unless the
// cashier confirms it) and refuses an inpatient stay overlapping a stay at another
// institution.
func (s *Service) checkFraud(pc *prepared, history []PastSettlement) error {
	req := pc.bill.req
	if s.DuplicateWindow > 0 && !req.ConfirmDuplicate {
		fp, since := pc.bill.fingerprint(), s.now().Add(-s.DuplicateWindow)
		for _, h := range history {
			if h.BillFingerprint == fp && h.RequestID != req.RequestID && !h.SettledAt.Before(since) {
				return &Error{Kind: KindFailedPrecondition, Reason: ReasonPossibleDuplicateBill, Field: "confirm_duplicate",
					Message: "the same bill (person, institution, items) was settled at " + h.SettledAt.In(s.location()).Format(time.DateTime) +
						" as settlement " + h.ID + "; if this is a new bill, settle again with confirm_duplicate"}
			}
		}
	}
	if req.MedType == policy.Inpatient {
		for _, h := range history {
			if h.MedType != policy.Inpatient || h.InstitutionID == req.InstitutionID {
				continue
			}
			if h.AdmissionDate.IsZero() {
				h.AdmissionDate = h.SettleDate // stored before admissions were recorded
			}
			// Stays are closed intervals of days: a transfer discharged and admitted the same
			// day overlaps by that day, which is how a transfer is billed (one side's day).
			if !pc.bill.settleDate.Before(h.AdmissionDate) && !h.SettleDate.Before(pc.bill.admission) &&
				!(h.SettleDate == pc.bill.admission || pc.bill.settleDate == h.AdmissionDate) {
				return &Error{Kind: KindFailedPrecondition, Reason: ReasonConcurrentAdmission, Field: "admission_date",
					Message: "the person's stay " + pc.bill.admission.String() + " – " + pc.bill.settleDate.String() +
						" overlaps an inpatient stay at institution " + h.InstitutionID + " (" + h.AdmissionDate.String() + " – " +
						h.SettleDate.String() + ")"}
			}
		}
	}
	return nil
}
