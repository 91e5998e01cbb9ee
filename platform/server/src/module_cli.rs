//! `civitas module …`: the module developer's commands — keygen, new,
//! build, run, check, publish.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine as _;
use civitas::exit;
use civitas_host::{CallContext, HostConfig, ModuleHost};
use civitas_services::Catalog;
use clap::Subcommand;

/// Module developer commands.
#[derive(Debug, Subcommand)]
pub enum ModuleCommand {
    /// Generate an SM2 signing key (PKCS#8 PEM, mode 600) and register it
    /// with a Civitas server (--register), or print its public key and the
    /// body to register it with POST /api/v1/signing-keys.
    #[command(
        after_help = "Examples:\n  CIVITAS_TOKEN=… civitas module keygen --out ~/.civitas/signing.pem --register \\\n      \
        --server http://127.0.0.1:8080\n  \
        civitas module keygen --out signing.pem --username module-dev --json\n\n\
        With --register the username is the token's (GET /api/v1/me); if the server refuses the key,\n\
        no key file is left behind. Exit codes: 0 written (and registered), 1 refused by the server\n\
        (its code is printed), 2 usage."
    )]
    Keygen {
        /// Where to write the private key; refuses to overwrite.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Your username on the platform: the registration carries the proof
        /// that you hold the key (with --register: the token's, if not given).
        #[arg(long, required_unless_present = "register")]
        username: Option<String>,
        /// Register the key with --server as the token's account.
        #[arg(long)]
        register: bool,
        /// The server (with --register).
        #[arg(long, env = "CIVITAS_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Access token (with --register).
        #[arg(long, env = "CIVITAS_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a module crate from a service's starter rule.
    #[command(after_help = "Examples:\n  civitas module new my-meal-rule\n  \
        civitas module new my-meal-rule --service civil-affairs/meal-subsidy --dir ~/modules\n  \
        civitas module new my-meal-rule --sdk /opt/civitas/sdk/rust     # an intranet without a registry\n  \
        civitas module new my-meal-rule --registry                      # civitas-module from the registry")]
    New {
        /// The module's name (lower-case letters, digits, dashes).
        name: String,
        /// The service it implements.
        #[arg(long, default_value = "civil-affairs/meal-subsidy")]
        service: String,
        /// The directory to create it in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// A local copy of the civitas-module SDK crate to use instead of the
        /// registry's (written as a [patch.crates-io] in the crate's
        /// .cargo/config.toml) [default: this installation's sdk/rust, if it is there].
        #[arg(long, value_name = "DIR", conflicts_with = "registry")]
        sdk: Option<PathBuf>,
        /// Use the registry's civitas-module (crates.io, or the intranet registry
        /// cargo is configured with), even where a local copy is at hand.
        #[arg(long)]
        registry: bool,
        /// Tenants directory (the service catalog is in its _services/).
        #[arg(long, env = "CIVITAS_TENANTS_DIR", default_value = "tenants")]
        tenants_dir: PathBuf,
    },
    /// Build a module crate into a component (wasm32-unknown-unknown, no WASI).
    #[command(
        after_help = "Examples:\n  civitas module build                      # the crate in .\n  \
        civitas module build modules/civil-affairs/meal-subsidy --out target/modules/meal-subsidy-1.0.0.wasm"
    )]
    Build {
        /// The crate's directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Where to write the component [default: <target>/civitas/<name>-<version>.wasm].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Cargo's target directory.
        #[arg(long, value_name = "DIR")]
        target_dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a module locally exactly as the platform would (same host, limits,
    /// schemas, tenant settings), printing the output, fuel used and time.
    #[command(
        after_help = "Examples:\n  civitas module run meal-subsidy-1.0.0.wasm --service civil-affairs/meal-subsidy \\\n      \
        --tenant 310000/310115/310115005 --input examples/general-72-local.json\n\n\
        Exit codes: 0 answered, 1 refused or failed (the error's code is printed), 2 usage."
    )]
    Run {
        /// The component.
        file: PathBuf,
        /// The service.
        #[arg(long)]
        service: String,
        /// The tenant whose settings apply (a path of codes or a slug path).
        #[arg(long)]
        tenant: String,
        /// The input document (JSON file).
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
        /// The evaluation date [default: today in China Standard Time].
        #[arg(long, value_name = "YYYY-MM-DD")]
        as_of: Option<String>,
        /// Tenants directory (tree, settings and service catalog).
        #[arg(long, env = "CIVITAS_TENANTS_DIR", default_value = "tenants")]
        tenants_dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the conformance checks a module must pass before it can be bound.
    #[command(
        after_help = "Examples:\n  civitas module check meal-subsidy-1.0.0.wasm --service civil-affairs/meal-subsidy\n  \
        civitas module check my.wasm --service civil-affairs/meal-subsidy --examples examples --json\n\n\
        Exit codes: 0 every check passed, 1 a check failed, 2 usage."
    )]
    Check {
        /// The component.
        file: PathBuf,
        /// The service.
        #[arg(long)]
        service: String,
        /// The tenant whose settings the examples run with [default: the first root].
        #[arg(long)]
        tenant: Option<String>,
        /// More example inputs (a directory of JSON files), beside the service's.
        #[arg(long, value_name = "DIR")]
        examples: Option<PathBuf>,
        /// The evaluation date [default: today in China Standard Time, as binding uses].
        #[arg(long, value_name = "YYYY-MM-DD")]
        as_of: Option<String>,
        /// Tenants directory (tree, settings and service catalog).
        #[arg(long, env = "CIVITAS_TENANTS_DIR", default_value = "tenants")]
        tenants_dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign a component with your SM2 key and publish it to a Civitas server.
    #[command(
        after_help = "Examples:\n  CIVITAS_TOKEN=… civitas module publish target/civitas/my-rule-0.1.0.wasm \\\n      \
        --service civil-affairs/meal-subsidy --version 0.1.0 --key signing.pem --server http://127.0.0.1:8080\n\n\
        The token is an access token (POST /api/v1/auth/login) or an API key.\n\
        Exit codes: 0 published, 1 refused by the server (its code is printed), 2 usage."
    )]
    Publish {
        /// The component.
        file: PathBuf,
        /// The service it implements.
        #[arg(long)]
        service: String,
        /// The version to publish (immutable once published).
        #[arg(long)]
        version: String,
        /// The module's name [default: the file name without -<version>.wasm].
        #[arg(long)]
        name: Option<String>,
        /// Your SM2 private key (PEM), registered with the server.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The server.
        #[arg(long, env = "CIVITAS_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Access token or API key.
        #[arg(long, env = "CIVITAS_TOKEN", hide_env_values = true)]
        token: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Before a rollout: run a candidate version over the decisions recorded
    /// for a service's cases in a subtree (each stored input with the
    /// settings and date it was decided with) and report every answer that
    /// would change — eligibility, amount, band, score — with counts per
    /// field and the cases listed. Reads the platform's database.
    #[command(
        after_help = "Examples:\n  civitas module what-if --service civil-affairs/meal-subsidy --tenant shanghai/pudong \\\n      \
        --candidate meal-subsidy-pudong@1.1.0 --since 2026-11-01\n  \
        civitas module what-if --service market-regulation/penalty-case --tenant 310000/310115 \\\n      \
        --candidate penalty-discretion-pudong@1.1.0 --json\n\n\
        Exit codes: 0 no recorded decision would change, 1 some would change or the candidate failed on\n\
        some (listed), 2 usage (no such service, tenant or version), 3 configuration, 4 database."
    )]
    WhatIf {
        /// The service (line/name).
        #[arg(long)]
        service: String,
        /// The subtree whose cases to run it over (a path of codes or slugs).
        #[arg(long, value_name = "PATH")]
        tenant: String,
        /// The candidate version (published).
        #[arg(long, value_name = "NAME@VERSION")]
        candidate: String,
        /// Only decisions recorded on or after this day (YYYY-MM-DD, China Standard Time).
        #[arg(long, value_name = "DATE")]
        since: Option<chrono::NaiveDate>,
        /// Data directory for the embedded database.
        #[arg(long, env = "CIVITAS_DATA_DIR", value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Database URL: sqlite:FILE or postgres://… [default: sqlite:DATA_DIR/civitas.db]
        #[arg(long, env = "CIVITAS_DATABASE_URL", value_name = "URL")]
        database_url: Option<String>,
        /// The tenants directory (default: the configured one).
        #[arg(long, value_name = "DIR")]
        tenants_dir: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A what-if's parameters, once the database is open.
#[derive(Debug)]
pub struct WhatIfRequest {
    /// The service.
    pub service: String,
    /// The subtree.
    pub tenant: String,
    /// `name@version`.
    pub candidate: String,
    /// From this day.
    pub since: Option<chrono::NaiveDate>,
    /// Print JSON.
    pub json: bool,
}

/// `civitas module what-if`: the report, printed; the exit code.
pub async fn what_if(
    db: &civitas_storage::Database,
    settings: &civitas::config::Settings,
    request: WhatIfRequest,
) -> anyhow::Result<u8> {
    let Some((name, version)) = request.candidate.split_once('@') else {
        eprintln!(
            "错误 (error): --candidate 应为 名称@版本 (--candidate takes NAME@VERSION): {}",
            request.candidate
        );
        return Ok(exit::USAGE);
    };
    let civitas::serve::Offline { tree, workflow, .. } = match civitas::serve::offline(settings) {
        Ok(started) => started,
        Err(e) => {
            eprintln!("错误 (error): {e}");
            return Ok(exit::CONFIG);
        }
    };
    let Some(tenant) = tree
        .resolve(request.tenant.trim_matches('/'))
        .map(|t| t.path.clone())
    else {
        eprintln!(
            "错误 (error): 没有这个租户 (no such tenant): {}",
            request.tenant
        );
        return Ok(exit::USAGE);
    };
    let candidate = civitas_registry::ModuleRef {
        module: name.to_owned(),
        version: version.to_owned(),
    };
    let bar = crate::progress::bar(0, request.json);
    bar.set_message("候选版本重新判定 (running the candidate)");
    // An operator's command: the platform's own scope at the subtree.
    let scope = civitas_storage::TenantScope::for_platform_task(tenant.clone());
    let report = workflow
        .what_if(
            db,
            &scope,
            &request.service,
            &candidate,
            request.since,
            |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            },
        )
        .await;
    bar.finish_and_clear();
    let report = match report {
        Ok(report) => report,
        Err(
            e @ (civitas_workflow::WorkflowError::NotFound(_)
            | civitas_workflow::WorkflowError::Invalid(_)
            | civitas_workflow::WorkflowError::Module(
                civitas_registry::RegistryError::UnknownService(_)
                | civitas_registry::RegistryError::UnknownModule(_),
            )),
        ) => {
            eprintln!("错误 (error): {e}");
            return Ok(exit::USAGE);
        }
        Err(e) => return Err(e.into()),
    };
    if request.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "候选版本 (candidate) {} · {} · {}{}",
            report.candidate,
            report.service,
            tenant,
            report
                .since
                .map(|d| format!(" · 自 (since) {d}"))
                .unwrap_or_default()
        );
        println!("重新判定 (decisions run again): {}", report.decisions);
        println!("将改变 (would change): {}", report.changed.len());
        for (field, count) in &report.fields {
            println!("  {field}: {count}");
        }
        for c in &report.changed {
            let changes: Vec<String> = c
                .changes
                .iter()
                .map(|f| format!("{}: {} → {}", f.field, f.recorded, f.candidate))
                .collect();
            println!(
                "  {} {} {} ({}): {}",
                c.tenant_path,
                c.case_id,
                c.hook,
                c.recorded,
                changes.join("; ")
            );
        }
        if !report.failed.is_empty() {
            println!("失败 (the candidate failed on): {}", report.failed.len());
            for f in &report.failed {
                println!("  {} {}: {}", f.case_id, f.hook, f.error);
            }
        }
    }
    Ok(if report.changed.is_empty() && report.failed.is_empty() {
        exit::OK
    } else {
        exit::FAILURE
    })
}

/// Runs one module command.
pub fn run(command: ModuleCommand) -> anyhow::Result<u8> {
    match command {
        ModuleCommand::Keygen {
            out,
            username,
            register,
            server,
            token,
            json,
        } => {
            let registration = match (register, token) {
                (true, Some(token)) => Some((server, token)),
                (true, None) => {
                    eprintln!(
                        "错误 (error): --register 需要令牌 (needs a token): --token or CIVITAS_TOKEN"
                    );
                    return Ok(exit::USAGE);
                }
                (false, _) => None,
            };
            keygen(&out, username, registration, json)
        }
        ModuleCommand::New {
            name,
            service,
            dir,
            sdk,
            registry,
            tenants_dir,
        } => new(&name, &service, &dir, sdk, registry, &tenants_dir),
        ModuleCommand::Build {
            dir,
            out,
            target_dir,
            json,
        } => build(&dir, out, target_dir, json),
        ModuleCommand::Run {
            file,
            service,
            tenant,
            input,
            as_of,
            tenants_dir,
            json,
        } => run_module(
            &file,
            &service,
            &tenant,
            &input,
            as_of.as_deref(),
            &tenants_dir,
            json,
        ),
        ModuleCommand::Check {
            file,
            service,
            tenant,
            examples,
            as_of,
            tenants_dir,
            json,
        } => check(
            &file,
            &service,
            tenant.as_deref(),
            examples.as_deref(),
            as_of.as_deref(),
            &tenants_dir,
            json,
        ),
        // It reads the database: `main` opens it and calls [`what_if`].
        ModuleCommand::WhatIf { .. } => bail!("module what-if is run with a database"),
        ModuleCommand::Publish {
            file,
            service,
            version,
            name,
            key,
            server,
            token,
            json,
        } => publish(&file, &service, &version, name, &key, &server, &token, json),
    }
}

fn keygen(
    out: &Path,
    username: Option<String>,
    register: Option<(String, String)>,
    json: bool,
) -> anyhow::Result<u8> {
    let username = match (username, &register) {
        (Some(username), _) => username,
        (None, Some((server, token))) => whoami(server, token)?,
        (None, None) => {
            eprintln!(
                "错误 (error): 需要 --username 或 --register (--username or --register is needed)"
            );
            return Ok(exit::USAGE);
        }
    };
    let key = civitas_crypto::sm2::PrivateKey::generate()?;
    let pem = key.to_pkcs8_pem()?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    // Created first (never over an existing key), filled once registered.
    let mut file = civitas::keys::create_private_file(out, false).with_context(|| {
        format!(
            "{} (已存在则不会覆盖 / an existing file is never overwritten)",
            out.display()
        )
    })?;
    let public_key = key.public_key().to_hex();
    let proof = key.sign(&civitas_devkit::key_registration_message(
        &username,
        &public_key,
    ))?;
    let registration =
        serde_json::json!({"public_key": public_key, "proof": hex::encode(proof.to_der())});
    let answer = match &register {
        None => None,
        Some((server, token)) => {
            let (status, answer) = post_json(server, token, "/api/v1/signing-keys", &registration)?;
            if !status.is_success() {
                drop(file);
                std::fs::remove_file(out).with_context(|| out.display().to_string())?;
                refused(status, &answer, json);
                return Ok(exit::FAILURE);
            }
            Some(answer)
        }
    };
    file.write_all(pem.as_bytes())?;
    if json {
        println!(
            "{}",
            serde_json::json!({"private_key_file": out, "public_key": public_key,
                               "registration": registration, "registered": answer})
        );
    } else {
        println!("私钥已写入 (private key written to) {}", out.display());
        println!("公钥 (public key): {public_key}");
        match answer {
            Some(_) => println!("已登记 (registered) as {username}"),
            None => println!(
                "登记 (register it as {username}): POST /api/v1/signing-keys {registration}"
            ),
        }
    }
    Ok(exit::OK)
}

/// POSTs `body` to `path` on `server` with `token`: the status and the
/// answer (JSON, or null).
fn post_json(
    server: &str,
    token: &str,
    path: &str,
    body: &serde_json::Value,
) -> anyhow::Result<(reqwest::StatusCode, serde_json::Value)> {
    let url = format!("{}{path}", server.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(&url)
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .with_context(|| format!("无法连接 (cannot reach) {url}"))?;
        let status = response.status();
        let answer: serde_json::Value = response.json().await.unwrap_or_default();
        anyhow::Ok((status, answer))
    })
}

/// Prints a server's refusal: status, code and message, as JSON when asked.
fn refused(status: reqwest::StatusCode, answer: &serde_json::Value, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({"status": status.as_u16(), "response": answer})
        );
    } else {
        eprintln!(
            "{} {}: {} / {}",
            status.as_u16(),
            answer["code"].as_str().unwrap_or("error"),
            answer["message"]["zh"].as_str().unwrap_or_default(),
            answer["message"]["en"].as_str().unwrap_or_default()
        );
    }
}

fn catalog(tenants_dir: &Path) -> anyhow::Result<Catalog> {
    Catalog::load(tenants_dir).map_err(|e| anyhow::anyhow!("{e}"))
}

fn new(
    name: &str,
    service: &str,
    dir: &Path,
    sdk: Option<PathBuf>,
    registry: bool,
    tenants_dir: &Path,
) -> anyhow::Result<u8> {
    let catalog = catalog(tenants_dir)?;
    let Some(service) = catalog.service(service) else {
        eprintln!("错误 (error): 服务不存在 (no such service) {service}");
        return Ok(exit::USAGE);
    };
    let Some(starter) = &service.starter else {
        bail!(
            "服务 {} 没有起始规则 (the service has no starter.rs)",
            service.id
        );
    };
    // A copy named is used (and must be there); otherwise this
    // installation's own, when it is there; otherwise the registry's.
    let sdk = match (sdk, registry) {
        (_, true) => None,
        (Some(sdk), false) => {
            Some(std::fs::canonicalize(&sdk).with_context(|| format!("SDK {}", sdk.display()))?)
        }
        (None, false) => {
            let own = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../sdk/rust");
            match std::fs::canonicalize(&own) {
                Ok(own) => Some(own),
                // Not quietly whatever a registry calls civitas-module.
                Err(_) => {
                    eprintln!(
                        "错误 (error): 本机没有 SDK 副本，请用 --sdk DIR 指定本地副本，或用 --registry 使用注册表中的 civitas-module / no local copy of the SDK here: name one with --sdk DIR, or use the registry's with --registry"
                    );
                    return Ok(exit::USAGE);
                }
            }
        }
    };
    let examples: Vec<(String, String)> = service
        .examples
        .iter()
        .map(|e| {
            (
                e.name.clone(),
                serde_json::to_string_pretty(&e.input).unwrap_or_default(),
            )
        })
        .collect();
    let created = civitas_devkit::new_module(&civitas_devkit::NewModule {
        name,
        service: &service.id,
        parent: dir,
        sdk: sdk.as_deref(),
        starter,
        examples: &examples,
    })?;
    println!("已创建 (created) {}", created.display());
    match &sdk {
        Some(sdk) => println!(
            "SDK: civitas-module {} 使用本地副本 (a local copy) {}（.cargo/config.toml）",
            civitas_devkit::SDK_REQUIREMENT,
            sdk.display()
        ),
        None => println!(
            "SDK: civitas-module {} 来自注册表 (from the registry)",
            civitas_devkit::SDK_REQUIREMENT
        ),
    }
    println!(
        "下一步 (next): cd {} && civitas module build",
        created.display()
    );
    Ok(exit::OK)
}

fn build(
    dir: &Path,
    out: Option<PathBuf>,
    target_dir: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<u8> {
    let built = civitas_devkit::build(
        dir,
        &civitas_devkit::BuildOptions {
            out,
            target_dir,
            quiet: json,
        },
    )?;
    if json {
        println!(
            "{}",
            serde_json::json!({"name": built.name, "version": built.version, "path": built.path, "size": built.size})
        );
    } else {
        println!(
            "{}@{} → {} ({} bytes)",
            built.name,
            built.version,
            built.path.display(),
            built.size
        );
    }
    Ok(exit::OK)
}

/// The host the platform runs (same limits), without a compiled-code cache.
fn host() -> anyhow::Result<ModuleHost> {
    Ok(ModuleHost::new(HostConfig::default())?)
}

fn context(
    tenants_dir: &Path,
    tenant: Option<&str>,
    catalog: &Catalog,
    as_of: Option<&str>,
) -> anyhow::Result<CallContext> {
    let tree =
        civitas_tenancy::TenantTree::load(tenants_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let node = match tenant {
        Some(reference) => tree
            .resolve(reference)
            .with_context(|| format!("租户不存在 (no such tenant) {reference}"))?,
        None => tree
            .roots()
            .next()
            .context("租户树为空 (the tenant tree is empty)")?,
    };
    let today = match as_of {
        Some(text) => civitas_host::Date::parse(text)
            .with_context(|| format!("as_of 不是日期 (not a YYYY-MM-DD date): {text}"))?,
        None => civitas_registry::today_in_china(),
    };
    Ok(CallContext {
        settings: std::sync::Arc::new(tree.effective_settings(&node.path)),
        dictionaries: catalog.dictionaries().clone(),
        today,
        log_tags: vec![("tenant".into(), node.path.to_string())],
    })
}

#[allow(clippy::too_many_arguments)]
fn run_module(
    file: &Path,
    service_id: &str,
    tenant: &str,
    input: &Path,
    as_of: Option<&str>,
    tenants_dir: &Path,
    json: bool,
) -> anyhow::Result<u8> {
    let catalog = catalog(tenants_dir)?;
    let Some(service) = catalog.service(service_id) else {
        eprintln!("错误 (error): 服务不存在 (no such service) {service_id}");
        return Ok(exit::USAGE);
    };
    let context = context(tenants_dir, Some(tenant), &catalog, as_of)?;
    let document: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(input).with_context(|| input.display().to_string())?,
    )
    .with_context(|| format!("{}: JSON 无效 (invalid JSON)", input.display()))?;
    if let Err(violation) = service.check_input(&document) {
        return report_failure("input_schema_violation", &violation.to_string(), json);
    }
    let artifact = std::fs::read(file).with_context(|| file.display().to_string())?;
    let host = host()?;
    let module = host.load("", &artifact)?;
    match module.evaluate_with(&context, &document.to_string(), service.fuel_budget) {
        Ok(evaluation) => {
            if let Err(violation) = service.check_output(&evaluation.output) {
                return report_failure("module_output_schema", &violation.to_string(), json);
            }
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "output": evaluation.output, "fuel_used": evaluation.fuel_used,
                        "fuel_budget": service.fuel_budget,
                        "elapsed_micros": evaluation.elapsed.as_micros() as u64,
                        "logs": evaluation.logs.iter().map(|l| serde_json::json!({"level": l.level, "message": l.message, "fields": l.fields})).collect::<Vec<_>>(),
                    })
                );
            } else {
                println!("{}", serde_json::to_string_pretty(&evaluation.output)?);
                for line in &evaluation.logs {
                    eprintln!("[{}] {} {:?}", line.level, line.message, line.fields);
                }
                eprintln!(
                    "燃料 (fuel): {} / {}   耗时 (time): {} µs",
                    evaluation.fuel_used,
                    service.fuel_budget,
                    evaluation.elapsed.as_micros()
                );
            }
            Ok(exit::OK)
        }
        Err(error) => report_failure(error.code(), &error.to_string(), json),
    }
}

/// The username the token belongs to (`GET /api/v1/me`): the signature
/// binds it, so only its holder can publish with it.
fn whoami(server: &str, token: &str) -> anyhow::Result<String> {
    let url = format!("{}/api/v1/me", server.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let me: serde_json::Value = runtime.block_on(async {
        let response = reqwest::Client::new()
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .with_context(|| format!("无法连接 (cannot reach) {url}"))?;
        if !response.status().is_success() {
            bail!(
                "{url}: {} (令牌无效？/ is the token valid?)",
                response.status()
            );
        }
        Ok(response.json().await?)
    })?;
    me["username"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{url}: no username in the answer"))
}

fn report_failure(code: &str, message: &str, json: bool) -> anyhow::Result<u8> {
    if json {
        println!(
            "{}",
            serde_json::json!({"error": {"code": code, "message": message}})
        );
    } else {
        eprintln!("{code}: {message}");
    }
    Ok(exit::FAILURE)
}

#[allow(clippy::too_many_arguments)]
fn check(
    file: &Path,
    service_id: &str,
    tenant: Option<&str>,
    examples_dir: Option<&Path>,
    as_of: Option<&str>,
    tenants_dir: &Path,
    json: bool,
) -> anyhow::Result<u8> {
    let catalog = catalog(tenants_dir)?;
    let Some(service) = catalog.service(service_id) else {
        eprintln!("错误 (error): 服务不存在 (no such service) {service_id}");
        return Ok(exit::USAGE);
    };
    let context = context(tenants_dir, tenant, &catalog, as_of)?;
    let mut examples = service.examples.clone();
    if let Some(dir) = examples_dir {
        examples.extend(service.read_examples(dir)?);
    }
    let artifact = std::fs::read(file).with_context(|| file.display().to_string())?;
    let host = host()?;
    let module = match host.load("", &artifact) {
        Ok(module) => module,
        Err(error) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"passed": false, "checks": [{"check": "exports", "passed": false, "detail": error.to_string()}]})
                );
            } else {
                println!("✗ exports          {error}");
            }
            return Ok(exit::FAILURE);
        }
    };
    let report = civitas_conformance::check(&module, service, &examples, &context);
    if json {
        println!(
            "{}",
            serde_json::json!({"passed": report.passed(), "service": report.service, "checks": report.checks, "max_fuel_used": report.max_fuel_used})
        );
    } else {
        for check in &report.checks {
            println!(
                "{} {:<16} {}",
                if check.passed { "✓" } else { "✗" },
                check.check,
                check.detail
            );
        }
        println!(
            "{}",
            if report.passed() {
                "通过，可以绑定 (passed: the module may be bound)"
            } else {
                "未通过，不能绑定 (failed: the module cannot be bound)"
            }
        );
    }
    Ok(if report.passed() {
        exit::OK
    } else {
        exit::FAILURE
    })
}

#[allow(clippy::too_many_arguments)]
fn publish(
    file: &Path,
    service: &str,
    version: &str,
    name: Option<String>,
    key: &Path,
    server: &str,
    token: &str,
    json: bool,
) -> anyhow::Result<u8> {
    let artifact = std::fs::read(file).with_context(|| file.display().to_string())?;
    let name = match name {
        Some(name) => name,
        None => {
            let stem = file
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            stem.strip_suffix(&format!("-{version}"))
                .unwrap_or(stem)
                .to_owned()
        }
    };
    let pem = std::fs::read_to_string(key).with_context(|| key.display().to_string())?;
    let key = civitas_crypto::sm2::PrivateKey::from_pkcs8_pem(&pem)
        .with_context(|| format!("{}: 不是 SM2 私钥 (not an SM2 private key)", file.display()))?;
    let digest = hex::encode(civitas_crypto::sm3::digest(&artifact));
    let publisher = whoami(server, token)?;
    let signature = key.sign(&civitas_devkit::signing_message(
        &name, version, service, &digest, &publisher,
    ))?;
    let body = serde_json::json!({
        "name": name, "version": version, "service": service,
        "artifact": base64::engine::general_purpose::STANDARD.encode(&artifact),
        "signature": hex::encode(signature.to_der()),
    });
    let (status, answer) = post_json(server, token, "/api/v1/modules", &body)?;
    if status.is_success() && !json {
        println!("已发布 (published) {name}@{version} sm3:{digest}");
    } else if json && status.is_success() {
        println!(
            "{}",
            serde_json::json!({"status": status.as_u16(), "response": answer})
        );
    } else {
        refused(status, &answer, json);
    }
    Ok(if status.is_success() {
        exit::OK
    } else {
        exit::FAILURE
    })
}
