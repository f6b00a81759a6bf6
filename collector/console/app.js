// Vigil console: a small single-page app over /api/v1 (docs/api.md). No framework and no build
// step; every text node is created with textContent, never parsed as HTML, so names and evidence
// coming from agents cannot inject markup. Vietnamese by default, English on request.
'use strict';

const I18N = {
  vi: {
    overview: 'Tổng quan', alerts: 'Cảnh báo', enroll: 'Đăng ký máy', reports: 'Báo cáo', admin: 'Quản trị',
    logout: 'Đăng xuất', switchLang: 'English', login: 'Đăng nhập', user: 'Tên đăng nhập', password: 'Mật khẩu',
    loginFailed: 'Sai tên đăng nhập hoặc mật khẩu.', tooMany: 'Quá nhiều lần thử; hãy thử lại sau {0} giây.',
    loading: 'Đang tải…', error: 'Lỗi', notFound: 'Không tìm thấy.', forbidden: 'Bạn không có quyền thực hiện thao tác này.',
    computedAt: 'Điểm tính lúc {0}', rulePack: 'Bộ quy tắc', ranking: 'Xếp hạng đơn vị', notRanked: 'Đơn vị chưa được xếp hạng',
    rank: 'Hạng', agency: 'Đơn vị', level: 'Cấp độ', coverage: 'Độ phủ', failingHosts: 'Máy "Không đạt"',
    openCritHigh: 'Cảnh báo nghiêm trọng/cao', trend30: 'Xu hướng 30 ngày', reason: 'Lý do', noAgencies: 'Chưa có đơn vị nào.',
    tooFewHosts: 'Ít tài sản ({0} < {1})', lowCoverage: 'Độ phủ thấp ({0} < {1})',
    scoreA: 'Điểm A', scoreCommon: 'A chung', scoreLevel: 'A theo cấp độ', hosts: 'Máy', hostsWithAgent: 'Có agent', hostsFresh: 'Đang báo cáo',
    subAgencies: 'Đơn vị trực thuộc', whyNot100: 'Vì sao chưa đạt 100 điểm', item: 'Mục', points: 'Điểm trừ', otherItems: 'Các mục khác',
    groups: 'Nhóm kiểm tra', group: 'Nhóm', score: 'Điểm', trend90: 'Diễn biến 90 ngày', noHistory: 'Chưa có lịch sử điểm.',
    hostname: 'Tên máy', role: 'Vai trò', verdict: 'Kết luận', fresh: 'Còn báo cáo', showingHosts: 'Hiển thị {0}/{1} máy, điểm thấp nhất trước.',
    workstation: 'Máy trạm', server: 'Máy chủ', simulated: 'mô phỏng', federated: 'liên thông', federatedFrom: 'Số liệu do máy thu cấp dưới gửi lên:', fedStale: 'quá hạn', simulatedHost: 'Máy mô phỏng (dữ liệu trình diễn của demo --province), không phải máy thật.', yes: 'Có', no: 'Không', never: 'chưa bao giờ',
    good: 'Tốt', passV: 'Đạt', fail: 'Không đạt', noResults: 'Chưa có kết quả kiểm tra',
    os: 'Hệ điều hành', kernel: 'Nhân', agentVersion: 'Phiên bản agent', lastSeen: 'Lần cuối liên lạc', spool: 'Hàng đợi chưa gửi',
    clockSkew: 'Lệch đồng hồ', certExpiry: 'Chứng chỉ hết hạn', enrolledAt: 'Đăng ký lúc', revoked: 'Đã thu hồi',
    checks: 'Kết quả kiểm tra', rule: 'Quy tắc', status: 'Trạng thái', severity: 'Mức độ', evidence: 'Bằng chứng', remediation: 'Cách khắc phục',
    st_pass: 'Đạt', st_fail: 'Không đạt', st_error: 'Chưa xác minh', st_not_applicable: 'Không áp dụng',
    sev_critical: 'Nghiêm trọng', sev_high: 'Cao', sev_medium: 'Trung bình', sev_low: 'Thấp',
    fim: 'Thay đổi tệp (FIM)', registry: 'Thay đổi registry (Windows)', regKey: 'Khoá registry', membership: 'Miền/nhóm làm việc', admins: 'Quản trị viên cục bộ', hotfixes: 'Bản cập nhật đã cài', m_domain: 'Miền', m_workgroup: 'Nhóm làm việc', m_none: 'Không', path: 'Đường dẫn', change: 'Thay đổi', time: 'Thời điểm', noEvents: 'Không có sự kiện.',
    network: 'Cổng mở và kết nối', proto: 'Giao thức', local: 'Địa chỉ cục bộ', remote: 'Địa chỉ từ xa', process: 'Tiến trình', note: 'Ghi chú',
    inventory: 'Thông tin máy', cpus: 'CPU', memory: 'Bộ nhớ', packages: 'Gói phần mềm', hostAlerts: 'Cảnh báo của máy',
    alertQueue: 'Hàng đợi cảnh báo', state: 'Trạng thái', assignee: 'Người xử lý', opened: 'Mở lúc', sla: 'Hạn xử lý', title: 'Nội dung',
    all: 'Tất cả', active: 'Đang mở (chưa xử lý xong)', a_open: 'Mới', a_acknowledged: 'Đã xác nhận', a_resolved: 'Đã xử lý', a_false_positive: 'Báo nhầm',
    search: 'Tìm', ack: 'Xác nhận', resolve: 'Đóng', assign: 'Giao', bulkAck: 'Xác nhận các mục đã chọn ({0})', bulkResolve: 'Đóng các mục đã chọn ({0})',
    resolveReason: 'Lý do đóng', reasonRequired: 'Cần nhập lý do.', overdue: 'Quá hạn {0}', left: 'Còn {0}', noAlerts: 'Không có cảnh báo.',
    selectAll: 'Chọn tất cả', done: 'Đã cập nhật {0} cảnh báo.', kind: 'Loại',
    newToken: 'Tạo mã đăng ký', ttl: 'Hiệu lực', uses: 'Số máy', create: 'Tạo', token: 'Mã đăng ký', installCmd: 'Lệnh cài đặt (chạy trên máy cần cài; mã được chuyển qua đầu vào chuẩn, không nằm trên dòng lệnh)', installCmdWindows: 'Lệnh cài đặt trên Windows (PowerShell với quyền Administrator)', installWindowsHint: 'Chạy trong thư mục chứa vigil-agent.msi; lệnh hỏi mã đăng ký ở trên, không ghi mã vào lịch sử lệnh.',
    copy: 'Sao chép', copied: 'Đã sao chép', tokenOnce: 'Mã chỉ hiển thị một lần. Hãy sao chép ngay.', tokens: 'Mã đăng ký hiện có',
    expires: 'Hết hạn', used: 'Đã dùng', revoke: 'Thu hồi', confirmRevoke: 'Thu hồi mã {0}?', expired: 'Hết hạn',
    reportTitle: 'Báo cáo tình trạng an toàn thông tin', period: 'Kỳ báo cáo (tháng)', format: 'Định dạng', language: 'Ngôn ngữ',
    wholeOrg: 'Toàn bộ phạm vi', download: 'Tải báo cáo', scheduled: 'Báo cáo định kỳ hằng tháng được lưu vào thư mục cấu hình [reports] dir trên máy chủ thu thập.',
    users: 'Người dùng', name: 'Tên', scope: 'Phạm vi', disabled: 'Đã khoá', disable: 'Khoá', addUser: 'Thêm người dùng',
    r_admin: 'Quản trị', r_analyst: 'Phân tích', r_viewer: 'Chỉ xem', apiTokens: 'Mã API', auditLog: 'Nhật ký thao tác',
    actor: 'Người thực hiện', action: 'Thao tác', detail: 'Chi tiết', older: 'Cũ hơn', created: 'Tạo lúc', confirm: 'Xác nhận',
    k_rule_failed: 'Quy tắc không đạt', k_rule_partial: 'Quy tắc đạt một phần', k_rule_unverified: 'Quy tắc chưa xác minh',
    k_group_no_data: 'Nhóm không có dữ liệu', k_critical_gate: 'Trần điểm do lỗi nghiêm trọng', k_alert: 'Cảnh báo đang mở',
    al_export_dropped: 'Đầu ra xuất SIEM {0} đã bỏ {1} sự kiện vượt giới hạn tồn đọng', al_agent_silent: '{0} không báo cáo đã {1}', al_agent_never: '{0} đăng ký đã {1} nhưng chưa từng báo cáo',
    al_cert_expiring: 'Chứng chỉ agent của {0} hết hạn sau {1} và chưa được gia hạn', al_cert_expired: 'Chứng chỉ agent của {0} đã hết hạn',
    al_duplicate_machine_id: '{0} agent đang chạy dùng chung mã máy {1}: {2} (ổ đĩa hoặc ảnh máy bị nhân bản?)',
    al_seq_gap: 'Bản ghi #{0}..#{1} của agent này không bao giờ đến ({2} bản ghi thiếu)',
    al_new_listener_on_server: 'Cổng {0} mới mở trên {1} ({2})', al_ioc_hit: '{0} khớp chỉ dấu tấn công {1}',
    al_critical_rule_failed: 'Quy tắc nghiêm trọng {0} không đạt: {1}', al_fim_critical_path: '{0}: {1} trên đường dẫn quan trọng',
    al_critical_vulnerability: 'Máy chủ {0} chạy {1} bị ảnh hưởng bởi khuyến cáo nghiêm trọng {2} {3}', ak_critical_vulnerability: 'Lỗ hổng nghiêm trọng trên máy chủ',
    policy: 'Chính sách tập trung', noPolicy: 'Chưa gán chính sách tập trung nào cho đơn vị này.', policyInForce: 'Đang áp dụng: {0} (phiên bản {1})', policyHosts: 'Máy đang chạy phiên bản này: {0} · phiên bản cũ hơn: {1} · chưa có chính sách: {2}', policyPacks: 'Bộ quy tắc',
    vulns: 'Lỗ hổng phần mềm', noVulns: 'Không có gói phần mềm nào bị ảnh hưởng bởi khuyến cáo đã nhập.', advisory: 'Khuyến cáo', cve: 'CVE', package: 'Gói', installedFixed: 'Đã cài → bản sửa', cvss: 'CVSS', since: 'Từ', hostsAffected: 'Máy bị ảnh hưởng', oldestCritical: 'Lỗ hổng nghiêm trọng chưa vá lâu nhất', noFix: '(chưa có bản sửa)', vulnHosts: 'Số máy',
    al_spool_dropped: '{0} bản ghi bị bỏ vì hàng đợi của agent đầy', al_registry_autostart: 'Khóa registry {0}: {1} (nhóm {2})', al_dup_replaced: '{0} đăng ký bằng mã máy của {1} (agent {2}, đã bị thu hồi): cài lại máy, hoặc máy nhân bản nếu cả hai còn chạy', al_dup_refused: 'Đăng ký vào {0} với tên {1} dùng mã máy của {2} ({3}) và đã bị từ chối: nếu máy chuyển đơn vị, quản trị viên chạy agent move cho agent {4}; nếu không, mã máy đã bị sao chép', al_dup_twice: 'Danh tính agent của {0} đang kết nối từ {1} và cũng được dùng từ {2}: hai máy dùng chung một khóa agent (ổ đĩa nhân bản?)', al_agent_quota: 'Máy này báo cáo hơn {0} quy tắc khác nhau; kết quả của các quy tắc vượt quá được lưu nhưng không tính điểm', ak_duplicate_machine: 'Trùng máy', ak_agent_quota: 'Vượt hạn mức quy tắc', ak_registry_autostart: 'Thay đổi registry khởi động', unknownProcess: 'tiến trình không rõ',
    fc_created: 'tạo mới', fc_deleted: 'xóa', fc_modified: 'sửa đổi', fc_attrs: 'đổi thuộc tính', fc_type_changed: 'đổi loại tệp', fc_summary: 'nhiều thay đổi',
    ak_agent_silent: 'Máy không báo cáo', ak_cert_expiring: 'Chứng chỉ sắp hết hạn', ak_duplicate_machine_id: 'Trùng mã máy',
    ak_seq_gap: 'Mất bản ghi', ak_new_listener_on_server: 'Cổng mới trên máy chủ', ak_ioc_hit: 'Khớp chỉ dấu tấn công',
    ak_critical_rule_failed: 'Quy tắc nghiêm trọng không đạt', ak_fim_critical_path: 'Thay đổi tệp quan trọng', ak_spool_dropped: 'Agent bỏ bản ghi',
    kc_missing_agent: 'Tài sản {0} chưa cài agent (tính 0 điểm)', kc_no_assets: 'Đơn vị {0} chưa khai báo tài sản', kc_group_no_data: 'Nhóm {0}: không có kết quả áp dụng (tính 0 điểm)', kc_alert: 'Cảnh báo #{0} đang mở', kc_stale: 'Máy {0} lâu không báo cáo', kc_never_reported: 'Máy {0} chưa từng báo cáo',
    k_stale: 'Máy lâu không báo cáo', k_never_reported: 'Máy chưa từng báo cáo', k_missing_agent: 'Tài sản chưa cài agent', k_no_assets: 'Đơn vị chưa khai báo tài sản', k_federated_subtree: 'Đơn vị liên thông', kc_federated_subtree: 'Đơn vị liên thông {0} (số liệu của máy thu cấp dưới)',
    adminOnly: 'Chỉ quản trị viên mới dùng được trang này.', saved: 'Đã lưu.',
    settings: 'Cài đặt đang áp dụng', settingsNote: 'Sửa trong collector.toml rồi khởi động lại máy chủ thu thập (docs/collector-config.md).',
    rankingRule: 'Điều kiện xếp hạng', minHosts: 'Số tài sản tối thiểu', minCoverage: 'Độ phủ tối thiểu', slaHours: 'Hạn xử lý cảnh báo (giờ)',
    verdictBands: 'Ngưỡng kết luận', scheduledReports: 'Báo cáo định kỳ', directory: 'Thư mục', scoringVersion: 'Phiên bản cách tính điểm',
  },
  en: {
    overview: 'Overview', alerts: 'Alerts', enroll: 'Enrollment', reports: 'Reports', admin: 'Administration',
    logout: 'Log out', switchLang: 'Tiếng Việt', login: 'Log in', user: 'User name', password: 'Password',
    loginFailed: 'Wrong user name or password.', tooMany: 'Too many attempts; try again in {0} s.',
    loading: 'Loading…', error: 'Error', notFound: 'Not found.', forbidden: 'You are not allowed to do this.',
    computedAt: 'Scores computed at {0}', rulePack: 'Rule packs', ranking: 'Agency ranking', notRanked: 'Agencies not ranked',
    rank: 'Rank', agency: 'Agency', level: 'Level', coverage: 'Coverage', failingHosts: 'Failing hosts',
    openCritHigh: 'Open critical/high alerts', trend30: '30-day trend', reason: 'Reason', noAgencies: 'No agencies yet.',
    tooFewHosts: 'Too few assets ({0} < {1})', lowCoverage: 'Low coverage ({0} < {1})',
    scoreA: 'Score A', scoreCommon: 'A common', scoreLevel: 'A at level', hosts: 'Hosts', hostsWithAgent: 'With agent', hostsFresh: 'Reporting',
    subAgencies: 'Agencies below', whyNot100: 'Why not 100', item: 'Item', points: 'Points lost', otherItems: 'Other items',
    groups: 'Check groups', group: 'Group', score: 'Score', trend90: '90-day trend', noHistory: 'No score history yet.',
    hostname: 'Host name', role: 'Role', verdict: 'Verdict', fresh: 'Reporting', showingHosts: 'Showing {0} of {1} hosts, lowest scores first.',
    workstation: 'Workstation', server: 'Server', simulated: 'simulated', federated: 'federated', federatedFrom: 'Figures sent up by the downstream collector', fedStale: 'stale', simulatedHost: 'A simulated host (demonstration data of demo --province), not a real machine.', yes: 'Yes', no: 'No', never: 'never',
    good: 'Good', passV: 'Pass', fail: 'Fail', noResults: 'No check results yet',
    os: 'OS', kernel: 'Kernel', agentVersion: 'Agent version', lastSeen: 'Last seen', spool: 'Unsent spool records',
    clockSkew: 'Clock skew', certExpiry: 'Certificate expires', enrolledAt: 'Enrolled', revoked: 'Revoked',
    checks: 'Check results', rule: 'Rule', status: 'Status', severity: 'Severity', evidence: 'Evidence', remediation: 'Remediation',
    st_pass: 'Pass', st_fail: 'Fail', st_error: 'Unverified', st_not_applicable: 'Not applicable',
    sev_critical: 'Critical', sev_high: 'High', sev_medium: 'Medium', sev_low: 'Low',
    fim: 'File changes (FIM)', registry: 'Registry changes (Windows)', regKey: 'Registry key', membership: 'Domain or workgroup', admins: 'Local administrators', hotfixes: 'Installed updates', m_domain: 'Domain', m_workgroup: 'Workgroup', m_none: 'None', path: 'Path', change: 'Change', time: 'Time', noEvents: 'No events.',
    network: 'Listeners and connections', proto: 'Protocol', local: 'Local address', remote: 'Remote address', process: 'Process', note: 'Note',
    inventory: 'Inventory', cpus: 'CPUs', memory: 'Memory', packages: 'Packages', hostAlerts: 'Alerts of this host',
    alertQueue: 'Alert queue', state: 'State', assignee: 'Assignee', opened: 'Opened', sla: 'SLA', title: 'Title',
    all: 'All', active: 'Active (open or acknowledged)', a_open: 'Open', a_acknowledged: 'Acknowledged', a_resolved: 'Resolved', a_false_positive: 'False positive',
    search: 'Search', ack: 'Acknowledge', resolve: 'Resolve', assign: 'Assign', bulkAck: 'Acknowledge selected ({0})', bulkResolve: 'Resolve selected ({0})',
    resolveReason: 'Reason', reasonRequired: 'A reason is required.', overdue: 'Overdue by {0}', left: '{0} left', noAlerts: 'No alerts.',
    selectAll: 'Select all', done: '{0} alerts updated.', kind: 'Kind',
    newToken: 'Create an enrollment token', ttl: 'Valid for', uses: 'Hosts', create: 'Create', token: 'Token', installCmd: 'Install command (run it on the machine; the token goes on standard input, never on a command line)', installCmdWindows: 'Windows install command (PowerShell as Administrator)', installWindowsHint: 'Run it in the folder holding vigil-agent.msi; it asks for the token above and keeps it out of the command history.',
    copy: 'Copy', copied: 'Copied', tokenOnce: 'The token is shown only once. Copy it now.', tokens: 'Existing tokens',
    expires: 'Expires', used: 'Used', revoke: 'Revoke', confirmRevoke: 'Revoke token {0}?', expired: 'Expired',
    reportTitle: 'Security posture report', period: 'Period (month)', format: 'Format', language: 'Language',
    wholeOrg: 'Whole scope', download: 'Download report', scheduled: 'Monthly reports are also written to the directory set by [reports] dir on the collector.',
    users: 'Users', name: 'Name', scope: 'Scope', disabled: 'Disabled', disable: 'Disable', addUser: 'Add a user',
    r_admin: 'Admin', r_analyst: 'Analyst', r_viewer: 'Viewer', apiTokens: 'API tokens', auditLog: 'Audit log',
    actor: 'Actor', action: 'Action', detail: 'Detail', older: 'Older', created: 'Created', confirm: 'Confirm',
    k_rule_failed: 'Failed rule', k_rule_partial: 'Partially met rule', k_rule_unverified: 'Unverified rule',
    k_group_no_data: 'Group without data', k_critical_gate: 'Critical-rule ceiling', k_alert: 'Open alert',
    al_export_dropped: 'SIEM export output {0} dropped {1} events over its backlog bound', al_agent_silent: '{0} has not reported for {1}', al_agent_never: '{0} enrolled {1} ago and never reported',
    al_cert_expiring: 'The agent certificate of {0} expires in {1} and has not been renewed', al_cert_expired: 'The agent certificate of {0} has expired',
    al_duplicate_machine_id: '{0} live agents share machine id {1}: {2} (a cloned disk or image?)',
    al_seq_gap: 'Findings #{0}..#{1} from this agent never arrived ({2} missing)',
    al_new_listener_on_server: 'New {0} listener on {1} ({2})', al_ioc_hit: '{0} matched indicator {1}',
    al_critical_rule_failed: 'Critical rule {0} fails: {1}', al_fim_critical_path: '{0}: {1} on a critical path',
    al_critical_vulnerability: 'Server {0} runs {1} affected by critical advisory {2} {3}', ak_critical_vulnerability: 'Critical vulnerability on a server',
    policy: 'Central policy', noPolicy: 'No central policy is assigned to this agency.', policyInForce: 'In force: {0} (version {1})', policyHosts: 'Hosts running it: {0} · an older version: {1} · none: {2}', policyPacks: 'Rule packs',
    vulns: 'Vulnerable packages', noVulns: 'No package is affected by the imported advisories.', advisory: 'Advisory', cve: 'CVE', package: 'Package', installedFixed: 'Installed → fixed', cvss: 'CVSS', since: 'Since', hostsAffected: 'Hosts affected', oldestCritical: 'Oldest unpatched critical', noFix: '(no fix yet)', vulnHosts: 'Hosts',
    al_spool_dropped: '{0} findings were dropped because the agent spool was full', al_registry_autostart: 'Registry key {0}: {1} ({2})', al_dup_replaced: '{0} enrolled with the machine id of {1} (agent {2}, now revoked): a reinstall, or a cloned machine if both keep running', al_dup_refused: 'An enrollment into {0} as {1} presented the machine id of {2} ({3}) and was refused: if the host moved, an admin runs agent move for agent {4}; otherwise the machine id was copied', al_dup_twice: 'The agent identity of {0} is connected from {1} and was also presented from {2}: two machines share one agent key (a cloned disk?)', al_agent_quota: 'This host reports more than {0} distinct rules; results of further rules are stored but not scored', ak_duplicate_machine: 'Duplicate machine', ak_agent_quota: 'Rule quota exceeded', ak_registry_autostart: 'Autostart registry change', unknownProcess: 'unknown process',
    fc_created: 'created', fc_deleted: 'deleted', fc_modified: 'modified', fc_attrs: 'attributes changed', fc_type_changed: 'type changed', fc_summary: 'many changes',
    ak_agent_silent: 'Host not reporting', ak_cert_expiring: 'Certificate expiring', ak_duplicate_machine_id: 'Duplicate machine id',
    ak_seq_gap: 'Lost findings', ak_new_listener_on_server: 'New listener on a server', ak_ioc_hit: 'Indicator match',
    ak_critical_rule_failed: 'Critical rule failing', ak_fim_critical_path: 'Critical file changed', ak_spool_dropped: 'Agent dropped findings',
    kc_missing_agent: 'Asset {0} has no agent (scores 0)', kc_no_assets: 'Agency {0} has no registered asset', kc_group_no_data: 'Group {0}: no applicable result (counts as 0)', kc_alert: 'Open alert #{0}', kc_stale: 'Host {0} is not reporting', kc_never_reported: 'Host {0} never reported',
    k_stale: 'Host not reporting', k_never_reported: 'Host never reported', k_missing_agent: 'Asset without agent', k_no_assets: 'Agency without assets', k_federated_subtree: 'Federated agency', kc_federated_subtree: 'Federated agency {0} (figures of the downstream collector)',
    adminOnly: 'Only administrators can use this page.', saved: 'Saved.',
    settings: 'Settings in force', settingsNote: 'Edit collector.toml and restart the collector to change them (docs/collector-config.md).',
    rankingRule: 'Ranking thresholds', minHosts: 'Minimum assets', minCoverage: 'Minimum coverage', slaHours: 'Alert SLA (hours)',
    verdictBands: 'Verdict bands', scheduledReports: 'Scheduled reports', directory: 'Directory', scoringVersion: 'Scoring version',
  },
};

let lang = localStorage.getItem('vigil.lang') === 'en' ? 'en' : 'vi';
let me = null;
let csrf = null;
let overviewData = null;

function t(key, ...args) {
  let s = I18N[lang][key] ?? I18N.en[key] ?? key;
  args.forEach((a, i) => { s = s.replace('{' + i + '}', String(a)); });
  return s;
}

// h('tag', {attr: value, onclick: fn}, children...): builds DOM; strings become text nodes.
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of kids.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVGNS = 'http://www.w3.org/2000/svg';
function sv(tag, attrs, ...kids) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of kids.flat()) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

class ApiError extends Error {
  constructor(status, message, retryAfter) { super(message); this.status = status; this.retryAfter = retryAfter; }
}

async function api(method, path, body) {
  const opt = { method, headers: { accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) { opt.headers['content-type'] = 'application/json'; opt.body = JSON.stringify(body); }
  if (method !== 'GET' && csrf) opt.headers['x-csrf-token'] = csrf;
  const r = await fetch(path, opt);
  const ct = r.headers.get('content-type') || '';
  const data = ct.includes('json') ? await r.json().catch(() => null) : null;
  if (r.status === 401 && path !== '/api/v1/login') { me = null; csrf = null; renderLogin(); throw new ApiError(401, 'login'); }
  if (!r.ok) throw new ApiError(r.status, (data && data.error) || r.statusText, r.headers.get('retry-after'));
  return data;
}

const main = () => document.getElementById('main');
function show(...nodes) {
  main().replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
}
function fail(e) {
  if (e instanceof ApiError && e.status === 401) return;
  const msg = e instanceof ApiError && e.status === 404 ? t('notFound')
    : e instanceof ApiError && e.status === 403 ? t('forbidden') + ' (' + e.message + ')'
    : t('error') + ': ' + e.message;
  show(h('p', { class: 'error', 'data-test': 'error' }, msg));
}

// Formatting ---------------------------------------------------------------------------------
const locale = () => (lang === 'vi' ? 'vi-VN' : 'en-GB');
function fmtTime(ms) {
  if (!ms) return t('never');
  return new Intl.DateTimeFormat(locale(), { dateStyle: 'short', timeStyle: 'short' }).format(new Date(ms));
}
function fmtDate(ms) { return new Intl.DateTimeFormat(locale(), { dateStyle: 'short' }).format(new Date(ms)); }
function fmtNum(x, digits = 1) { return x === null || x === undefined ? '—' : Number(x).toLocaleString(locale(), { minimumFractionDigits: digits, maximumFractionDigits: digits }); }
function fmtPct(x) { return x === null || x === undefined ? '—' : (x * 100).toLocaleString(locale(), { maximumFractionDigits: 0 }) + ' %'; }
function fmtDuration(s) {
  s = Math.abs(Math.round(s));
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), mm = Math.floor((s % 3600) / 60);
  const u = lang === 'vi' ? ['ngày', 'giờ', 'phút'] : ['d', 'h', 'min'];
  if (d > 0) return `${d} ${u[0]} ${hh} ${u[1]}`;
  if (hh > 0) return `${hh} ${u[1]} ${mm} ${u[2]}`;
  return `${mm} ${u[2]}`;
}
function scoreClass(x) { return x >= 90 ? 'score-good' : x >= 70 ? 'score-pass' : 'score-fail'; }
function scoreCell(x) { return h('td', { class: 'num ' + (x === null || x === undefined ? '' : scoreClass(x)) }, fmtNum(x)); }
function sevBadge(s) { return h('span', { class: 'badge ' + s }, t('sev_' + s)); }
function simBadge(x) { return x.simulated ? [' ', h('span', { class: 'badge sim', 'data-test': 'simulated' }, t('simulated'))] : null; }
function verdictBadge(v) { return h('span', { class: 'badge ' + (v === 'pass' ? 'pass-verdict' : v) }, t(v === 'pass' ? 'passV' : v)); }
function fedBadge(x) {
  const f = x.federated;
  return f ? [' ', h('span', { class: 'badge fed', 'data-test': 'federated', title: t('federatedFrom') + ' ' + f.downstream_name },
    t('federated') + ' · ' + f.age_s + ' s' + (f.stale ? ' · ' + t('fedStale') : ''))] : null;
}
function agencyLink(id, name) { return h('a', { href: '#/agency/' + encodeURIComponent(id) }, name || id); }
function hostLink(id, name) { return h('a', { href: '#/host/' + encodeURIComponent(id) }, name || id); }
function card(k, v, cls) { return h('div', { class: 'card' }, h('div', { class: 'v ' + (cls || '') }, v), h('div', { class: 'k' }, k)); }
function table(head, rows, attrs) {
  return h('table', attrs || {}, h('thead', {}, h('tr', {}, head.map((c) => (c instanceof Node ? c : h('th', {}, c))))), h('tbody', {}, rows));
}
function reasonText(r) {
  if (r.reason === 'too_few_hosts') return t('tooFewHosts', r.hosts, r.min);
  if (r.reason === 'low_coverage') return t('lowCoverage', fmtPct(r.coverage), fmtPct(r.min));
  return r.reason;
}
function costTitle(c) {
  const title = lang === 'vi' ? c.title_vi : c.title_en;
  if (title) return `${title} (${c.key})`;
  const what = { missing_agent: 'kc_missing_agent', no_assets: 'kc_no_assets', group_no_data: 'kc_group_no_data', alert: 'kc_alert', stale: 'kc_stale', never_reported: 'kc_never_reported', federated_subtree: 'kc_federated_subtree' }[c.kind];
  return what ? t(what, c.key) : c.label || c.key;
}
// An alert's title in the console's language, from the facts it was raised with (alerts stored
// before they kept facts show their English title).
function alertTitle(a) {
  const p = a.params;
  if (!p) return a.title;
  const proc = (x) => x || t('unknownProcess');
  switch (a.kind) {
    case 'agent_silent': return t(p.never ? 'al_agent_never' : 'al_agent_silent', p.host, fmtDuration(p.seconds));
    case 'cert_expiring': return p.seconds > 0 ? t('al_cert_expiring', p.host, fmtDuration(p.seconds)) : t('al_cert_expired', p.host);
    case 'duplicate_machine_id': return t('al_duplicate_machine_id', p.count, p.machine, p.agents);
    case 'seq_gap': return t('al_seq_gap', p.from, p.to, p.count);
    case 'new_listener_on_server': return t('al_new_listener_on_server', p.proto, p.local, proc(p.exe));
    case 'ioc_hit': return t('al_ioc_hit', proc(p.exe), p.indicator);
    case 'critical_rule_failed': return t('al_critical_rule_failed', p.rule, p.evidence);
    case 'fim_critical_path': return t('al_fim_critical_path', p.path, t('fc_' + p.change));
    case 'spool_dropped': return t('al_spool_dropped', p.count);
    case 'export_dropped': return t('al_export_dropped', p.output, p.count);
    case 'critical_vulnerability': return t('al_critical_vulnerability', p.host, p.package, p.advisory, p.cves);
    case 'duplicate_machine':
      if (p.case === 'replaced') return t('al_dup_replaced', p.host, p.old_host, p.old_agent);
      if (p.case === 'refused') return t('al_dup_refused', p.agency, p.host, p.old_host, p.old_agency, p.old_agent);
      if (p.case === 'twice') return t('al_dup_twice', p.host, p.live, p.refused);
      return a.title;
    case 'agent_quota': return t('al_agent_quota', p.max);
    case 'registry_autostart': return t('al_registry_autostart', p.value ? `${p.key}\\${p.value}` : p.key, t('fc_' + p.change), p.group);
    default: return a.title;
  }
}

// Charts ---------------------------------------------------------------------------------------
function sparkline(points) {
  const w = 120, hgt = 28;
  const svg = sv('svg', { class: 'spark', width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}`, role: 'img' });
  if (!points || points.length === 0) return svg;
  const t0 = points[0][0], t1 = points[points.length - 1][0];
  const x = (tm) => (t1 === t0 ? w - 2 : 2 + ((tm - t0) / (t1 - t0)) * (w - 4));
  const y = (s) => hgt - 2 - (s / 100) * (hgt - 4);
  const pts = points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
  svg.append(sv('polyline', { points: pts, fill: 'none', stroke: '#0b57d0', 'stroke-width': 1.5 }));
  const last = points[points.length - 1];
  svg.append(sv('circle', { cx: x(last[0]), cy: y(last[1]), r: 2, fill: '#0b57d0' }));
  svg.append(sv('title', {}, `${fmtDate(t0)} – ${fmtDate(t1)}: ${points.map((p) => fmtNum(p[1])).join(' → ')}`));
  return svg;
}

function trendChart(trend) {
  const series = [['full', t('scoreA')], ['common', t('scoreCommon')], ['level', t('scoreLevel')]];
  const all = series.flatMap(([k]) => trend[k] || []);
  if (all.length === 0) return h('p', { class: 'muted' }, t('noHistory'));
  const w = 720, hgt = 220, l = 36, r = 10, top = 10, bot = 24;
  const t0 = Math.min(...all.map((p) => p[0])), t1 = Math.max(...all.map((p) => p[0]));
  const x = (tm) => (t1 === t0 ? l + (w - l - r) / 2 : l + ((tm - t0) / (t1 - t0)) * (w - l - r));
  const y = (s) => top + (1 - s / 100) * (hgt - top - bot);
  const svg = sv('svg', { class: 'chart', width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}`, role: 'img', 'data-test': 'trend' });
  for (const g of [0, 50, 70, 90, 100]) {
    svg.append(sv('line', { x1: l, x2: w - r, y1: y(g), y2: y(g), stroke: '#e5e9ef' }));
    svg.append(sv('text', { x: 4, y: y(g) + 4 }, String(g)));
  }
  svg.append(sv('text', { x: l, y: hgt - 6 }, fmtDate(t0)));
  svg.append(sv('text', { x: w - r - 70, y: hgt - 6 }, fmtDate(t1)));
  for (const [k] of series) {
    const pts = trend[k] || [];
    if (pts.length === 0) continue;
    svg.append(sv('polyline', { class: 's-' + k, points: pts.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' '), fill: 'none', 'stroke-width': 2 }));
    // A series of one point (a new agency) still shows where it stands.
    const last = pts[pts.length - 1];
    svg.append(sv('circle', { class: 's-' + k, cx: x(last[0]).toFixed(1), cy: y(last[1]).toFixed(1), r: 3, fill: 'none', 'stroke-width': 2 },
      sv('title', {}, `${fmtTime(last[0])}: ${fmtNum(last[1])}`)));
  }
  const legend = h('div', { class: 'legend small' }, series.map(([k, label]) => h('span', {}, h('i', { class: 's-' + k }), label)));
  return h('div', {}, svg, legend);
}

// Login and frame ------------------------------------------------------------------------------
function renderLogin(message) {
  document.getElementById('top').hidden = true;
  const err = h('p', { class: 'error', 'data-test': 'login-error' }, message || '');
  const name = h('input', { name: 'name', autocomplete: 'username', required: true, autofocus: true });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const form = h('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const r = await api('POST', '/api/v1/login', { name: name.value, password: pass.value });
        me = r; csrf = r.csrf;
        route();
      } catch (e) {
        err.textContent = e.status === 429 ? t('tooMany', e.retryAfter || '60') : e.status === 401 ? t('loginFailed') : t('error') + ': ' + e.message;
      }
    },
  },
  h('label', {}, t('user'), name), h('label', {}, t('password'), pass), h('button', { type: 'submit' }, t('login')), err);
  show(h('div', { class: 'login' }, h('h1', {}, 'Vigil'), form, langButton()));
}

function langButton() {
  return h('button', { type: 'button', class: 'link', 'data-test': 'lang', onclick: switchLang }, t('switchLang'));
}

function switchLang() {
  lang = lang === 'vi' ? 'en' : 'vi';
  localStorage.setItem('vigil.lang', lang);
  document.documentElement.lang = lang;
  if (me) route(); else renderLogin();
}

const PAGES = [['overview', '#/'], ['alerts', '#/alerts'], ['enroll', '#/enroll'], ['reports', '#/reports'], ['admin', '#/admin']];

function frame(active) {
  const top = document.getElementById('top');
  top.hidden = false;
  document.getElementById('nav').replaceChildren(...PAGES
    .filter(([k]) => (k !== 'enroll' && k !== 'admin') || me.role === 'admin')
    .map(([k, href]) => h('a', { href, class: k === active ? 'active' : '', 'data-test': 'nav-' + k }, t(k))));
  document.getElementById('who').textContent = `${me.name} · ${t('r_' + me.role)}${me.scope ? ' · ' + me.scope : ''}`;
  const lb = document.getElementById('lang');
  lb.textContent = t('switchLang');
  lb.setAttribute('data-test', 'lang');
  lb.onclick = switchLang;
  const lo = document.getElementById('logout');
  lo.textContent = t('logout');
  lo.onclick = async () => { try { await api('POST', '/api/v1/logout'); } catch (_) { /* already logged out */ } me = null; csrf = null; renderLogin(); };
}

async function route() {
  document.documentElement.lang = lang;
  if (!me) {
    try { me = await api('GET', '/api/v1/me'); csrf = me.csrf; } catch (_) { return; }
  }
  const hash = location.hash || '#/';
  const [, page, arg] = hash.match(/^#\/([a-z]*)\/?(.*)$/) || [];
  const key = page || 'overview';
  frame(key === 'agency' || key === 'host' ? 'overview' : key);
  show(h('p', { class: 'muted' }, t('loading')));
  try {
    switch (key) {
      case 'agency': return await pageAgency(decodeURIComponent(arg));
      case 'host': return await pageHost(decodeURIComponent(arg));
      case 'alerts': return await pageAlerts();
      case 'enroll': return await pageEnroll();
      case 'reports': return await pageReports();
      case 'admin': return await pageAdmin();
      default: return await pageOverview();
    }
  } catch (e) { fail(e); }
}

async function loadOverview() {
  overviewData = await api('GET', '/api/v1/overview');
  return overviewData;
}

// Province overview ---------------------------------------------------------------------------
async function pageOverview() {
  const o = await loadOverview();
  const leaves = o.agencies.filter((a) => a.leaf);
  const ranked = leaves.filter((a) => a.eligible).sort((a, b) => b.a - a.a || a.name.localeCompare(b.name));
  const unranked = leaves.filter((a) => !a.eligible);
  const roots = o.agencies.filter((a) => !o.agencies.some((b) => b.id !== a.id && a.id.startsWith(b.id + '/')));
  const crit = (a) => (a.open_alerts.critical || 0) + (a.open_alerts.high || 0);
  show(
    h('h1', {}, o.name || t('overview')),
    h('p', { class: 'muted small' }, t('computedAt', fmtTime(o.computed_at)), ' · ', t('rulePack'), ': ', o.rule_pack_version || '—'),
    roots.map((a) => h('div', { class: 'cards', 'data-test': 'root-cards' },
      card(a.name, fmtNum(a.a), scoreClass(a.a)),
      card(t('scoreCommon'), fmtNum(a.a_common)),
      card(t('scoreLevel'), fmtNum(a.a_level)),
      card(t('coverage'), fmtPct(a.coverage)),
      card(t('hosts'), `${a.hosts_fresh}/${a.hosts}`),
      card(t('failingHosts'), a.hosts_failing, a.hosts_failing ? 'score-fail' : ''),
      card(t('openCritHigh'), crit(a), crit(a) ? 'score-fail' : ''))),
    h('h2', {}, t('ranking')),
    ranked.length === 0 ? h('p', { class: 'muted' }, t('noAgencies')) : table(
      [t('rank'), t('agency'), t('level'), h('th', { class: 'num' }, t('scoreA')), h('th', { class: 'num' }, t('scoreCommon')),
        h('th', { class: 'num' }, t('scoreLevel')), h('th', { class: 'num' }, t('coverage')), h('th', { class: 'num' }, t('failingHosts')),
        h('th', { class: 'num' }, t('openCritHigh')), t('trend30')],
      ranked.map((a, i) => h('tr', { 'data-agency': a.id },
        h('td', { class: 'num' }, i + 1), h('td', {}, agencyLink(a.id, a.name), fedBadge(a)), h('td', { class: 'num' }, a.level),
        scoreCell(a.a), scoreCell(a.a_common), scoreCell(a.a_level), h('td', { class: 'num' }, fmtPct(a.coverage)),
        h('td', { class: 'num' }, a.hosts_failing), h('td', { class: 'num' }, crit(a)), h('td', {}, sparkline(a.trend)))),
      { 'data-test': 'ranking' }),
    unranked.length === 0 ? null : [
      h('h2', {}, t('notRanked')),
      table([t('agency'), h('th', { class: 'num' }, t('scoreA')), h('th', { class: 'num' }, t('coverage')), h('th', { class: 'num' }, t('hosts')), t('reason')],
        unranked.map((a) => h('tr', { 'data-agency': a.id }, h('td', {}, agencyLink(a.id, a.name), fedBadge(a)), scoreCell(a.a),
          h('td', { class: 'num' }, fmtPct(a.coverage)), h('td', { class: 'num' }, a.hosts),
          h('td', {}, a.reasons.map(reasonText).join('; ')))),
        { 'data-test': 'not-ranked' }),
    ],
  );
}

// Agency page ------------------------------------------------------------------------------------
function agencyCards(a) {
  return h('div', { class: 'cards' },
    card(t('scoreA'), fmtNum(a.a), scoreClass(a.a)), card(t('scoreCommon'), fmtNum(a.a_common)), card(t('scoreLevel'), fmtNum(a.a_level)),
    card(t('coverage'), fmtPct(a.coverage)), card(t('hosts'), `${a.hosts_fresh}/${a.hosts_with_agent}/${a.hosts}`),
    card(t('failingHosts'), a.hosts_failing, a.hosts_failing ? 'score-fail' : ''));
}

function breakdownTable(items, rest) {
  const rows = items.map((c) => h('tr', {}, h('td', {}, t('k_' + c.kind)), h('td', {}, costTitle(c)), h('td', { class: 'num' }, fmtNum(c.points, 2))));
  if (rest > 0) rows.push(h('tr', {}, h('td', {}, t('otherItems')), h('td', {}), h('td', { class: 'num' }, fmtNum(rest, 2))));
  return table([t('kind'), t('item'), h('th', { class: 'num' }, t('points'))], rows, { 'data-test': 'breakdown' });
}

function groupBars(groups) {
  return table([t('group'), h('th', { class: 'num' }, t('score')), ''], groups.map((g) => {
    const bar = h('span', { class: 'bar' });
    bar.style.width = `${Math.max(0, Math.min(100, g.score)) * 0.08}rem`;
    return h('tr', {}, h('td', {}, g.group), scoreCell(g.score), h('td', {}, h('span', { class: 'bar-bg' }, bar)));
  }));
}

// Central policy (docs/policy.md): what is in force and how many hosts run it.
function policySummary(s) {
  if (!s.version) return h('p', { class: 'muted', 'data-test': 'policy' }, t('noPolicy'));
  return h('div', { 'data-test': 'policy' },
    h('p', {}, t('policyInForce', s.policies, s.version)),
    h('p', {}, t('policyHosts', s.current, s.older, s.none)),
    s.packs.length ? h('p', { class: 'small muted' }, t('policyPacks'), ': ', s.packs.join(', ')) : null);
}

async function pageAgency(id) {
  const [p, vulns, policy] = await Promise.all([api('GET', '/api/v1/agencies/' + encodeURIComponent(id)),
    api('GET', '/api/v1/vulns/summary?agency=' + encodeURIComponent(id)),
    api('GET', '/api/v1/policies/status?agency=' + encodeURIComponent(id))]);
  const a = p.agency;
  show(
    h('h1', { 'data-test': 'agency-name' }, a.name, ' ', h('span', { class: 'muted small' }, a.id, ' · ', t('level'), ' ', a.level)),
    agencyCards(a),
    a.eligible ? null : h('p', { class: 'notice' }, t('notRanked'), ': ', a.reasons.map(reasonText).join('; ')),
    h('h2', {}, t('trend90')), trendChart(p.trend),
    h('h2', {}, t('whyNot100'), ' (', fmtNum(100 - a.a), ')'), breakdownTable(p.breakdown, p.breakdown_rest),
    p.groups.length ? [h('h2', {}, t('groups')), groupBars(p.groups)] : null,
    p.children.length ? [h('h2', {}, t('subAgencies')), table(
      [t('agency'), h('th', { class: 'num' }, t('scoreA')), h('th', { class: 'num' }, t('scoreCommon')), h('th', { class: 'num' }, t('scoreLevel')),
        h('th', { class: 'num' }, t('coverage')), h('th', { class: 'num' }, t('failingHosts'))],
      p.children.map((c) => h('tr', {}, h('td', {}, agencyLink(c.id, c.name), fedBadge(c)), scoreCell(c.a), scoreCell(c.a_common), scoreCell(c.a_level),
        h('td', { class: 'num' }, fmtPct(c.coverage)), h('td', { class: 'num' }, c.hosts_failing))))] : null,
    h('h2', {}, t('vulns')), vulnSummary(vulns),
    h('h2', {}, t('policy')), policySummary(policy),
    h('h2', {}, t('hosts')),
    p.hosts_total > p.hosts.length ? h('p', { class: 'muted small' }, t('showingHosts', p.hosts.length, p.hosts_total)) : null,
    table([t('hostname'), t('agency'), t('role'), t('level'), h('th', { class: 'num' }, t('scoreA')), h('th', { class: 'num' }, t('scoreLevel')), t('verdict'), t('fresh')],
      p.hosts.map((x) => h('tr', {}, h('td', {}, hostLink(x.id, x.hostname), simBadge(x)), h('td', {}, x.agency), h('td', {}, t(x.role)), h('td', { class: 'num' }, x.level),
        x.reported ? scoreCell(x.a) : h('td', { class: 'muted' }, t('noResults')), x.reported ? scoreCell(x.a_level) : h('td', {}),
        h('td', {}, x.reported ? verdictBadge(x.verdict) : ''), h('td', {}, x.fresh ? t('yes') : t('no')))),
      { 'data-test': 'hosts' }),
  );
}

// Host page ----------------------------------------------------------------------------------------
function fileChange(f) {
  const parts = [f.kind];
  if (f.changed && f.changed.length) parts.push(f.changed.join(', '));
  if (f.tag) parts.push(f.tag);
  if (f.summary) parts.push(f.summary);
  return parts.join(' · ');
}

// Windows inventory: membership, administrators and installed updates, when the agent sends them.
function windowsFacts(inv) {
  if (!inv.membership && !(inv.admins || []).length && !(inv.hotfixes || []).length) return null;
  const m = inv.membership ? `${t('m_' + inv.membership.kind)} ${inv.membership.name}` : '';
  return table([t('membership'), t('admins'), t('hotfixes')], [h('tr', { 'data-test': 'windows-facts' },
    h('td', {}, m), h('td', { class: 'small' }, (inv.admins || []).join(', ')),
    h('td', { class: 'small' }, (inv.hotfixes || []).join(', ')))]);
}

function registryChange(r) {
  const parts = [r.kind];
  if (r.group) parts.push(r.group);
  if (r.new) parts.push(`${r.new.type}: ${r.new.data}`);
  else if (r.old) parts.push(`${r.old.type}: ${r.old.data}`);
  if (r.summary) parts.push(r.summary);
  return parts.join(' · ');
}

// Vulnerable packages (docs/vulnerabilities.md) -----------------------------------------------------
function vulnTable(rows) {
  if (!rows.length) return h('p', { class: 'muted' }, t('noVulns'));
  return table([t('severity'), t('advisory'), t('package'), t('installedFixed'), h('th', { class: 'num' }, t('cvss')), t('since')],
    rows.map((v) => h('tr', {}, h('td', {}, v.severity ? sevBadge(v.severity) : ''),
      h('td', {}, v.advisory, h('div', { class: 'muted small' }, v.cves.join(', '))), h('td', {}, v.package),
      h('td', {}, h('code', {}, v.installed), ' → ', v.fixed ? h('code', {}, v.fixed) : t('noFix')),
      h('td', { class: 'num' }, v.cvss != null ? fmtNum(v.cvss) : ''), h('td', {}, fmtTime(v.since * 1000)))),
    { 'data-test': 'vulns' });
}

function vulnSummary(s) {
  const o = s.oldest_critical;
  return [
    h('div', { class: 'cards' }, card(t('hostsAffected'), s.hosts_affected)),
    o ? h('p', { class: 'notice', 'data-test': 'oldest-critical' }, t('oldestCritical'), ': ', hostLink(o.host, o.hostname), ' · ', o.advisory, ' ',
      o.cves.join(', '), ' · ', o.package, ' ', o.installed, ' → ', o.fixed || '', ' · ', t('since'), ' ', fmtTime(o.since * 1000)) : null,
    s.cves.length ? table([t('severity'), t('cve'), t('advisory'), h('th', { class: 'num' }, t('vulnHosts')), t('since')],
      s.cves.slice(0, 20).map((c) => h('tr', {}, h('td', {}, c.severity ? sevBadge(c.severity) : ''), h('td', {}, c.cve),
        h('td', { class: 'small' }, c.advisories.join(', ')), h('td', { class: 'num' }, c.hosts), h('td', {}, fmtTime(c.since * 1000)))),
      { 'data-test': 'vuln-cves' }) : h('p', { class: 'muted' }, t('noVulns')),
  ];
}

async function pageHost(id) {
  const [p, vulns] = await Promise.all([api('GET', '/api/v1/hosts/' + encodeURIComponent(id)),
    api('GET', '/api/v1/hosts/' + encodeURIComponent(id) + '/vulns')]);
  const x = p.host, inv = x.inventory || {}, s = p.score;
  const now = Date.now() / 1000;
  show(
    h('h1', { 'data-test': 'host-name' }, x.hostname, simBadge(x), ' ', h('span', { class: 'muted small' }, agencyLink(x.agency, x.agency))),
    x.simulated ? h('p', { class: 'notice' }, t('simulatedHost')) : null,
    x.revoked ? h('p', { class: 'notice' }, t('revoked')) : null,
    s ? h('div', { class: 'cards' }, card(t('scoreA'), fmtNum(s.a), scoreClass(s.a)), card(t('scoreCommon'), fmtNum(s.a_common)),
      card(t('scoreLevel'), fmtNum(s.a_level)), card(t('verdict'), verdictBadge(s.verdict))) : h('p', { class: 'muted' }, t('noResults')),
    table([t('agentVersion'), t('lastSeen'), t('spool'), t('clockSkew'), t('certExpiry'), t('enrolledAt')], [h('tr', { 'data-test': 'health' },
      h('td', {}, x.agent_version), h('td', {}, fmtTime(x.last_seen * 1000), x.stale ? ' ⚠' : ''), h('td', { class: 'num' }, x.spool_depth),
      h('td', { class: 'num' }, `${x.clock_skew_ms} ms`), h('td', { class: x.cert_not_after - now < 14 * 86400 ? 'score-fail' : '' }, fmtTime(x.cert_not_after * 1000)),
      h('td', {}, fmtTime(x.enrolled_at * 1000)))]),
    h('h2', {}, t('inventory')),
    table([t('os'), t('kernel'), t('cpus'), t('memory'), t('packages')], [h('tr', {},
      h('td', {}, [inv.os, inv.os_version, inv.build ? `(build ${inv.build})` : ''].filter(Boolean).join(' ') || x.os), h('td', {}, inv.kernel || ''), h('td', { class: 'num' }, inv.cpus ?? ''),
      h('td', { class: 'num' }, inv.memory_bytes ? fmtNum(inv.memory_bytes / 2 ** 30) + ' GiB' : ''),
      h('td', { class: 'num' }, Array.isArray(inv.packages) ? inv.packages.length : ''))]),
    windowsFacts(inv),
    h('h2', {}, t('vulns')), vulnTable(vulns.vulns),
    p.trend.full.length ? [h('h2', {}, t('trend90')), trendChart(p.trend)] : null,
    s && s.breakdown.length ? [h('h2', {}, t('whyNot100'), ' (', fmtNum(100 - s.a), ')'), breakdownTable(s.breakdown, 0)] : null,
    s ? [h('h2', {}, t('groups')), groupBars(s.groups.filter((g) => g.applicable > 0))] : null,
    h('h2', {}, t('checks')),
    table([t('status'), t('severity'), t('rule'), t('evidence'), t('remediation')], p.checks.map((c) => h('tr', {},
      h('td', {}, h('span', { class: 'badge ' + c.status }, t('st_' + c.status))), h('td', {}, sevBadge(c.severity)),
      h('td', {}, (lang === 'vi' ? c.title_vi : c.title_en) || c.rule_id, h('div', { class: 'muted small' }, c.rule_id, c.controls.length ? ' · ' + c.controls.join(', ') : '')),
      h('td', { class: 'small' }, c.evidence),
      h('td', { class: 'small' }, c.status === 'pass' ? '' : h('details', {}, h('summary', {}, t('remediation')), (lang === 'vi' ? c.remediation_vi : c.remediation_en) || '')))),
    { 'data-test': 'checks' }),
    h('h2', {}, t('fim')),
    p.files.length === 0 ? h('p', { class: 'muted' }, t('noEvents')) : table([t('time'), t('severity'), t('path'), t('change')],
      p.files.map((f) => h('tr', {}, h('td', {}, fmtTime(f.observed_at)), h('td', {}, sevBadge(f.severity)), h('td', {}, h('code', {}, f.path)), h('td', {}, fileChange(f)))),
      { 'data-test': 'files' }),
    p.registry && p.registry.length ? [h('h2', {}, t('registry')),
      table([t('time'), t('severity'), t('regKey'), t('change')],
        p.registry.map((r) => h('tr', {}, h('td', {}, fmtTime(r.observed_at)), h('td', {}, sevBadge(r.severity)),
          h('td', {}, h('code', {}, r.value != null ? `${r.key}\\${r.value}` : r.key)), h('td', {}, registryChange(r)))),
        { 'data-test': 'registry' })] : null,
    h('h2', {}, t('network')),
    p.network.length === 0 ? h('p', { class: 'muted' }, t('noEvents')) : table([t('time'), t('kind'), t('proto'), t('local'), t('remote'), t('process'), t('note')],
      p.network.map((n) => h('tr', {}, h('td', {}, fmtTime(n.observed_at)), h('td', {}, n.kind), h('td', {}, n.proto), h('td', {}, h('code', {}, n.local)),
        h('td', {}, n.remote ? h('code', {}, n.remote) : ''), h('td', {}, [n.exe, n.user].filter(Boolean).join(' · ')), h('td', {}, n.note || n.indicator || ''))),
      { 'data-test': 'network' }),
    h('h2', {}, t('hostAlerts')),
    p.alerts.length === 0 ? h('p', { class: 'muted' }, t('noAlerts')) : table([t('severity'), t('title'), t('state'), t('opened')],
      p.alerts.map((a) => h('tr', {}, h('td', {}, sevBadge(a.severity)), h('td', {}, alertTitle(a)), h('td', {}, t('a_' + a.state)), h('td', {}, fmtTime(a.opened_at * 1000))))),
  );
}

// Alert queue ---------------------------------------------------------------------------------------
const alertFilter = { state: 'active', severity: '', q: '' };

function slaCell(a, slaHours) {
  if (a.state === 'resolved' || a.state === 'false_positive') return h('td', {});
  const due = a.opened_at + (slaHours[a.severity] || 24) * 3600;
  const left = due - Date.now() / 1000;
  return h('td', { 'data-test': 'sla' }, h('span', { class: 'badge ' + (left < 0 ? 'overdue' : 'low') }, left < 0 ? t('overdue', fmtDuration(left)) : t('left', fmtDuration(left))));
}

async function pageAlerts() {
  const [list, o] = await Promise.all([api('GET', '/api/v1/alerts'), overviewData ? Promise.resolve(overviewData) : loadOverview()]);
  const sla = o.sla_hours || {};
  const mayAct = me.role !== 'viewer';
  const selected = new Set();
  const msg = h('p', { class: 'muted', 'data-test': 'alert-msg' });
  const body = h('tbody');
  const bulkAck = h('button', { type: 'button', disabled: true, 'data-test': 'bulk-ack' });
  const bulkReason = h('input', { placeholder: t('resolveReason'), 'data-test': 'bulk-reason' });
  const bulkResolve = h('button', { type: 'button', class: 'secondary', disabled: true, 'data-test': 'bulk-resolve' });
  const selAll = h('input', { type: 'checkbox', title: t('selectAll'), 'data-test': 'select-all' });

  const visible = () => list.alerts.filter((a) => {
    if (alertFilter.state === 'active' && !(a.state === 'open' || a.state === 'acknowledged')) return false;
    if (alertFilter.state && alertFilter.state !== 'active' && a.state !== alertFilter.state) return false;
    if (alertFilter.severity && a.severity !== alertFilter.severity) return false;
    const q = alertFilter.q.trim().toLowerCase();
    return !q || [alertTitle(a), a.title, a.hostname, a.agency, a.kind, a.assignee].some((v) => (v || '').toLowerCase().includes(q));
  });
  const updateBulk = () => {
    bulkAck.textContent = t('bulkAck', selected.size);
    bulkResolve.textContent = t('bulkResolve', selected.size);
    bulkAck.disabled = bulkResolve.disabled = selected.size === 0;
  };
  const act = async (ids, path, payload) => {
    let n = 0;
    for (const id of ids) {
      try {
        const r = await api('POST', `/api/v1/alerts/${id}/${path}`, payload);
        const i = list.alerts.findIndex((a) => a.id === id);
        if (i >= 0) list.alerts[i] = { ...list.alerts[i], ...r.alert };
        n++;
      } catch (e) { msg.textContent = t('error') + ` #${id}: ` + e.message; msg.className = 'error'; return; }
    }
    selected.clear();
    msg.className = 'muted';
    msg.textContent = t('done', n);
    draw();
  };
  const draw = () => {
    const rows = visible();
    body.replaceChildren(...(rows.length === 0 ? [h('tr', {}, h('td', { colspan: 10, class: 'muted' }, t('noAlerts')))] : rows.map((a) => {
      const cb = h('input', { type: 'checkbox', checked: selected.has(a.id), disabled: !mayAct,
        onchange: (ev) => { if (ev.target.checked) selected.add(a.id); else selected.delete(a.id); updateBulk(); } });
      const reason = h('input', { placeholder: t('resolveReason'), size: 14, 'data-test': 'reason' });
      const assignee = h('input', { value: a.assignee || '', size: 9, 'data-test': 'assignee' });
      const active = a.state === 'open' || a.state === 'acknowledged';
      return h('tr', { 'data-alert': a.id, class: selected.has(a.id) ? 'sel' : '' },
        h('td', {}, cb), h('td', { class: 'num' }, a.id), h('td', {}, sevBadge(a.severity)),
        h('td', {}, alertTitle(a), h('div', { class: 'muted small' }, t('ak_' + a.kind), a.count > 1 ? ` ×${a.count}` : '')),
        h('td', {}, hostLink(a.agent_id, a.hostname || a.agent_id), h('div', { class: 'muted small' }, a.agency || '')),
        h('td', { 'data-test': 'state' }, t('a_' + a.state), a.reason ? h('div', { class: 'muted small' }, a.reason) : null),
        h('td', {}, fmtTime(a.opened_at * 1000)), slaCell(a, sla),
        h('td', {}, mayAct ? h('span', {}, assignee, ' ', h('button', { type: 'button', class: 'secondary', 'data-test': 'assign',
          onclick: () => act([a.id], 'assign', { assignee: assignee.value.trim() || null }) }, t('assign'))) : a.assignee || ''),
        h('td', {}, mayAct && active ? [
          a.state === 'open' ? h('button', { type: 'button', 'data-test': 'ack', onclick: () => act([a.id], 'ack') }, t('ack')) : null, ' ',
          reason, ' ', h('button', { type: 'button', class: 'secondary', 'data-test': 'resolve', onclick: () => {
            if (!reason.value.trim()) { msg.className = 'error'; msg.textContent = t('reasonRequired'); reason.focus(); return; }
            act([a.id], 'resolve', { reason: reason.value.trim() });
          } }, t('resolve'))] : null));
    })));
    selAll.checked = rows.length > 0 && rows.every((a) => selected.has(a.id));
    updateBulk();
  };
  selAll.onchange = () => { for (const a of visible()) { if (selAll.checked) selected.add(a.id); else selected.delete(a.id); } draw(); };
  bulkAck.onclick = () => act([...selected].filter((id) => (list.alerts.find((a) => a.id === id) || {}).state === 'open'), 'ack');
  bulkResolve.onclick = () => {
    if (!bulkReason.value.trim()) { msg.className = 'error'; msg.textContent = t('reasonRequired'); return; }
    act([...selected], 'resolve', { reason: bulkReason.value.trim() });
  };
  const stateSel = h('select', { 'data-test': 'filter-state', onchange: (ev) => { alertFilter.state = ev.target.value; draw(); } },
    [['active', t('active')], ['', t('all')], ...['open', 'acknowledged', 'resolved', 'false_positive'].map((s) => [s, t('a_' + s)])]
      .map(([v, l]) => h('option', { value: v, selected: alertFilter.state === v }, l)));
  const sevSel = h('select', { 'data-test': 'filter-severity', onchange: (ev) => { alertFilter.severity = ev.target.value; draw(); } },
    [['', t('all')], ...['critical', 'high', 'medium', 'low'].map((s) => [s, t('sev_' + s)])]
      .map(([v, l]) => h('option', { value: v, selected: alertFilter.severity === v }, l)));
  const search = h('input', { type: 'search', value: alertFilter.q, 'data-test': 'filter-q', oninput: (ev) => { alertFilter.q = ev.target.value; draw(); } });
  show(
    h('h1', {}, t('alertQueue')),
    h('div', { class: 'toolbar' }, h('label', {}, t('state'), stateSel), h('label', {}, t('severity'), sevSel), h('label', {}, t('search'), search),
      mayAct ? [bulkAck, bulkReason, bulkResolve] : null),
    msg,
    h('table', { 'data-test': 'alerts' }, h('thead', {}, h('tr', {}, h('th', {}, selAll), h('th', { class: 'num' }, '#'), h('th', {}, t('severity')),
      h('th', {}, t('title')), h('th', {}, t('hostname')), h('th', {}, t('state')), h('th', {}, t('opened')), h('th', {}, t('sla')),
      h('th', {}, t('assignee')), h('th', {}, ''))), body),
  );
  draw();
}

// Enrollment tokens ------------------------------------------------------------------------------------
async function copyText(text, button) {
  try { await navigator.clipboard.writeText(text); button.textContent = t('copied'); } catch (_) {
    const r = document.createRange(); const pre = button.previousSibling; if (pre) { r.selectNodeContents(pre); const s = getSelection(); s.removeAllRanges(); s.addRange(r); }
  }
}

function agencySelect(agencies, withAll) {
  const opts = agencies.map((a) => h('option', { value: a.id }, `${a.name} (${a.id})`));
  if (withAll) opts.unshift(h('option', { value: '' }, t('wholeOrg')));
  return h('select', { name: 'agency', 'data-test': 'agency-select' }, opts);
}

async function pageEnroll() {
  if (me.role !== 'admin') { show(h('p', { class: 'notice' }, t('adminOnly'))); return; }
  const o = overviewData || await loadOverview();
  const agency = agencySelect(o.agencies, false);
  const ttl = h('select', { name: 'ttl' }, [['1h', '1 h'], ['24h', '24 h'], ['168h', '7 d'], ['720h', '30 d']].map(([v, l]) => h('option', { value: v, selected: v === '24h' }, l)));
  const uses = h('input', { type: 'number', min: 1, max: 10000, value: 1, name: 'uses' });
  const out = h('div', { 'data-test': 'token-out' });
  const list = h('div');
  const drawList = async () => {
    let tokens;
    try { tokens = (await api('GET', '/api/v1/tokens')).tokens || []; } catch (e) { list.replaceChildren(h('p', { class: 'muted small' }, e.message)); return; }
    const now = Date.now() / 1000;
    list.replaceChildren(table(['ID', t('agency'), t('expires'), t('used'), t('state'), ''], tokens.map((k) => h('tr', {},
      h('td', {}, h('code', {}, k.id)), h('td', {}, k.agency), h('td', {}, fmtTime(k.expires_at * 1000)), h('td', { class: 'num' }, `${k.uses}/${k.max_uses}`),
      h('td', {}, k.revoked ? t('revoked') : k.expires_at < now ? t('expired') : ''),
      h('td', {}, k.revoked ? '' : h('button', { type: 'button', class: 'danger', 'data-test': 'revoke-token', onclick: async () => {
        if (!confirm(t('confirmRevoke', k.id))) return;
        try { await api('POST', `/api/v1/tokens/${encodeURIComponent(k.id)}/revoke`); drawList(); } catch (e) { fail(e); }
      } }, t('revoke'))))), { 'data-test': 'tokens' }));
  };
  const form = h('form', { class: 'inline', onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const r = await api('POST', '/api/v1/tokens', { agency: agency.value, ttl: ttl.value, uses: Number(uses.value) });
      // The token goes on standard input (printf is a shell builtin), never on a command line.
      const cmd = r.install_command || `printf '%s\\n' '${r.token}' | sudo vigil-agent enroll --token -`;
      const pre = h('pre', { class: 'cmd', 'data-test': 'install-cmd' }, cmd);
      const win = r.install_command_windows;
      out.replaceChildren(h('p', { class: 'notice' }, t('tokenOnce')), h('h2', {}, t('installCmd')), pre,
        h('button', { type: 'button', onclick: (e2) => copyText(cmd, e2.target) }, t('copy')),
        win ? [h('h2', {}, t('installCmdWindows')), h('p', { class: 'muted small' }, t('installWindowsHint')),
          h('pre', { class: 'cmd', 'data-test': 'install-cmd-windows' }, win),
          h('button', { type: 'button', onclick: (e2) => copyText(win, e2.target) }, t('copy'))] : null);
      drawList();
    } catch (e) { out.replaceChildren(h('p', { class: 'error' }, e.message)); }
  } }, h('label', {}, t('agency'), agency), h('label', {}, t('ttl'), ttl), h('label', {}, t('uses'), uses), h('button', { type: 'submit', 'data-test': 'create-token' }, t('create')));
  show(h('h1', {}, t('enroll')), h('h2', {}, t('newToken')), form, out, h('h2', {}, t('tokens')), list);
  drawList();
}

// Reports -----------------------------------------------------------------------------------------------
function lastMonth() {
  const d = new Date();
  d.setDate(1); d.setMonth(d.getMonth() - 1);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}`;
}

async function pageReports() {
  const o = overviewData || await loadOverview();
  const agency = agencySelect(o.agencies, true);
  const month = h('input', { type: 'month', value: lastMonth(), 'data-test': 'period' });
  const format = h('select', { 'data-test': 'format' }, ['pdf', 'html', 'csv'].map((f) => h('option', { value: f }, f.toUpperCase())));
  const rlang = h('select', {}, [['vi', 'Tiếng Việt'], ['en', 'English']].map(([v, l]) => h('option', { value: v, selected: v === lang }, l)));
  const link = h('a', { 'data-test': 'report-link', download: '' }, t('download'));
  const update = () => {
    const q = new URLSearchParams({ period: month.value, format: format.value, lang: rlang.value });
    if (agency.value) q.set('agency', agency.value);
    link.href = '/api/v1/reports?' + q.toString();
  };
  for (const el of [agency, month, format, rlang]) el.addEventListener('change', update);
  update();
  show(h('h1', {}, t('reportTitle')),
    h('div', { class: 'toolbar' }, h('label', {}, t('agency'), agency), h('label', {}, t('period'), month), h('label', {}, t('format'), format),
      h('label', {}, t('language'), rlang)),
    h('p', {}, link), h('p', { class: 'muted small' }, t('scheduled')));
}

// Administration --------------------------------------------------------------------------------------------
async function pageAdmin() {
  if (me.role !== 'admin') { show(h('p', { class: 'notice' }, t('adminOnly'))); return; }
  const users = h('div'), tokens = h('div'), audit = h('div');
  const msg = h('p', { class: 'muted' });
  const drawUsers = async () => {
    const r = await api('GET', '/api/v1/users');
    users.replaceChildren(table([t('name'), t('role'), t('scope'), t('state'), ''], (r.users || []).map((u) => h('tr', {},
      h('td', {}, u.name), h('td', {}, t('r_' + u.role)), h('td', {}, u.scope || t('wholeOrg')), h('td', {}, u.disabled ? t('disabled') : ''),
      h('td', {}, u.disabled || u.name === me.name ? '' : h('button', { type: 'button', class: 'danger', onclick: async () => {
        if (!confirm(`${t('disable')} ${u.name}?`)) return;
        try { await api('POST', `/api/v1/users/${encodeURIComponent(u.name)}/disable`); drawUsers(); } catch (e) { msg.textContent = e.message; }
      } }, t('disable'))))), { 'data-test': 'users' }));
  };
  const drawTokens = async () => {
    const r = await api('GET', '/api/v1/api-tokens');
    tokens.replaceChildren(table(['ID', t('user'), t('created'), t('state'), ''], (r.api_tokens || []).map((k) => h('tr', {},
      h('td', {}, h('code', {}, k.id)), h('td', {}, k.user), h('td', {}, fmtTime((k.created_at || 0) * 1000)), h('td', {}, k.revoked ? t('revoked') : ''),
      h('td', {}, k.revoked ? '' : h('button', { type: 'button', class: 'danger', onclick: async () => {
        if (!confirm(t('confirmRevoke', k.id))) return;
        try { await api('DELETE', `/api/v1/api-tokens/${encodeURIComponent(k.id)}`); drawTokens(); } catch (e) { msg.textContent = e.message; }
      } }, t('revoke')))))));
  };
  let before = null;
  const auditRows = h('tbody');
  const more = h('button', { type: 'button', class: 'secondary' }, t('older'));
  const drawAudit = async () => {
    const q = new URLSearchParams({ limit: '50' });
    if (before) q.set('before', String(before));
    const r = await api('GET', '/api/v1/audit?' + q.toString());
    const entries = r.entries || [];
    for (const e of entries) auditRows.append(h('tr', {}, h('td', {}, fmtTime((e.at || 0) * 1000)), h('td', {}, e.actor), h('td', {}, e.action), h('td', { class: 'small' }, h('code', {}, JSON.stringify(e.detail)))));
    if (entries.length) before = r.next_before ?? entries[entries.length - 1].id ?? entries[entries.length - 1].at;
    more.disabled = entries.length < 50;
  };
  more.onclick = () => drawAudit().catch((e) => { msg.textContent = e.message; });
  audit.replaceChildren(h('table', { 'data-test': 'audit' }, h('thead', {}, h('tr', {}, h('th', {}, t('time')), h('th', {}, t('actor')), h('th', {}, t('action')), h('th', {}, t('detail')))), auditRows), more);
  const o = overviewData || await loadOverview();
  const nm = h('input', { required: true, pattern: '[a-z][a-z0-9._-]{1,31}' });
  const pw = h('input', { type: 'password', required: true, minlength: 12, autocomplete: 'new-password' });
  const role = h('select', {}, ['viewer', 'analyst', 'admin'].map((r) => h('option', { value: r }, t('r_' + r))));
  const scope = agencySelect(o.agencies.filter((a) => !me.scope || a.id === me.scope || a.id.startsWith(me.scope + '/')), !me.scope);
  const form = h('form', { class: 'inline', onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      await api('POST', '/api/v1/users', { name: nm.value, password: pw.value, role: role.value, scope: scope.value });
      msg.textContent = t('saved'); nm.value = ''; pw.value = ''; drawUsers();
    } catch (e) { msg.textContent = t('error') + ': ' + e.message; }
  } }, h('label', {}, t('name'), nm), h('label', {}, t('password'), pw), h('label', {}, t('role'), role), h('label', {}, t('scope'), scope),
  h('button', { type: 'submit' }, t('addUser')));
  const settings = h('div', { 'data-test': 'settings' });
  const drawSettings = async () => {
    const c = await api('GET', '/api/v1/settings');
    const sc = c.scoring, sev = ['critical', 'high', 'medium', 'low'];
    settings.replaceChildren(h('p', { class: 'muted small' }, t('settingsNote')), table([t('item'), ''], [
      h('tr', {}, h('td', {}, t('scoringVersion')), h('td', {}, sc.version)),
      h('tr', {}, h('td', {}, t('rankingRule')), h('td', {}, `${t('minHosts')}: ${sc.ranking.min_hosts} · ${t('minCoverage')}: ${fmtPct(sc.ranking.min_coverage)}`)),
      h('tr', {}, h('td', {}, t('verdictBands')), h('td', {}, `${t('good')} ≥ ${sc.verdict.good} · ${t('passV')} ≥ ${sc.verdict.pass}`)),
      h('tr', {}, h('td', {}, t('slaHours')), h('td', {}, sev.map((k) => `${t('sev_' + k)}: ${sc.alerts.sla_hours[k]}`).join(' · '))),
      h('tr', {}, h('td', {}, t('scheduledReports')), h('td', {}, `${c.reports.schedule} · ${t('directory')}: ${c.reports.dir} · ${c.reports.lang}`)),
    ]));
  };
  show(h('h1', {}, t('admin')), msg, h('h2', {}, t('users')), users, form, h('h2', {}, t('apiTokens')), tokens,
    h('h2', {}, t('settings')), settings, h('h2', {}, t('auditLog')), audit);
  await Promise.all([drawUsers(), drawTokens(), drawSettings(), drawAudit()].map((p) => p.catch((e) => { msg.textContent = e.message; })));
}

window.addEventListener('hashchange', route);
document.addEventListener('DOMContentLoaded', route);
