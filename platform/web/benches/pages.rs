//! What rendering adds to a page's server time: the workbench's inbox (a
//! page of 50 tasks) and a district's dashboard (twelve months, 215
//! streets). The queries behind them are measured with a million cases in
//! `platform/workflow/benches/cases.rs`; BENCHMARKS.md adds the two.
//!
//! ```sh
//! cargo bench -p civitas-web --bench pages
//! ```

use civitas_web::console::{DashboardView, Figures, MonthBar, Place, PlaceRow, Section};
use civitas_web::guide::Bilingual;
use civitas_web::layout::{Frame, Visitor};
use civitas_web::workbench::{Inbox, Task};
use civitas_web::{Lang, Msg};

fn main() {
    divan::main();
}

fn name(zh: &str, en: &str) -> Bilingual {
    Bilingual {
        zh: zh.to_owned(),
        en: en.to_owned(),
    }
}

fn frame() -> Frame {
    Frame {
        lang: Lang::Zh,
        title: "待办事项".to_owned(),
        place: None,
        switch_href: "/workbench/?lang=en".to_owned(),
        visitor: Visitor::SignedIn {
            name: "lujiazui-officer".to_owned(),
            csrf: "A".repeat(43),
            cases: None,
            messages: None,
        },
        scripts: &[],
    }
}

#[divan::bench]
fn inbox_page_of_50_tasks(bencher: divan::Bencher) {
    let view = Inbox {
        export: "/workbench/inbox/export".to_owned(),
        tasks: (0..50)
            .map(|i| Task {
                service: name("社区长者食堂助餐补贴申请", "Community canteen meal subsidy"),
                title: format!("助餐补贴申请 {i}"),
                href: format!(
                    "/workbench/t/310000/310115/310115005/cases/{i:08}-0000-4000-8000-000000000000"
                ),
                step: name("街道初审", "Street review"),
                place: name("陆家嘴街道", "Lujiazui Subdistrict"),
                due_on: Some("2026-12-18".to_owned()),
                days_left: Some((i % 9 - 3, Msg::WorkingDays)),
                overdue: i % 9 < 3,
            })
            .collect(),
        overdue_only: false,
        next: Some("/workbench/?after=2026-12-18|x|0".to_owned()),
        notices: Vec::new(),
        counter: true,
        deliveries: None,
    };
    let frame = frame();
    bencher.bench(|| {
        civitas_web::workbench::inbox(&frame, &view)
            .into_string()
            .len()
    });
}

#[divan::bench]
fn dashboard_of_a_district(bencher: divan::Bencher) {
    let figures = |n: i64| Figures {
        filed: n,
        finished: n * 3 / 5,
        approval_rate: Some(80.0),
        mean_working_days: Some(6.4),
        overdue_rate: Some(2.5),
        mean_score: Some(4.6),
    };
    let view = DashboardView {
        months_covered: 12,
        export: Some("/console/t/shanghai/dashboard/export".to_owned()),
        export_cases: Some("/console/t/shanghai/cases/export".to_owned()),
        line: None,
        total: figures(62_500),
        months: (1..=12)
            .map(|m| MonthBar {
                month: format!("2026-{m:02}"),
                filed: 5_000 + m * 10,
                finished: 3_000 + m * 7,
            })
            .collect(),
        places: (0..215)
            .map(|s| PlaceRow {
                name: name(&format!("第{s}街道"), &format!("Street {s}")),
                href: Some(format!("/console/t/shanghai/pudong/street-{s}/dashboard")),
                figures: figures(290 + s),
            })
            .collect(),
    };
    let place = Place {
        name: name("浦东新区", "Pudong New Area"),
        path: "310000/310115".to_owned(),
        ancestors: vec![(
            name("上海市", "Shanghai"),
            "/console/t/shanghai/".to_owned(),
        )],
        sections: vec![(
            Section::Dashboard,
            "/console/t/shanghai/pudong/dashboard".to_owned(),
        )],
        current: Section::Dashboard,
    };
    let frame = frame();
    bencher.bench(|| {
        civitas_web::console::dashboard(&frame, &place, &view)
            .into_string()
            .len()
    });
}
