//! Resolving, loading and running a service's module for a tenant.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use civitas_host::{CallContext, Date, LoadedModule, LogLine, ModuleHost};
use civitas_services::{Catalog, Service};
use civitas_tenancy::TenantPath;
use serde_json::{Map, Value};

use crate::bindings::{ModuleRef, Resolution, resolve};
use crate::gate::{Gate, Lane, QUEUE_WAIT};
use crate::{RegistryError, artifact};

/// The module runtime of one server: the host, the service catalog, and
/// every module version loaded so far (one `InstancePre` each, shared by all
/// requests). Swapping a binding never disturbs a call in flight: it holds
/// its own `Arc` of the version it resolved.
pub struct Runtime {
    host: Arc<ModuleHost>,
    catalog: Catalog,
    loaded: RwLock<HashMap<ModuleRef, Arc<LoadedModule>>>,
    calls: Arc<CallCounts>,
    /// Lanes (tenant × version) confined after a hang.
    gate: Arc<Gate>,
}

/// The module calls a runtime made (single and batched, one per input),
/// by outcome, and the fuel the answered ones used: what `/metrics` shows.
#[derive(Debug, Default)]
pub struct CallCounts {
    answered: AtomicU64,
    fuel: AtomicU64,
    failed: Mutex<BTreeMap<&'static str, u64>>,
}

impl CallCounts {
    fn record(&self, outcome: Result<u64, &'static str>) {
        match outcome {
            Ok(fuel) => {
                self.answered.fetch_add(1, Ordering::Relaxed);
                self.fuel.fetch_add(fuel, Ordering::Relaxed);
            }
            Err(code) => {
                *self
                    .failed
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(code)
                    .or_default() += 1;
            }
        }
    }

    /// Calls by outcome: `ok`, or the failure's stable code
    /// (`fuel_exhausted`, `input_schema_violation`, …), in code order.
    pub fn outcomes(&self) -> Vec<(&'static str, u64)> {
        let mut outcomes = vec![("ok", self.answered.load(Ordering::Relaxed))];
        outcomes.extend(
            self.failed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .map(|(code, n)| (*code, *n)),
        );
        outcomes
    }

    /// Fuel used by the calls that answered.
    pub fn fuel_used(&self) -> u64 {
        self.fuel.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

/// A resolved, loaded module ready to evaluate (no database needed any more).
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The tenant the call serves (whose lane it runs in, see
    /// [`Runtime::confined_lanes`]).
    pub tenant: TenantPath,
    /// The service.
    pub service: Arc<Service>,
    /// Which version, chosen by which binding.
    pub resolution: Resolution,
    /// The loaded version.
    pub module: Arc<LoadedModule>,
}

/// One evaluation's inputs beyond the module.
#[derive(Debug, Clone)]
pub struct EvaluationRequest<'a> {
    /// The input document.
    pub input: &'a Value,
    /// The tenant's effective settings.
    pub settings: Arc<Map<String, Value>>,
    /// The evaluation date.
    pub today: Date,
    /// Tags for the module's log lines.
    pub log_tags: Vec<(String, String)>,
}

/// A successful evaluation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    /// The module's answer (valid against the service's output schema).
    pub output: Value,
    /// The module.
    pub module: String,
    /// Its version.
    pub version: String,
    /// The tenant whose binding chose it, `None` for the service default.
    pub binding_tenant: Option<String>,
    /// Whether the case fell in a rollout.
    pub rollout: bool,
    /// Fuel used.
    pub fuel_used: u64,
    /// Instantiate + call time, microseconds.
    pub elapsed_micros: u64,
    /// The module's log lines.
    #[serde(skip)]
    pub logs: Vec<LogLine>,
}

/// A batch's inputs beyond the module: one context for every input.
#[derive(Debug, Clone)]
pub struct BatchRequest {
    /// The input documents, answered in this order.
    pub inputs: Vec<Value>,
    /// The tenant's effective settings.
    pub settings: Arc<Map<String, Value>>,
    /// The evaluation date.
    pub today: Date,
    /// Tags for the module's log lines.
    pub log_tags: Vec<(String, String)>,
}

/// One input's answer in a batch.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BatchAnswer {
    /// The module's answer (valid against the service's output schema).
    pub output: Value,
    /// Fuel used.
    pub fuel_used: u64,
}

/// What a batch did: an answer or a typed error per input, in input order.
#[derive(Debug)]
pub struct BatchOutcome {
    /// Per input, in order.
    pub answers: Vec<Result<BatchAnswer, RegistryError>>,
    /// The module.
    pub module: String,
    /// Its version.
    pub version: String,
    /// The tenant whose binding chose it, `None` for the service default.
    pub binding_tenant: Option<String>,
    /// Wall time of the whole batch, microseconds.
    pub elapsed_micros: u64,
}

/// Evaluates `inputs` one after another on the calling (blocking) thread:
/// each input checked against the input schema, a fresh instance per input
/// (isolation is per input, as for single calls), the answer checked
/// against the output schema.
fn evaluate_each(
    prepared: &Prepared,
    context: &CallContext,
    inputs: &[Value],
    calls: &CallCounts,
    gate: &Gate,
) -> Vec<Result<BatchAnswer, RegistryError>> {
    let lane = prepared.lane();
    inputs
        .iter()
        .map(|input| {
            // A confined lane's inputs take its one slot in turn, beside the
            // lane's single calls.
            let entered = gate.enter_blocking(lane);
            let answer = evaluate_one(prepared, context, input);
            drop(entered);
            if answer.as_ref().is_err_and(RegistryError::is_hang) {
                confine(gate, lane);
            }
            calls.record(answer.as_ref().map(|a| a.fuel_used).map_err(|e| e.code()));
            answer
        })
        .collect()
}

/// Confines `lane` after a hang, with a log line when it was free.
fn confine(gate: &Gate, lane: Lane<'_>) {
    if gate.confine(lane, std::time::Instant::now()) {
        tracing::warn!(
            tenant = %lane.tenant,
            module = %lane.module,
            seconds = crate::gate::CONFINE_FOR.as_secs(),
            "a module call ran out of fuel or time: this tenant's calls of the version now run one at a time"
        );
    }
}

impl Prepared {
    fn lane(&self) -> Lane<'_> {
        Lane {
            tenant: &self.tenant,
            module: &self.resolution.module,
        }
    }
}

/// One input of a batch: checked, evaluated, the answer checked.
fn evaluate_one(
    prepared: &Prepared,
    context: &CallContext,
    input: &Value,
) -> Result<BatchAnswer, RegistryError> {
    let service = &prepared.service;
    service
        .check_input(input)
        .map_err(RegistryError::InputSchema)?;
    let evaluation =
        prepared
            .module
            .evaluate_with(context, &input.to_string(), service.fuel_budget)?;
    service
        .check_output(&evaluation.output)
        .map_err(RegistryError::OutputSchema)?;
    Ok(BatchAnswer {
        output: evaluation.output,
        fuel_used: evaluation.fuel_used,
    })
}

impl Runtime {
    /// A runtime over `host` and `catalog`.
    pub fn new(host: ModuleHost, catalog: Catalog) -> Runtime {
        Runtime {
            host: Arc::new(host),
            catalog,
            loaded: RwLock::default(),
            calls: Arc::default(),
            gate: Arc::default(),
        }
    }

    /// The calls made so far, by outcome.
    pub fn calls(&self) -> &CallCounts {
        &self.calls
    }

    /// How many lanes (a tenant and a module version) are confined now: a
    /// call of theirs ran out of fuel or time in the last
    /// [`crate::CONFINE_FOR`], and their calls run one at a time.
    pub fn confined_lanes(&self) -> usize {
        self.gate.confined_lanes(std::time::Instant::now())
    }

    /// The host.
    pub fn host(&self) -> &ModuleHost {
        &self.host
    }

    /// The service catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The service `id`, or `UnknownService`.
    pub fn service(&self, id: &str) -> Result<&Arc<Service>, RegistryError> {
        self.catalog
            .service(id)
            .ok_or_else(|| RegistryError::UnknownService(id.to_owned()))
    }

    /// How many versions are loaded.
    pub fn loaded_count(&self) -> usize {
        self.loaded.read().map(|loaded| loaded.len()).unwrap_or(0)
    }

    /// The loaded version `module`, loading it (artifact verified, compiled
    /// code from the cache when present) on first use.
    pub async fn load(
        &self,
        tx: &mut impl crate::Conn,
        module: &ModuleRef,
    ) -> Result<Arc<LoadedModule>, RegistryError> {
        if let Some(loaded) = self
            .loaded
            .read()
            .ok()
            .and_then(|loaded| loaded.get(module).cloned())
        {
            // Loaded once verified; a signing key revoked since (on any
            // node) withdraws the trust, so the version is dropped here.
            if crate::artifacts::still_trusted(tx, &module.module, &module.version).await? {
                return Ok(loaded);
            }
            if let Ok(mut map) = self.loaded.write() {
                map.remove(module);
            }
            tracing::warn!(module = %module, "signing key revoked: loaded module dropped");
            return Err(RegistryError::KeyRevoked(module.to_string()));
        }
        let (record, bytes) = artifact(tx, &module.module, &module.version).await?;
        let host = self.host.clone();
        let loaded = tokio::task::spawn_blocking(move || host.load(&record.digest, &bytes))
            .await
            .map_err(|e| RegistryError::Call(civitas_host::CallError::Internal(e.to_string())))??;
        let loaded = Arc::new(loaded);
        if let Ok(mut map) = self.loaded.write() {
            map.entry(module.clone()).or_insert_with(|| loaded.clone());
        }
        Ok(loaded)
    }

    /// Resolves and loads the module serving `service` for a case at
    /// `tenant` (the rollout bucket from `case_id`).
    pub async fn prepare(
        &self,
        tx: &mut impl crate::Conn,
        tenant: &TenantPath,
        service: &str,
        case_id: Option<&str>,
    ) -> Result<Prepared, RegistryError> {
        let service = self.service(service)?.clone();
        let resolution = resolve(tx, tenant, &service.id, case_id).await?;
        let module = self.load(tx, &resolution.module).await?;
        Ok(Prepared {
            tenant: tenant.clone(),
            service,
            resolution,
            module,
        })
    }

    /// Runs a prepared module: the input is checked against the service's
    /// input schema, the call runs on a blocking thread under the service's
    /// fuel budget, and the output is checked against the output schema.
    /// A call of a confined lane (see [`Runtime::confined_lanes`]) waits for
    /// the lane's one slot at most [`crate::QUEUE_WAIT`], else fails with
    /// [`RegistryError::Confined`].
    pub async fn run(
        &self,
        prepared: &Prepared,
        request: EvaluationRequest<'_>,
    ) -> Result<Outcome, RegistryError> {
        let outcome = self.run_once(prepared, request).await;
        self.calls
            .record(outcome.as_ref().map(|o| o.fuel_used).map_err(|e| e.code()));
        outcome
    }

    async fn run_once(
        &self,
        prepared: &Prepared,
        request: EvaluationRequest<'_>,
    ) -> Result<Outcome, RegistryError> {
        let service = &prepared.service;
        service
            .check_input(request.input)
            .map_err(RegistryError::InputSchema)?;
        let input = request.input.to_string();
        let context = CallContext {
            settings: request.settings,
            dictionaries: self.catalog.dictionaries().clone(),
            today: request.today,
            log_tags: request.log_tags,
        };
        let module = prepared.module.clone();
        let budget = service.fuel_budget;
        let lane = prepared.lane();
        let Some(entered) = self.gate.enter(lane, QUEUE_WAIT).await else {
            return Err(RegistryError::Confined {
                tenant: lane.tenant.to_string(),
                module: lane.module.to_string(),
            });
        };
        let evaluation =
            tokio::task::spawn_blocking(move || module.evaluate_with(&context, &input, budget))
                .await
                .map_err(|e| {
                    RegistryError::Call(civitas_host::CallError::Internal(e.to_string()))
                })?;
        drop(entered);
        let evaluation = evaluation.map_err(RegistryError::from);
        if evaluation.as_ref().is_err_and(RegistryError::is_hang) {
            confine(&self.gate, lane);
        }
        let evaluation = evaluation?;
        service
            .check_output(&evaluation.output)
            .map_err(RegistryError::OutputSchema)?;
        Ok(Outcome {
            output: evaluation.output,
            module: prepared.resolution.module.module.clone(),
            version: prepared.resolution.module.version.clone(),
            binding_tenant: prepared.resolution.binding_tenant.clone(),
            rollout: prepared.resolution.candidate,
            fuel_used: evaluation.fuel_used,
            elapsed_micros: u64::try_from(evaluation.elapsed.as_micros()).unwrap_or(u64::MAX),
            logs: evaluation.logs,
        })
    }

    /// Runs a prepared module over many inputs — a nightly 免申即享 run, a
    /// month of wage-arrears warnings — spread over one blocking thread per
    /// core. One input's failure (schema, fuel, trap…) is that input's
    /// answer and stops nothing else. The batch runs the version `prepared`
    /// resolved (a rollout chooses per case; a batch has one version).
    pub async fn run_batch(
        &self,
        prepared: &Prepared,
        request: BatchRequest,
    ) -> Result<BatchOutcome, RegistryError> {
        let started = std::time::Instant::now();
        let context = CallContext {
            settings: request.settings,
            dictionaries: self.catalog.dictionaries().clone(),
            today: request.today,
            log_tags: request.log_tags,
        };
        let inputs = Arc::new(request.inputs);
        let workers = std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(inputs.len())
            .max(1);
        let chunk = inputs.len().div_ceil(workers).max(1);
        let mut running = Vec::with_capacity(workers);
        for start in (0..inputs.len()).step_by(chunk) {
            let end = (start + chunk).min(inputs.len());
            let (prepared, context, inputs, calls, gate) = (
                prepared.clone(),
                context.clone(),
                inputs.clone(),
                self.calls.clone(),
                self.gate.clone(),
            );
            running.push(tokio::task::spawn_blocking(move || {
                evaluate_each(&prepared, &context, &inputs[start..end], &calls, &gate)
            }));
        }
        let mut answers = Vec::with_capacity(inputs.len());
        for worker in running {
            answers.extend(worker.await.map_err(|e| {
                RegistryError::Call(civitas_host::CallError::Internal(e.to_string()))
            })?);
        }
        Ok(BatchOutcome {
            answers,
            module: prepared.resolution.module.module.clone(),
            version: prepared.resolution.module.version.clone(),
            binding_tenant: prepared.resolution.binding_tenant.clone(),
            elapsed_micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        })
    }

    /// Runs the conformance checks of `module` against its service with the
    /// settings of the tenant it is being bound at; refuses with the first
    /// failing check.
    pub async fn check_conformance(
        &self,
        tx: &mut impl crate::Conn,
        module: &ModuleRef,
        service: &Arc<Service>,
        settings: Arc<Map<String, Value>>,
        today: Date,
    ) -> Result<civitas_conformance::Report, RegistryError> {
        let loaded = self.load(tx, module).await?;
        let service = service.clone();
        let context = CallContext {
            settings,
            dictionaries: self.catalog.dictionaries().clone(),
            today,
            log_tags: vec![("conformance".into(), module.to_string())],
        };
        let report = tokio::task::spawn_blocking(move || {
            civitas_conformance::check(&loaded, &service, &service.examples, &context)
        })
        .await
        .map_err(|e| RegistryError::Call(civitas_host::CallError::Internal(e.to_string())))?;
        match report.first_failure() {
            Some(failure) => Err(RegistryError::Conformance {
                check: failure.check,
                detail: failure.detail.clone(),
                report: Box::new(report.clone()),
            }),
            None => Ok(report),
        }
    }

    /// Loads every version some binding names (at start, so the first
    /// requests do not wait for compilation); returns how many and how long.
    pub async fn preload(
        &self,
        tx: &mut impl crate::Conn,
    ) -> Result<(usize, Duration), RegistryError> {
        let started = std::time::Instant::now();
        let refs: Vec<ModuleRef> = crate::bindings::bound_versions(tx).await?;
        let mut count = 0;
        for module in refs {
            match self.load(tx, &module).await {
                Ok(_) => count += 1,
                Err(error) => {
                    tracing::error!(%module, %error, "cannot load a bound module version")
                }
            }
        }
        Ok((count, started.elapsed()))
    }
}
