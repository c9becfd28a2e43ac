// The web cashier: vanilla ES2020, no dependencies, no build step. It talks to the gateway's
// REST face on its own origin (/v1/…, /receipts/…) with the terminal's bearer token.
//
// Money never passes through floating point: quantities, prices and amounts are decimal
// strings on the wire and BigInt fen (or BigInt units of the input's scale) here, so the
// amount the page sends is exactly the one the gateway recomputes (AMOUNT_MISMATCH otherwise).
'use strict';

(() => {
  // ---------------------------------------------------------------- text, both languages
  // One dictionary: [中文, English] per key, so a missing translation is visible at a glance
  // and the browser test can check every key used by the page exists.
  const TEXT = {
    'app.title': ['一站式结算收银台', 'One-stop settlement cashier'],
    'lang.label': ['切换语言 / Switch language', 'Switch language / 切换语言'],
    'lang.other': ['English', '中文'],
    'signout': ['退出登录', 'Sign out'],
    'who': ['机构 {inst}', 'Institution {inst}'],

    'signin.title': ['终端登录', 'Terminal sign-in'],
    'signin.institution': ['机构编码', 'Institution ID'],
    'signin.token': ['终端令牌', 'Terminal token'],
    'signin.hint': ['令牌只保存在本浏览器标签页中；关闭标签页或退出登录即清除。',
      'The token is kept in this browser tab only; closing the tab or signing out clears it.'],
    'signin.submit': ['登录', 'Sign in'],
    'signin.required': ['请填写机构编码和终端令牌。', 'Enter the institution ID and the terminal token.'],
    'signin.signedOut': ['已退出登录。', 'Signed out.'],

    'patient.title': ['患者', 'Patient'],
    'cred.type': ['凭证类型', 'Credential'],
    'cred.ID_CARD': ['身份证', 'ID card'],
    'cred.E_VOUCHER': ['医保电子凭证', 'E-voucher'],
    'cred.SOCIAL_SECURITY_CARD': ['社保卡', 'Social security card'],
    'cred.value.ID_CARD': ['身份证号', 'ID number'],
    'cred.value.E_VOUCHER': ['电子凭证（扫码或粘贴）', 'E-voucher token (scan or paste)'],
    'cred.value.SOCIAL_SECURITY_CARD': ['社保卡号', 'Card number'],
    'cred.voucherHint': ['电子凭证只能使用一次：查询、预结算、结算各需患者刷新医保码后重新扫码。',
      'An e-voucher works once: each look-up, pre-settlement and settlement needs a fresh scan of the patient\'s refreshed code.'],
    'cred.voucherSpent': ['此电子凭证已使用：请患者刷新医保码，重新扫码后再操作。',
      'This e-voucher has been used: ask the patient to refresh the code and scan it again.'],
    'lookup': ['查询', 'Look up'],
    'medtype': ['医疗类别', 'Medical type'],
    'med.OUTPATIENT': ['普通门诊', 'Outpatient'],
    'med.CHRONIC': ['门诊慢特病', 'Chronic outpatient'],
    'med.INPATIENT': ['住院', 'Inpatient'],
    'admission': ['入院日期', 'Admission date'],
    'referral': ['转诊单号', 'Referral no.'],
    'useAccount': ['个人账户支付', 'Pay from the personal account'],

    'person.none': ['输入凭证后按 Enter 查询参保信息。', 'Enter the credential and press Enter to look the patient up.'],
    'person.loading': ['正在查询…', 'Looking up…'],
    'person.name': ['姓名', 'Name'],
    'person.id': ['证件号', 'ID number'],
    'person.scheme': ['险种', 'Scheme'],
    'person.status': ['人员类别', 'Status'],
    'person.region': ['参保地', 'Insured region'],
    'person.balance': ['账户余额', 'Account balance'],
    'person.categories': ['救助类别', 'Aid categories'],
    'person.flags': ['其他保障', 'Other cover'],
    'person.chronic': ['慢特病登记', 'Chronic registration'],
    'person.policy': ['适用政策', 'Policy'],
    'person.stale': ['参保信息未及时更新（数据较旧），仍可结算，请留意。',
      'The eligibility record is old (the agency\'s export is late): it still settles, but take note.'],
    'person.aidNotHere': ['本机构非医疗救助定点：救助部分不在此支付，患者可凭结算单到民政部门申领。',
      'This institution is not designated for medical aid: aid is not paid here; the patient claims it at the civil-affairs office with the receipt.'],
    'person.fromBill': ['（来自结算结果）', '(from the settlement)'],
    'yes': ['是', 'yes'],
    'no': ['否', 'no'],
    'none': ['无', 'none'],

    'scheme.employee': ['职工医保', 'Employee insurance'],
    'scheme.resident': ['居民医保', 'Resident insurance'],
    'status.in_service': ['在职', 'In service'],
    'status.retired': ['退休', 'Retired'],
    'status.adult': ['成年居民', 'Adult resident'],
    'status.child': ['少儿', 'Child'],
    'status.student': ['学生', 'Student'],
    'cat.tekun': ['特困人员', 'Extreme poverty'],
    'cat.orphan': ['孤儿', 'Orphan'],
    'cat.dibao': ['低保对象', 'Minimum-subsistence'],
    'cat.tekun_worker': ['困难职工', 'Worker in hardship'],
    'cat.dibian': ['低保边缘', 'Near minimum-subsistence'],
    'cat.zhichu': ['支出型困难', 'Hardship from medical spending'],
    'flag.union_member': ['职工互助保障', 'Trade-union mutual aid'],
    'flag.child_mutual': ['少儿住院互助基金', 'Children\'s inpatient mutual fund'],
    'flag.civil_servant': ['公务员医疗补助', 'Civil-servant subsidy'],

    'fund.basic_employee': ['职工基本医疗保险统筹基金', 'Employee basic insurance fund'],
    'fund.basic_resident': ['城乡居民基本医疗保险基金', 'Resident basic insurance fund'],
    'fund.critical_illness': ['城乡居民大病保险', 'Critical-illness insurance'],
    'fund.large_supplement': ['职工大额医疗费用补助', 'Large-amount supplement'],
    'fund.civil_servant': ['公务员医疗补助', 'Civil-servant subsidy'],
    'fund.union_mutual': ['职工互助保障', 'Trade-union mutual aid'],
    'fund.child_mutual': ['少儿住院互助基金', 'Children\'s inpatient mutual fund'],
    'fund.medical_aid': ['医疗救助', 'Medical aid'],
    'fund.tilted_aid': ['倾斜救助', 'Tilted aid'],
    'fund.hospital': ['医院负担', 'Hospital'],
    'fund.personal_account': ['个人账户', 'Personal account'],
    'pool.outpatient': ['门诊', 'outpatient'],
    'pool.chronic': ['门诊慢特病', 'chronic'],
    'pool.inpatient': ['住院', 'inpatient'],
    'pool.inpatient_chronic': ['住院及慢特病', 'inpatient and chronic'],
    'pool.all': ['全部', 'all'],

    'items.title': ['收费项目', 'Bill items'],
    'search.label': ['检索医保目录（编码或名称）', 'Search the catalog (code or name)'],
    'search.placeholder': ['输入编码或名称，↑↓ 选择，Enter 添加', 'Code or name; ↑↓ to choose, Enter to add'],
    'search.none': ['目录中没有匹配“{q}”的项目。', 'No catalog item matches “{q}”.'],
    'col.no': ['序号', '#'],
    'col.code': ['编码', 'Code'],
    'col.name': ['名称', 'Name'],
    'col.class': ['类别', 'Class'],
    'col.qty': ['数量', 'Qty'],
    'col.price': ['单价', 'Unit price'],
    'col.amount': ['金额', 'Amount'],
    'col.remove': ['删除', 'Remove'],
    'remove.label': ['删除第 {n} 行：{name}', 'Remove line {n}: {name}'],
    'qty.label': ['第 {n} 行数量', 'Line {n} quantity'],
    'price.label': ['第 {n} 行单价', 'Line {n} unit price'],
    'bill.total': ['合计', 'Total'],
    'bill.empty': ['尚未添加项目：在上方检索目录，Enter 添加。', 'No items yet: search the catalog above and press Enter to add.'],
    'ceiling': ['限价 {p}', 'ceiling {p}'],
    'class.A': ['甲', 'A'],
    'class.B': ['乙', 'B'],
    'class.C': ['丙', 'C'],
    'class.title.A': ['甲类', 'Class A'],
    'class.title.B': ['乙类（先行自付）', 'Class B (first self-pay)'],
    'class.title.C': ['丙类（全自费）', 'Class C (self-pay)'],

    'act.presettle': ['预结算', 'Pre-settle'],
    'act.settle': ['结算', 'Settle'],
    'act.receipt': ['打印结算单', 'Print receipt'],
    'act.new': ['新单', 'New bill'],

    'split.title': ['结算结果', 'Settlement'],
    'split.empty': ['按 F2 预结算，查看各基金支付和现金支付。', 'Press F2 to pre-settle: what each fund and the patient pay.'],
    'state.PRESETTLED': ['预结算（未保存）', 'Pre-settlement (not saved)'],
    'state.SETTLED': ['已结算', 'Settled'],
    'state.CANCELLED': ['已撤销', 'Cancelled'],
    'split.replayed': ['重复请求：显示的是该流水号原有的结算结果。', 'Replayed: this is the stored answer to the earlier request.'],
    'split.id': ['结算号', 'Settlement ID'],
    'split.total': ['医疗费总额', 'Bill total'],
    'split.excluded': ['全自费', 'Self-pay (class C)'],
    'split.overlimit': ['超限价', 'Above ceiling'],
    'split.preselfpay': ['先行自付', 'First self-pay'],
    'split.scope': ['政策范围内', 'Within scope'],
    'split.fund': ['基金', 'Fund'],
    'split.ratio': ['比例', 'Ratio'],
    'split.amount': ['金额', 'Amount'],
    'split.noFunds': ['基金未支付', 'No fund pays'],
    'split.fundTotal': ['基金支付合计', 'Funds total'],
    'split.hospital': ['医院负担', 'Hospital'],
    'split.account': ['个人账户支付', 'Personal account'],
    'split.cash': ['现金支付', 'Cash'],
    'split.remaining': ['年度剩余额度（本单后）', 'Left this year (after this bill)'],
    'split.threshold': ['起付线', 'Threshold'],
    'split.cap': ['封顶剩余', 'Cap left'],
    'split.noCap': ['不封顶', 'no cap'],
    'threshold.annual': ['尚需自付 {x}', '{x} still to pay'],
    'threshold.per_visit': ['每次 {x}', '{x} per visit'],
    'split.changed': ['明细或患者已修改，以下结果已过时：请重新预结算 (F2)。', 'The bill or patient changed since: pre-settle again (F2).'],
    'split.policy': ['政策', 'Policy'],
    'note.aidNotHere': ['本机构非医疗救助定点：救助部分未在此支付，患者可凭结算单到民政部门申领。',
      'Medical aid is not paid here (not aid-designated): the patient may claim it at the civil-affairs office with this receipt.'],

    'today.title': ['当日结算', 'Today\'s settlements'],
    'today.refresh': ['刷新', 'Refresh'],
    'today.empty': ['今日暂无结算。', 'No settlements today.'],
    'today.loading': ['加载中…', 'Loading…'],
    'today.time': ['时间', 'Time'],
    'today.person': ['患者', 'Patient'],
    'today.total': ['总额', 'Total'],
    'today.cash': ['现金', 'Cash'],
    'today.state': ['状态', 'State'],
    'today.actions': ['操作', 'Actions'],
    'today.receipt': ['结算单', 'Receipt'],
    'today.cancel': ['撤销', 'Cancel'],
    'today.receiptLabel': ['查看结算单 {id}', 'Show receipt {id}'],
    'today.cancelLabel': ['撤销结算 {id}', 'Cancel settlement {id}'],

    'cancel.title': ['撤销结算', 'Cancel a settlement'],
    'cancel.text': ['确认撤销结算 {id}？患者 {person}，总额 {total}，现金 {cash}。撤销后各基金支付全部退回。',
      'Cancel settlement {id}? Patient {person}, total {total}, cash {cash}. Every fund\'s payment is reversed.'],
    'cancel.reason': ['撤销原因', 'Reason'],
    'cancel.reasonPlaceholder': ['如：患者退费、录入错误', 'e.g. refund, entry error'],
    'cancel.reasonRequired': ['请填写撤销原因。', 'Enter a reason.'],
    'cancel.confirm': ['确认撤销', 'Cancel it'],
    'cancel.back': ['返回', 'Back'],
    'cancel.close': ['关闭', 'Close'],
    'cancel.done': ['已撤销。退还现金 {cash}，退回个人账户 {account}。', 'Cancelled. Cash refund {cash}; back to the account {account}.'],
    'cancel.replayed': ['（此前已撤销，显示原撤销结果）', '(cancelled earlier: the stored answer)'],

    'receipt.title': ['结算单', 'Receipt'],
    'receipt.print': ['打印', 'Print'],
    'receipt.close': ['关闭', 'Close'],
    'receipt.loading': ['正在获取结算单…', 'Fetching the receipt…'],
    'receipt.ready': ['结算单 {id}：按 Enter 打印，Esc 关闭。', 'Receipt {id}: Enter prints, Esc closes.'],
    'receipt.nothing': ['本单尚未结算：结算 (F4) 后才能打印结算单；已结算的单据可在“当日结算”中打开。',
      'Nothing settled yet: settle (F4) first; settled bills open from "Today\'s settlements".'],

    'msg.presettled': ['预结算完成：现金支付 {cash}。核对后按 F4 结算。', 'Pre-settled: cash {cash}. Check it, then press F4 to settle.'],
    'msg.settled': ['结算成功：结算号 {id}，现金支付 {cash}。按 F8 打印结算单。', 'Settled: {id}, cash {cash}. Press F8 to print the receipt.'],
    'msg.settledReplayed': ['结算成功（重试请求，网关返回原结算结果，未重复结算）：结算号 {id}，现金支付 {cash}。',
      'Settled (a retry: the gateway answered the earlier settlement, nothing settled twice): {id}, cash {cash}.'],
    'msg.retrying': ['正在以同一流水号 {id} 重试结算…', 'Retrying the settlement with the same request ID {id}…'],
    'msg.unknownOutcome': ['结算结果未知（{cause}）。请再按“结算 F4”重试：将使用同一流水号 {id}，不会重复结算。在此之前本单已锁定。',
      'The settlement\'s outcome is unknown ({cause}). Press Settle (F4) to retry: the same request ID {id} is sent, so it cannot settle twice. The bill is locked until then.'],
    'msg.locked': ['上一次结算结果未知，本单已锁定：请按 F4 以同一流水号重试，或按 F9 放弃。',
      'The last settlement\'s outcome is unknown, so the bill is locked: press F4 to retry with the same request ID, or F9 to abandon it.'],
    'msg.abandonPending': ['上一次结算结果未知，可能已经结算成功。确定放弃本单并新开一单吗？请先在“当日结算”中核对。',
      'The last settlement\'s outcome is unknown: it may have gone through. Abandon this bill and start a new one? Check today\'s settlements first.'],
    'msg.conflictPending': ['流水号 {id} 已有一笔内容不同的结算：上一次结算很可能已成功，请在“当日结算”中核对。',
      'Request ID {id} was settled with different content: the earlier attempt most likely went through; check today\'s settlements.'],
    'msg.settledLocked': ['本单已结算，不能修改或再次结算；如需更改，请撤销后按 F9 新开一单。',
      'This bill is settled and cannot change or settle again; to change it, cancel it and start a new bill (F9).'],
    'msg.confirmDuplicate': ['{reason}\n\n{detail}\n\n确认这是新的一单，并再次结算吗？', '{reason}\n\n{detail}\n\nIs this a new bill? Settle it again?'],
    'msg.needCred': ['请先输入患者凭证。', 'Enter the patient\'s credential first.'],
    'msg.newBill': ['新单：请输入患者凭证。', 'New bill: enter the patient\'s credential.'],
    'msg.lookedUp': ['已查询到参保人：{name}。', 'Patient found: {name}.'],
    'msg.cause.network': ['网络中断', 'network failure'],
    'msg.detail': ['网关信息：{msg}', 'Gateway says: {msg}'],
    'err.network': ['网络连接失败，请检查网络后重试。', 'The network failed: check the connection and try again.'],
    'err.http': ['服务器返回 HTTP {status}。', 'The server answered HTTP {status}.'],
    'err.field': ['问题字段：{field}', 'Field: {field}'],

    'field.credential': ['患者凭证', 'the credential'],
    'field.credential.value': ['凭证号码', 'the credential'],
    'field.credential.type': ['凭证类型', 'the credential type'],
    'field.med_type': ['医疗类别', 'the medical type'],
    'field.settle_date': ['结算日期', 'the settlement date'],
    'field.admission_date': ['入院日期', 'the admission date'],
    'field.referral_no': ['转诊单号', 'the referral number'],
    'field.request_id': ['流水号', 'the request ID'],
    'field.institution_id': ['机构编码', 'the institution ID'],
    'field.settlement_id': ['结算号', 'the settlement ID'],
    'field.reason': ['撤销原因', 'the reason'],
    'field.lines': ['费用明细', 'the bill lines'],
    'field.confirm_duplicate': ['重复结算确认', 'the duplicate confirmation'],
    'field.line': ['第 {n} 行{part}', 'line {n}, {part}'],
    'field.part.code': ['编码', 'code'],
    'field.part.name': ['名称', 'name'],
    'field.part.quantity': ['数量', 'quantity'],
    'field.part.unit_price': ['单价', 'unit price'],
    'field.part.amount': ['金额', 'amount'],

    // Every reason the gateway returns (gateway/errors.go; api/auth.go and api/ratelimit.go
    // use UNAUTHENTICATED and RATE_LIMITED; gateway/identity the voucher and ID reasons).
    'reason.INVALID_ARGUMENT': ['请求内容有误，请核对。', 'The request is invalid: check it.'],
    'reason.INVALID_AMOUNT': ['金额或单价不正确：不能为负，金额最多两位小数、单价最多六位小数，单行及合计须低于 10,000,000.00 元。',
      'The amount or unit price is invalid: not negative, amounts at most 2 decimals and prices 6, each line and the total below 10,000,000.00.'],
    'reason.INVALID_QUANTITY': ['数量不正确：须为正数，最多三位小数。', 'The quantity is invalid: a positive number with at most 3 decimals.'],
    'reason.INVALID_DATE': ['日期不正确：格式为 年-月-日，不能晚于今天，入院日期不能晚于结算日期。',
      'The date is invalid: YYYY-MM-DD, not in the future, and admission not after the settlement date.'],
    'reason.EMPTY_BILL': ['费用明细为空：请至少添加一个项目。', 'The bill is empty: add at least one item.'],
    'reason.TOO_MANY_LINES': ['明细超过 1000 行：请分单结算。', 'More than 1,000 lines: split the bill.'],
    'reason.AMOUNT_MISMATCH': ['金额与“数量 × 单价”（四舍五入到分）不符。', 'The amount is not quantity × unit price rounded to the fen.'],
    'reason.UNKNOWN_ITEM': ['项目编码不在本地区医保目录中：请删除该行或重新检索。', 'The item is not in this region\'s catalog: remove the line or search again.'],
    'reason.UNKNOWN_MED_TYPE': ['医疗类别不正确：请选择普通门诊、门诊慢特病或住院。', 'Unknown medical type: choose outpatient, chronic or inpatient.'],
    'reason.INVALID_CREDENTIAL': ['凭证类型或号码不正确（或本网关不受理该类凭证，例如未配置电子凭证）：请改用身份证或社保卡。',
      'The credential type or value is invalid (or this gateway does not accept it, e.g. no e-vouchers): use the ID card or the social security card.'],
    'reason.INVALID_ID_NUMBER': ['身份证号码无效（位数或校验位不符）：请核对后重新输入。', 'The ID number is invalid (length or check character): check it and enter it again.'],
    'reason.VOUCHER_INVALID': ['医保电子凭证无效（格式错误、签名不符或签发方未知）：请患者重新出示医保码。',
      'The e-voucher is invalid (malformed, forged or from an unknown issuer): ask the patient to show the code again.'],
    'reason.VOUCHER_EXPIRED': ['医保电子凭证已过期：请患者刷新医保码后重新扫码。', 'The e-voucher has expired: ask the patient to refresh the code and scan again.'],
    'reason.VOUCHER_REPLAYED': ['该医保电子凭证已使用过：请患者刷新医保码后重新扫码。', 'This e-voucher was already used: ask the patient to refresh the code and scan again.'],
    'reason.PERSON_NOT_FOUND': ['未找到参保信息：请核对证件号，或请患者到医保经办机构核实参保状态。',
      'No insured person with this credential: check it, or send the patient to the insurance office.'],
    'reason.NOT_INSURED': ['该人员未参加基本医疗保险：不能医保结算，请按自费收费。', 'The person is not insured in a basic scheme: charge as self-pay.'],
    'reason.NO_POLICY': ['参保地在结算年度没有可用的医保政策，无法结算：请联系医保经办机构。',
      'The insured region has no policy for the settlement year: contact the insurance office.'],
    'reason.CHRONIC_NOT_REGISTERED': ['患者未在本机构办理门诊慢特病登记：请改选普通门诊，或先办理登记。',
      'The patient is not registered for chronic care here: choose outpatient, or register first.'],
    'reason.IDEMPOTENCY_CONFLICT': ['该流水号已用于一笔内容不同的结算：请核对“当日结算”，新单请按 F9。',
      'This request ID was used for a different settlement: check today\'s settlements; F9 starts a new bill.'],
    'reason.SETTLEMENT_NOT_FOUND': ['未找到该结算记录（或不属于本机构）。', 'No such settlement (or not this institution\'s).'],
    'reason.ALREADY_CANCELLED': ['该结算已经撤销过。', 'This settlement is already cancelled.'],
    'reason.WRONG_INSTITUTION': ['此终端无权为该机构操作：请核对机构编码后重新登录。', 'This terminal may not act for that institution: check the institution ID and sign in again.'],
    'reason.POSSIBLE_DUPLICATE_BILL': ['疑似重复结算：该患者相同的费用明细近期已在本机构结算过。请先核对“当日结算”；确属新的一单，确认后可再次结算。',
      'Possible duplicate: the same bill was settled here recently for this patient. Check today\'s settlements; if it really is a new bill, confirm and settle again.'],
    'reason.CONCURRENT_ADMISSION': ['住院时间与该患者在其他机构的住院重叠（疑似分解住院或挂床住院），不能结算：请核对入院日期。',
      'The inpatient stay overlaps the patient\'s stay at another institution: check the admission date.'],
    'reason.UNAUTHENTICATED': ['终端令牌无效或已停用：请重新登录。', 'The terminal token is not valid: sign in again.'],
    'reason.RATE_LIMITED': ['操作过于频繁，请稍候几秒再试（结算重试会使用同一流水号）。', 'Too many calls: wait a few seconds and try again (a settle retry reuses the request ID).'],
    'reason.ELIGIBILITY_UNAVAILABLE': ['参保信息服务暂时不可用，请稍后重试。', 'Eligibility is unavailable for now: try again shortly.'],
    'reason.LEDGER_UNAVAILABLE': ['结算账务库暂时不可用，请稍后重试。', 'The ledger is unavailable for now: try again shortly.'],
    'reason.OUTCOME_UNKNOWN': ['结算是否成功未知：请以同一流水号重试以确认。', 'Whether it settled is unknown: retry with the same request ID to find out.'],
    'reason.INTERNAL': ['网关内部错误：请稍后重试，仍失败请联系技术支持。', 'Internal gateway error: try again; if it persists, call support.'],

    // gRPC codes, for errors without an ErrorInfo (the REST layer's own, deadlines).
    'code.1': ['请求已取消。', 'The call was cancelled.'],
    'code.2': ['未知错误。', 'Unknown error.'],
    'code.3': ['请求格式不正确。', 'The request is malformed.'],
    'code.4': ['请求超时：请重试。', 'The call timed out: try again.'],
    'code.5': ['未找到。', 'Not found.'],
    'code.6': ['已存在。', 'Already exists.'],
    'code.7': ['无权执行此操作。', 'Not allowed.'],
    'code.8': ['请求过多或过大，请稍后再试。', 'Too many or too large requests: try again later.'],
    'code.9': ['当前状态下不能执行此操作。', 'Not possible in the current state.'],
    'code.12': ['网关不支持此操作（版本不符？）。', 'The gateway does not support this (version mismatch?).'],
    'code.13': ['网关内部错误。', 'Internal gateway error.'],
    'code.14': ['网关暂时不可用，请稍后重试。', 'The gateway is unavailable for now: try again shortly.'],
    'code.16': ['未登录或令牌无效：请重新登录。', 'Not signed in or the token is not valid: sign in again.'],

    'keys.help': ['快捷键：F2 预结算 · F4 结算 · F8 打印结算单 · F9 新单 · Alt+P 患者 · Alt+I 项目检索 · Alt+L 当日结算 · ↑↓ 选择 · Enter 添加/确认 · Esc 关闭',
      'Keys: F2 pre-settle · F4 settle · F8 print receipt · F9 new bill · Alt+P patient · Alt+I item search · Alt+L today · ↑↓ choose · Enter add/confirm · Esc close'],
  };

  // A translation of the gateway's own notes, matched by their text (they are English).
  const NOTES = {
    'medical aid is not paid one-stop at this institution (not aid-designated): the patient may claim it at the civil-affairs office with this receipt': 'note.aidNotHere',
  };

  let lang = localStorage.getItem('onestop.lang') === 'en' ? 'en' : 'zh';

  function t(key, params) {
    const entry = TEXT[key];
    let s = entry ? entry[lang === 'en' ? 1 : 0] : key;
    if (params) {
      s = s.replace(/\{(\w+)\}/g, (m, k) => (params[k] === undefined ? m : String(params[k])));
    }
    return s;
  }
  const has = (key) => Object.prototype.hasOwnProperty.call(TEXT, key);
  const tOr = (key, fallback) => (has(key) ? t(key) : fallback);

  // ---------------------------------------------------------------- money, exactly
  const Money = (() => {
    const LIMIT_FEN = 1000000000n; // 10,000,000.00: lines and the total stay below it

    // Cashiers type with Chinese input methods on: full-width digits and 。 count too.
    function normalize(s) {
      return String(s).trim()
        .replace(/[０-９]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xFEE0))
        .replace(/[．。]/g, '.');
    }

    // parse reads a plain non-negative decimal with at most maxScale decimals by value
    // ("12.340" has 2) into {n, scale, text}: text is the canonical form sent on the wire.
    function parse(s, maxScale) {
      const m = /^(\d*)(?:\.(\d*))?$/.exec(normalize(s));
      if (!m || (m[1] === '' && !m[2])) return null;
      const frac = (m[2] || '').replace(/0+$/, '');
      if (frac.length > maxScale) return null;
      const int = m[1].replace(/^0+(?=\d)/, '') || '0';
      if (int.length > 12) return null;
      return { n: BigInt(int + frac), scale: frac.length, text: frac ? `${int}.${frac}` : int };
    }

    // fen rounds a non-negative value n × 10^-scale half-up to whole fen.
    function fen(n, scale) {
      if (scale <= 2) return n * 10n ** BigInt(2 - scale);
      const d = 10n ** BigInt(scale - 2);
      const q = n / d;
      return (n % d) * 2n >= d ? q + 1n : q;
    }

    // lineFen is quantity × unit price rounded half-up to the fen, as the gateway checks it.
    const lineFen = (q, p) => fen(q.n * p.n, q.scale + p.scale);

    function format(f) {
      const neg = f < 0n;
      const s = (neg ? -f : f).toString().padStart(3, '0');
      return `${neg ? '-' : ''}${s.slice(0, -2)}.${s.slice(-2)}`;
    }

    // fromWire reads an amount the gateway sent ("123.45"); null when absent.
    function fromWire(s) {
      if (s === undefined || s === null || s === '') return null;
      const neg = String(s).startsWith('-');
      const p = parse(neg ? String(s).slice(1) : s, 2);
      if (!p) return null;
      const f = fen(p.n, p.scale);
      return neg ? -f : f;
    }

    // show writes a wire amount with thousands separators for reading at the counter.
    function show(s) {
      const f = typeof s === 'bigint' ? s : fromWire(s);
      if (f === null) return s || '';
      const [i, d] = format(f).split('.');
      return `${i.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${d}`;
    }

    return { parse, lineFen, format, fromWire, show, LIMIT_FEN };
  })();

  // A settle's request_id must be unique per bill. crypto.randomUUID exists only in secure
  // contexts, and a clinic may reach the gateway over plain HTTP on its LAN.
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  function localDate(d) {
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  }

  function localTime(ts) {
    if (!ts) return '';
    const d = new Date(ts);
    if (Number.isNaN(d.getTime())) return '';
    return d.toLocaleTimeString(lang === 'en' ? 'en-GB' : 'zh-CN', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  // ---------------------------------------------------------------- DOM helpers
  const $ = (sel) => document.querySelector(sel);

  // h builds an element; text only ever goes in as text, so nothing the gateway answers can
  // become markup.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function applyStatic() {
    document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
    document.title = t('app.title');
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    for (const el of document.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
    for (const el of document.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
    for (const el of document.querySelectorAll('[data-i18n-aria]')) el.setAttribute('aria-label', t(el.dataset.i18nAria));
    const other = $('#lang');
    other.textContent = t('lang.other');
    other.lang = lang === 'en' ? 'zh-CN' : 'en';
  }

  // ---------------------------------------------------------------- state
  const SESSION_KEY = 'onestop.session';
  const state = {
    session: null, // {institution, token, name}
    person: null, // GetEligibilityResponse, or {person} from a settlement answer
    personFromBill: false,
    lines: [], // {id, code, name, cls, ceiling, qty, price, row: {...elements}}
    nextLineId: 1,
    result: null, // SettleResponse shown on the right
    resultSig: '', // the bill it answered
    requestId: '', // this bill's settle request_id: one per bill, kept across retries
    confirmDuplicate: false, // the cashier confirmed a bill held as a possible duplicate
    pending: false, // a settle's outcome is unknown: the bill is locked, F4 retries
    settled: false, // this bill is settled: locked until F9
    voucherSpent: false,
    busy: {},
    message: null, // {kind, render}
    results: [], // catalog search results
    active: -1,
    today: null, // SettlementLine[] or null while loading
    todayError: null,
  };

  // ---------------------------------------------------------------- the REST client
  class ApiError extends Error {
    constructor(f) {
      super(f.message || f.reason || 'error');
      Object.assign(this, f);
    }
  }

  async function call(method, path, body, opts) {
    const headers = { Authorization: `Bearer ${state.session.token}`, Accept: (opts && opts.accept) || 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store', credentials: 'omit', signal: opts && opts.signal,
      });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError({ network: true, message: String(e.message || e) });
    }
    if (res.ok) return res;
    let payload = null;
    try {
      payload = await res.json();
    } catch (_) { /* a proxy's HTML page, or nothing */ }
    const err = { status: res.status, code: payload && payload.code, message: (payload && payload.message) || '' };
    for (const d of (payload && payload.details) || []) {
      if (d && typeof d['@type'] === 'string' && d['@type'].endsWith('google.rpc.ErrorInfo')) {
        err.reason = d.reason;
        err.field = (d.metadata && d.metadata.field) || '';
      }
    }
    if (err.status === 401 || err.code === 16) {
      signOut(describe(new ApiError(err)));
    }
    throw new ApiError(err);
  }

  const json = async (method, path, body) => (await call(method, path, body)).json();
  const inst = () => encodeURIComponent(state.session.institution);

  // ---------------------------------------------------------------- errors for people
  function fieldName(field) {
    if (!field) return '';
    const m = /^lines\[(\d+)\]\.(\w+)$/.exec(field);
    if (m) return t('field.line', { n: Number(m[1]) + 1, part: tOr(`field.part.${m[2]}`, m[2]) });
    return tOr(`field.${field}`, field);
  }

  // describe turns an error into one text in the current language: the reason's own text,
  // else the gRPC code's, else the gateway's message; the field it names; the gateway's
  // message as detail when the text is ours.
  function describe(err) {
    if (err.network) return t('err.network');
    const parts = [];
    if (err.reason && has(`reason.${err.reason}`)) parts.push(t(`reason.${err.reason}`));
    else if (err.reason && err.message) parts.push(err.message);
    else if (err.code !== undefined && err.code !== null && has(`code.${err.code}`)) parts.push(t(`code.${err.code}`));
    else if (err.message) parts.push(err.message);
    else parts.push(t('err.http', { status: err.status }));
    if (err.field) parts.push(t('err.field', { field: fieldName(err.field) }));
    if (err.message && !err.local && parts[0] !== err.message) parts.push(`(${err.reason ? `${err.reason} · ` : ''}${err.message})`);
    return parts.join(' ');
  }

  function showMessage(kind, render) {
    state.message = render ? { kind, render } : null;
    renderMessage();
  }

  function renderMessage() {
    const box = $('#message');
    if (!state.message) {
      box.hidden = true;
      box.textContent = '';
      return;
    }
    box.hidden = false;
    box.className = `message ${state.message.kind}`;
    box.textContent = state.message.render();
  }

  function clearInvalid() {
    for (const el of document.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
  }

  // markField points at the input the error names, so the cashier's next keystroke fixes it.
  function markField(field, focus) {
    if (!field) return;
    let el = null;
    const m = /^lines\[(\d+)\](?:\.(\w+))?$/.exec(field);
    if (m) {
      const line = state.lines[Number(m[1])];
      if (line) {
        el = m[2] === 'quantity' ? line.row.qty : m[2] === 'unit_price' || m[2] === 'amount' ? line.row.price : line.row.tr;
      }
    } else if (field === 'credential' || field === 'credential.type') {
      el = field === 'credential' ? $('#cred-value') : $('#cred-type');
    } else {
      el = document.querySelector(`[data-field="${CSS.escape(field)}"]`);
    }
    if (!el) return;
    el.setAttribute('aria-invalid', 'true');
    if (focus && typeof el.focus === 'function' && !el.disabled) {
      el.focus();
      if (el.select) el.select();
    }
  }

  function showError(err) {
    showMessage('error', () => describe(err));
    markField(err.field, true);
  }

  // ---------------------------------------------------------------- sign in and out
  function loadSession() {
    try {
      const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
      if (s && s.institution && s.token) return s;
    } catch (_) { /* a damaged entry: sign in again */ }
    return null;
  }

  function saveSession() {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(state.session));
  }

  async function signIn(ev) {
    ev.preventDefault();
    const institution = $('#signin-inst').value.trim();
    const token = $('#signin-token').value.trim();
    const errBox = $('#signin-error');
    errBox.hidden = true;
    if (!institution || !token) {
      errBox.textContent = t('signin.required');
      errBox.hidden = false;
      (institution ? $('#signin-token') : $('#signin-inst')).focus();
      return;
    }
    const btn = $('#signin-btn');
    btn.disabled = true;
    state.session = { institution, token };
    try {
      // The cheapest authenticated call that also checks the token acts for this institution.
      await call('GET', `/v1/catalog/items?institution_id=${inst()}&limit=1`);
      saveSession();
      $('#signin-token').value = '';
      showCashier();
    } catch (e) {
      state.session = null;
      errBox.textContent = describe(e);
      errBox.hidden = false;
      $(e.reason === 'WRONG_INSTITUTION' ? '#signin-inst' : '#signin-token').focus();
    } finally {
      btn.disabled = false;
    }
  }

  function signOut(reasonText) {
    sessionStorage.removeItem(SESSION_KEY);
    state.session = null;
    resetBill();
    state.today = null;
    $('#cashier-view').hidden = true;
    $('#signout').hidden = true;
    $('#keys').hidden = true;
    $('#signin-view').hidden = false;
    $('#who').textContent = '';
    const errBox = $('#signin-error');
    errBox.textContent = typeof reasonText === 'string' ? reasonText : t('signin.signedOut');
    errBox.hidden = false;
    for (const d of document.querySelectorAll('dialog[open]')) d.close();
    $('#signin-inst').focus();
  }

  function showCashier() {
    $('#signin-view').hidden = true;
    $('#signin-error').hidden = true;
    $('#cashier-view').hidden = false;
    $('#signout').hidden = false;
    $('#keys').hidden = false;
    renderWho();
    renderAll();
    $('#cred-value').focus();
    loadToday();
  }

  function renderWho() {
    const s = state.session;
    $('#who').textContent = s ? `${t('who', { inst: s.institution })}${s.name ? ` · ${s.name}` : ''}` : '';
  }

  // ---------------------------------------------------------------- the patient
  function credential() {
    return { type: $('#cred-type').value, value: $('#cred-value').value.trim() };
  }

  function renderCred() {
    const type = $('#cred-type').value;
    $('#cred-label').textContent = t(`cred.value.${type}`);
    const hint = $('#cred-hint');
    const voucher = type === 'E_VOUCHER';
    hint.hidden = !voucher;
    hint.className = state.voucherSpent && voucher ? 'hint warn' : 'hint';
    hint.textContent = voucher ? t(state.voucherSpent ? 'cred.voucherSpent' : 'cred.voucherHint') : '';
    $('#admission-field').hidden = $('#med-type').value !== 'INPATIENT';
  }

  // spendVoucher: the gateway accepts each e-voucher once, whatever the call; after any
  // answer the cashier needs a fresh scan, and the page says so before the next call fails.
  function spendVoucher() {
    if ($('#cred-type').value === 'E_VOUCHER') {
      state.voucherSpent = true;
      renderCred();
    }
  }

  function voucherReady() {
    if ($('#cred-type').value === 'E_VOUCHER' && state.voucherSpent) {
      showMessage('error', () => t('cred.voucherSpent'));
      const v = $('#cred-value');
      v.setAttribute('aria-invalid', 'true');
      v.focus();
      v.select();
      return false;
    }
    return true;
  }

  async function lookup() {
    if (state.busy.lookup) return;
    clearInvalid();
    const cred = credential();
    if (!cred.value) {
      showMessage('error', () => t('msg.needCred'));
      markField('credential.value', true);
      return;
    }
    if (!voucherReady()) return;
    setBusy('lookup', true);
    state.person = null;
    state.personFromBill = false;
    renderPerson(true);
    try {
      const resp = await json('POST', '/v1/eligibility:lookup', { institution_id: state.session.institution, credential: cred });
      state.person = resp;
      showMessage('ok', () => t('msg.lookedUp', { name: (resp.person && resp.person.name_masked) || '' }));
      $('#search').focus();
    } catch (e) {
      showError(e);
    } finally {
      if (cred.type === 'E_VOUCHER') spendVoucher();
      setBusy('lookup', false);
      renderPerson(false);
      renderSplit();
    }
  }

  function labelled(label, value, attrs) {
    return h('div', attrs || {}, h('dt', { text: label }), h('dd', { text: value }));
  }

  function renderPerson(loading) {
    const box = $('#person');
    box.replaceChildren();
    if (loading) {
      box.append(h('p', { class: 'empty', text: t('person.loading') }));
      return;
    }
    const r = state.person;
    if (!r || !r.person) {
      box.append(h('p', { class: 'empty', text: t('person.none') }));
      return;
    }
    const p = r.person;
    const dl = h('dl', { class: 'kv' },
      labelled(t('person.name'), p.name_masked, { class: 'big', 'data-k': 'name' }),
      labelled(t('person.id'), p.id_number_masked, { 'data-k': 'id' }),
      labelled(t('person.scheme'), tOr(`scheme.${p.scheme}`, p.scheme)),
      labelled(t('person.status'), tOr(`status.${p.status}`, p.status)),
      labelled(t('person.region'), p.insured_region));
    if (!state.personFromBill) {
      dl.append(labelled(t('person.balance'), Money.show(r.account_balance || '0.00')));
      const cats = (r.categories || []).map((c) => tOr(`cat.${c.code}`, c.code));
      if (cats.length) dl.append(labelled(t('person.categories'), cats.join('、')));
      const flags = (r.flags || []).map((f) => tOr(`flag.${f}`, f));
      if (flags.length) dl.append(labelled(t('person.flags'), flags.join('、')));
      if (r.chronic_registered) dl.append(labelled(t('person.chronic'), (r.chronic_diseases || []).join('、') || t('yes')));
      if (r.policy && r.policy.name) dl.append(labelled(t('person.policy'), r.policy.name));
    }
    box.append(dl);
    if (state.personFromBill) box.append(h('p', { class: 'hint', text: t('person.fromBill') }));
    if (r.eligibility_stale) box.append(h('p', { class: 'warn', text: t('person.stale') }));
    if (!state.personFromBill && r.aid_paid_here === false && (r.categories || []).length) {
      box.append(h('p', { class: 'warn', text: t('person.aidNotHere') }));
    }
  }

  // ---------------------------------------------------------------- catalog search
  let searchTimer = 0;
  let searchAbort = null;
  let searchFor = null; // the query the shown results answer
  let searchRun = null; // the search in flight, awaited by Enter

  function onSearchInput() {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { runSearch(); }, 120);
  }

  function runSearch() {
    clearTimeout(searchTimer);
    const q = $('#search').value.trim();
    if (searchAbort) searchAbort.abort();
    const ctl = new AbortController();
    searchAbort = ctl;
    searchRun = (async () => {
      try {
        const res = await call('GET', `/v1/catalog/items?institution_id=${inst()}&query=${encodeURIComponent(q)}&limit=20`, undefined, { signal: ctl.signal });
        const body = await res.json();
        if (ctl.signal.aborted) return;
        state.results = body.items || [];
        state.active = state.results.length ? 0 : -1;
        searchFor = q;
        renderResults();
      } catch (e) {
        if (e.name === 'AbortError') return;
        showError(e);
      }
    })();
    return searchRun;
  }

  function closeResults() {
    state.results = [];
    state.active = -1;
    searchFor = null;
    renderResults();
  }

  function renderResults() {
    const list = $('#results');
    const input = $('#search');
    list.replaceChildren();
    const q = input.value.trim();
    if (searchFor === null || (!state.results.length && !q)) {
      list.hidden = true;
      input.setAttribute('aria-expanded', 'false');
      input.removeAttribute('aria-activedescendant');
      return;
    }
    if (!state.results.length) {
      list.append(h('li', { class: 'none', role: 'option', 'aria-disabled': 'true', text: t('search.none', { q: searchFor }) }));
    }
    state.results.forEach((it, i) => {
      list.append(h('li', {
        id: `result-${i}`, role: 'option', 'aria-selected': String(i === state.active),
        class: i === state.active ? 'active' : '',
        onmousedown: (ev) => { ev.preventDefault(); addItem(it); },
      },
      h('span', { class: 'code', text: it.code }),
      h('span', { class: 'name', text: it.name }),
      classBadge(it.class),
      it.ceiling_unit_price ? h('span', { class: 'ceiling', text: t('ceiling', { p: it.ceiling_unit_price }) }) : null));
    });
    list.hidden = false;
    input.setAttribute('aria-expanded', 'true');
    if (state.active >= 0) {
      input.setAttribute('aria-activedescendant', `result-${state.active}`);
      const el = $(`#result-${state.active}`);
      if (el) el.scrollIntoView({ block: 'nearest' });
    } else {
      input.removeAttribute('aria-activedescendant');
    }
  }

  async function onSearchKey(ev) {
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      if (searchFor === null) {
        await runSearch();
        return;
      }
      const n = state.results.length;
      if (!n) return;
      state.active = ev.key === 'ArrowDown' ? (state.active + 1) % n : (state.active - 1 + n) % n;
      renderResults();
    } else if (ev.key === 'Enter') {
      ev.preventDefault();
      const q = $('#search').value.trim();
      if (!q && searchFor === null) return;
      // A barcode scanner types the code and Enter faster than the debounce: search now.
      if (searchFor !== q) await runSearch();
      else if (searchRun) await searchRun;
      const it = state.results[state.active];
      if (it) addItem(it);
    } else if (ev.key === 'Escape') {
      if (searchFor !== null) {
        ev.preventDefault();
        closeResults();
      }
    }
  }

  function classBadge(cls) {
    return cls ? h('span', { class: `cls cls-${cls}`, title: tOr(`class.title.${cls}`, cls), text: tOr(`class.${cls}`, cls) }) : h('span', { class: 'cls' });
  }

  // ---------------------------------------------------------------- the bill
  // The bill cannot change while a settle is in flight, while its outcome is unknown (the
  // retry must be the same request) or once it is settled.
  function billLocked() {
    return state.pending || state.settled || !!state.busy.settle;
  }

  function addItem(it) {
    if (billLocked()) {
      if (!state.busy.settle) showMessage('error', () => t(state.settled ? 'msg.settledLocked' : 'msg.locked'));
      return;
    }
    const line = {
      id: state.nextLineId++, code: it.code, name: it.name, cls: it.class, ceiling: it.ceiling_unit_price || '',
      qty: '1', price: it.ceiling_unit_price || '',
    };
    state.lines.push(line);
    $('#search').value = '';
    closeResults();
    renderBill();
    billChanged();
    line.row.qty.focus();
    line.row.qty.select();
  }

  function removeLine(line) {
    if (billLocked()) {
      if (!state.busy.settle) showMessage('error', () => t(state.settled ? 'msg.settledLocked' : 'msg.locked'));
      return;
    }
    const i = state.lines.indexOf(line);
    state.lines.splice(i, 1);
    renderBill();
    billChanged();
    const next = state.lines[Math.min(i, state.lines.length - 1)];
    (next ? next.row.remove : $('#search')).focus();
  }

  // lineValue parses a line: {q, p, fen} with null parts where the input is not valid.
  function lineValue(line) {
    const q = Money.parse(line.qty, 3);
    const p = Money.parse(line.price, 6);
    const qOk = q && q.n > 0n;
    const f = qOk && p ? Money.lineFen(q, p) : null;
    return { q: qOk ? q : null, p, fen: f };
  }

  function renderBill() {
    const body = $('#bill-body');
    body.replaceChildren();
    const locked = billLocked();
    state.lines.forEach((line, i) => {
      const n = i + 1;
      const qty = h('input', {
        class: 'qty', inputmode: 'decimal', autocomplete: 'off', value: line.qty, disabled: locked,
        'aria-label': t('qty.label', { n }),
      });
      const price = h('input', {
        class: 'price', inputmode: 'decimal', autocomplete: 'off', value: line.price, disabled: locked,
        'aria-label': t('price.label', { n }),
      });
      const amount = h('td', { class: 'num amount' });
      const remove = h('button', {
        type: 'button', class: 'remove quiet small', disabled: locked,
        'aria-label': t('remove.label', { n, name: line.name }), title: t('col.remove'), text: '✕',
      });
      qty.addEventListener('input', () => { line.qty = qty.value; qty.removeAttribute('aria-invalid'); updateAmounts(); billChanged(); });
      price.addEventListener('input', () => { line.price = price.value; price.removeAttribute('aria-invalid'); updateAmounts(); billChanged(); });
      qty.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter') { ev.preventDefault(); price.focus(); price.select(); }
      });
      price.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter') { ev.preventDefault(); $('#search').focus(); }
      });
      remove.addEventListener('click', () => removeLine(line));
      const tr = h('tr', { dataset: { code: line.code } },
        h('td', { class: 'num', text: String(n) }),
        h('td', { class: 'code', text: line.code }),
        h('td', { class: 'name' }, h('span', { text: line.name }),
          line.ceiling ? h('small', { class: 'ceiling', text: ` ${t('ceiling', { p: line.ceiling })}` }) : null),
        h('td', {}, classBadge(line.cls)),
        h('td', { class: 'num' }, qty),
        h('td', { class: 'num' }, price),
        amount,
        h('td', {}, remove));
      line.row = { tr, qty, price, amount, remove };
      body.append(tr);
    });
    $('#bill-empty').hidden = state.lines.length > 0;
    updateAmounts();
  }

  function updateAmounts() {
    let total = 0n;
    let ok = true;
    for (const line of state.lines) {
      const v = lineValue(line);
      line.row.amount.textContent = v.fen === null ? '—' : Money.show(v.fen);
      if (v.fen === null) ok = false;
      else total += v.fen;
    }
    $('#bill-total').textContent = ok ? Money.show(total) : '—';
  }

  // The bill as the gateway wants it, or the first problem found here (with the field the
  // gateway would name), so an obvious mistake needs no round trip.
  function buildRequest() {
    const cred = credential();
    if (!cred.value) return { error: { local: true, message: t('msg.needCred'), field: 'credential.value' } };
    if (!state.lines.length) return { error: { local: true, reason: 'EMPTY_BILL', field: 'lines' } };
    let total = 0n;
    const lines = [];
    for (let i = 0; i < state.lines.length; i++) {
      const line = state.lines[i];
      const v = lineValue(line);
      if (!v.q) return { error: { local: true, reason: 'INVALID_QUANTITY', field: `lines[${i}].quantity` } };
      if (!v.p || v.fen >= Money.LIMIT_FEN) return { error: { local: true, reason: 'INVALID_AMOUNT', field: `lines[${i}].unit_price` } };
      total += v.fen;
      lines.push({ code: line.code, name: line.name, quantity: v.q.text, unit_price: v.p.text, amount: Money.format(v.fen) });
    }
    if (total >= Money.LIMIT_FEN) return { error: { local: true, reason: 'INVALID_AMOUNT', field: 'lines' } };
    const med = $('#med-type').value;
    return {
      body: {
        institution_id: state.session ? state.session.institution : '',
        credential: cred,
        med_type: med,
        settle_date: '',
        admission_date: med === 'INPATIENT' ? $('#admission').value : '',
        referral_no: $('#referral').value.trim(),
        use_account: $('#use-account').checked,
        lines,
      },
    };
  }

  function signature(body) {
    return body ? JSON.stringify(Object.assign({}, body, { request_id: '' })) : '';
  }

  function currentSig() {
    const r = buildRequest();
    return r.body ? signature(r.body) : '';
  }

  function billChanged() {
    // A confirmation is for the bill the cashier checked, not for whatever it becomes.
    if (!state.pending) state.confirmDuplicate = false;
    renderSplitChanged();
    updateButtons();
  }

  function renderSplitChanged() {
    const banner = $('#split-changed');
    if (!banner) return;
    banner.hidden = !(state.result && state.result.state === 'PRESETTLED' && state.resultSig !== currentSig());
  }

  // ---------------------------------------------------------------- pre-settle and settle
  function setBusy(action, on) {
    state.busy[action] = on;
    updateButtons();
  }

  function updateButtons() {
    const b = state.busy;
    const settling = !!b.settle;
    const set = (id, disabled, busy) => {
      const el = $(id);
      el.disabled = !!disabled;
      el.setAttribute('aria-busy', String(!!busy));
    };
    set('#presettle-btn', b.presettle || settling || state.settled || state.pending, b.presettle);
    set('#settle-btn', settling || b.presettle || state.settled, settling);
    set('#receipt-btn', b.receipt, b.receipt);
    set('#new-btn', settling, false);
    set('#lookup-btn', b.lookup || settling, b.lookup);
    set('#today-refresh', b.today, b.today);
    const locked = billLocked();
    // While a settle's outcome is unknown only a fresh e-voucher may change (the old one is
    // spent); everything else must stay as sent so the retry is the same request.
    const voucher = $('#cred-type').value === 'E_VOUCHER';
    $('#cred-type').disabled = locked;
    $('#cred-value').disabled = state.settled || (state.pending && !voucher);
    for (const id of ['#med-type', '#admission', '#referral', '#use-account']) $(id).disabled = locked;
    $('#search').disabled = locked;
    for (const line of state.lines) {
      if (!line.row) continue;
      line.row.qty.disabled = locked;
      line.row.price.disabled = locked;
      line.row.remove.disabled = locked;
    }
  }

  async function presettle() {
    if (state.busy.presettle || state.busy.settle) return;
    clearInvalid();
    if (billLocked()) {
      showMessage('error', () => t(state.settled ? 'msg.settledLocked' : 'msg.locked'));
      return;
    }
    const r = buildRequest();
    if (r.error) {
      showError(r.error);
      return;
    }
    if (!voucherReady()) return;
    setBusy('presettle', true);
    try {
      const resp = await json('POST', '/v1/settlements:presettle', r.body);
      showResult(resp, signature(r.body));
      showMessage('ok', () => t('msg.presettled', { cash: Money.show(resp.cash) }));
      $('#settle-btn').focus();
    } catch (e) {
      showError(e);
    } finally {
      if (r.body.credential.type === 'E_VOUCHER') spendVoucher();
      setBusy('presettle', false);
    }
  }

  // unknownOutcome: the settle may or may not have been written. Only a retry with the same
  // request_id can tell (it replays what was stored, or settles now), so the page keeps the
  // id and locks the bill. A refusal with a reason the gateway decided on is not unknown.
  function unknownOutcome(e) {
    if (e.network) return true;
    if (e.reason) return ['OUTCOME_UNKNOWN', 'LEDGER_UNAVAILABLE', 'INTERNAL'].includes(e.reason);
    if (e.code !== undefined && e.code !== null) return [1, 2, 4, 13, 14].includes(e.code);
    return !e.status || e.status >= 500;
  }

  async function settle() {
    if (state.busy.settle || state.busy.presettle) return;
    clearInvalid();
    if (state.settled) {
      showMessage('error', () => t('msg.settledLocked'));
      return;
    }
    const r = buildRequest();
    if (r.error) {
      showError(r.error);
      return;
    }
    const retry = state.pending;
    // On a retry the old voucher is sent again on purpose: if the first attempt was stored,
    // the gateway answers it from the ledger whatever the voucher says now.
    if (!retry && !voucherReady()) return;
    if (!state.requestId) state.requestId = uuid();
    const id = state.requestId;
    const body = Object.assign({ request_id: id }, r.body);
    // Sent only once the gateway asked for it, so a gateway without the check never sees it.
    if (state.confirmDuplicate) body.confirm_duplicate = true;
    let duplicate = null;
    setBusy('settle', true);
    if (retry) showMessage('info', () => t('msg.retrying', { id }));
    try {
      const resp = await json('POST', '/v1/settlements', body);
      state.pending = false;
      state.settled = true;
      if (resp.institution_name && state.session.name !== resp.institution_name) {
        state.session.name = resp.institution_name;
        saveSession();
        renderWho();
      }
      showResult(resp, signature(r.body));
      renderBill();
      showMessage('ok', () => t(resp.replayed ? 'msg.settledReplayed' : 'msg.settled', { id: resp.settlement_id, cash: Money.show(resp.cash) }));
      $('#receipt-btn').focus();
      loadToday();
    } catch (e) {
      if (unknownOutcome(e)) {
        state.pending = true;
        renderBill();
        const cause = () => (e.network ? t('msg.cause.network') : describe(e));
        showMessage('error', () => t('msg.unknownOutcome', { cause: cause(), id }));
        $('#settle-btn').focus();
      } else if (e.reason === 'POSSIBLE_DUPLICATE_BILL' && !state.confirmDuplicate) {
        showError(e);
        duplicate = e;
      } else if (e.reason === 'IDEMPOTENCY_CONFLICT' && retry) {
        showMessage('error', () => t('msg.conflictPending', { id }));
        loadToday();
      } else {
        showError(e);
      }
    } finally {
      if (r.body.credential.type === 'E_VOUCHER') spendVoucher();
      setBusy('settle', false);
    }
    // A held duplicate: the cashier decides, having read when and as what it was settled
    // (the gateway's message says), and the confirmed bill goes again with the same id.
    // eslint-disable-next-line no-alert -- a native confirm is keyboard-accessible as is
    if (duplicate && window.confirm(t('msg.confirmDuplicate', { reason: t('reason.POSSIBLE_DUPLICATE_BILL'), detail: duplicate.message }))) {
      state.confirmDuplicate = true;
      settle();
    }
  }

  function showResult(resp, sig) {
    state.result = resp;
    state.resultSig = sig;
    if (resp.person && (!state.person || state.personFromBill)) {
      state.person = { person: resp.person, eligibility_stale: resp.eligibility_stale };
      state.personFromBill = true;
      renderPerson(false);
    }
    // The gateway's classification of each line (its catalog) replaces ours.
    (resp.lines || []).forEach((l, i) => {
      const line = state.lines[i];
      if (line && line.code === l.code && l.class) line.cls = l.class;
    });
    renderSplit();
    updateButtons();
  }

  function renderSplit() {
    const r = state.result;
    const body = $('#split-body');
    const badge = $('#split-state');
    body.replaceChildren();
    if (!r) {
      badge.hidden = true;
      delete badge.dataset.state;
      body.append(h('p', { class: 'empty', text: t('split.empty') }));
      return;
    }
    badge.hidden = false;
    badge.textContent = tOr(`state.${r.state}`, r.state);
    badge.className = `badge state-${r.state}`;
    badge.dataset.state = r.state;

    body.append(h('p', { id: 'split-changed', class: 'warn', hidden: true, text: t('split.changed') }));
    if (r.replayed) body.append(h('p', { class: 'info', text: t('split.replayed') }));
    if (r.settlement_id) {
      body.append(h('p', { class: 'sid' }, `${t('split.id')}: `, h('span', { id: 'split-id', class: 'mono', text: r.settlement_id }),
        r.settled_at ? ` · ${localTime(r.settled_at)}` : ''));
    }
    // The cash first and largest: it is what the cashier says to the patient.
    body.append(h('div', { class: 'cash' },
      h('span', { class: 'cash-label', text: t('split.cash') }),
      h('strong', { id: 'cash', class: 'amount', 'data-k': 'cash', text: Money.show(r.cash) })));
    const figure = (key, value, k) => labelled(t(key), Money.show(value), { 'data-k': k });
    body.append(h('dl', { class: 'figures' },
      figure('split.total', r.total, 'total'),
      figure('split.scope', r.policy_scope, 'policy_scope'),
      figure('split.excluded', r.excluded, 'excluded'),
      figure('split.overlimit', r.overlimit, 'overlimit'),
      figure('split.preselfpay', r.preselfpay, 'preselfpay')));

    const funds = r.fund_payments || [];
    let fundTotal = 0n;
    const rows = funds.map((f) => {
      fundTotal += Money.fromWire(f.amount) || 0n;
      const sub = [f.fund_code, tOr(`pool.${f.pool}`, f.pool), f.category ? tOr(`cat.${f.category}`, f.category) : ''].filter(Boolean).join(' · ');
      return h('tr', { class: 'fund-row', dataset: { fund: f.fund, pool: f.pool || '' } },
        h('td', {}, h('span', { text: tOr(`fund.${f.fund}`, f.fund) }), sub ? h('small', { text: ` ${sub}` }) : null),
        h('td', { class: 'num', text: ratio(f.ratio) }),
        h('td', { class: 'num amount', text: Money.show(f.amount) }));
    });
    body.append(h('table', { class: 'funds' },
      h('thead', {}, h('tr', {}, h('th', { text: t('split.fund') }), h('th', { class: 'num', text: t('split.ratio') }), h('th', { class: 'num', text: t('split.amount') }))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: '3', class: 'empty', text: t('split.noFunds') })))));
    body.append(h('dl', { class: 'figures parts' },
      figure('split.fundTotal', fundTotal, 'fund_total'),
      figure('split.hospital', r.hospital, 'hospital'),
      figure('split.account', r.account, 'account')));

    for (const n of r.notes || []) body.append(h('p', { class: 'warn', text: NOTES[n] ? t(NOTES[n]) : n }));

    const remaining = (r.remaining || []).filter((p) => p.threshold_kind || p.capped);
    if (remaining.length) {
      body.append(h('details', { class: 'remaining', open: true },
        h('summary', { text: t('split.remaining') }),
        h('table', {},
          h('thead', {}, h('tr', {}, h('th', { text: t('split.fund') }), h('th', { class: 'num', text: t('split.threshold') }), h('th', { class: 'num', text: t('split.cap') }))),
          h('tbody', {}, remaining.map((p) => h('tr', {},
            h('td', {}, h('span', { text: tOr(`fund.${p.fund}`, p.fund) }), h('small', { text: ` ${tOr(`pool.${p.pool}`, p.pool)}` })),
            h('td', { class: 'num', text: p.threshold_kind ? t(`threshold.${p.threshold_kind}`, { x: Money.show(p.threshold_remaining) }) : t('none') }),
            h('td', { class: 'num', text: p.capped ? Money.show(p.cap_remaining) : t('split.noCap') })))))));
    }
    if (r.policy && r.policy.name) body.append(h('p', { class: 'hint', text: `${t('split.policy')}: ${r.policy.name}` }));
    renderSplitChanged();
  }

  function ratio(s) {
    if (!s) return '';
    const p = Money.parse(s, 9);
    if (!p) return s;
    // ratio × 100 as a percentage, exact: shift the decimal point two places.
    const d = p.scale - 2;
    let pct;
    if (d <= 0) {
      pct = (p.n * 10n ** BigInt(-d)).toString();
    } else {
      const m = 10n ** BigInt(d);
      const frac = (p.n % m).toString().padStart(d, '0').replace(/0+$/, '');
      pct = `${p.n / m}${frac ? `.${frac}` : ''}`;
    }
    return `${pct}%`;
  }

  // ---------------------------------------------------------------- new bill
  function resetBill() {
    state.lines = [];
    state.result = null;
    state.resultSig = '';
    state.requestId = '';
    state.confirmDuplicate = false;
    state.pending = false;
    state.settled = false;
    state.person = null;
    state.personFromBill = false;
    state.voucherSpent = false;
    state.message = null;
    $('#cred-value').value = '';
    $('#referral').value = '';
    $('#admission').value = '';
    $('#use-account').checked = false;
    $('#med-type').value = 'OUTPATIENT';
    $('#search').value = '';
    closeResults();
  }

  function newBill() {
    if (state.busy.settle) return;
    // eslint-disable-next-line no-alert -- a native confirm is keyboard-accessible as is
    if (state.pending && !window.confirm(t('msg.abandonPending'))) return;
    resetBill();
    clearInvalid();
    renderAll();
    showMessage('info', () => t('msg.newBill'));
    $('#cred-value').focus();
  }

  // ---------------------------------------------------------------- today's settlements
  async function loadToday() {
    if (state.busy.today || !state.session) return;
    setBusy('today', true);
    state.todayError = null;
    if (!state.today) renderToday();
    try {
      const day = localDate(new Date());
      const res = await call('GET', `/v1/settlements?institution_id=${inst()}&from=${day}&to=${day}`);
      // A server stream: one JSON object a line, {"result": …} or {"error": …}.
      const text = await res.text();
      const rows = [];
      for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        const msg = JSON.parse(line);
        if (msg.error) throw new ApiError(streamError(msg.error));
        if (msg.result) rows.push(msg.result);
      }
      rows.sort((a, b) => String(b.settled_at).localeCompare(String(a.settled_at)));
      state.today = rows;
    } catch (e) {
      state.todayError = e;
      if (!state.today) state.today = [];
    } finally {
      setBusy('today', false);
      renderToday();
    }
  }

  function streamError(e) {
    const f = { code: e.code, message: e.message || '', status: e.http_code };
    for (const d of e.details || []) {
      if (d && String(d['@type']).endsWith('google.rpc.ErrorInfo')) {
        f.reason = d.reason;
        f.field = (d.metadata && d.metadata.field) || '';
      }
    }
    return f;
  }

  function renderToday() {
    const body = $('#today-body');
    const empty = $('#today-empty');
    body.replaceChildren();
    if (state.todayError) {
      empty.hidden = false;
      empty.className = 'error';
      empty.textContent = describe(state.todayError);
    } else if (!state.today) {
      empty.hidden = false;
      empty.className = 'empty';
      empty.textContent = t('today.loading');
    } else {
      empty.hidden = state.today.length > 0;
      empty.className = 'empty';
      empty.textContent = t('today.empty');
    }
    for (const s of state.today || []) {
      const cancelled = !!s.cancelled;
      body.append(h('tr', { class: cancelled ? 'cancelled' : '', dataset: { id: s.settlement_id } },
        h('td', { class: 'mono', text: localTime(s.settled_at), title: s.settlement_id }),
        h('td', { class: 'mono', text: s.person_id_masked }),
        h('td', { class: 'num', text: Money.show(s.total) }),
        h('td', { class: 'num', text: Money.show(s.cash) }),
        h('td', { text: t(cancelled ? 'state.CANCELLED' : 'state.SETTLED') }),
        h('td', { class: 'row-actions' },
          h('button', {
            type: 'button', class: 'small', text: t('today.receipt'),
            'aria-label': t('today.receiptLabel', { id: s.settlement_id }), onclick: () => openReceipt(s.settlement_id),
          }),
          h('button', {
            type: 'button', class: 'small danger', text: t('today.cancel'), disabled: cancelled,
            'aria-label': t('today.cancelLabel', { id: s.settlement_id }), onclick: () => openCancel(s),
          }))));
    }
  }

  // ---------------------------------------------------------------- cancel
  let cancelling = null; // {line, requestId, done}

  function openCancel(line) {
    // One request_id per dialog: confirming again after a network failure retries the same
    // cancellation instead of asking for a second one.
    cancelling = { line, requestId: uuid(), done: false };
    const dlg = $('#cancel-dialog');
    $('#cancel-reason').value = '';
    $('#cancel-reason').disabled = false;
    $('#cancel-reason').removeAttribute('aria-invalid');
    $('#cancel-result').replaceChildren();
    $('#cancel-error').hidden = true;
    $('#cancel-confirm').hidden = false;
    $('#cancel-confirm').disabled = false;
    renderCancelText();
    $('#cancel-back').querySelector('[data-i18n]').textContent = t('cancel.back');
    dlg.showModal();
    $('#cancel-reason').focus();
  }

  function renderCancelText() {
    if (!cancelling) return;
    const s = cancelling.line;
    $('#cancel-text').textContent = t('cancel.text', { id: s.settlement_id, person: s.person_id_masked, total: Money.show(s.total), cash: Money.show(s.cash) });
  }

  async function confirmCancel(ev) {
    ev.preventDefault();
    if (!cancelling || cancelling.done || state.busy.cancel) return;
    const reason = $('#cancel-reason').value.trim();
    const errBox = $('#cancel-error');
    errBox.hidden = true;
    if (!reason) {
      errBox.textContent = t('cancel.reasonRequired');
      errBox.hidden = false;
      $('#cancel-reason').setAttribute('aria-invalid', 'true');
      $('#cancel-reason').focus();
      return;
    }
    const btn = $('#cancel-confirm');
    btn.disabled = true;
    state.busy.cancel = true;
    const id = cancelling.line.settlement_id;
    try {
      const resp = await json('POST', `/v1/settlements/${encodeURIComponent(id)}:cancel`, {
        request_id: cancelling.requestId, institution_id: state.session.institution, settlement_id: id, reason,
      });
      cancelling.done = true;
      cancelling.resp = resp;
      renderCancelResult();
      btn.hidden = true;
      $('#cancel-reason').disabled = true;
      $('#cancel-back').querySelector('[data-i18n]').textContent = t('cancel.close');
      $('#cancel-back').focus();
      if (state.result && state.result.settlement_id === id) {
        try {
          showResult(await json('GET', `/v1/settlements/${encodeURIComponent(id)}?institution_id=${inst()}`), state.resultSig);
        } catch (_) { /* the list below shows the state too */ }
      }
      loadToday();
    } catch (e) {
      errBox.textContent = describe(e);
      errBox.hidden = false;
      btn.disabled = false;
    } finally {
      state.busy.cancel = false;
    }
  }

  function renderCancelResult() {
    const box = $('#cancel-result');
    box.replaceChildren();
    if (!cancelling || !cancelling.resp) return;
    const r = cancelling.resp;
    box.append(h('p', { class: 'ok', text: `${t('cancel.done', { cash: Money.show(r.cash_refund), account: Money.show(r.account_refund) })}${r.replayed ? ` ${t('cancel.replayed')}` : ''}` }));
    const rev = r.reversed || [];
    if (rev.length) {
      box.append(h('table', { class: 'funds' }, h('tbody', {}, rev.map((f) => h('tr', { class: 'fund-row', dataset: { fund: f.fund } },
        h('td', { text: tOr(`fund.${f.fund}`, f.fund) }),
        h('td', { class: 'num amount', text: Money.show(f.amount) }))))));
    }
  }

  // ---------------------------------------------------------------- the receipt
  let receiptFor = '';

  function receipt() {
    const r = state.result;
    if (!r || !r.settlement_id) {
      showMessage('error', () => t('receipt.nothing'));
      return;
    }
    openReceipt(r.settlement_id);
  }

  // openReceipt fetches /receipts/{id} with the token (a new tab could not send it) and shows
  // it in a sandboxed srcdoc frame. The frame inherits this page's policy, which refuses
  // inline styles; the receipt's own policy admits nothing inline but its one <style> (no
  // style attributes, no script), so the page takes the <style> out before showing the
  // receipt and applies it through the CSSOM, which no policy restricts.
  async function openReceipt(id) {
    if (state.busy.receipt) return;
    setBusy('receipt', true);
    receiptFor = id;
    const dlg = $('#receipt-dialog');
    const frame = $('#receipt-frame');
    const status = $('#receipt-status');
    delete frame.dataset.ready;
    // Hidden, not emptied: emptying it would fire a load event the new receipt's could be
    // taken for.
    frame.hidden = true;
    status.className = 'hint';
    status.textContent = t('receipt.loading');
    if (!dlg.open) dlg.showModal();
    $('#receipt-close').focus();
    try {
      const res = await call('GET', `/receipts/${encodeURIComponent(id)}?institution_id=${inst()}`, undefined, { accept: 'text/html' });
      const html = await res.text();
      await showInFrame(frame, html);
      frame.hidden = false;
      frame.dataset.ready = id;
      status.textContent = t('receipt.ready', { id });
      $('#receipt-print').focus();
    } catch (e) {
      status.className = 'error';
      status.textContent = describe(e);
    } finally {
      setBusy('receipt', false);
    }
  }

  function showInFrame(frame, html) {
    const css = [];
    const rest = String(html).replace(/<style\b[^>]*>([\s\S]*?)<\/style\s*>/gi, (m, c) => {
      css.push(c);
      return '';
    });
    return new Promise((resolve, reject) => {
      frame.addEventListener('load', () => {
        try {
          const sheet = new frame.contentWindow.CSSStyleSheet();
          sheet.replaceSync(css.join('\n'));
          frame.contentDocument.adoptedStyleSheets = [sheet];
          resolve();
        } catch (e) {
          reject(e);
        }
      }, { once: true });
      frame.srcdoc = rest;
    });
  }

  function printReceipt() {
    const frame = $('#receipt-frame');
    if (frame.dataset.ready && frame.contentWindow) frame.contentWindow.print();
  }

  // ---------------------------------------------------------------- keyboard
  function onKey(ev) {
    if ($('#cashier-view').hidden) return;
    // Ctrl+P with the receipt open prints the receipt, as the receipt's own hint says, not
    // the cashier page behind it.
    if ($('#receipt-dialog').open && (ev.ctrlKey || ev.metaKey) && ev.code === 'KeyP') {
      ev.preventDefault();
      printReceipt();
      return;
    }
    if (document.querySelector('dialog[open]')) return; // a dialog has the keyboard
    const shortcut = {
      F2: presettle, F4: settle, F8: receipt, F9: newBill,
    }[ev.key];
    if (shortcut && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      ev.preventDefault();
      shortcut();
      return;
    }
    // e.code, not e.key: on some layouts Alt turns the letter into another character.
    if (ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      const target = { KeyP: '#cred-value', KeyI: '#search', KeyL: '#today-refresh' }[ev.code];
      if (target) {
        ev.preventDefault();
        const el = ev.code === 'KeyL' ? ($('#today-body button:not([disabled])') || $(target)) : $(target);
        el.focus();
      }
    }
  }

  // ---------------------------------------------------------------- wiring
  function renderAll() {
    applyStatic();
    renderWho();
    renderCred();
    renderPerson(false);
    renderResults();
    renderBill();
    renderSplit();
    renderToday();
    renderMessage();
    renderCancelText();
    renderCancelResult();
    updateButtons();
    if (receiptFor && $('#receipt-dialog').open && $('#receipt-frame').dataset.ready) {
      $('#receipt-status').textContent = t('receipt.ready', { id: receiptFor });
    }
  }

  function switchLanguage() {
    lang = lang === 'en' ? 'zh' : 'en';
    localStorage.setItem('onestop.lang', lang);
    renderAll();
  }

  function credentialChanged() {
    state.voucherSpent = false;
    $('#cred-value').removeAttribute('aria-invalid');
    if (state.person && !state.personFromBill) {
      state.person = null;
      renderPerson(false);
    }
    renderCred();
    billChanged();
  }

  function init() {
    $('#lang').addEventListener('click', switchLanguage);
    $('#signout').addEventListener('click', () => signOut());
    $('#signin-form').addEventListener('submit', signIn);
    $('#cred-type').addEventListener('change', () => { credentialChanged(); $('#cred-value').focus(); });
    $('#cred-value').addEventListener('input', credentialChanged);
    $('#cred-value').addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') { ev.preventDefault(); lookup(); }
    });
    $('#lookup-btn').addEventListener('click', lookup);
    $('#med-type').addEventListener('change', () => { renderCred(); billChanged(); });
    for (const id of ['#admission', '#referral', '#use-account']) $(id).addEventListener('change', billChanged);
    $('#referral').addEventListener('input', billChanged);
    $('#search').addEventListener('input', onSearchInput);
    $('#search').addEventListener('keydown', onSearchKey);
    $('#search').addEventListener('blur', () => setTimeout(() => { if (document.activeElement !== $('#search')) closeResults(); }, 150));
    $('#presettle-btn').addEventListener('click', presettle);
    $('#settle-btn').addEventListener('click', settle);
    $('#receipt-btn').addEventListener('click', receipt);
    $('#new-btn').addEventListener('click', newBill);
    $('#today-refresh').addEventListener('click', loadToday);
    $('#cancel-form').addEventListener('submit', confirmCancel);
    $('#cancel-back').addEventListener('click', () => $('#cancel-dialog').close());
    $('#cancel-dialog').addEventListener('close', () => { cancelling = null; });
    $('#receipt-print').addEventListener('click', printReceipt);
    $('#receipt-close').addEventListener('click', () => $('#receipt-dialog').close());
    $('#receipt-dialog').addEventListener('close', () => { receiptFor = ''; $('#receipt-btn').focus(); });
    document.addEventListener('keydown', onKey);

    state.session = loadSession();
    renderAll();
    if (state.session) {
      showCashier();
    } else {
      $('#signin-view').hidden = false;
      $('#signin-inst').focus();
    }
  }

  // For the browser test: the money arithmetic, and the dictionary keys the page uses that
  // the dictionary lacks (each entry holds both languages, so one check covers both).
  window.onestopCashier = Object.freeze({
    lineAmount: (q, p) => {
      const a = Money.parse(q, 3);
      const b = Money.parse(p, 6);
      return a && b ? Money.format(Money.lineFen(a, b)) : null;
    },
    missingText: () => {
      const keys = [];
      for (const el of document.querySelectorAll('[data-i18n],[data-i18n-placeholder],[data-i18n-title],[data-i18n-aria]')) {
        keys.push(el.dataset.i18n, el.dataset.i18nPlaceholder, el.dataset.i18nTitle, el.dataset.i18nAria);
      }
      return keys.filter((k) => k && !has(k));
    },
    untranslated: () => Object.keys(TEXT).filter((k) => !(Array.isArray(TEXT[k]) && TEXT[k].length === 2 && TEXT[k][0] && TEXT[k][1])),
  });

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
