//! `civitas admin init`: the three administrators of 三员分立.

use std::path::PathBuf;

use civitas::config::Settings;
use civitas::exit;
use civitas_identity::{AccountKind, IdentityError, NewAccount, SignInSettings};
use civitas_storage::Database;
use civitas_tenancy::TenantTree;

/// The three administrators MLPS level 3 requires to be distinct people:
/// username and display name.
pub const ADMINISTRATORS: [(&str, &str); 3] = [
    ("sys-admin", "系统管理员 (system administrator)"),
    ("sec-admin", "安全管理员 (security administrator)"),
    ("audit-admin", "审计管理员 (audit administrator)"),
];

/// A one-time password that meets the policy: 16 characters from four
/// classes, without look-alikes.
fn one_time_password() -> Result<String, civitas_crypto::CryptoError> {
    const CLASSES: [&[u8]; 4] = [
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"abcdefghijkmnpqrstuvwxyz",
        b"23456789",
        b"#%+=@!",
    ];
    let mut random = [0u8; 16];
    civitas_crypto::random_bytes(&mut random)?;
    Ok(random
        .iter()
        .enumerate()
        .map(|(i, r)| {
            // The first four characters take one class each; the rest any.
            let class = if i < 4 {
                CLASSES[i]
            } else {
                CLASSES[usize::from(*r) % 4]
            };
            char::from(class[usize::from(*r) % class.len()])
        })
        .collect())
}

/// Creates the three administrators in the first root tenant (or
/// `tenant`), each with a one-time password printed once and changed at
/// first sign-in. An administrator that exists already is left alone and
/// reported; then the exit code is 1.
pub async fn init(
    db: &Database,
    settings: &Settings,
    tenants_dir: Option<PathBuf>,
    tenant: Option<String>,
    json: bool,
) -> anyhow::Result<u8> {
    let dir = tenants_dir.unwrap_or_else(|| settings.tenants_dir.clone());
    let tree = match TenantTree::load(&dir) {
        Ok(tree) => tree,
        Err(errors) => {
            eprint!("{errors}");
            return Ok(exit::CONFIG);
        }
    };
    let root = match tenant {
        Some(reference) => match tree.resolve(&reference) {
            Some(t) => t.path.clone(),
            None => {
                eprintln!("错误 (error): 未知租户 (unknown tenant) {reference}");
                return Ok(exit::FAILURE);
            }
        },
        None => match tree.roots().next() {
            Some(root) => root.path.clone(),
            None => return Ok(exit::CONFIG),
        },
    };
    db.sync_tenants(&tree).await?;
    let sign_in = SignInSettings::new(root.clone());
    let permissions = civitas_authz::Permissions::parse(civitas_authz::BASE_POLICY)?;
    let mut created = Vec::new();
    let mut existing = Vec::new();
    for (username, name) in ADMINISTRATORS {
        let password = one_time_password()?;
        let account = NewAccount {
            username: username.to_owned(),
            kind: AccountKind::Staff,
            tenant_path: root.clone(),
            line: None,
            display_name: name.to_owned(),
            password: password.clone(),
            must_change_password: true,
        };
        match civitas_identity::create_account(db, &sign_in, &account, "system:admin-init").await {
            Ok(created_account) => {
                // Each administrator holds its own role on the whole tree.
                let grant = civitas_authz::Grant {
                    account: created_account.id,
                    tenant: root.clone(),
                    line: civitas_authz::ALL_LINES.to_owned(),
                    role: username.to_owned(),
                };
                civitas_authz::add_grant(db, &permissions, &grant, "system:admin-init").await?;
                created.push((username, password));
            }
            Err(IdentityError::UsernameTaken(_)) => existing.push(username),
            Err(e) => return Err(e.into()),
        }
    }
    if json {
        let created: Vec<_> = created
            .iter()
            .map(|(u, p)| serde_json::json!({"username": u, "one_time_password": p}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"tenant": root.as_str(), "created": created, "existing": existing})
            )?
        );
    } else {
        for (username, password) in &created {
            println!("{username:<12} {password}");
        }
        if !created.is_empty() {
            println!(
                "\n以上一次性密码只显示这一次，首次登录后必须修改；请分别交给三位不同的管理员。\n\
                 These one-time passwords are shown once and must be changed at first sign-in;\n\
                 give each to a different person."
            );
        }
        for username in &existing {
            eprintln!("{username} 已存在，未改动 (already exists; left unchanged)");
        }
    }
    Ok(if existing.is_empty() {
        exit::OK
    } else {
        exit::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_time_passwords_meet_the_policy() {
        for _ in 0..200 {
            let password = one_time_password().unwrap_or_default();
            assert_eq!(password.chars().count(), 16);
            assert_eq!(
                civitas_identity::PasswordPolicy::default().check(&password),
                Ok(()),
                "{password}"
            );
        }
    }
}
