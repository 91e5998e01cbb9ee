//! `civitas admin init`: the three administrators of 三员分立.

use std::path::PathBuf;

use civitas::config::Settings;
use civitas::exit;
use civitas_identity::{AccountKind, IdentityError, NewAccount};
use civitas_storage::Database;

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
    let all: Vec<u8> = CLASSES.concat();
    let mut out = String::with_capacity(16);
    // The first four characters take one class each, the other twelve any
    // character; each is drawn uniformly (civitas_crypto::random_index).
    let alphabets = CLASSES
        .into_iter()
        .chain(std::iter::repeat_n(all.as_slice(), 12));
    for alphabet in alphabets {
        out.push(char::from(
            alphabet[civitas_crypto::random_index(alphabet.len())?],
        ));
    }
    Ok(out)
}

/// Creates the three administrators as accounts of the first root tenant
/// (or the root `tenant`), each granted its own role on every root, with a
/// one-time password printed once and changed at first sign-in. An administrator that exists already is left alone and
/// reported; then the exit code is 1.
pub async fn init(
    db: &Database,
    settings: &Settings,
    tenants_dir: Option<PathBuf>,
    tenant: Option<String>,
    json: bool,
) -> anyhow::Result<u8> {
    let dir = tenants_dir.unwrap_or_else(|| settings.tenants_dir.clone());
    let tree =
        match civitas::tree_revisions::settle_for_command(db, settings, &dir, "system:admin-init")
            .await
        {
            Ok(tree) => tree,
            Err(code) => return Ok(code),
        };
    let root = match tenant {
        Some(reference) => match tree.resolve(&reference) {
            Some(t) if t.path.parent().is_none() => t.path.clone(),
            Some(t) => {
                eprintln!("错误 (error): {} 不是根租户 (is not a root tenant)", t.path);
                return Ok(exit::FAILURE);
            }
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
    let sign_in = settings.sign_in(root.clone());
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
                // Each administrator holds its own role on every root: the
                // whole tree.
                for each_root in tree.roots() {
                    let grant = civitas_authz::Grant {
                        account: created_account.id.clone(),
                        tenant: each_root.path.clone(),
                        line: civitas_authz::ALL_LINES.to_owned(),
                        role: username.to_owned(),
                    };
                    civitas_authz::add_grant(db, &permissions, &grant, "system:admin-init").await?;
                }
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
