package receipt

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	onestopv1 "onestop/api/onestop/v1"
	"onestop/gateway"
)

func renderText(t *testing.T, lang string, cancelledToo bool) string {
	t.Helper()
	r := settled()
	if cancelledToo {
		r = cancelled()
	}
	var b bytes.Buffer
	if err := Text(&b, r, shanghai, lang); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func renderHTML(t *testing.T, lang string, cancelledToo bool) string {
	t.Helper()
	r := settled()
	if cancelledToo {
		r = cancelled()
	}
	var b bytes.Buffer
	if err := HTML(&b, r, shanghai, lang); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// mustMatch: each pattern (a regexp over one line of output) matches some line.
func mustMatch(t *testing.T, out string, patterns ...string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	for _, p := range patterns {
		re := regexp.MustCompile(p)
		found := false
		for _, l := range lines {
			if re.MatchString(l) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no line matches %q in:\n%s", p, out)
		}
	}
}

func mustContain(t *testing.T, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			t.Errorf("missing %q in:\n%s", s, out)
		}
	}
}

func mustNotContain(t *testing.T, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(out, s) {
			t.Errorf("unexpected %q in:\n%s", s, out)
		}
	}
}

func TestTextSettledInChinese(t *testing.T) {
	out := renderText(t, "zh", false)
	mustMatch(t, out,
		`^\s+一单制结算单$`,
		`^医疗机构\s+常州市第一人民医院 \(H320401\)$`,
		`^结算单号\s+0199a6f2-5c1e-7b3a-9f2d-3c4e5a6b7c8d$`,
		`^结算日期\s+2026-03-05$`,
		// Shanghai time, not the UTC 02:21:33 the timestamp holds.
		`^结算时间\s+2026-03-05 10:21:33 CST$`,
		`^医疗类别\s+普通门诊$`,
		`^患者\s+张\*三  3204\*{10}1234  城乡居民医保 成年$`,
		`^SVC-001\s+普通门诊诊查费\s+甲类\s+25\.00$`,
		`^DRUG-102\s+阿莫西林胶囊\s+乙类\s+77\.00\s+60\.00$`,
		`^DRUG-900\s+<script>alert\(1\)</script>\s+丙类\s+12\.50$`,
		`^\s+合计\s+114\.50$`,
		`^\s*医疗费总额\s+全自费\s+超限价\s+先行自付\s+政策范围内$`,
		`^\s*114\.50\s+12\.50\s+17\.00\s+6\.00\s+79\.00$`,
		// Each fund's payment with its national code; the threshold column only where
		// a threshold was applied, the aid category where there is one.
		`^城乡居民基本医疗保险统筹基金\s+390100\s+39\.50\s+0\.5$`,
		`^城乡居民大病保险（综合）\s+390200\s+0\.00\s+39\.50\s+0\.6$`,
		`^医疗救助（普通门诊）\s+610100\s+20\.00\s+0\.8\s+低保$`,
		`^lottery_fund（普通门诊）\s+5\.00\s+1$`,
		`^基金支付合计\s+64\.50$`,
		`^医院负担\s+999996\s+0\.00$`,
		`^个人账户支付\s+310200\s+0\.00$`,
		`^现金支付\s+50\.00$`,
		`^合计\s+114\.50$`,
		`^本年度剩余起付线/封顶线额度`,
		`^城乡居民基本医疗保险统筹基金（普通门诊）\s+0\.00（本年度剩余）\s+360\.50$`,
		`^城乡居民基本医疗保险统筹基金（住院）\s+300\.00（每次）\s+300000\.00$`,
		`^城乡居民大病保险（综合）\s+14960\.50（本年度剩余）\s+不封顶$`,
		`^医疗救助（普通门诊）\s+无起付线\s+1980\.00$`,
		`^注意：结算时参保信息已超过时效`,
	)
	// The note is printed as the gateway wrote it, wrapped to the page.
	mustContain(t, strings.Join(strings.Fields(out), " "),
		"- medical aid is not paid one-stop at this institution (not aid-designated): the patient may claim it at the civil-affairs office with this receipt")
	mustNotContain(t, out, "已撤销", "02:21:33", "Cash", "Total")
	for i, l := range strings.Split(out, "\n") {
		if w := width(l); w > pageWidth {
			t.Errorf("line %d is %d columns wide: %q", i+1, w, l)
		}
	}
}

func TestTextInEnglish(t *testing.T) {
	out := renderText(t, "en", false)
	mustMatch(t, out,
		`^\s+One-stop settlement receipt$`,
		`^Settled at\s+2026-03-05 10:21:33 CST$`,
		`^Visit type\s+Outpatient$`,
		`^DRUG-102\s+阿莫西林胶囊\s+Class B\s+77\.00\s+60\.00$`,
		`^Resident basic insurance\s+390100\s+39\.50\s+0\.5$`,
		`^\(outpatient\)$`,
		`^Medical aid \(outpatient\)\s+610100\s+20\.00\s+0\.8\s+dibao$`,
		`^Hospital share\s+999996\s+0\.00$`,
		`^Personal account\s+310200\s+0\.00$`,
		`^Cash\s+50\.00$`,
		`^Resident basic insurance \(inpatient\)\s+300\.00 per visit\s+300000\.00$`,
		`^Critical-illness insurance \(all\)\s+14960\.50 left this year\s+no cap$`,
		`^Medical aid \(outpatient\)\s+none\s+1980\.00$`,
	)
	mustNotContain(t, out, "一单制结算单", "现金支付", "甲类", "不封顶")
}

func TestTextCancelled(t *testing.T) {
	for _, tc := range []struct{ lang, stamp, banner string }{
		{"zh", "*** 已撤销 ***", "本结算已于 2026-03-05 11:30:00 CST 撤销，本单作废"},
		{"en", "*** CANCELLED ***", "Cancelled at 2026-03-05 11:30:00 CST: this receipt is void"},
	} {
		out := renderText(t, tc.lang, true)
		lines := strings.Split(out, "\n")
		// At the top, before anything that could pass for a valid receipt.
		if strings.TrimSpace(lines[2]) != tc.stamp || lines[3] != tc.banner {
			t.Errorf("%s: no cancellation at the top:\n%s", tc.lang, out)
		}
		if strings.Count(out, tc.stamp) != 2 {
			t.Errorf("%s: want the stamp at the top and the bottom:\n%s", tc.lang, out)
		}
		// The receipt still says what was settled.
		mustContain(t, out, "390100", "50.00")
	}
}

func TestTextNeutralisesControlCharacters(t *testing.T) {
	r := settled()
	r.Lines[0].Name = "clear\x1b[2J\rscreen\u202eevil"
	var b bytes.Buffer
	if err := Text(&b, r, shanghai, "zh"); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(b.String(), "\x1b\r\u202e") {
		t.Errorf("control characters got through:\n%q", b.String())
	}
	mustContain(t, b.String(), "clear [2J screen evil")
}

func TestWrapKeepsWithinWidth(t *testing.T) {
	for _, tc := range []struct {
		s    string
		w    int
		want []string
	}{
		{"城乡居民基本医疗保险统筹基金（门诊慢特病）", 30, []string{"城乡居民基本医疗保险统筹基金", "（门诊慢特病）"}},
		{"the patient may claim it", 12, []string{"the patient", "may claim it"}},
		{"abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"甲乙丙", 3, []string{"甲", "乙", "丙"}},
	} {
		got := wrap(tc.s, tc.w)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("wrap(%q, %d) = %q, want %q", tc.s, tc.w, got, tc.want)
		}
	}
}

// rows returns the text of each table row and definition of the page, tags stripped and
// spaces collapsed, so that assertions read like the receipt.
func rows(page string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?s)<(tr|div)[ >].*?</(tr|div)>`).FindAllString(page, -1) {
		s := regexp.MustCompile(`<[^>]*>`).ReplaceAllString(m, " ")
		out = append(out, strings.Join(strings.Fields(s), " "))
	}
	return out
}

func mustHaveRows(t *testing.T, page string, want ...string) {
	t.Helper()
	got := rows(page)
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("no row %q among:\n%s", w, strings.Join(got, "\n"))
		}
	}
}

func TestHTMLSettledInChinese(t *testing.T) {
	page := renderHTML(t, "zh", false)
	mustContain(t, page, `<html lang="zh-CN">`, "<h1>一单制结算单</h1>", `<dd class="time">2026-03-05 10:21:33 CST</dd>`,
		"<h2>费用明细</h2>", "<h2>支付明细</h2>", "<h2>本年度剩余起付线/封顶线额度（本次结算后）</h2>")
	mustHaveRows(t, page,
		"医疗机构 常州市第一人民医院 (H320401)",
		"结算单号 0199a6f2-5c1e-7b3a-9f2d-3c4e5a6b7c8d",
		"患者 张*三 3204**********1234 城乡居民医保 成年",
		"编码 项目名称 类别 金额 限价",
		"SVC-001 普通门诊诊查费 甲类 25.00",
		"DRUG-102 阿莫西林胶囊 乙类 77.00 60.00",
		"合计 114.50",
		"全自费 12.50", "超限价 17.00", "先行自付 6.00", "政策范围内 79.00",
		"支付项目 基金编码 支付金额 计入起付线 比例 救助类别",
		"城乡居民基本医疗保险统筹基金（普通门诊） 390100 39.50 0.5",
		"城乡居民大病保险（综合） 390200 0.00 39.50 0.6",
		"医疗救助（普通门诊） 610100 20.00 0.8 低保",
		"lottery_fund（普通门诊） 5.00 1",
		"基金支付合计 64.50",
		"医院负担 999996 0.00",
		"个人账户支付 310200 0.00",
		"现金支付 50.00",
		"城乡居民基本医疗保险统筹基金（普通门诊） 0.00（本年度剩余） 360.50",
		"城乡居民基本医疗保险统筹基金（住院） 300.00（每次） 300000.00",
		"城乡居民大病保险（综合） 14960.50（本年度剩余） 不封顶",
		"医疗救助（普通门诊） 无起付线 1980.00",
	)
	mustContain(t, page, "注意：结算时参保信息已超过时效，可能不是最新。参保信息截至 2026-03-02 00:00:00 CST。",
		"<li>medical aid is not paid one-stop at this institution (not aid-designated): the patient may claim it at the civil-affairs office with this receipt</li>")
	mustNotContain(t, page, "已撤销", `data-stamp="`, "Cash")
}

func TestHTMLIsOneSelfContainedPrintablePage(t *testing.T) {
	page := renderHTML(t, "zh", false)
	mustContain(t, page, "@page { size: A5", `<p class="hint" role="note">打印 / Print`)
	// The print hint shows on screen and not on paper.
	if !regexp.MustCompile(`(?s)@media print \{.*\.hint \{ display: none; \}`).MatchString(page) {
		t.Error("the print hint is not hidden in print")
	}
	// Nothing to fetch and nothing to run: the page prints offline and leaks no URL.
	for _, bad := range []string{"<script", "<link", "<img", "src=", "href=", "url(", "@import", "http:", "https:"} {
		if strings.Contains(strings.ReplaceAll(page, "&lt;script&gt;", ""), bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}

func TestHTMLEscapes(t *testing.T) {
	r := settled()
	r.InstitutionName = `"><img src=x onerror=alert(1)>`
	r.Notes = []string{"</li><script>alert(2)</script>"}
	r.FundPayments[0].Category = "<b>dibao</b>"
	var b bytes.Buffer
	if err := HTML(&b, r, shanghai, "zh"); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	mustNotContain(t, page, "<script>", "<img", "<b>dibao")
	mustContain(t, page, "&lt;script&gt;alert(1)&lt;/script&gt;", "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;",
		"&lt;/li&gt;&lt;script&gt;alert(2)&lt;/script&gt;", "&lt;b&gt;dibao&lt;/b&gt;")
}

func TestHTMLCancelled(t *testing.T) {
	for _, tc := range []struct{ lang, stamp, banner string }{
		{"zh", "已撤销", "本结算已于 2026-03-05 11:30:00 CST 撤销，本单作废"},
		{"en", "CANCELLED", "Cancelled at 2026-03-05 11:30:00 CST: this receipt is void"},
	} {
		page := renderHTML(t, tc.lang, true)
		stamp := `<div class="stamp" role="alert"><strong>` + tc.stamp + `</strong>` + tc.banner + `</div>`
		i, h1 := strings.Index(page, stamp), strings.Index(page, "<h1>")
		if i < 0 || i > h1 {
			t.Errorf("%s: want %q above the title:\n%s", tc.lang, stamp, page)
		}
		mustContain(t, page, `data-stamp="`+tc.stamp+`"`, "<title>["+tc.stamp+"]", `<p class="foot">`+tc.stamp+`</p>`)
	}
}

func TestHTMLInEnglish(t *testing.T) {
	page := renderHTML(t, "en", false)
	mustContain(t, page, `<html lang="en">`, "<h1>One-stop settlement receipt</h1>", "<h2>Bill lines</h2>")
	mustHaveRows(t, page,
		"DRUG-102 阿莫西林胶囊 Class B 77.00 60.00",
		"Resident basic insurance (outpatient) 390100 39.50 0.5",
		"Hospital share 999996 0.00",
		"Personal account 310200 0.00",
		"Cash 50.00",
		"Critical-illness insurance (all) 14960.50 left this year no cap",
	)
	mustNotContain(t, page, "现金支付", "甲类", "不封顶", "一单制结算单")
}

// TestContentSecurityPolicyAllowsTheStylesheet: the page is unstyled in a browser if the
// policy's hash is not the hash of the <style> the page carries.
func TestContentSecurityPolicyAllowsTheStylesheet(t *testing.T) {
	var errPage bytes.Buffer
	if err := pages.ExecuteTemplate(&errPage, "error.html", errorView{L: zh, CSS: template.CSS(css)}); err != nil {
		t.Fatal(err)
	}
	for _, page := range []string{renderHTML(t, "zh", true), errPage.String()} {
		m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindAllStringSubmatch(page, -1)
		if len(m) != 1 {
			t.Fatalf("want one <style>, got %d", len(m))
		}
		sum := sha256.Sum256([]byte(m[0][1]))
		want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "';"
		if !strings.Contains(contentSecurityPolicy, want) {
			t.Errorf("policy %q does not allow the page's style (%s)", contentSecurityPolicy, want)
		}
	}
	if strings.Contains(contentSecurityPolicy, "unsafe") || !strings.HasPrefix(contentSecurityPolicy, "default-src 'none';") {
		t.Errorf("policy not strict: %q", contentSecurityPolicy)
	}
}

// TestEveryFundHasAName: a fund the gateway knows (it has a national code or an agency)
// prints under its name in both languages, not as its id.
func TestEveryFundHasAName(t *testing.T) {
	ids := map[string]bool{}
	for id := range gateway.FundCodes {
		ids[id] = true
	}
	for id := range gateway.FundAgencies {
		ids[id] = true
	}
	for id := range ids {
		n, ok := funds[id]
		if !ok {
			t.Errorf("fund %q has no display name", id)
			continue
		}
		if !strings.ContainsFunc(n.zh, func(r rune) bool { return unicode.Is(unicode.Han, r) }) || n.en == "" || n.en == id {
			t.Errorf("fund %q: names %q / %q", id, n.zh, n.en)
		}
	}
	if got := zh.fundName("no_such_fund"); got != "no_such_fund" {
		t.Errorf("an unknown fund prints as %q, want its id", got)
	}
}

func TestLanguageDefaultsToChinese(t *testing.T) {
	for lang, want := range map[string]*labels{"": zh, "zh": zh, "fr": zh, "en": en, "EN": en, "en-US": en, "en_GB": en, "eng": zh} {
		if labelsFor(lang) != want {
			t.Errorf("labelsFor(%q) is not %s", lang, want.HTMLLang)
		}
	}
}

func TestLoadLocationShanghai(t *testing.T) {
	loc, err := LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	if _, off := time.Date(2026, 7, 1, 0, 0, 0, 0, loc).Zone(); off != 8*60*60 {
		t.Errorf("offset %d, want +8h", off)
	}
	if _, err := LoadLocation("Nowhere/Special"); err == nil {
		t.Error("an unknown zone loaded")
	}
}

// A pre-settlement's answer is not a receipt of anything: printed, it must say so.
func TestPreSettlementSaysNothingWasSettled(t *testing.T) {
	r := settled()
	r.State, r.SettlementId, r.SettledAt = onestopv1.SettlementState_PRESETTLED, "", nil
	var txt, page bytes.Buffer
	if err := Text(&txt, r, shanghai, "zh"); err != nil {
		t.Fatal(err)
	}
	if err := HTML(&page, r, shanghai, "en"); err != nil {
		t.Fatal(err)
	}
	mustContain(t, txt.String(), "*** 预结算：仅供参考，未实际结算 ***")
	mustNotContain(t, txt.String(), "结算单号", "结算时间")
	mustContain(t, page.String(), `<div class="stamp presettled" role="alert">PRE-SETTLEMENT: for information, nothing was settled</div>`)
}
