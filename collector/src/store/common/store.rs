//! The [`Store`] of every backend, written once: what is the same program on both databases
//! runs through the modules beside this one, and the few methods each database writes its own way
//! (bulk `unnest` writes and the ingest hot path on PostgreSQL, parallel reads of check states)
//! come from its [`Backend`] impl.

use super::super::db::Db;
use crate::store::*;

/// What a backend writes itself; everything else of [`Store`] is one program over [`Db`]. Each
/// method is the [`Store`] method of the same name. Implemented by naming the trait
/// (`impl common::store::Backend for …`), not importing it, so that calls on a concrete store
/// stay unambiguous.
pub(crate) trait Backend: Db + Send + Sync {
    fn check_states(&self) -> Result<Vec<(String, Vec<CheckState>)>>;

    fn scores_record(&self, points: &[ScorePoint]) -> Result<()>;

    fn ingest(&self, agent_id: &str, batch: &[Envelope], received_at: i64)
    -> Result<IngestOutcome>;

    fn max_seq(&self, agent_id: &str) -> Result<u64>;

    fn findings(&self, f: &FindingFilter) -> Result<Vec<StoredFinding>>;

    fn finding_count(&self, agent_id: &str) -> Result<u64>;

    fn gaps(&self, agent_id: Option<&str>) -> Result<Vec<Gap>>;

    fn listeners_learn(
        &self,
        agent_id: &str,
        keys: &[String],
        now: i64,
    ) -> Result<(usize, Vec<String>)>;
}

impl<B: Backend> Store for B {
    fn vulns(&self) -> &dyn crate::store::vuln::VulnStore {
        self
    }

    fn exports(&self) -> &dyn crate::store::export::ExportStore {
        self
    }

    fn federation(&self) -> &dyn crate::store::fed::FedStore {
        self
    }

    fn policies(&self) -> &dyn crate::store::policy::PolicyStore {
        self
    }

    fn agency_add(&self, a: &Agency) -> Result<()> {
        super::agencies::agency_add(self, a)
    }

    fn agency(&self, id: &str) -> Result<Option<Agency>> {
        super::agencies::agency(self, id)
    }

    fn agencies(&self) -> Result<Vec<Agency>> {
        super::agencies::agencies(self)
    }

    fn agency_rename(&self, id: &str, name: &str, actor: &str, now: i64) -> Result<bool> {
        super::agencies::agency_rename(self, id, name, actor, now)
    }

    fn agency_move(&self, from: &str, to: &str, actor: &str, now: i64) -> Result<MoveOutcome> {
        super::agencies::agency_move(self, from, to, actor, now)
    }

    fn agency_dissolve(&self, id: &str, actor: &str, now: i64) -> Result<MoveOutcome> {
        super::agencies::agency_dissolve(self, id, actor, now)
    }

    fn agent_set_profile(
        &self,
        id: &str,
        role: Option<&str>,
        level: Option<u8>,
        actor: &str,
        now: i64,
    ) -> Result<bool> {
        super::agencies::agent_set_profile(self, id, role, level, actor, now)
    }

    fn assets_import(&self, assets: &[Asset], actor: &str, now: i64) -> Result<AssetImport> {
        super::agencies::assets_import(self, assets, actor, now)
    }

    fn assets(&self) -> Result<Vec<Asset>> {
        super::agencies::assets(self)
    }

    fn scores_latest(&self) -> Result<Vec<ScorePoint>> {
        super::alerts::scores_latest(self)
    }

    fn score_history(&self, scope: &str, id: &str, since_ms: i64) -> Result<Vec<ScorePoint>> {
        super::alerts::score_history(self, scope, id, since_ms)
    }

    fn token_add(&self, t: &TokenRecord) -> Result<()> {
        super::identity::token_add(self, t)
    }

    fn token_consume(
        &self,
        secret_hash: &str,
        now: i64,
    ) -> Result<std::result::Result<TokenRecord, TokenRefusal>> {
        super::identity::token_consume(self, secret_hash, now)
    }

    fn token_revoke(&self, id: &str) -> Result<bool> {
        super::identity::token_revoke(self, id)
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>> {
        super::identity::tokens(self)
    }

    fn agent_enroll(&self, a: &NewAgent, now: i64) -> Result<EnrollOutcome> {
        super::identity::agent_enroll(self, a, now)
    }

    fn agent_move(&self, id: &str, agency: &str, actor: &str, now: i64) -> Result<bool> {
        super::identity::agent_move(self, id, agency, actor, now)
    }

    fn agent_session_cert(&self, id: &str, serial: &str, now: i64) -> Result<SessionCert> {
        super::identity::agent_session_cert(self, id, serial, now)
    }

    fn agent(&self, id: &str) -> Result<Option<AgentRecord>> {
        super::identity::agent(self, id)
    }

    fn agents(&self) -> Result<Vec<AgentRecord>> {
        super::identity::agents(self)
    }

    fn agents_brief(&self) -> Result<Vec<AgentRecord>> {
        super::identity::agents_brief(self)
    }

    fn revoked_serials(&self) -> Result<Vec<String>> {
        super::identity::revoked_serials(self)
    }

    fn agent_set_cert(&self, id: &str, serial: &str, not_after: i64, now: i64) -> Result<bool> {
        super::identity::agent_set_cert(self, id, serial, not_after, now)
    }

    fn agent_revoke(&self, id: &str, actor: &str, now: i64) -> Result<bool> {
        super::identity::agent_revoke(self, id, actor, now)
    }

    fn agent_seen(
        &self,
        id: &str,
        now: i64,
        agent_version: Option<&str>,
        hb: Option<Heartbeat>,
    ) -> Result<()> {
        super::seen::agent_seen(self, id, now, agent_version, hb)
    }

    fn audit(&self, actor: &str, action: &str, detail: &serde_json::Value, now: i64) -> Result<()> {
        super::access::audit_add(self, actor, action, detail, now)
    }

    fn audit_log(&self) -> Result<Vec<(i64, String, String, serde_json::Value)>> {
        super::access::audit_log(self)
    }

    fn ioc_import(&self, indicators: &[vigil_proto::msg::Indicator]) -> Result<u64> {
        crate::store::common::ioc::ioc_import(self, indicators)
    }

    fn ioc_version(&self) -> Result<u64> {
        crate::store::common::ioc::ioc_version(self)
    }

    fn ioc_since(&self, from_version: u64) -> Result<(u64, Vec<vigil_proto::msg::Indicator>)> {
        crate::store::common::ioc::ioc_since(self, from_version)
    }

    fn alert_raise(&self, a: &crate::store::NewAlert, now: i64) -> Result<(i64, bool)> {
        super::raise::alert_raise(self, a, now)
    }

    fn alerts(&self, state: Option<crate::store::AlertState>) -> Result<Vec<crate::store::Alert>> {
        super::alerts::alerts(self, state)
    }

    fn alerts_after(&self, after: i64, limit: u32) -> Result<Vec<crate::store::Alert>> {
        super::alerts::alerts_after(self, after, limit)
    }

    fn notify_claim(&self, alert_id: i64, recipient: &str, owner: &str, now: i64) -> Result<bool> {
        super::alerts::notify_claim(self, alert_id, recipient, owner, now)
    }

    fn alert_assign(&self, id: i64, assignee: Option<&str>, actor: &str, now: i64) -> Result<bool> {
        super::alerts::alert_assign(self, id, assignee, actor, now)
    }

    fn alert_set_state(
        &self,
        id: i64,
        state: crate::store::AlertState,
        actor: &str,
        reason: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        super::alerts::alert_set_state(self, id, state, actor, reason, now)
    }

    fn user_add(&self, u: &crate::store::User, actor: &str, now: i64) -> Result<()> {
        super::access::user_add(self, u, actor, now)
    }

    fn user(&self, name: &str) -> Result<Option<crate::store::User>> {
        super::access::user(self, name)
    }

    fn users(&self) -> Result<Vec<crate::store::User>> {
        super::access::users(self)
    }

    fn user_disable(&self, name: &str, actor: &str, now: i64) -> Result<bool> {
        super::access::user_disable(self, name, actor, now)
    }

    fn session_add(&self, s: &crate::store::SessionRecord) -> Result<()> {
        super::access::session_add(self, s)
    }

    fn session(&self, id_hash: &str, now: i64) -> Result<Option<crate::store::SessionRecord>> {
        super::access::session(self, id_hash, now)
    }

    fn session_delete(&self, id_hash: &str, now: i64) -> Result<bool> {
        super::access::session_delete(self, id_hash, now)
    }

    fn api_token_add(&self, t: &crate::store::ApiTokenRecord, actor: &str, now: i64) -> Result<()> {
        super::access::api_token_add(self, t, actor, now)
    }

    fn api_token(&self, secret_hash: &str) -> Result<Option<crate::store::ApiTokenRecord>> {
        super::access::api_token(self, secret_hash)
    }

    fn api_tokens(&self) -> Result<Vec<crate::store::ApiTokenRecord>> {
        super::access::api_tokens(self)
    }

    fn api_token_revoke(&self, id: &str, actor: &str, now: i64) -> Result<bool> {
        super::access::api_token_revoke(self, id, actor, now)
    }

    fn audit_page(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<crate::store::AuditEntry>> {
        super::access::audit_page(self, before, limit)
    }

    fn audit_range(
        &self,
        action: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<crate::store::AuditEntry>> {
        super::access::audit_range(self, action, from, to)
    }

    fn check_states(&self) -> Result<Vec<(String, Vec<CheckState>)>> {
        Backend::check_states(self)
    }

    fn scores_record(&self, points: &[ScorePoint]) -> Result<()> {
        Backend::scores_record(self, points)
    }

    fn ingest(
        &self,
        agent_id: &str,
        batch: &[Envelope],
        received_at: i64,
    ) -> Result<IngestOutcome> {
        Backend::ingest(self, agent_id, batch, received_at)
    }

    fn max_seq(&self, agent_id: &str) -> Result<u64> {
        Backend::max_seq(self, agent_id)
    }

    fn findings(&self, f: &FindingFilter) -> Result<Vec<StoredFinding>> {
        Backend::findings(self, f)
    }

    fn finding_count(&self, agent_id: &str) -> Result<u64> {
        Backend::finding_count(self, agent_id)
    }

    fn gaps(&self, agent_id: Option<&str>) -> Result<Vec<Gap>> {
        Backend::gaps(self, agent_id)
    }

    fn listeners_learn(
        &self,
        agent_id: &str,
        keys: &[String],
        now: i64,
    ) -> Result<(usize, Vec<String>)> {
        Backend::listeners_learn(self, agent_id, keys, now)
    }
}
