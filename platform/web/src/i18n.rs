//! Languages and the message catalog.

/// The language a page is shown in: Simplified Chinese first, English on
/// request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// 简体中文 (the default).
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The language a `lang` parameter or cookie names (`zh`, `zh-CN`,
    /// `en`); `None` for anything else.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        match tag.trim().to_ascii_lowercase().as_str() {
            "zh" | "zh-cn" | "zh-hans" => Some(Lang::Zh),
            "en" | "en-us" | "en-gb" => Some(Lang::En),
            _ => None,
        }
    }

    /// The short tag (`zh`, `en`) used in links and the cookie.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The value of the page's `lang` attribute.
    pub fn html_lang(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The other language (what the switch offers).
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// `zh` or `en` of a pair, by this language.
    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En if en.is_empty() => zh,
            Lang::En => en,
        }
    }
}

macro_rules! messages {
    ($($(#[$doc:meta])* $key:ident => $zh:literal, $en:literal;)*) => {
        /// A user-facing text. Each has its Chinese and its English in one
        /// arm of [`Msg::text`], so none can be missing.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Msg {
            $($(#[$doc])* #[doc = $zh] $key,)*
        }

        impl Msg {
            /// Every message (the catalog's test walks them).
            pub const ALL: &'static [Msg] = &[$(Msg::$key,)*];

            /// The text in Chinese and in English, to carry to a page
            /// whose language is decided later.
            pub fn both(self) -> (String, String) {
                (self.text(Lang::Zh).to_owned(), self.text(Lang::En).to_owned())
            }

            /// The text in `lang`.
            pub fn text(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $((Msg::$key, Lang::Zh) => $zh, (Msg::$key, Lang::En) => $en,)*
                }
            }
        }
    };
}

messages! {
    SkipToContent => "跳到主要内容", "Skip to main content";
    LanguageSwitch => "English", "中文";
    LanguageSwitchLabel => "切换为英文", "Switch to Chinese";
    PortalTitle => "政务服务", "Government services";
    WhatIfReport => "假设评估报告编号（灰度发布必填）", "What-if report (required for a partial rollout)";
    RunWhatIf => "假设评估：该版本会改变哪些已办决定", "What if: which recorded decisions this version would change";
    LotteryProject => "项目", "Project";
    LotteryUnitType => "户型", "Unit type";
    LotteryUnits => "房源套数", "Units offered";
    LotteryDrawnOn => "摇号日期", "Day of the draw";
    LotteryPublishedOn => "公示日期", "Published on";
    LotteryPublicValue => "公开随机值（公示时指定）", "Public value (named when published)";
    LotteryPublishedSm3 => "公示数据的 SM3", "SM3 of the published text";
    LotteryValue => "公开随机值的取值", "The public value, as announced";
    LotterySeed => "种子 SM3(公示数据‖取值)", "Seed SM3(published text ‖ value)";
    LotteryAwaitingDraw => "已公示，待摇号：名单已冻结，摇号日取得公开随机值后摇号。", "Published, waiting for the draw: the entries are frozen; the draw takes place once the public value is known on its day.";
    LotteryEntries => "公示名单", "Entries";
    LotteryRanking => "摇号结果", "Ranking";
    LotteryPosition => "序号", "Position";
    LotteryCase => "办件编号", "Case";
    LotteryScore => "优先得分", "Priority score";
    LotteryOutcome => "结果", "Outcome";
    LotteryTicket => "签号（SM3(种子‖办件编号)）", "Ticket (SM3(seed ‖ case))";
    LotteryDrawn => "中签", "Drawn";
    LotteryWaiting => "轮候", "Waiting";
    LotteryScoreChanged => "公平卫士：提交时得分为 ", "Fairness guard: the score at submission was ";
    LotteryHowToCheck => "如何复核", "How to check it";
    LotteryRule => "任何人均可复核：名单在公示时冻结，公开随机值在公示时指定、摇号日才可知；种子为下方公示数据（UTF-8 字节）之后接取值所得的 SM3 杂凑值；每件申请的签号为 SM3(种子字节‖办件编号)；先按优先得分从高到低排序，同分者按签号从小到大排序，前若干名（房源套数）中签，其余依次轮候。也可运行 civitas lottery verify 加上本摇号的记录地址。", "Anyone can check it: the entries were frozen when published, and the public value was named then and is known only on the day of the draw; the seed is the SM3 digest of the published text below (its UTF-8 bytes) followed by the value; each application's ticket is SM3(seed bytes ‖ case id); applications are ordered by priority score, highest first, and equal scores by ticket, lowest first; the first ones (as many as units offered) are drawn, the rest wait in that order. Or run civitas lottery verify with this lottery's record address.";
    LotteryRecord => "摇号记录（JSON）", "The record (JSON)";
    LotteryPublished => "公示数据", "The published text";
    PlatformName => "Civitas 政务服务平台", "Civitas government service platform";
    SearchLabel => "搜索服务（中文、拼音或首字母）", "Search services (Chinese, pinyin or initials)";
    SearchPlaceholder => "如：助餐补贴 或 zcbt", "e.g. 助餐补贴 or zcbt";
    SearchButton => "搜索", "Search";
    SearchUnavailable => "检索暂不可用，以下为全部服务。", "Search is unavailable right now; all services are listed below.";
    SearchResultsFor => "搜索结果：", "Results for: ";
    SearchNoResults => "没有找到相关服务，请换个说法或浏览全部服务。", "No service matches; try other words or browse all services.";
    AllServices => "全部服务", "All services";
    ServicesOffered => "本地可办服务", "Services offered here";
    NoServices => "本地暂无可在线办理的服务。", "No service can be applied for online here yet.";
    WhoMayApply => "申请对象", "Who may apply";
    ApplicantCitizen => "个人（需实名认证）", "Individuals (real-name verified)";
    ApplicantEnterprise => "企业（需实名认证）", "Enterprises (real-name verified)";
    Process => "办理流程", "How it is handled";
    StepDeadline => "办理时限", "Time limit";
    WorkingDays => "个工作日", " working days";
    NaturalDays => "个自然日", " calendar days";
    NoDeadline => "无固定时限", "No fixed limit";
    StatutoryLimit => "法定办结时限", "Statutory time limit";
    WhatYouProvide => "申请需填写的信息", "What you will be asked";
    Required => "必填", "Required";
    Optional => "选填", "Optional";
    FormatDate => "日期，格式：年-月-日", "A date, as year-month-day";
    FormatYesNo => "是 / 否", "Yes / No";
    FormatWholeNumber => "整数", "A whole number";
    FormatText => "文字", "Text";
    FormatChoice => "从以下选项中选择：", "One of: ";
    FormatRange => "范围", "Range";
    NothingToFill => "本事项无需填写额外信息。", "This service asks for no further information.";
    Withdrawable => "受理审查前可撤回申请。", "You may withdraw the application until it is reviewed.";
    BackToServices => "返回服务列表", "Back to services";
    NotFoundTitle => "页面不存在", "Page not found";
    NotFoundText => "您访问的地区或服务不存在，或本地不提供该服务。", "The area or service you asked for does not exist, or is not offered here.";
    UnavailableTitle => "服务暂不可用", "Service unavailable";
    UnavailableText => "平台暂时无法提供此页面，请稍后再试。", "The platform cannot show this page right now; please try again later.";
    Footer => "本页面由 Civitas 平台提供。", "This page is served by the Civitas platform.";
    SignIn => "登录", "Sign in";
    SignOut => "退出", "Sign out";
    SignedInAs => "已登录：", "Signed in as ";
    SignInTitle => "登录 Civitas", "Sign in to Civitas";
    Username => "用户名", "Username";
    Password => "密码", "Password";
    SignInButton => "登录", "Sign in";
    PasswordSealed => "密码在浏览器中以国密 SM2 算法加密后发送。", "Your password is encrypted with SM2 in the browser before it is sent.";
    NeedsJavaScript => "登录需要启用 JavaScript：密码须在浏览器中加密后才能发送。", "Signing in needs JavaScript: the password must be encrypted in the browser before it is sent.";
    KeyUnavailable => "暂时无法取得平台公钥，请稍后再试。", "The platform's key cannot be fetched right now; please try again later.";
    NoAccount => "还没有账户？", "No account yet? ";
    RegisterLink => "注册", "Register";
    RegisterTitle => "注册账户", "Register";
    RegisterAt => "注册地：", "Registering at: ";
    RegisterAs => "注册类型", "Who registers";
    RegisterCitizen => "个人注册", "A person";
    RegisterEnterprise => "法人注册", "An enterprise";
    RegisterNeedsJavaScript => "注册需要启用 JavaScript：密码须在浏览器中加密后才能发送。", "Registering needs JavaScript: the password must be encrypted in the browser before it is sent.";
    RegisterNeedsPlace => "请从您所在地区的服务门户进入注册页面。", "Open the registration page from the portal of your area.";
    PasswordsDiffer => "两次输入的密码不一致。", "The two passwords differ.";
    FullName => "姓名（与身份证件一致）", "Full name (as on your identity card)";
    EnterpriseName => "企业名称（与营业执照一致）", "Enterprise name (as on the business licence)";
    IdNumberLabel => "居民身份证号码", "Resident identity card number";
    CreditCodeLabel => "统一社会信用代码", "Unified social credit code";
    IdNumberHint => "18 位，末位可为 X；号码加密保存，仅用于实名核验。", "18 characters, the last may be X; stored sealed and used only for real-name verification.";
    CreditCodeHint => "18 位，见营业执照。", "18 characters, as on the business licence.";
    UsernameHint => "3–64 个小写字母、数字或 -_.，登录时使用。", "3–64 lowercase letters, digits or -_.; you sign in with it.";
    PasswordRule => "至少 8 位，含大写字母、小写字母、数字、符号中的三类。", "At least 8 characters, of three of: capitals, lowercase letters, digits, symbols.";
    PasswordAgain => "再次输入密码", "The password again";
    RegisterButton => "注册", "Register";
    HaveAccount => "已有账户？", "Have an account? ";
    VerifyTitle => "实名核验", "Real-name verification";
    ReturnedBecause => "退回原因：", "Returned because: ";
    VerifyBeforeApplying => "您的账户尚未实名核验，核验后才能提交申请。", "Your account is not verified yet; you can apply once it is.";
    Verified => "您的账户已完成实名核验，可以在线申请和办理事项。", "Your account is verified: you may apply and act online.";
    VerifiedNow => "实名核验已完成。", "You are verified.";
    NotVerifiedYet => "账户已创建，尚未实名核验：完成核验前不能申请或办理事项。请选择一种方式核验。", "Your account exists but is not verified yet: until it is, you cannot apply or act. Choose a way to verify it.";
    VerifyOnline => "在线核验", "Verify online";
    VerifyOnlineText => "前往统一身份认证平台，以注册时的证件完成核验后自动返回。", "Go to the identity provider, verify with the identity you registered, and come back here.";
    VerifyOnlineButton => "前往统一身份认证", "Go to the identity provider";
    VerifyAtCounter => "窗口核验", "At a service counter";
    VerifyAtCounterText => "携带身份证件（企业：营业执照）到所在街道（乡镇）的政务服务窗口，告知工作人员您的用户名：", "Bring your identity card (an enterprise: its business licence) to the service counter of your street or township and tell the officer your username: ";
    ToPortal => "返回服务门户", "Back to the portal";
    CounterCheckTitle => "窗口实名核验", "Verify an identity at the counter";
    CounterCheckIntro => "核对在线注册者出示的证件原件：证件号码须与注册时填写的一致。核验记入审计日志。", "Check the original document of someone who registered online: its number must be the one they registered with. Every check is recorded in the audit log.";
    CounterCheckDone => "已完成实名核验：", "Verified: ";
    CounterCheckReleased => "同一证件的其他未核验账户已停用：", "Other unverified accounts that claimed the identity are disabled: ";
    CounterCheckButton => "核验", "Verify";
    DocumentKind => "证件类型", "Document";
    DocumentNumber => "证件号码", "Document number";
    ChooseDocumentKind => "请选择证件类型：居民身份证或营业执照。", "Choose the document: a resident identity card or a business licence.";
    StaffNoVerification => "工作人员账户由管理员创建并授权，无需实名核验。", "Staff accounts are created and granted by administrators; they need no real-name verification.";
    Continue => "继续", "Continue";
    FormExpired => "页面已过期，请重新提交。", "This page has expired; please submit it again.";
    ProblemMissing => "请填写此项", "Please fill this in";
    ProblemNotANumber => "请填写整数", "Please give a whole number";
    ProblemRange => "请填写范围内的整数：", "Please give a whole number within ";
    ProblemNotAChoice => "请从选项中选择", "Please choose one of the options";
    ProblemNotADate => "请填写有效日期（年-月-日）", "Please give a real date (year-month-day)";
    ApplyOnline => "在线申请", "Apply online";
    ApplyTitle => "填写申请", "Your application";
    ApplyIntro => "请如实填写，带 * 的为必填项。提交后将显示办件编号、当前环节和办理期限。", "Please answer truthfully; fields marked * are required. Once submitted, you see the case number, its current step and when it is due.";
    SubmitApplication => "提交申请", "Submit the application";
    Yes => "是", "Yes";
    No => "否", "No";
    ChooseOne => "请选择", "Choose one";
    FixProblems => "申请未提交：请修改下列标出的内容。", "The application was not submitted: please correct the fields marked below.";
    NotSubmitted => "申请未提交：", "The application was not submitted: ";
    SignInToApply => "登录后即可在线申请。", "Sign in to apply online.";
    ReceiptTitle => "申请已提交", "Application submitted";
    CaseNumber => "办件编号", "Case number";
    CaseState => "办理状态", "Status";
    CurrentStep => "当前环节", "Current step";
    StepDueOn => "本环节办理期限", "Due for this step";
    LimitDueOn => "法定办结期限", "Statutory deadline";
    StateOpen => "办理中", "In progress";
    StateReturned => "已退回补正", "Returned for correction";
    StatePaused => "已中止", "Paused";
    StateApproved => "已办结（准予）", "Finished (approved)";
    StateRejected => "已办结（不予）", "Finished (refused)";
    StateWithdrawn => "已撤回", "Withdrawn";
    Workbench => "工作台", "Workbench";
    Inbox => "待办事项", "Inbox";
    InboxEmpty => "暂无待办事项。", "Nothing waits for you.";
    OverdueOnly => "只看已逾期", "Overdue only";
    Filter => "筛选", "Filter";
    Matter => "事项", "Matter";
    Place => "办理地", "Where";
    DueOn => "办理期限", "Due";
    DaysLeft => "剩余时间", "Time left";
    Overdue => "已逾期", "Overdue";
    Supervised => "督办", "Escalated";
    NextPage => "下一页", "Next page";
    // Sealed documents (文书) and their verification.
    SealedDocuments => "文书", "Official documents";
    SealedDocumentsHint => "文书加盖电子印章（GB/T 38540，SM2/SM3），任何人可核验真伪：", "Documents bear an electronic seal (GB/T 38540, SM2/SM3); anyone can check one:";
    IssueDocument => "出具", "Issue";
    AllowedRange => "允许范围：", "Allowed: ";
    IssueHint => "出具后生成 PDF 并加盖本单位电子印章，文号自动编排，记入审计日志；同一文书只出具一次。", "Issuing renders the PDF and seals it with the bureau's electronic seal; the number is assigned and the issue audited. A document is issued once.";
    IssueAndSeal => "出具并盖章", "Issue and seal";
    DocumentVerifyTitle => "文书核验", "Verify a document";
    VerifyIntro => "选择收到的 PDF 文书，核验其电子印章（SM2 签名、SM3 摘要）是否由本平台签发、文件是否被改动。文件只用于核验，不会保存。", "Choose a PDF document you received to check that its electronic seal (SM2 signature, SM3 digest) was made by this platform and that the file was not changed. The file is only checked, never kept.";
    VerifyValid => "签章有效：文件未被改动", "The seal is valid: the file is unchanged";
    VerifyRefused => "核验未通过", "The document does not verify";
    VerifyNotRecorded => "签章有效，但本平台没有出具此文件的记录。", "The seal is valid, but this platform has no record of issuing this very file.";
    VerifySealRevoked => "注意：该印章此后已吊销，时间：", "Note: the seal was revoked since, at ";
    VerifyChoose => "选择文件", "Choose a file";
    VerifyButton => "核验", "Verify";
    VerifyOffline => "也可离线核验：civitas doc verify 文件.pdf，或用任何国密工具对照本平台根证书核验。", "You can also verify offline: civitas doc verify file.pdf, or any GM toolkit against the platform's root certificate.";
    RootCertificate => "下载根证书", "Download the root certificate";
    SealName => "印章", "Seal";
    SealHolder => "印章所属（证书载明）", "Belongs to (as its certificate says)";
    SealedAt => "盖章时间", "Sealed at";
    DocumentName => "文书", "Document";
    IssuedNumber => "文号", "Number";
    IssuedAt => "出具时间", "Issued at";
    VerifyFile => "选择 PDF 文书", "Choose the PDF document";
    ExportXlsx => "导出 Excel", "Export to Excel";
    ExportCases => "导出办件 Excel", "Export the cases to Excel";
    ExportHint => "导出全部符合当前筛选条件的记录（不分页，个人信息按列表脱敏）；导出记入审计日志。记录多时生成需要数秒，浏览器会显示下载进度。", "Exports every record matching the current filter (all pages, personal data masked as in the list); the export is audited. A large export takes a few seconds to prepare; the browser shows the download's progress.";
    Application => "申请内容", "The application";
    ModuleDecisions => "规则判定", "Rule decisions";
    Eligible => "符合条件", "eligible";
    NotEligible => "不符合条件", "not eligible";
    Handle => "办理", "Handle";
    ActApprove => "审核通过", "Approve";
    ActReturn => "退回补正", "Return for correction";
    ActReject => "不予通过", "Refuse";
    ActTransfer => "转办", "Transfer";
    ActPause => "中止办理", "Pause";
    ActResume => "恢复办理", "Resume";
    ActExtend => "延长办理期限", "Extend the time limit";
    TransferTo => "转至", "Transfer to";
    ExtensionsSoFar => "已延长 / 最多可延长：", "Extended so far / at most: ";
    ExtendByDays => "延长天数", "Days to add";
    StaffOnly => "工作台仅供工作人员使用。", "The workbench is for staff only.";
    NotDone => "未能办理：", "Not done: ";
    CorrectAndResubmit => "修改后重新提交", "Correct and send again";
    Resubmit => "重新提交", "Send again";
    WithdrawTitle => "撤回申请", "Withdraw the application";
    WithdrawReason => "撤回理由", "Why you withdraw it";
    WithdrawButton => "撤回", "Withdraw";
    MyCases => "我的办件", "My applications";
    MessageCentre => "消息中心", "Message centre";
    UnreadCount => "未读消息：", "Unread: ";
    NoMessagesYet => "暂无消息。办件有进展时，您会在这里收到通知。", "No messages yet. When your applications move on, you are told here.";
    MarkRead => "标为已读", "Mark as read";
    UnreadBadge => "未读", "Unread";
    Handler => "办理人", "Handled by";
    HandledAt => "办理时间", "Time";
    NewsStatus => "办理状态", "Status";
    MatterName => "办理事项", "Matter";
    CarriedBy => "发送情况", "Delivery";
    NotifySettings => "接收设置", "How you are told";
    NotifySettingsHint => "站内消息始终开启；短信和电子邮件发送到您在此登记的号码和地址（加密保存）。", "The message centre is always on; SMS and e-mail go to the number and address you give here (kept encrypted).";
    PhoneNumber => "手机号码", "Mobile number";
    EmailAddress => "电子邮箱", "E-mail address";
    CurrentlyGiven => "当前：", "Now: ";
    NoneGiven => "未登记", "none given";
    ReceiveBy => "接收", "Receive by";
    NotOffered => "（本平台暂未开通）", " (not offered on this platform)";
    SaveSettings => "保存设置", "Save";
    SettingsSaved => "设置已保存。", "Saved.";
    DeliveryRecords => "通知发送记录", "Notification deliveries";
    DeliveryRecordsHint => "本辖区办件的每条通知在每个渠道的发送记录：办理人、办理时间、办理状态、办理事项。", "Every notice about cases here, per channel: handled by, time, status, matter.";
    ChannelName => "渠道", "Channel";
    DeliveryState => "发送状态", "Delivery status";
    SentTo => "发送至", "Sent to";
    AttemptsMade => "发送次数", "Attempts";
    LastError => "最后错误", "Last error";
    NoDeliveries => "暂无发送记录。", "No deliveries yet.";
    SendAgain => "重新发送", "Send again";
    RetryQueued => "已重新排队发送。", "Queued to be sent again.";
    NoCasesYet => "您在本地还没有办件。", "You have no applications here yet.";
    FiledOn => "提交日期", "Filed on";
    History => "办理记录", "History";
    Reason => "理由", "Reason";
    EventSubmit => "提交申请", "Submitted";
    EventApprove => "审核通过", "Approved";
    EventReturn => "退回补正", "Returned for correction";
    EventReject => "不予通过", "Refused";
    EventTransfer => "转办", "Transferred";
    EventPause => "中止办理", "Paused";
    EventResume => "恢复办理", "Resumed";
    EventExtend => "延长期限", "Deadline extended";
    EventWithdraw => "撤回申请", "Withdrawn";
    EventResubmit => "重新提交", "Resubmitted";
    EventCountersign => "会签", "Countersigned";
    EventOverdue => "已逾期", "Overdue";
    EventAttach => "上传材料", "Document added";
    EventRate => "评价", "Rated";
    EventOther => "办理", "Handled";
    WorkingDaysUnit => "工作日", "working days";
    NaturalDaysUnit => "自然日", "calendar days";
    ApplicationsOnlyFor => "本事项仅接受以下申请人在线申请：", "This service takes online applications only from: ";
    Console => "治理控制台", "Governance console";
    ConsoleIntro => "选择一个地区，管理其账户、授权和模块绑定，或查看审计日志。", "Choose a place to manage its accounts, grants and module bindings, or to read its audit log.";
    ConsoleStaffOnly => "治理控制台仅供工作人员使用。", "The console is for staff only.";
    TenantTree => "行政区划树", "The administrative tree";
    Overview => "概况", "Overview";
    Accounts => "账户", "Accounts";
    Grants => "授权", "Grants";
    Bindings => "模块绑定", "Module bindings";
    AuditLog => "审计日志", "Audit log";
    Breadcrumb => "所在位置", "You are here";
    Sections => "管理栏目", "Sections";
    RefusedBySeparation => "已拒绝：三员分立", "Refused: separation of duties";
    Level => "层级", "Level";
    Lines => "业务条线", "Lines of business";
    Portal => "门户", "Portal";
    Children => "下级地区", "Places below";
    OneTimePassword => "一次性密码", "One-time password";
    OneTimePasswordShownOnce => "请当面或经安全渠道交给本人。此密码仅显示这一次，首次登录须修改。", "Hand it to its holder in person or over a safe channel. It is shown this once and must be changed at first sign-in.";
    NoAccounts => "暂无账户。", "No accounts here.";
    DisplayName => "姓名", "Name";
    AccountKind => "类型", "Kind";
    Line => "条线", "Line";
    AccountState => "状态", "State";
    Roles => "角色", "Roles";
    LockedUntil => "锁定至 ", "Locked until ";
    NewAccount => "新建账户", "New account";
    NewAccountIntro => "系统管理员创建账户；角色由安全管理员另行授予。", "The system administrator creates accounts; the security administrator grants their roles.";
    KindStaff => "工作人员", "Staff";
    KindDeveloper => "模块开发者", "Module developer";
    KindService => "服务账户", "Service account";
    KindCitizen => "群众", "Citizen";
    KindEnterprise => "企业", "Enterprise";
    NoLine => "无", "None";
    EmployeeNo => "工号", "Employee number";
    Position => "岗位", "Position";
    Phone => "手机", "Phone";
    Email => "电子邮箱", "E-mail";
    CreateAccount => "创建账户", "Create the account";
    Actions => "操作", "Actions";
    AccountActive => "正常", "Active";
    AccountPending => "待修改初始密码", "Awaiting a password change";
    AccountLocked => "已锁定", "Locked";
    AccountDisabled => "已停用", "Disabled";
    Enable => "启用", "Enable";
    Disable => "停用", "Disable";
    DisableReason => "停用原因", "Why it is disabled";
    Unlock => "解除锁定", "Unlock";
    ResetPassword => "重置密码", "Reset the password";
    AccountCreated => "账户已创建。", "The account was created.";
    AccountDisabledNow => "账户已停用，其会话和密钥立即失效。", "The account is disabled; its sessions and keys stopped at once.";
    AccountEnabledNow => "账户已启用。", "The account is enabled.";
    AccountUnlockedNow => "已解除锁定。", "The sign-in lock was lifted.";
    PasswordResetNow => "已重置密码。", "The password was reset.";
    NothingChanged => "无变化：账户已是该状态。", "Nothing changed: the account was already so.";
    NoGrants => "暂无授权。", "No grants here.";
    Seals => "电子印章", "Electronic seals";
    NoSeals => "本级及下级暂无电子印章。", "No electronic seals here or below.";
    SealValidity => "有效期", "Valid";
    SealPlace => "所属", "Belongs to";
    SealCode => "印章编码", "Seal id";
    SealRevokedAt => "已吊销：", "Revoked: ";
    NewSeal => "制作印章", "Make a seal";
    NewSealIntro => "为本级某条线的单位制作电子印章：生成新的 SM2 密钥（以本级数据密钥加密保存），由平台根证书签发印章证书并制章，有效期五年。每条线同时只有一枚有效印章；吊销后已盖章的文书仍可核验。", "Makes the electronic seal of a line's bureau here: a new SM2 key (kept sealed with this place's data key), its certificate and the seal made by the platform's root, valid five years. A line has one active seal at a time; documents sealed before a revocation still verify.";
    SealNameLabel => "印章名称（单位全称）", "Name (the bureau's full name)";
    MakeSealButton => "制章", "Make the seal";
    SealMadeNow => "已制章。", "The seal was made.";
    SealRevokedNow => "印章已吊销。", "The seal was revoked.";
    Role => "角色", "Role";
    GrantScope => "授权范围", "Subtree";
    GrantedBy => "授权人及时间", "Granted by, when";
    Revoke => "撤销", "Revoke";
    NewGrant => "授予角色", "Grant a role";
    NewGrantIntro => "安全管理员授予角色；同一账户不得兼任系统、安全、审计管理员中的两项（三员分立）。", "The security administrator grants roles; no account may hold two of the system, security and audit administrators' roles (separation of duties).";
    EveryLine => "全部条线", "Every line";
    GrantButton => "授权", "Grant";
    GrantedNow => "已授权。", "Granted.";
    AlreadyGranted => "无变化：该账户已持有此角色。", "Nothing changed: the account already holds this role.";
    RevokedNow => "已撤销授权。", "The grant was revoked.";
    BoundAt => "绑定于", "Bound at";
    StableVersion => "稳定版本", "Stable version";
    RolloutVersion => "灰度版本", "Rolling out";
    LastChange => "最近变更", "Last change";
    Rollback => "回滚", "Roll back";
    BindVersion => "绑定版本：", "Bind a version: ";
    BindIntro => "比例为 100 时成为稳定版本；1–99 时按办件编号分流该比例的办件试行。绑定前自动运行一致性检查。", "At 100 % the version becomes the stable one; at 1–99 % that share of cases (chosen by case number) tries it. Conformance checks run before binding.";
    ModuleVersion => "模块版本", "Module version";
    RolloutPercent => "灰度比例（%）", "Share of cases (%)";
    Bind => "绑定", "Bind";
    BoundNow => "已绑定（一致性检查通过）。", "Bound (the conformance checks passed).";
    RolledBackNow => "已回滚到上一次变更之前的状态。", "Rolled back to the state before the latest change.";
    CityDefault => "默认（各地未另行绑定时）", "Default (wherever nothing else is bound)";
    ChainStatus => "哈希链校验", "Hash chain verification";
    ChainUnchecked => "尚未校验本地区及下级的审计链。", "The audit chains of this subtree have not been checked yet.";
    VerifyChains => "立即校验", "Verify now";
    ChainIntact => "完整：未发现篡改。", "Intact: no tampering found.";
    ChainsChecked => "链：", "Chains: ";
    RecordsChecked => "记录：", "Records: ";
    AnchorsChecked => "签名锚点：", "Signed anchors: ";
    ChainBroken => "发现问题：审计链已被改动。", "Problems found: the audit chain was changed.";
    AuditAction => "操作类型", "Action";
    AuditActor => "操作者", "Actor";
    AuditAt => "时间", "When";
    AuditTarget => "对象及详情", "Target and details";
    InvalidRollout => "请选择版本，并填写 1–100 之间的比例。", "Choose a version and a share from 1 to 100.";
    NotAllowedTitle => "无权访问", "Not allowed";
    NotAllowedText => "您的角色不含此栏目的权限；如需使用，请联系安全管理员。", "Your roles do not open this section; ask the security administrator if you need it.";
    Dashboard => "数据看板", "Dashboard";
    DashboardSpan => "统计范围：最近 ", "Span: the last ";
    MonthsUnit => " 个月（按申请月份）", " months (by month filed)";
    Filed => "申请量", "Filed";
    Finished => "办结量", "Finished";
    ApprovalRate => "准予率", "Approval rate";
    MeanProcessingTime => "平均办理时长", "Mean processing time";
    OverdueRate => "超法定时限率", "Past the statutory limit";
    ChartMonthsTitle => "逐月申请量与办结量", "Filed and finished, month by month";
    ChartPlacesTitle => "各地办件情况", "By place";
    OwnCases => "（本级）", " (its own)";
    Documents => "申请材料", "Supporting documents";
    NoDocuments => "尚未上传申请材料。", "No document has been uploaded yet.";
    ChooseFile => "选择要上传的文件", "Choose a file to upload";
    DocumentHint => "PDF、OFD、JPEG 或 PNG 格式，不超过 10 MB；按文件内容核验类型。", "PDF, OFD, JPEG or PNG, at most 10 MB; the type is checked from the file's content.";
    UploadDocument => "上传材料", "Upload the document";
    DocumentUploaded => "材料已上传。", "The document was uploaded.";
    RateTitle => "评价本次服务（好差评）", "Rate this service";
    RateLegend => "您对本次办理是否满意？", "How satisfied are you with how this was handled?";
    Score5 => "非常满意", "Very satisfied";
    Score4 => "满意", "Satisfied";
    Score3 => "基本满意", "Fairly satisfied";
    Score2 => "不满意", "Dissatisfied";
    Score1 => "非常不满意", "Very dissatisfied";
    RatingComment => "评价内容（选择不满意时请说明原因）", "Comment (say what went wrong if you are dissatisfied)";
    SubmitRating => "提交评价", "Send the rating";
    YourRating => "您的评价：", "Your rating: ";
    ApplicantRating => "申请人评价：", "The applicant's rating: ";
    MaskedBadge => "已脱敏", "masked";
    PersonalMaskedByRole => "申请人的个人信息已按岗位权限脱敏显示。", "The applicant's personal data is shown masked for your role.";
    PersonalMaskedReveal => "申请人的个人信息已脱敏显示。如办理需要核对完整信息，请说明理由；每次查看都记入审计日志。", "The applicant's personal data is shown masked. If handling the case needs it in full, give a reason; every reveal is recorded in the audit log.";
    RevealReason => "查看理由", "Reason for viewing";
    RevealSubmit => "查看完整信息", "Show in full";
    PersonalShown => "已显示完整个人信息，本次查看已记入审计日志。理由：", "The personal data is shown in full; this reveal is recorded in the audit log. Reason: ";
    MeanScore => "满意度（平均分）", "Satisfaction (mean of 5)";
    ModuleRegistry => "模块仓库", "Module registry";
    ModuleRegistryIntro => "已发布的业务规则模块：每个版本按 SM3 摘要寻址、由发布者以 SM2 签名，发布时及每次加载前都会核验；一致性检查按本地设置运行服务的全部示例。", "Published business-rule modules: each version is addressed by its SM3 digest and signed with SM2 by its publisher, verified when published and before every load; the conformance checks run every example of the service with this place's settings.";
    Publisher => "发布者", "Publisher";
    Signature => "签名", "Signature";
    SignedSm2 => "SM2 签名已核验", "SM2 signature verified";
    Conformance => "一致性", "Conformance";
    RunConformance => "运行一致性检查", "Run the conformance checks";
    ConformanceOf => "一致性检查：", "Conformance checks: ";
    ConformancePassed => "全部通过。", "Every check passed.";
    ConformanceFailed => "未通过：该版本不能在此绑定。", "Failed: this version cannot be bound here.";
    MaxFuel => "示例最多消耗燃料：", "Most fuel an example used: ";
    Yanked => "已撤回", "Yanked";
    CaseSearch => "办件检索", "Find a case";
    CaseSearchLabel => "检索办件（标题、申请人姓名、内容或办件编号）", "Find a case (title, applicant's name, content or case number)";
    CasesFound => "找到办件：", "Cases found: ";
    Notices => "提醒与督办", "Reminders and escalations";
    Urgent => "紧急", "Urgent";
    Countersign => "会签", "Countersign";
    CountersignIntro => "本环节须以下各方全部同意后方可进入下一环节。", "Every party below must approve before the case moves on.";
    Signed => "已会签", "signed";
    NotSigned => "待会签", "not yet signed";
    ImportRoster => "导入花名册", "Import a staff roster";
    ImportRosterIntro => "Excel（.xlsx）或 CSV 文件，列名：姓名、工号、所属单位、条线，可选岗位/角色、手机、邮箱、用户名。先检查，无误后再导入：全部创建或全不创建。", "An Excel (.xlsx) or CSV file with the columns 姓名, 工号, 所属单位, 条线, and optionally 岗位/角色, 手机, 邮箱, 用户名. Check it first, then import: every account is created, or none.";
    RosterFile => "花名册文件", "The roster file";
    ImportDryRun => "仅检查，不创建账户", "Check only; create nothing";
    ImportButton => "检查或导入", "Check or import";
    ImportChecked => "花名册检查结果", "The roster checked";
    ImportDone => "花名册已导入", "The roster imported";
    ImportRows => "数据行：", "Data rows: ";
    ImportCreated => "已创建账户：", "Accounts created: ";
    ImportIgnored => "未读取的列：", "Columns not read: ";
    ImportProblems => "有问题的行（改正后重新提交；有问题时不会创建任何账户）：", "Rows with problems (correct them and send it again; nothing is created while any remains): ";
    Row => "行号", "Row";
    Column => "列", "Column";
    Problem => "问题", "Problem";
    ChainBusy => "另一次校验正在进行，请稍后再试。", "Another verification is running; please try again shortly.";
    NoAuditRecords => "没有符合条件的审计记录。", "No audit record matches.";
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message has a Chinese text with Chinese in it and an English
    /// text in English, but the switch, which names the other language in
    /// its own words.
    #[test]
    fn every_message_has_chinese_and_english() {
        let han = |s: &str| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
        for &m in Msg::ALL {
            let zh = m.text(Lang::Zh);
            let en = m.text(Lang::En);
            assert!(!en.trim().is_empty(), "{m:?}");
            assert_eq!(han(zh), m != Msg::LanguageSwitch, "{m:?}: {zh}");
            // English may quote Chinese (an example query), never be it.
            let latin = en.chars().any(|c| c.is_ascii_alphabetic());
            assert_eq!(latin, m != Msg::LanguageSwitch, "{m:?}: {en}");
        }
    }

    #[test]
    fn language_tags_are_read_as_people_write_them() {
        assert_eq!(Lang::from_tag("zh-CN"), Some(Lang::Zh));
        assert_eq!(Lang::from_tag(" EN "), Some(Lang::En));
        assert_eq!(Lang::from_tag("fr"), None);
        assert_eq!(Lang::En.pick("中", ""), "中");
    }
}
