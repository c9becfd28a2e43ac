package receipt

import (
	"io"
	"strings"
	"time"
	"unicode/utf8"

	onestopv1 "onestop/api/onestop/v1"
)

// pageWidth is a terminal's and a dot-matrix receipt printer's line.
const pageWidth = 80

// Text writes the receipt as plain text of at most 80 display columns (a CJK character
// takes two), times in loc; lang "en" for English, anything else Chinese.
func Text(w io.Writer, r *onestopv1.SettleResponse, loc *time.Location, lang string) error {
	v := newView(r, loc, lang)
	l := v.L
	var b strings.Builder

	b.WriteString(center(l.Title) + "\n")
	b.WriteString(strings.Repeat("=", pageWidth) + "\n")
	switch {
	case v.Cancelled:
		// A cancelled receipt must not pass for a valid one at a glance, nor when the
		// first line is torn off: the stamp is framed and repeated at the bottom.
		b.WriteString(center("*** "+l.Cancelled+" ***") + "\n")
		writeWrapped(&b, v.CancelBanner, "")
		b.WriteString(strings.Repeat("=", pageWidth) + "\n")
	case v.PreSettled:
		b.WriteString(center("*** "+l.PreSettled+" ***") + "\n")
		b.WriteString(strings.Repeat("=", pageWidth) + "\n")
	}

	var head [][]string
	add := func(label, value string) {
		if value != "" {
			head = append(head, []string{label, value})
		}
	}
	add(l.Institution, v.Institution)
	add(l.SettlementID, v.SettlementID)
	add(l.SettleDate, v.SettleDate)
	add(l.SettledAt, v.SettledAt)
	add(l.MedType, v.MedType)
	add(l.Patient, strings.Join(nonEmpty(v.PersonName, v.PersonID, v.Scheme), "  "))
	add(l.InsuredRegion, v.InsuredRegion)
	add(l.Policy, v.Policy)
	writeTable(&b, []column{{}, {flex: true}}, head)

	section(&b, l.Lines)
	cols := []column{{head: l.Code, flex: true}, {head: l.Item, flex: true}, {head: l.Class}, {head: l.Amount, right: true}}
	if v.HasCeiling {
		cols = append(cols, column{head: l.Ceiling, right: true})
	}
	var rows [][]string
	for _, ln := range v.Lines {
		row := []string{ln.Code, ln.Name, ln.Class, ln.Amount}
		if v.HasCeiling {
			row = append(row, ln.Ceiling)
		}
		rows = append(rows, row)
	}
	rows = append(rows, nil, []string{"", "", l.LinesTotal, v.Total})
	writeTable(&b, cols, rows)

	section(&b, l.Composition)
	writeTable(&b, []column{{head: l.Total, right: true}, {head: l.Excluded, right: true}, {head: l.Overlimit, right: true},
		{head: l.Preselfpay, right: true}, {head: l.PolicyScope, right: true}},
		[][]string{{v.Total, v.Excluded, v.Overlimit, v.Preselfpay, v.PolicyScope}})

	section(&b, l.Payments)
	cols = []column{{head: l.PaymentItem, flex: true}, {head: l.FundCode}, {head: l.Paid, right: true}}
	if v.HasThresh {
		cols = append(cols, column{head: l.ThresholdApplied, right: true})
	}
	if v.HasRatio {
		cols = append(cols, column{head: l.Ratio, right: true})
	}
	if v.HasCateg {
		cols = append(cols, column{head: l.Category, flex: true})
	}
	extra := func(p paymentView) []string {
		var out []string
		if v.HasThresh {
			out = append(out, p.ThresholdApplied)
		}
		if v.HasRatio {
			out = append(out, p.Ratio)
		}
		if v.HasCateg {
			out = append(out, p.Category)
		}
		return out
	}
	rows = nil
	for _, p := range v.Payments {
		rows = append(rows, append([]string{p.Fund, p.Code, p.Amount}, extra(p)...))
	}
	if len(rows) > 0 {
		if v.FundTotal != "" {
			rows = append(rows, []string{l.FundTotal, "", v.FundTotal})
		}
		rows = append(rows, nil)
	}
	rows = append(rows,
		[]string{l.Hospital, v.HospitalCode, v.Hospital},
		[]string{l.Account, v.AccountCode, v.Account},
		[]string{l.Cash, "", v.Cash},
		nil,
		[]string{l.GrandTotal, "", v.Total})
	writeTable(&b, cols, rows)

	if len(v.Remaining) > 0 {
		section(&b, l.Remaining)
		rows = nil
		for _, rm := range v.Remaining {
			rows = append(rows, []string{rm.FundPool, rm.Threshold, rm.Cap})
		}
		writeTable(&b, []column{{head: l.FundPool, flex: true}, {head: l.Threshold, right: true, flex: true},
			{head: l.CapRemaining, right: true}}, rows)
	}

	if v.Stale || len(v.Notes) > 0 {
		section(&b, l.Notes)
		if v.Stale {
			writeWrapped(&b, l.Stale+v.StaleAsOf, "")
		}
		for _, n := range v.Notes {
			writeWrapped(&b, "- "+n, "  ")
		}
	}
	b.WriteString(strings.Repeat("=", pageWidth) + "\n")
	if v.Cancelled {
		b.WriteString(center("*** "+l.Cancelled+" ***") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func section(b *strings.Builder, title string) {
	b.WriteString(strings.Repeat("-", pageWidth) + "\n")
	b.WriteString(clean(title) + "\n")
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func center(s string) string {
	s = clean(s)
	pad := (pageWidth - width(s)) / 2
	if pad < 0 {
		pad = 0
	}
	return strings.Repeat(" ", pad) + s
}

func writeWrapped(b *strings.Builder, s, indent string) {
	for i, line := range wrap(clean(s), pageWidth-len(indent)) {
		if i > 0 {
			b.WriteString(indent)
		}
		b.WriteString(line + "\n")
	}
}

type column struct {
	head  string
	right bool
	flex  bool // may be narrowed, its cells wrapped, for the table to fit the page
}

const (
	gap     = 2
	minFlex = 8
)

// writeTable lays rows out in columns as wide as their widest cell, narrowing the flexible
// columns (widest first) until the table fits the page. A nil row is a rule; a table whose
// headers are all empty has no header line.
func writeTable(b *strings.Builder, cols []column, rows [][]string) {
	widths := make([]int, len(cols))
	hasHead := false
	for i, c := range cols {
		widths[i] = width(c.head)
		hasHead = hasHead || c.head != ""
	}
	for _, row := range rows {
		for i := range min(len(row), len(cols)) {
			row[i] = clean(row[i])
			widths[i] = max(widths[i], width(row[i]))
		}
	}
	for total(widths) > pageWidth {
		widest := -1
		for i, c := range cols {
			if c.flex && widths[i] > minFlex && (widest < 0 || widths[i] > widths[widest]) {
				widest = i
			}
		}
		if widest < 0 {
			break // nothing left to narrow: the printer wraps what overflows
		}
		widths[widest]--
	}
	if hasHead {
		heads := make([]string, len(cols))
		for i, c := range cols {
			heads[i] = clean(c.head)
		}
		writeRow(b, cols, widths, heads)
		b.WriteString(strings.Repeat("-", min(total(widths), pageWidth)) + "\n")
	}
	for _, row := range rows {
		if row == nil {
			b.WriteString(strings.Repeat("-", min(total(widths), pageWidth)) + "\n")
			continue
		}
		writeRow(b, cols, widths, row)
	}
}

func total(widths []int) int {
	t := 0
	for _, w := range widths {
		t += w
	}
	return t + gap*max(len(widths)-1, 0)
}

func writeRow(b *strings.Builder, cols []column, widths []int, row []string) {
	cells := make([][]string, len(cols))
	height := 1
	for i := range cols {
		if i < len(row) {
			cells[i] = wrap(row[i], widths[i])
		}
		height = max(height, len(cells[i]))
	}
	for k := range height {
		var line strings.Builder
		for i, c := range cols {
			var s string
			if k < len(cells[i]) {
				s = cells[i][k]
			}
			pad := strings.Repeat(" ", max(widths[i]-width(s), 0))
			if i > 0 {
				line.WriteString(strings.Repeat(" ", gap))
			}
			if c.right {
				line.WriteString(pad + s)
			} else {
				line.WriteString(s + pad)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

// wrap breaks s into lines of at most w display columns, between words where it can and
// between any two CJK characters (Chinese has no spaces to break at).
func wrap(s string, w int) []string {
	if width(s) <= w || w < 2 {
		return []string{s}
	}
	var lines []string
	var cur strings.Builder
	curW := 0
	flush := func() {
		lines = append(lines, strings.TrimRight(cur.String(), " "))
		cur.Reset()
		curW = 0
	}
	for _, tok := range tokens(s) {
		tw := width(tok)
		if tok == " " && curW == 0 {
			continue
		}
		if curW > 0 && curW+tw > w {
			flush()
			if tok == " " {
				continue
			}
		}
		for tw > w {
			n, nw := fit(tok, w)
			lines = append(lines, tok[:n])
			tok, tw = tok[n:], tw-nw
		}
		cur.WriteString(tok)
		curW += tw
	}
	if curW > 0 {
		flush()
	}
	return lines
}

// tokens splits s into single spaces, single wide characters, full-width parentheses with
// what they enclose (a pool's name stays whole: "（普" / "通门诊）" reads badly) and runs of
// anything else.
func tokens(s string) []string {
	var out []string
	start := -1
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == '（' {
			if j := strings.IndexRune(s[i:], '）'); j > 0 && width(s[i:i+j]) <= 2*minFlex {
				n = j + len("）")
			}
		}
		if n > len("（") || r == ' ' || runeWidth(r) == 2 {
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
			out = append(out, s[i:i+n])
		} else if start < 0 {
			start = i
		}
		i += n
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

// fit is the longest prefix of s (at least one character) at most w columns wide: its
// length in bytes and its width.
func fit(s string, w int) (int, int) {
	n, nw := 0, 0
	for i, r := range s {
		rw := runeWidth(r)
		if nw+rw > w && i > 0 {
			break
		}
		n, nw = i+utf8.RuneLen(r), nw+rw
	}
	return n, nw
}

func width(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

// runeWidth is a character's width on a terminal: two for the East Asian wide and
// full-width ranges (Chinese, full-width punctuation), one otherwise.
func runeWidth(r rune) int {
	switch {
	case r >= 0x1100 && r <= 0x115F,
		r >= 0x2E80 && r <= 0x303E,
		r >= 0x3041 && r <= 0x33FF,
		r >= 0x3400 && r <= 0x4DBF,
		r >= 0x4E00 && r <= 0x9FFF,
		r >= 0xA000 && r <= 0xA4CF,
		r >= 0xAC00 && r <= 0xD7A3,
		r >= 0xF900 && r <= 0xFAFF,
		r >= 0xFE30 && r <= 0xFE4F,
		r >= 0xFF00 && r <= 0xFF60,
		r >= 0xFFE0 && r <= 0xFFE6,
		r >= 0x20000 && r <= 0x3FFFD:
		return 2
	}
	return 1
}

// clean replaces control characters: a line name comes from the terminal's bill and must
// not be able to move the cursor, clear the screen, feed the printer's paper or reorder
// the figures around it (bidirectional overrides).
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || (r >= 0x7F && r < 0xA0) || r == utf8.RuneError ||
			(r >= 0x200E && r <= 0x200F) || (r >= 0x2028 && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) {
			return ' '
		}
		return r
	}, s)
}
