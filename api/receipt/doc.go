// Package receipt prints the one-page receipt a patient takes home (一单制结算单): the
// institution, the bill's lines by catalog class, what each fund paid under its national
// code, the hospital's share, the account and the cash, and what is left of the year's
// thresholds and caps. It renders the wire answer (onestopv1.SettleResponse) alone, so a
// receipt printed later from GetSettlement is the receipt the counter printed, with a
// cancellation stamped on it: as text for a terminal or an 80-column printer, and as an A5
// HTML page served at /receipts/{settlement_id}.
package receipt
