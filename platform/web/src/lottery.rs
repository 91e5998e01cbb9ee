//! A public lottery (摇号) on the portal (`/t/{slug path}/lotteries/{id}`):
//! what was published, the seed, the ranking, and how anyone recomputes it.

use maud::{Markup, html};

use crate::layout::{Frame, page};
use crate::{Lang, Msg};

/// One place in the ranking.
#[derive(Debug, Clone)]
pub struct Place {
    /// 1, 2, …
    pub position: u32,
    /// The case (办件编号): how an applicant finds their place.
    pub case_id: String,
    /// The score the draw used.
    pub score: u32,
    /// The score at submission (differs when the fairness guard warned).
    pub score_at_submission: u32,
    /// SM3(seed ‖ case id), hex.
    pub ticket: String,
    /// Drawn (中签) or waiting (轮候).
    pub drawn: bool,
}

/// An entry of a lottery not yet drawn.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The case (办件编号).
    pub case_id: String,
    /// The score the draw will use.
    pub score: u32,
    /// The score at submission.
    pub score_at_submission: u32,
}

/// Where a lottery stands.
#[derive(Debug, Clone)]
pub enum Standing {
    /// Published: the frozen entries, waiting for the draw.
    Waiting(Vec<Entry>),
    /// Drawn: the public value given, the seed and the ranking.
    Drawn {
        /// The public value as given at the draw.
        value: String,
        /// SM3(published text ‖ value), hex.
        seed: String,
        /// Every place.
        ranking: Vec<Place>,
    },
}

/// What the page shows.
#[derive(Debug, Clone)]
pub struct LotteryView {
    /// The draw's title.
    pub title: String,
    /// The project.
    pub project: String,
    /// The unit type as a label (the service's own, when it has one).
    pub unit_type: String,
    /// Units offered.
    pub units: u32,
    /// The day the entries were frozen.
    pub published_on: String,
    /// The day of the draw.
    pub draw_on: String,
    /// The public value the draw waits for, as named when published.
    pub public_value: String,
    /// SM3 of the published text, hex.
    pub published_sm3: String,
    /// The published text, byte for byte.
    pub published: String,
    /// Published or drawn.
    pub standing: Standing,
    /// The record as JSON (`GET /api/v1/…/lotteries/{id}`).
    pub record_href: String,
}

/// The lottery page.
pub fn lottery(frame: &Frame, view: &LotteryView) -> Markup {
    let lang = frame.lang;
    page(
        frame,
        html! {
            h1 { (view.title) }
            @match &view.standing {
                Standing::Waiting(_) => p.notice role="status" { (Msg::LotteryAwaitingDraw.text(lang)) },
                Standing::Drawn { .. } => {},
            }
            dl.fields {
                dt { (Msg::LotteryProject.text(lang)) } dd { (view.project) }
                dt { (Msg::LotteryUnitType.text(lang)) } dd { (view.unit_type) }
                dt { (Msg::LotteryUnits.text(lang)) } dd { (view.units) }
                dt { (Msg::LotteryPublishedOn.text(lang)) } dd { (view.published_on) }
                dt { (Msg::LotteryDrawnOn.text(lang)) } dd { (view.draw_on) }
                dt { (Msg::LotteryPublicValue.text(lang)) } dd { (view.public_value) }
                dt { (Msg::LotteryPublishedSm3.text(lang)) } dd { code.detail { (view.published_sm3) } }
                @if let Standing::Drawn { value, seed, .. } = &view.standing {
                    dt { (Msg::LotteryValue.text(lang)) } dd { (value) }
                    dt { (Msg::LotterySeed.text(lang)) } dd { code.detail { (seed) } }
                }
            }
            @match &view.standing {
                Standing::Waiting(entries) => {
                    section.panel aria-labelledby="entries" {
                        h2 #entries { (Msg::LotteryEntries.text(lang)) }
                        div.table role="region" tabindex="0" aria-labelledby="entries" {
                            table.tasks {
                                thead { tr {
                                    th scope="col" { (Msg::LotteryCase.text(lang)) }
                                    th scope="col" { (Msg::LotteryScore.text(lang)) }
                                } }
                                tbody {
                                    @for e in entries {
                                        tr {
                                            td.line { (e.case_id) }
                                            td {
                                                (e.score)
                                                @if e.score != e.score_at_submission {
                                                    p.problem { (fairness(lang, e.score_at_submission)) }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                Standing::Drawn { ranking, .. } => {
                    section.panel aria-labelledby="ranking" {
                        h2 #ranking { (Msg::LotteryRanking.text(lang)) }
                        div.table role="region" tabindex="0" aria-labelledby="ranking" {
                            table.tasks {
                                thead { tr {
                                    th scope="col" { (Msg::LotteryPosition.text(lang)) }
                                    th scope="col" { (Msg::LotteryCase.text(lang)) }
                                    th scope="col" { (Msg::LotteryScore.text(lang)) }
                                    th scope="col" { (Msg::LotteryOutcome.text(lang)) }
                                    th scope="col" { (Msg::LotteryTicket.text(lang)) }
                                } }
                                tbody {
                                    @for p in ranking {
                                        tr {
                                            td { (p.position) }
                                            td.line { (p.case_id) }
                                            td {
                                                (p.score)
                                                @if p.score != p.score_at_submission {
                                                    p.problem { (fairness(lang, p.score_at_submission)) }
                                                }
                                            }
                                            td {
                                                @if p.drawn { strong { (Msg::LotteryDrawn.text(lang)) } }
                                                @else { (Msg::LotteryWaiting.text(lang)) }
                                            }
                                            td.line { code { (p.ticket) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section.panel aria-labelledby="recompute" {
                h2 #recompute { (Msg::LotteryHowToCheck.text(lang)) }
                p { (Msg::LotteryRule.text(lang)) }
                p { a href=(view.record_href) { (Msg::LotteryRecord.text(lang)) } }
                details {
                    summary { (Msg::LotteryPublished.text(lang)) }
                    pre.detail { (view.published) }
                }
            }
        },
    )
}

fn fairness(lang: Lang, submitted: u32) -> String {
    format!("{}{submitted}", Msg::LotteryScoreChanged.text(lang))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(lang: Lang) -> Frame {
        Frame {
            lang,
            title: "摇号".into(),
            place: Some(("浦东新区".into(), "/t/shanghai/pudong/".into())),
            switch_href: "?lang=en".into(),
            visitor: crate::layout::Visitor::Anonymous {
                return_to: "/t/x/".into(),
            },
            scripts: &[],
        }
    }

    fn view(standing: Standing) -> LotteryView {
        LotteryView {
            title: "2026年第四季度一室一厅摇号".into(),
            project: "张江国际社区人才公寓".into(),
            unit_type: "一室一厅".into(),
            units: 1,
            published_on: "2026-12-06".into(),
            draw_on: "2026-12-08".into(),
            public_value: "上证指数 2026-12-08 收盘价".into(),
            published_sm3: "aa".repeat(32),
            published: "{\"format\":\"civitas-lottery/1\"}".into(),
            standing,
            record_href: "/api/v1/tenants/310000/310115/lotteries/l-1".into(),
        }
    }

    #[test]
    fn a_drawn_lottery_shows_the_value_the_seed_and_each_place_with_its_ticket() {
        let html = lottery(
            &frame(Lang::Zh),
            &view(Standing::Drawn {
                value: "3412.56".into(),
                seed: "5e".repeat(32),
                ranking: vec![
                    Place {
                        position: 1,
                        case_id: "case-a".into(),
                        score: 23,
                        score_at_submission: 21,
                        ticket: "01".repeat(32),
                        drawn: true,
                    },
                    Place {
                        position: 2,
                        case_id: "case-b".into(),
                        score: 21,
                        score_at_submission: 21,
                        ticket: "02".repeat(32),
                        drawn: false,
                    },
                ],
            }),
        )
        .into_string();
        for shown in [
            "3412.56",
            &"5e".repeat(32),
            &"01".repeat(32),
            "中签",
            "轮候",
            "公平卫士：提交时得分为 21",
        ] {
            assert!(html.contains(shown), "{shown}");
        }
        assert!(!html.contains("已公示，待摇号"));
        assert_eq!(
            html.matches("公平卫士").count(),
            1,
            "only the changed score is marked"
        );
    }

    #[test]
    fn a_published_lottery_lists_its_entries_and_waits_for_its_draw() {
        let html = lottery(
            &frame(Lang::En),
            &view(Standing::Waiting(vec![Entry {
                case_id: "case-a".into(),
                score: 21,
                score_at_submission: 21,
            }])),
        )
        .into_string();
        for shown in [
            "Published, waiting for the draw",
            "case-a",
            "上证指数 2026-12-08 收盘价",
            &"aa".repeat(32),
        ] {
            assert!(html.contains(shown), "{shown}");
        }
        assert!(!html.contains("Ticket"));
    }
}
