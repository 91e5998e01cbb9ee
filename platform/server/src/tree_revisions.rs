//! Tree revisions: the tenant tree every node agrees on.
//!
//! A change of the tree is one revision: the configuration files of a
//! tenants directory, their SM3 digest, the platform key's SM2 signature
//! over revision number and digest, and the plan that was applied, stored
//! together with the tenants it makes active ([`Database::apply_tree_revision`]).
//!
//! - `civitas tenant plan DIR` shows [`plan`]: what applying DIR would add,
//!   move, rename, deactivate or reconfigure, and for every node it retires
//!   the open cases and grants still held there.
//! - `civitas tenant apply DIR` runs [`apply`]: refused while a retired node
//!   still holds open cases or grants (transfer the cases, revoke or re-grant
//!   the grants first), else stored, signed and audited in every root chain.
//! - At start ([`settle_at_start`]) a node serves the newest revision. Its
//!   local directory must be that revision: a directory that is an earlier
//!   revision, or one never applied, stops the start (exit 3) unless the
//!   operator asked to apply it. The first start on an empty database
//!   applies its directory as revision 1.
//! - While running ([`follow`]) a node looks at the newest revision number
//!   every second and swaps in a new tree (checked against its digest and
//!   signature) without a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use civitas_crypto::sm2::{PrivateKey, PublicKey, Signature};
use civitas_storage::{Applied, Database, NewTreeRevision, RevisionHead, TreeChange};
use civitas_tenancy::{ConfigErrors, SharedTree, Source, TenantPath, TenantTree};
use serde::Serialize;

/// Why a tree revision could not be planned, applied or loaded.
#[derive(Debug, thiserror::Error)]
pub enum RevisionError {
    /// The tenants directory is invalid.
    #[error("{0}")]
    Invalid(ConfigErrors),
    /// The database failed.
    #[error("{0}")]
    Storage(#[from] civitas_storage::StorageError),
    /// Counting the grants a change retires failed.
    #[error("{0}")]
    Grants(#[from] civitas_authz::GrantError),
    /// Nodes to retire still hold open cases or grants.
    #[error(
        "以下节点仍有未办结案件或有效授权，不能停用或迁移，请先转办案件、调整授权 (these nodes still hold open cases or grants and cannot be deactivated or moved; transfer the cases and revoke or re-grant the grants first): {}",
        .0.iter().map(|b| format!("{} ({} open cases, {} grants)", b.path, b.open_cases, b.grants)).collect::<Vec<_>>().join(", ")
    )]
    Blocked(Vec<Blocked>),
    /// Another revision was applied since the plan was made.
    #[error(
        "租户树已被修改为第 {head} 版，请重新评估后再应用 (the tree moved on to revision {head} meanwhile: plan and apply again)"
    )]
    Stale {
        /// The revision that is now the newest.
        head: i64,
    },
    /// The local directory is an earlier revision than the database's.
    #[error(
        "本地租户目录是第 {local} 版，数据库已是第 {head} 版：请更新租户目录，或确认后以 --apply-tenants 应用本地目录 (the local tenants directory is revision {local}, the database is at revision {head}: update the directory, or apply it on purpose with --apply-tenants)"
    )]
    Older {
        /// The revision the local directory is.
        local: i64,
        /// The newest revision.
        head: i64,
    },
    /// The local directory was never applied.
    #[error(
        "本地租户目录与数据库第 {head} 版不同且从未应用：请先 civitas tenant plan / civitas tenant apply，或以 --apply-tenants 启动 (the local tenants directory differs from the database's revision {head} and was never applied: run civitas tenant plan and civitas tenant apply first, or start with --apply-tenants)"
    )]
    NotApplied {
        /// The newest revision.
        head: i64,
    },
    /// A stored revision does not match its digest or signature.
    #[error(
        "第 {revision} 版租户树未通过校验 (tree revision {revision} does not verify): {reason}"
    )]
    Tampered {
        /// The revision.
        revision: i64,
        /// What does not match.
        reason: String,
    },
    /// A stored revision does not parse into a valid tree.
    #[error("第 {revision} 版租户树无效 (tree revision {revision} is invalid): {errors}")]
    Unreadable {
        /// The revision.
        revision: i64,
        /// Every problem.
        errors: ConfigErrors,
    },
    /// Keys of new tenants could not be provisioned.
    #[error("{0}")]
    Keys(#[from] civitas_vault::VaultError),
    /// Signing failed.
    #[error("签名失败 (signing failed): {0}")]
    Crypto(#[from] civitas_crypto::CryptoError),
    /// The revision could not be audited.
    #[error("无法写入审计记录 (cannot write the audit record): {0}")]
    Audit(String),
}

/// A node a plan would retire that still holds work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocked {
    /// The node.
    pub path: TenantPath,
    /// Cases not finished there.
    pub open_cases: u64,
    /// Grants on it.
    pub grants: u64,
}

/// A tenants directory as read from disk: its files, their digest, the tree.
#[derive(Debug, Clone)]
pub struct LocalTree {
    /// The directory.
    pub dir: PathBuf,
    /// Its configuration files.
    pub sources: Vec<Source>,
    /// SM3 of the files, hex ([`sources_digest`]).
    pub digest: String,
    /// The validated tree.
    pub tree: TenantTree,
}

impl LocalTree {
    /// Reads and validates the tenants directory `dir`.
    pub fn read(dir: &Path) -> Result<LocalTree, RevisionError> {
        let sources = TenantTree::read_sources(dir).map_err(RevisionError::Invalid)?;
        let digest = sources_digest(&sources);
        let tree = TenantTree::from_sources(sources.clone()).map_err(RevisionError::Invalid)?;
        Ok(LocalTree {
            dir: dir.to_path_buf(),
            sources,
            digest,
            tree,
        })
    }
}

/// Checks the flows of `local`'s directory against its tree (the service
/// catalog and the roles of `policies/base.csv` as shipped): a revision the
/// directory's own flows do not fit is not applied.
pub fn check_flows(local: &LocalTree) -> Result<(), String> {
    // Every node's local non-working days (a setting) must read, or the
    // node's cases would fail once the revision is served.
    for tenant in local.tree.iter() {
        civitas_workflow::local_days(&local.tree, &tenant.path)?;
    }
    let catalog = civitas_services::Catalog::load(&local.dir).map_err(|e| e.to_string())?;
    let permissions =
        civitas_authz::Permissions::parse(civitas_authz::BASE_POLICY).map_err(|e| e.to_string())?;
    let roles = permissions.roles().map(str::to_owned).collect();
    let module_services = catalog
        .services()
        .map(|s| (s.id.clone(), s.output_fields()))
        .collect();
    civitas_workflow::FlowCatalog::load(
        &local.dir,
        &civitas_workflow::flow::Context {
            tree: &local.tree,
            roles: &roles,
            module_services: &module_services,
        },
    )
    .map(drop)
    .map_err(|e| e.to_string())
}

/// SM3 over the files in name order, each as the byte lengths (u64, big
/// endian) and bytes of its name and text: two directories have one digest
/// exactly when they hold the same files with the same contents.
pub fn sources_digest(sources: &[Source]) -> String {
    let mut sorted: Vec<&Source> = sources.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut hasher = civitas_crypto::sm3::Hasher::new();
    for source in sorted {
        let name = source.name.display().to_string();
        for part in [name.as_bytes(), source.text.as_bytes()] {
            hasher.update(&(part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
    }
    hex::encode(hasher.finalize())
}

/// What the platform key signs for a revision: the number binds the digest
/// to its place in the sequence, so an old revision cannot be replayed as a
/// newer one.
fn signing_message(revision: i64, digest: &str) -> String {
    format!("civitas:tenant-revision:{revision}:{digest}")
}

/// One change of a plan, with what it does to work held at a node it
/// retires.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedChange {
    /// The change.
    #[serde(flatten)]
    pub change: TreeChange,
    /// For a move or deactivation: open cases and grants at the retired path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holds: Option<Holds>,
}

/// Work held at a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Holds {
    /// Cases not finished (open, returned, paused).
    pub open_cases: u64,
    /// Grants of roles on it.
    pub grants: u64,
}

/// What applying a directory would do.
#[derive(Debug, Clone, Serialize)]
pub struct TreePlan {
    /// The revision planned on (`None`: the database has none yet).
    pub base: Option<i64>,
    /// The revision applying would store.
    pub revision: i64,
    /// SM3 of the directory's files.
    pub digest: String,
    /// The directory is the newest revision already: nothing to apply.
    pub current: bool,
    /// Every change, in path order.
    pub changes: Vec<PlannedChange>,
    /// Nodes the plan would retire that still hold work: applying is refused.
    pub blocked: Vec<Blocked>,
}

impl TreePlan {
    /// The plan as an operator reads it, Chinese first.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let base = self.base.map_or_else(
            || "无 (none)".to_owned(),
            |b| format!("第 {b} 版 (revision {b})"),
        );
        out.push_str(&format!("当前版本 (current revision): {base}\n"));
        if self.current {
            out.push_str("本目录即当前版本，无需应用 (this directory is the current revision: nothing to apply)\n");
            return out;
        }
        out.push_str(&format!(
            "应用后为第 {} 版 (applying stores revision {}), SM3 {}\n",
            self.revision, self.revision, self.digest
        ));
        if self.changes.is_empty() {
            out.push_str(
                "节点无变化（仅文件内容变化） (no node changes: only the files' text differs)\n",
            );
        }
        for planned in &self.changes {
            out.push_str(&render_change(&planned.change));
            if let Some(holds) = planned.holds {
                out.push_str(&format!(
                    "      未办结案件 {} 件，授权 {} 条 (open cases: {}, grants: {})\n",
                    holds.open_cases, holds.grants, holds.open_cases, holds.grants
                ));
            }
        }
        if !self.blocked.is_empty() {
            out.push_str(
                "不能应用：上述停用或迁移的节点仍有未办结案件或授权，请先转办案件、调整授权 \
                 (cannot apply: nodes to deactivate or move still hold open cases or grants; \
                 transfer the cases and revoke or re-grant first)\n",
            );
        }
        out
    }
}

fn render_change(change: &TreeChange) -> String {
    match change {
        TreeChange::Added { path, name, level } => {
            format!("  + 新增 (added)        {path}  {name} [{level}]\n")
        }
        TreeChange::Moved { from, to, name } => {
            format!("  → 迁移 (moved)        {from} → {to}  {name}\n")
        }
        TreeChange::Renamed {
            path,
            from_name,
            to_name,
            from_slug_path,
            to_slug_path,
        } => format!(
            "  ~ 更名 (renamed)      {path}  {from_name} → {to_name}  ({from_slug_path} → {to_slug_path})\n"
        ),
        TreeChange::Deactivated { path, name } => {
            format!("  - 停用 (deactivated)  {path}  {name}\n")
        }
        TreeChange::Reconfigured {
            path,
            name,
            level,
            lines_added,
            lines_removed,
            settings,
        } => {
            let mut parts = Vec::new();
            if let Some([from, to]) = level {
                parts.push(format!("level {from} → {to}"));
            }
            if !lines_added.is_empty() {
                parts.push(format!("lines +{}", lines_added.join(",")));
            }
            if !lines_removed.is_empty() {
                parts.push(format!("lines -{}", lines_removed.join(",")));
            }
            for setting in settings {
                let show = |v: &Option<serde_json::Value>| {
                    v.as_ref().map_or_else(|| "∅".to_owned(), |v| v.to_string())
                };
                parts.push(format!(
                    "{} {} → {}",
                    setting.key,
                    show(&setting.from),
                    show(&setting.to)
                ));
            }
            format!(
                "  * 调整 (changed)      {path}  {name}: {}\n",
                parts.join("; ")
            )
        }
    }
}

/// What applying `local` would do to the database's tree.
pub async fn plan(db: &Database, local: &LocalTree) -> Result<TreePlan, RevisionError> {
    let head = db.tree_revision_head().await?;
    // An unsigned head (applied without the platform key) is not current:
    // applying the same directory again stores it signed.
    let current = head
        .as_ref()
        .is_some_and(|h| h.digest == local.digest && h.signed);
    let records = db.tenants().await?;
    let settings = db.configured_settings().await?;
    let mut changes = Vec::new();
    let mut blocked = Vec::new();
    for change in civitas_storage::plan_tree_changes(&records, &settings, &local.tree) {
        let holds = match change.retires() {
            Some(path) => {
                let holds = Holds {
                    open_cases: civitas_workflow::open_cases_at(db, path).await?,
                    grants: civitas_authz::grants_at(db, path).await?,
                };
                if holds.open_cases > 0 || holds.grants > 0 {
                    blocked.push(Blocked {
                        path: path.clone(),
                        open_cases: holds.open_cases,
                        grants: holds.grants,
                    });
                }
                Some(holds)
            }
            None => None,
        };
        changes.push(PlannedChange { change, holds });
    }
    let base = head.as_ref().map(|h| h.revision);
    Ok(TreePlan {
        base,
        revision: base.unwrap_or(0) + 1,
        digest: local.digest.clone(),
        current,
        changes,
        blocked,
    })
}

/// Stores `plan` (made on `local`) as the newest revision, signed with
/// `key` when there is one, and audits it as `tenant.revision` in every
/// root's chain. Refused while the plan retires nodes that hold work, and
/// when another revision landed since the plan was made.
pub async fn apply(
    db: &Database,
    local: &LocalTree,
    plan: &TreePlan,
    key: Option<&PrivateKey>,
    actor: &str,
) -> Result<civitas_storage::SyncReport, RevisionError> {
    if !plan.blocked.is_empty() {
        return Err(RevisionError::Blocked(plan.blocked.clone()));
    }
    let signature = key
        .map(|key| key.sign(signing_message(plan.revision, &plan.digest).as_bytes()))
        .transpose()?
        .map(|s| hex::encode(s.to_der()));
    let changes = serde_json::to_value(&plan.changes).unwrap_or_default();
    let count = |kind: &str| {
        plan.changes
            .iter()
            .filter(|c| c.change.kind() == kind)
            .count()
    };
    // The revision and its audit records commit together.
    let mut tx = db.begin_platform().await?;
    let applied = civitas_storage::store_tree_revision(
        &mut tx,
        &local.tree,
        &NewTreeRevision {
            revision: plan.revision,
            digest: &plan.digest,
            sources: &local.sources,
            signature: signature.as_deref(),
            changes: &changes,
            applied_by: actor,
        },
    )
    .await?;
    let report = match applied {
        Applied::Stored(report) => report,
        Applied::Stale => {
            drop(tx);
            let head = db.tree_revision_head().await?.map_or(0, |h| h.revision);
            return Err(RevisionError::Stale { head });
        }
    };
    for root in local.tree.roots() {
        let event = civitas_audit::NewEvent {
            actor: actor.to_owned(),
            action: "tenant.revision".into(),
            target: root.path.to_string(),
            detail: serde_json::json!({
                "revision": plan.revision,
                "digest": plan.digest,
                "signed": signature.is_some(),
                "added": count("added"),
                "moved": count("moved"),
                "renamed": count("renamed"),
                "deactivated": count("deactivated"),
                "reconfigured": count("reconfigured"),
            }),
        };
        civitas_audit::record_platform(&mut tx, &root.path, &event)
            .await
            .map_err(|e| RevisionError::Audit(e.to_string()))?;
    }
    tx.commit().await?;
    Ok(report)
}

/// The tree a starting node serves, and the revision it is.
#[derive(Debug)]
pub struct Settled {
    /// The tree.
    pub tree: TenantTree,
    /// Its revision.
    pub revision: i64,
    /// What applying the local directory wrote, when this start applied it.
    pub applied: Option<civitas_storage::SyncReport>,
}

/// Settles which tree a starting node serves: the newest revision, which
/// must be `local` (checked against its stored digest and signature).
/// An empty database takes `local` as revision 1; with `apply`, `local`
/// becomes the newest revision when it is not already; otherwise a
/// different local directory stops the start ([`RevisionError::Older`],
/// [`RevisionError::NotApplied`]).
pub async fn settle_at_start(
    db: &Database,
    local: LocalTree,
    key: Option<&PrivateKey>,
    apply_local: bool,
    actor: &str,
) -> Result<Settled, RevisionError> {
    let head = db.tree_revision_head().await?;
    match head {
        // Served as it is; an unsigned one (stored by a command without the
        // platform key) that is this node's own directory is stored again,
        // signed, by a node that has the key (the last arm).
        Some(head) if head.digest == local.digest && (head.signed || key.is_none()) => {
            verify_stored(db, &head, key.map(PrivateKey::public_key).as_ref()).await?;
            Ok(Settled {
                tree: local.tree,
                revision: head.revision,
                applied: None,
            })
        }
        Some(head) if head.digest != local.digest && !apply_local => {
            match db.tree_revision_with_digest(&local.digest).await? {
                Some(revision) => Err(RevisionError::Older {
                    local: revision,
                    head: head.revision,
                }),
                None => Err(RevisionError::NotApplied {
                    head: head.revision,
                }),
            }
        }
        _ => {
            let plan = plan(db, &local).await?;
            let report = apply(db, &local, &plan, key, actor).await?;
            tracing::info!(
                revision = plan.revision,
                changes = plan.changes.len(),
                "tenant tree revision applied from the local directory"
            );
            Ok(Settled {
                tree: local.tree,
                revision: plan.revision,
                applied: Some(report),
            })
        }
    }
}

/// [`settle_at_start`] for a command other than `serve` (`admin init`,
/// `keys provision`): the tree of `dir`, which must be the newest revision
/// (or becomes revision 1 on an empty database), signed with the platform
/// key when its file exists. Errors are printed; the exit code comes back.
pub async fn settle_for_command(
    db: &Database,
    settings: &crate::config::Settings,
    dir: &Path,
    actor: &str,
) -> Result<TenantTree, u8> {
    let local = match LocalTree::read(dir) {
        Ok(local) => local,
        Err(RevisionError::Invalid(errors)) => {
            eprint!("{errors}");
            return Err(crate::exit::CONFIG);
        }
        Err(e) => {
            eprintln!("错误 (error): {e}");
            return Err(crate::exit::CONFIG);
        }
    };
    let key = match crate::serve::load_platform_key(settings, false) {
        Ok(key) => key,
        Err(e) => {
            eprintln!("错误 (error): {e}");
            return Err(crate::exit::CONFIG);
        }
    };
    match settle_at_start(db, local, key.as_deref(), false, actor).await {
        Ok(settled) => Ok(settled.tree),
        Err(RevisionError::Storage(e)) => {
            eprintln!("错误 (error): {e}");
            Err(crate::exit::DATABASE)
        }
        Err(e) => {
            eprintln!("错误 (error): {e}");
            Err(crate::exit::CONFIG)
        }
    }
}

/// Checks the stored revision `head` against its digest and, when the node
/// has the platform key, its signature.
async fn verify_stored(
    db: &Database,
    head: &RevisionHead,
    key: Option<&PublicKey>,
) -> Result<(), RevisionError> {
    load(db, head.revision, key).await.map(drop)
}

/// Revision `revision`, verified: the sources must hash to the stored
/// digest and, when `key` is given, the signature must be the platform
/// key's over number and digest (an unsigned revision is refused then).
pub async fn load(
    db: &Database,
    revision: i64,
    key: Option<&PublicKey>,
) -> Result<TenantTree, RevisionError> {
    let tampered = |reason: &str| RevisionError::Tampered {
        revision,
        reason: reason.to_owned(),
    };
    let stored = db
        .tree_revision(revision)
        .await?
        .ok_or_else(|| tampered("missing"))?;
    if sources_digest(&stored.sources) != stored.digest {
        return Err(tampered("the files do not match the digest"));
    }
    if let Some(key) = key {
        let signature = stored
            .signature
            .as_deref()
            .ok_or_else(|| {
                tampered(
                    "unsigned (applied without the platform key): sign it with `civitas tenant apply` or start with --apply-tenants",
                )
            })?;
        let signature = hex::decode(signature)
            .ok()
            .and_then(|der| Signature::from_der(&der).ok())
            .ok_or_else(|| tampered("the signature does not parse"))?;
        key.verify(
            signing_message(revision, &stored.digest).as_bytes(),
            &signature,
        )
        .map_err(|_| tampered("the signature is not the platform key's"))?;
    }
    TenantTree::from_sources(stored.sources)
        .map_err(|errors| RevisionError::Unreadable { revision, errors })
}

/// What a running node serves and replaces when a revision lands.
#[derive(Debug, Clone)]
pub struct Served {
    /// The tree every part of the node reads.
    pub tree: SharedTree,
    /// The directory tenant prefixes are resolved against.
    pub directory: civitas_api::SharedDirectory,
    /// Provisions keys of tenants a revision adds.
    pub keyring: Arc<civitas_vault::Keyring>,
    /// Verifies revisions' signatures.
    pub key: Option<PublicKey>,
}

/// Looks at the newest revision and the settings version when `changes`
/// announces either, and every `interval` in any case (the fallback for a
/// notice lost with the listening connection, and all there is on
/// SQLite). A revision other than `revision` is loaded (verified), keys
/// of new tenants provisioned, and tree and directory swapped; moved
/// settings overrides are laid over the tree ([`load_overrides`]). A
/// change made on any node reaches this one as it commits, without a
/// restart. A revision that does not verify is logged and not served.
pub async fn follow(
    db: Database,
    served: Served,
    changes: Arc<civitas_storage::changes::ChangeFeed>,
    mut revision: i64,
    interval: Duration,
) {
    use civitas_storage::changes::Change;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut refused = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = changes.changed(Change::Settings) => {}
            () = changes.changed(Change::Tree) => {}
        }
        match civitas_settings::version(&db).await {
            Ok(version) if version != served.tree.overrides_version() => {
                if let Err(e) = load_overrides(&db, &served.tree).await {
                    tracing::warn!(error = %e, "cannot reload the settings overrides");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the settings version"),
        }
        let head = match db.tree_revision_head().await {
            Ok(Some(head)) => head,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the tree revision");
                continue;
            }
        };
        if head.revision == revision || refused == Some(head.revision) {
            continue;
        }
        match load_into(&db, &served, head.revision).await {
            Ok(tenants) => {
                revision = head.revision;
                tracing::info!(revision, tenants, "tenant tree revision loaded");
            }
            Err(e) => {
                // A revision that does not verify or parse stays refused; a
                // database or key failure is tried again next round.
                if matches!(
                    e,
                    RevisionError::Tampered { .. } | RevisionError::Unreadable { .. }
                ) {
                    refused = Some(head.revision);
                }
                tracing::error!(
                    revision = head.revision,
                    error = %e,
                    "新版本租户树未加载，继续使用当前版本 (the new tree revision was not loaded; serving the current one)"
                );
            }
        }
    }
}

/// Lays the stored settings overrides over `tree` (at start, and whenever
/// their version moves).
pub async fn load_overrides(
    db: &Database,
    tree: &SharedTree,
) -> Result<(), civitas_settings::SettingsError> {
    let (version, overrides) = civitas_settings::overrides(db).await?;
    // An override a revision no longer fits (its key no longer configured
    // there, or of another type now) is not laid over the tree.
    let configured = tree.configured();
    let mut kept = Vec::new();
    for o in overrides {
        match civitas_settings::check(
            &o.tenant,
            &configured.effective_settings(&o.tenant),
            &o.key,
            &o.value,
        ) {
            Ok(()) if configured.get(&o.tenant).is_some() => kept.push((o.tenant, o.key, o.value)),
            _ => tracing::warn!(
                tenant = %o.tenant,
                key = %o.key,
                "设置调整与当前租户树不符，未生效 (a settings override no longer fits the tree and is not applied)"
            ),
        }
    }
    let count = kept.len();
    if tree.replace_overrides(version, kept) {
        tracing::info!(version, overrides = count, "settings overrides loaded");
    }
    Ok(())
}

async fn load_into(db: &Database, served: &Served, revision: i64) -> Result<usize, RevisionError> {
    let tree = load(db, revision, served.key.as_ref()).await?;
    let tenants: Vec<TenantPath> = tree.iter().map(|t| t.path.clone()).collect();
    civitas_vault::provision(db, &served.keyring, &tenants).await?;
    let directory = civitas_api::TenantDirectory::load(db).await?;
    served.tree.replace(tree);
    served.directory.replace(directory);
    // The overrides are checked again against the new configuration.
    if let Err(e) = load_overrides(db, &served.tree).await {
        tracing::warn!(error = %e, "cannot reload the settings overrides");
    }
    Ok(tenants.len())
}
