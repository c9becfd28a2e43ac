package receipt

import (
	"fmt"
	"strings"
)

// labels are the words of one language. The receipt is in Chinese unless asked otherwise:
// it is what the patient keeps and shows at the civil-affairs office or the insurer.
type labels struct {
	HTMLLang  string
	Title     string
	PrintHint string

	Cancelled       string // the stamp
	CancelledBanner string // %s: the cancellation time
	CancelledNoTime string
	PreSettled      string

	Institution   string
	SettlementID  string
	SettleDate    string
	SettledAt     string
	MedType       string
	Patient       string
	InsuredRegion string
	Policy        string

	Lines      string
	Code       string
	Item       string
	Class      string
	Amount     string
	Ceiling    string
	LinesTotal string

	Composition string
	Total       string
	Excluded    string
	Overlimit   string
	Preselfpay  string
	PolicyScope string

	Payments         string
	PaymentItem      string
	FundCode         string
	Paid             string
	ThresholdApplied string
	Ratio            string
	Category         string
	FundTotal        string
	Hospital         string
	Account          string
	Cash             string
	GrandTotal       string

	Remaining    string
	FundPool     string
	Threshold    string
	CapRemaining string
	Annual       string // %s: the amount
	PerVisit     string // %s: the amount
	NoThreshold  string
	NoCap        string
	PoolFmt      string // %s: fund, %s: pool

	Stale       string
	StaleAsOf   string // %s: when the record was taken
	Notes       string
	ErrorTitle  string
	ErrorReason string

	classes    map[string]string
	medTypes   map[string]string
	schemes    map[string]string
	statuses   map[string]string
	pools      map[string]string
	categories map[string]string
	fund       func(fundName) string
}

var zh = &labels{
	HTMLLang:  "zh-CN",
	Title:     "一单制结算单",
	PrintHint: "打印 / Print：按 Ctrl+P（⌘P）打印，纸张 A5。本提示不会打印。",

	Cancelled:       "已撤销",
	CancelledBanner: "本结算已于 %s 撤销，本单作废",
	CancelledNoTime: "本结算已撤销，本单作废",
	PreSettled:      "预结算：仅供参考，未实际结算",

	Institution:   "医疗机构",
	SettlementID:  "结算单号",
	SettleDate:    "结算日期",
	SettledAt:     "结算时间",
	MedType:       "医疗类别",
	Patient:       "患者",
	InsuredRegion: "参保地",
	Policy:        "结算政策",

	Lines:      "费用明细",
	Code:       "编码",
	Item:       "项目名称",
	Class:      "类别",
	Amount:     "金额",
	Ceiling:    "限价",
	LinesTotal: "合计",

	Composition: "费用构成",
	Total:       "医疗费总额",
	Excluded:    "全自费",
	Overlimit:   "超限价",
	Preselfpay:  "先行自付",
	PolicyScope: "政策范围内",

	Payments:         "支付明细",
	PaymentItem:      "支付项目",
	FundCode:         "基金编码",
	Paid:             "支付金额",
	ThresholdApplied: "计入起付线",
	Ratio:            "比例",
	Category:         "救助类别",
	FundTotal:        "基金支付合计",
	Hospital:         "医院负担",
	Account:          "个人账户支付",
	Cash:             "现金支付",
	GrandTotal:       "合计",

	Remaining:    "本年度剩余起付线/封顶线额度（本次结算后）",
	FundPool:     "基金/统筹",
	Threshold:    "起付线",
	CapRemaining: "封顶线余额",
	Annual:       "%s（本年度剩余）",
	PerVisit:     "%s（每次）",
	NoThreshold:  "无起付线",
	NoCap:        "不封顶",
	PoolFmt:      "%s（%s）",

	Stale:       "注意：结算时参保信息已超过时效，可能不是最新。",
	StaleAsOf:   "参保信息截至 %s。",
	Notes:       "备注",
	ErrorTitle:  "无法显示结算单",
	ErrorReason: "原因代码",

	classes:  map[string]string{"A": "甲类", "B": "乙类", "C": "丙类"},
	medTypes: map[string]string{"OUTPATIENT": "普通门诊", "CHRONIC": "门诊慢特病", "INPATIENT": "住院"},
	schemes:  map[string]string{"employee": "职工医保", "resident": "城乡居民医保"},
	statuses: map[string]string{"in_service": "在职", "retired": "退休", "adult": "成年", "child": "少儿", "student": "学生"},
	pools: map[string]string{"outpatient": "普通门诊", "chronic": "门诊慢特病", "inpatient": "住院",
		"inpatient_chronic": "住院及门诊慢特病", "all": "综合"},
	categories: map[string]string{"tekun": "特困供养", "orphan": "孤儿/事实无人抚养儿童", "dibao": "低保",
		"dibian": "低保边缘", "zhichu": "支出型困难", "tekun_worker": "特困职工"},
	fund: func(n fundName) string { return n.zh },
}

var en = &labels{
	HTMLLang:  "en",
	Title:     "One-stop settlement receipt",
	PrintHint: "Print: press Ctrl+P (⌘P), paper A5. This hint is not printed.",

	Cancelled:       "CANCELLED",
	CancelledBanner: "Cancelled at %s: this receipt is void",
	CancelledNoTime: "This settlement was cancelled; this receipt is void",
	PreSettled:      "PRE-SETTLEMENT: for information, nothing was settled",

	Institution:   "Institution",
	SettlementID:  "Settlement no.",
	SettleDate:    "Settlement date",
	SettledAt:     "Settled at",
	MedType:       "Visit type",
	Patient:       "Patient",
	InsuredRegion: "Insured in",
	Policy:        "Policy",

	Lines:      "Bill lines",
	Code:       "Code",
	Item:       "Item",
	Class:      "Class",
	Amount:     "Amount",
	Ceiling:    "Ceiling",
	LinesTotal: "Total",

	Composition: "Composition",
	Total:       "Total",
	Excluded:    "Fully self-paid",
	Overlimit:   "Above ceiling",
	Preselfpay:  "First self-pay",
	PolicyScope: "Within policy",

	Payments:         "Payments",
	PaymentItem:      "Paid by",
	FundCode:         "Code",
	Paid:             "Paid",
	ThresholdApplied: "Threshold",
	Ratio:            "Ratio",
	Category:         "Category",
	FundTotal:        "Funds total",
	Hospital:         "Hospital share",
	Account:          "Personal account",
	Cash:             "Cash",
	GrandTotal:       "Total",

	Remaining:    "Thresholds and caps remaining this year (after this bill)",
	FundPool:     "Fund / pool",
	Threshold:    "Threshold",
	CapRemaining: "Cap left",
	Annual:       "%s left this year",
	PerVisit:     "%s per visit",
	NoThreshold:  "none",
	NoCap:        "no cap",
	PoolFmt:      "%s (%s)",

	Stale:       "Note: the insurance record was older than the freshness bound when this bill was settled.",
	StaleAsOf:   " Record as of %s.",
	Notes:       "Notes",
	ErrorTitle:  "Receipt unavailable",
	ErrorReason: "Reason",

	classes:  map[string]string{"A": "Class A", "B": "Class B", "C": "Class C"},
	medTypes: map[string]string{"OUTPATIENT": "Outpatient", "CHRONIC": "Chronic outpatient", "INPATIENT": "Inpatient"},
	schemes:  map[string]string{"employee": "Employee", "resident": "Resident"},
	statuses: map[string]string{"in_service": "in service", "retired": "retired", "adult": "adult", "child": "child", "student": "student"},
	pools: map[string]string{"outpatient": "outpatient", "chronic": "chronic outpatient", "inpatient": "inpatient",
		"inpatient_chronic": "inpatient and chronic", "all": "all"},
	categories: map[string]string{"tekun": "destitute", "orphan": "orphan", "dibao": "dibao",
		"dibian": "near-dibao", "zhichu": "hardship", "tekun_worker": "destitute worker"},
	fund: func(n fundName) string { return n.en },
}

type fundName struct{ zh, en string }

// funds are the display names of the fund ids the policies use (testdata/policy/SPEC.md,
// gateway.FundCodes, gateway.FundAgencies). An id not listed prints as it is: a policy may
// name a new fund before this table learns it, and the receipt must still print.
var funds = map[string]fundName{
	"basic_employee":   {"职工基本医疗保险统筹基金", "Employee basic insurance"},
	"basic_resident":   {"城乡居民基本医疗保险统筹基金", "Resident basic insurance"},
	"critical_illness": {"城乡居民大病保险", "Critical-illness insurance"},
	"large_supplement": {"职工大额医疗费用补助", "Large-amount supplement"},
	"civil_servant":    {"公务员医疗补助", "Civil-servant subsidy"},
	"union_mutual":     {"职工互助保障", "Trade-union mutual aid"},
	"child_mutual":     {"少儿住院互助基金", "Red Cross child mutual fund"},
	"medical_aid":      {"医疗救助", "Medical aid"},
	"tilted_aid":       {"倾斜救助", "Tilted aid"},
	"personal_account": {"个人账户", "Personal account"},
	"hospital":         {"医院负担", "Hospital share"},
}

func labelsFor(lang string) *labels {
	if isEnglish(lang) {
		return en
	}
	return zh
}

// isEnglish accepts what a person or a browser would write for English ("en", "EN",
// "en-US", "en_GB"); everything else is the Chinese default.
func isEnglish(lang string) bool {
	lang = strings.ToLower(strings.TrimSpace(lang))
	return lang == "en" || strings.HasPrefix(lang, "en-") || strings.HasPrefix(lang, "en_")
}

func (l *labels) fundName(id string) string {
	if n, ok := funds[id]; ok {
		return l.fund(n)
	}
	return id
}

func (l *labels) fundPool(fund, pool string) string {
	if pool == "" {
		return l.fundName(fund)
	}
	return fmt.Sprintf(l.PoolFmt, l.fundName(fund), lookup(l.pools, pool))
}

func lookup(m map[string]string, k string) string {
	if v, ok := m[k]; ok {
		return v
	}
	return k
}
