//! `civitas calendar …`: the working-day calendar deadlines are counted on.

use std::path::PathBuf;

use chrono::NaiveDate;
use civitas::exit;
use civitas_calendar::Calendar;
use civitas_tenancy::TenantTree;
use clap::{Args, Subcommand};

/// Calendar commands.
#[derive(Debug, Subcommand)]
pub enum CalendarCommand {
    /// Print the date N working days after DATE (DATE itself does not count).
    #[command(after_help = "Examples:\n  \
        civitas calendar add-working-days 2025-09-30 5          # 2025-10-14 (国庆 and 调休 counted)\n  \
        civitas calendar add-working-days 2026-02-13 2 --tenant shanghai/pudong --json\n\n\
        Exit codes: 0 printed · 2 bad date or count · 3 the calendar does not cover the dates")]
    AddWorkingDays {
        /// The start date, YYYY-MM-DD.
        date: String,
        /// How many working days.
        days: u32,
        #[command(flatten)]
        source: CalendarSource,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Exit 0 if DATE is a working day, 1 if not (and say why).
    #[command(after_help = "Examples:\n  \
        civitas calendar is-working-day 2025-10-11 && echo 上班   # a Saturday worked (调休)\n  \
        civitas calendar is-working-day 2026-02-17 --json\n\n\
        Exit codes: 0 working day · 1 not a working day · 2 bad date · 3 the calendar does not cover the date")]
    IsWorkingDay {
        /// The date, YYYY-MM-DD.
        date: String,
        #[command(flatten)]
        source: CalendarSource,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the covered years, their notices and holidays.
    #[command(after_help = "Examples:\n  civitas calendar show\n  civitas calendar show --json")]
    Show {
        #[command(flatten)]
        source: CalendarSource,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Where the calendar comes from.
#[derive(Debug, Args)]
pub struct CalendarSource {
    /// The holiday file [default: TENANTS_DIR/_reference/holidays.toml, else the shipped one].
    #[arg(long, value_name = "FILE")]
    calendar: Option<PathBuf>,
    /// Count with this tenant's local non-working days (setting calendar.non-working-days).
    #[arg(long, value_name = "TENANT")]
    tenant: Option<String>,
    /// Tenants directory [default: ./tenants].
    #[arg(long, env = "CIVITAS_TENANTS_DIR", value_name = "DIR")]
    tenants_dir: Option<PathBuf>,
}

/// A failure with its exit code.
struct Failure(u8, String);

fn load(source: &CalendarSource) -> Result<Calendar, Failure> {
    let tenants_dir = source
        .tenants_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("tenants"));
    let calendar = match &source.calendar {
        Some(file) => Calendar::load(file),
        None => Calendar::for_tenants_dir(&tenants_dir),
    }
    .map_err(|e| Failure(exit::CONFIG, e.to_string()))?;
    let Some(reference) = &source.tenant else {
        return Ok(calendar);
    };
    let tree = TenantTree::load(&tenants_dir).map_err(|e| Failure(exit::CONFIG, e.to_string()))?;
    let tenant = tree.resolve(reference).ok_or_else(|| {
        Failure(
            exit::USAGE,
            format!("租户不存在 (no such tenant): {reference}"),
        )
    })?;
    let local = civitas_workflow::local_days(&tree, &tenant.path)
        .map_err(|e| Failure(exit::CONFIG, e.to_string()))?;
    Ok(calendar.with_local_days(local))
}

fn date(text: &str) -> Result<NaiveDate, Failure> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        Failure(
            exit::USAGE,
            format!("“{text}” 不是 YYYY-MM-DD 日期 (not a YYYY-MM-DD date)"),
        )
    })
}

fn answer_error(e: civitas_calendar::CalendarError) -> Failure {
    match e {
        civitas_calendar::CalendarError::TooManyDays(_) => Failure(exit::USAGE, e.to_string()),
        _ => Failure(exit::CONFIG, e.to_string()),
    }
}

fn provisional_note(calendar: &Calendar, dates: &[NaiveDate]) {
    use chrono::Datelike;
    let provisional = calendar.provisional_years();
    for year in dates.iter().map(|d| d.year()) {
        if provisional.contains(&year) {
            eprintln!(
                "注意：{year} 年的放假安排通知尚未收录，仅含法定节日、不含调休 (note: {year} lists the statutory days only; its notice is not in the file yet)"
            );
            return;
        }
    }
}

/// Runs a calendar command; the exit code.
pub fn run(command: CalendarCommand) -> anyhow::Result<u8> {
    match run_inner(command) {
        Ok(code) => Ok(code),
        Err(Failure(code, message)) => {
            eprintln!("错误 (error): {message}");
            Ok(code)
        }
    }
}

fn run_inner(command: CalendarCommand) -> Result<u8, Failure> {
    match command {
        CalendarCommand::AddWorkingDays {
            date: start,
            days,
            source,
            json,
        } => {
            let calendar = load(&source)?;
            let start = date(&start)?;
            let due = calendar
                .add_working_days(start, days)
                .map_err(answer_error)?;
            provisional_note(&calendar, &[start, due]);
            if json {
                println!(
                    "{}",
                    serde_json::json!({"date": start, "working_days": days, "result": due})
                );
            } else {
                println!("{due}");
            }
            Ok(exit::OK)
        }
        CalendarCommand::IsWorkingDay {
            date: day,
            source,
            json,
        } => {
            let calendar = load(&source)?;
            let day = date(&day)?;
            let working = calendar.is_working_day(day).map_err(answer_error)?;
            provisional_note(&calendar, &[day]);
            let holiday = calendar.holiday_of(day);
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "date": day,
                        "working_day": working,
                        "holiday": holiday.map(|(zh, en)| serde_json::json!({"zh": zh, "en": en})),
                    })
                );
            } else {
                let why = match holiday {
                    Some((zh, en)) => format!("（{zh} {en}）"),
                    None => String::new(),
                };
                if working {
                    println!("{day} 是工作日 (a working day){why}");
                } else {
                    println!("{day} 不是工作日 (not a working day){why}");
                }
            }
            Ok(if working { exit::OK } else { exit::FAILURE })
        }
        CalendarCommand::Show { source, json } => {
            let calendar = load(&source)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(calendar.years()).unwrap_or_default()
                );
            } else {
                for year in calendar.years() {
                    println!(
                        "{} {:?} {} ({})",
                        year.year, year.status, year.notice, year.published
                    );
                    for h in &year.holidays {
                        let span = |days: &[NaiveDate]| {
                            days.iter()
                                .map(|d| d.format("%m-%d").to_string())
                                .collect::<Vec<_>>()
                                .join(" ")
                        };
                        println!(
                            "  {} {}: 放假 off {} · 调休上班 worked {}",
                            h.name,
                            h.name_en,
                            span(&h.off),
                            span(&h.work)
                        );
                    }
                }
            }
            Ok(exit::OK)
        }
    }
}
