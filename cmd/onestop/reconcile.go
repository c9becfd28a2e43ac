package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	onestopv1 "onestop/api/onestop/v1"
)

// detailColumns are the institution's own detail file (对明细账), in its order: --details
// writes them first, --compare reads them.
var detailColumns = []string{"settlement_id", "total", "fund_total", "account", "cash", "cancelled"}

func reconcileCmd() *cobra.Command {
	var cf clientFlags
	var month, format, compare string
	var details bool
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "An institution's monthly statement (对总账), its detail lines (对明细账), or the differences from its own detail file",
		Long: `Without --details or --compare: the statement of --month, per fund and part, with the aid
recipients' inpatient indicators and the group's outpatient quota (--format table, csv or json;
in csv, indicator rows carry their value in the last column).

--details: every settlement of the month as CSV, first the institution detail columns
settlement_id,total,fund_total,account,cash,cancelled then more (--format json: one JSON
object a line).

--compare FILE: FILE is the institution's detail CSV (a header naming at least
settlement_id,total,fund_total,account,cash,cancelled; amounts as decimals; cancelled as
true/false/1/0). Every difference from onestop's lines of the month is printed: settlements
missing from onestop, missing from the file, and each differing field with both values. The
exit status is 1 when there is any difference.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cf.json && !cmd.Flags().Changed("format") {
				format = "json"
			}
			switch {
			case month == "":
				return errors.New("--month YYYY-MM is required")
			case format != "table" && format != "csv" && format != "json":
				return fmt.Errorf("--format %q: want table, csv or json", format)
			case details && compare != "":
				return errors.New("give --details or --compare, not both")
			}
			var file []detailRow
			if compare != "" {
				var err error
				if file, err = readDetailFile(compare); err != nil {
					return err
				}
			}
			conn, ctx, cancel, err := cf.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()
			defer cancel()
			cli := onestopv1.NewReconciliationServiceClient(conn)
			out := cmd.OutOrStdout()
			if !details && compare == "" {
				st, err := cli.GetStatement(ctx, &onestopv1.GetStatementRequest{InstitutionId: cf.institution, Period: month})
				if err != nil {
					return callError(err)
				}
				return writeStatement(out, format, st)
			}
			stream, err := cli.ListSettlements(ctx, &onestopv1.ListSettlementsRequest{InstitutionId: cf.institution, Period: month})
			if err != nil {
				return callError(err)
			}
			var write func(*onestopv1.SettlementLine) error
			var flush func() error
			var ours []detailRow
			switch {
			case compare != "":
				write = func(l *onestopv1.SettlementLine) error {
					r, err := lineRow(l)
					ours = append(ours, r)
					return err
				}
			case format == "json":
				write = func(l *onestopv1.SettlementLine) error {
					b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(l)
					if err == nil {
						_, err = fmt.Fprintln(out, string(b))
					}
					return err
				}
			default:
				w := csv.NewWriter(out)
				if err := w.Write(slices.Concat(detailColumns, extraColumns)); err != nil {
					return err
				}
				write = func(l *onestopv1.SettlementLine) error { return w.Write(detailRecord(l)) }
				flush = func() error { w.Flush(); return w.Error() }
			}
			for {
				l, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return callError(err)
				}
				if err := write(l); err != nil {
					return err
				}
			}
			if flush != nil {
				if err := flush(); err != nil {
					return err
				}
			}
			if compare == "" {
				return nil
			}
			diffs := compareDetails(file, ours)
			if err := writeDifferences(out, format, diffs, len(file), len(ours)); err != nil {
				return err
			}
			if len(diffs) > 0 {
				return exitError{1}
			}
			return nil
		},
	}
	cf.bind(cmd)
	cmd.Flags().StringVar(&month, "month", "", "the period, YYYY-MM (the gateway's local months)")
	cmd.Flags().StringVar(&format, "format", "table", "table, csv or json")
	cmd.Flags().BoolVar(&details, "details", false, "the month's settlements, one line each, instead of the statement")
	cmd.Flags().StringVar(&compare, "compare", "", "the institution's detail CSV to compare with onestop's lines of the month")
	return cmd
}

// extraColumns follow detailColumns in --details output.
var extraColumns = []string{"request_id", "settle_date", "settled_at", "med_type", "hospital", "cancelled_at", "person_id_masked", "fund_payments"}

func detailRecord(l *onestopv1.SettlementLine) []string {
	var funds []string
	for _, p := range l.FundPayments {
		funds = append(funds, p.Fund+":"+p.Amount)
	}
	cancelledAt := ""
	if l.CancelledAt != nil {
		cancelledAt = l.CancelledAt.AsTime().Format(time.RFC3339Nano)
	}
	return []string{l.SettlementId, l.Total, l.FundTotal, l.Account, l.Cash, fmt.Sprint(l.Cancelled),
		l.RequestId, l.SettleDate, l.SettledAt.AsTime().Format(time.RFC3339Nano), strings.ToLower(l.MedType.String()), l.Hospital,
		cancelledAt, l.PersonIdMasked, strings.Join(funds, ";")}
}

// detailRow is one settlement as both sides' detail lines have it.
type detailRow struct {
	id                              string
	total, fundTotal, account, cash decimal.Decimal
	cancelled                       bool
	line                            int // in the file; 0 for onestop's
}

func lineRow(l *onestopv1.SettlementLine) (detailRow, error) {
	r := detailRow{id: l.SettlementId, cancelled: l.Cancelled}
	for _, f := range []struct {
		name string
		s    string
		d    *decimal.Decimal
	}{{"total", l.Total, &r.total}, {"fund_total", l.FundTotal, &r.fundTotal}, {"account", l.Account, &r.account}, {"cash", l.Cash, &r.cash}} {
		d, err := decimal.NewFromString(f.s)
		if err != nil {
			return r, fmt.Errorf("the gateway sent settlement %s with %s %q", l.SettlementId, f.name, f.s)
		}
		*f.d = d
	}
	return r, nil
}

// readDetailFile reads the institution's detail CSV: the header names the columns (in any
// order, other columns ignored); every bad value is an error naming its line and column.
func readDetailFile(path string) ([]detailRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty; want a header %s", path, strings.Join(detailColumns, ","))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i // a spreadsheet's byte-order mark
	}
	var missing []string
	for _, c := range detailColumns {
		if _, ok := col[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s:1: the header lacks %s (want %s)", path, strings.Join(missing, ", "), strings.Join(detailColumns, ","))
	}
	var rows []detailRow
	seen := map[string]int{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		line, _ := r.FieldPos(0)
		get := func(name string) string {
			if i := col[name]; i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		row := detailRow{id: get("settlement_id"), line: line}
		if row.id == "" {
			return nil, fmt.Errorf("%s:%d: settlement_id is empty", path, line)
		}
		if first, dup := seen[row.id]; dup {
			return nil, fmt.Errorf("%s:%d: settlement %s is also on line %d", path, line, row.id, first)
		}
		seen[row.id] = line
		for _, f := range []struct {
			name string
			d    *decimal.Decimal
		}{{"total", &row.total}, {"fund_total", &row.fundTotal}, {"account", &row.account}, {"cash", &row.cash}} {
			d, err := decimal.NewFromString(get(f.name))
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %s %q is not an amount", path, line, f.name, get(f.name))
			}
			*f.d = d
		}
		switch strings.ToLower(get("cancelled")) {
		case "true", "1":
			row.cancelled = true
		case "false", "0":
		default:
			return nil, fmt.Errorf("%s:%d: cancelled %q: want true, false, 1 or 0", path, line, get("cancelled"))
		}
		rows = append(rows, row)
	}
}

// difference is one disagreement between the file and onestop.
type difference struct {
	SettlementID string `json:"settlement_id"`
	Kind         string `json:"kind"` // "missing_in_onestop", "missing_in_file", "differs"
	Field        string `json:"field,omitempty"`
	File         string `json:"file,omitempty"`
	Onestop      string `json:"onestop,omitempty"`
	Line         int    `json:"line,omitempty"` // in the file
}

// compareDetails lists every difference: the file's settlements in its order (missing in
// onestop, or each differing field), then onestop's that the file lacks, in onestop's order.
// Amounts compare by value ("12.3" is 12.30).
func compareDetails(file, ours []detailRow) []difference {
	byID := map[string]detailRow{}
	for _, r := range ours {
		byID[r.id] = r
	}
	inFile := map[string]bool{}
	var out []difference
	for _, f := range file {
		inFile[f.id] = true
		o, ok := byID[f.id]
		if !ok {
			out = append(out, difference{SettlementID: f.id, Kind: "missing_in_onestop", Line: f.line})
			continue
		}
		for _, c := range []struct {
			name   string
			fv, ov decimal.Decimal
		}{{"total", f.total, o.total}, {"fund_total", f.fundTotal, o.fundTotal}, {"account", f.account, o.account}, {"cash", f.cash, o.cash}} {
			if !c.fv.Equal(c.ov) {
				out = append(out, difference{SettlementID: f.id, Kind: "differs", Field: c.name, File: c.fv.StringFixed(2), Onestop: c.ov.StringFixed(2), Line: f.line})
			}
		}
		if f.cancelled != o.cancelled {
			out = append(out, difference{SettlementID: f.id, Kind: "differs", Field: "cancelled", File: fmt.Sprint(f.cancelled), Onestop: fmt.Sprint(o.cancelled), Line: f.line})
		}
	}
	for _, o := range ours {
		if !inFile[o.id] {
			out = append(out, difference{SettlementID: o.id, Kind: "missing_in_file"})
		}
	}
	return out
}

func writeDifferences(w io.Writer, format string, diffs []difference, fileRows, ourRows int) error {
	switch format {
	case "json":
		if diffs == nil {
			diffs = []difference{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"file_settlements": fileRows, "onestop_settlements": ourRows, "differences": diffs})
	case "csv":
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"settlement_id", "kind", "field", "file", "onestop", "line"})
		for _, d := range diffs {
			line := ""
			if d.Line > 0 {
				line = fmt.Sprint(d.Line)
			}
			_ = cw.Write([]string{d.SettlementID, d.Kind, d.Field, d.File, d.Onestop, line})
		}
		cw.Flush()
		return cw.Error()
	}
	for _, d := range diffs {
		switch d.Kind {
		case "missing_in_onestop":
			fmt.Fprintf(w, "%s: in the file (line %d), not in onestop's lines of the month\n", d.SettlementID, d.Line)
		case "missing_in_file":
			fmt.Fprintf(w, "%s: in onestop, not in the file\n", d.SettlementID)
		default:
			fmt.Fprintf(w, "%s: %s differs: file %s, onestop %s (line %d)\n", d.SettlementID, d.Field, d.File, d.Onestop, d.Line)
		}
	}
	if len(diffs) == 0 {
		_, err := fmt.Fprintf(w, "no differences: the file's %d settlements are onestop's %d\n", fileRows, ourRows)
		return err
	}
	_, err := fmt.Fprintf(w, "%d differences (file: %d settlements, onestop: %d)\n", len(diffs), fileRows, ourRows)
	return err
}

func writeStatement(w io.Writer, format string, st *onestopv1.Statement) error {
	switch format {
	case "json":
		return printAnswer(w, true, st, nil)
	case "csv":
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"section", "name", "fund_code", "settled_count", "settled_amount", "cancelled_count", "cancelled_amount", "net_amount"})
		for _, sec := range []struct {
			name string
			rows []*onestopv1.StatementRow
		}{{"fund", st.Funds}, {"part", st.Parts}} {
			for _, r := range sec.rows {
				_ = cw.Write([]string{sec.name, r.Name, r.FundCode, fmt.Sprint(r.SettledCount), r.SettledAmount, fmt.Sprint(r.CancelledCount), r.CancelledAmount, r.NetAmount})
			}
		}
		for _, ind := range indicators(st) {
			_ = cw.Write([]string{ind[0], ind[1], "", "", "", "", "", ind[2]})
		}
		cw.Flush()
		return cw.Error()
	}
	fmt.Fprintf(w, "statement of %s for %s (%s to %s)\n\n", st.InstitutionId, st.Period, st.From, st.To)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tcode\tsettled\tamount\tcancelled\tamount\tnet\t")
	for _, rows := range [][]*onestopv1.StatementRow{st.Funds, st.Parts} {
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\t\n", r.Name, r.FundCode, r.SettledCount, r.SettledAmount, r.CancelledCount, r.CancelledAmount, r.NetAmount)
		}
		fmt.Fprintln(tw, "\t\t\t\t\t\t\t")
	}
	tw.Flush()
	for _, ind := range indicators(st) {
		fmt.Fprintf(w, "%s.%s: %s\n", ind[0], ind[1], ind[2])
	}
	return nil
}

// indicators are the statement's indicators as (section, name, value).
func indicators(st *onestopv1.Statement) [][3]string {
	a := st.AidInpatient
	out := [][3]string{
		{"aid_inpatient", "settlements", fmt.Sprint(a.GetSettlements())},
		{"aid_inpatient", "total", a.GetTotal()},
		{"aid_inpatient", "self_pay", a.GetSelfPay()},
		{"aid_inpatient", "self_pay_share", a.GetSelfPayShare()},
		{"aid_inpatient", "self_pay_share_met", fmt.Sprint(a.GetSelfPayShareMet())},
		{"aid_inpatient", "personal_burden", a.GetPersonalBurden()},
		{"aid_inpatient", "personal_burden_share", a.GetPersonalBurdenShare()},
	}
	if q := st.GroupQuota; q != nil {
		out = append(out, [][3]string{
			{"group_quota", "group_id", q.GroupId},
			{"group_quota", "members", strings.Join(q.Members, " ")},
			{"group_quota", "enrolled_persons", fmt.Sprint(q.EnrolledPersons)},
			{"group_quota", "quota_per_person", q.QuotaPerPerson},
			{"group_quota", "quota", q.Quota},
			{"group_quota", "paid_before", q.PaidBefore},
			{"group_quota", "paid", q.Paid},
			{"group_quota", "within_quota", q.WithinQuota},
			{"group_quota", "above_quota", q.AboveQuota},
			{"group_quota", "this_institution_paid", q.ThisInstitutionPaid},
		}...)
	}
	return out
}
