//! The tenant portal (`/t/{slug path}/`): the services a place offers, found
//! by Chinese or pinyin, and each service's guide.

use maud::{Markup, html};

use crate::guide::{Answer, Bilingual, Field};
use crate::layout::{Frame, page};
use crate::{Lang, Msg};

/// A service in a list.
#[derive(Debug, Clone)]
pub struct ServiceCard {
    /// Its name.
    pub name: Bilingual,
    /// Its summary.
    pub summary: Bilingual,
    /// Its line's name.
    pub line: Bilingual,
    /// Its page.
    pub href: String,
}

/// What the portal's home page shows.
#[derive(Debug, Clone)]
pub struct Home {
    /// The search text, when the visitor searched.
    pub query: Option<String>,
    /// Whether search could answer (otherwise every service is listed).
    pub search_available: bool,
    /// The services found, or all of them.
    pub services: Vec<ServiceCard>,
    /// The page itself (the search form's action).
    pub action: String,
}

/// The portal's home page.
pub fn home(frame: &Frame, home: &Home) -> Markup {
    let lang = frame.lang;
    let searched = home.query.as_deref().filter(|q| !q.trim().is_empty());
    page(
        frame,
        html! {
            h1 { (Msg::PortalTitle.text(lang)) }
            form.search role="search" method="get" action=(home.action) {
                label for="q" { (Msg::SearchLabel.text(lang)) }
                input #q type="search" name="q" value=[searched]
                    placeholder=(Msg::SearchPlaceholder.text(lang)) maxlength="200" autocomplete="off";
                @if lang == Lang::En { input type="hidden" name="lang" value="en"; }
                button.button type="submit" { (Msg::SearchButton.text(lang)) }
            }
            @if searched.is_some() && !home.search_available {
                p.notice role="status" { (Msg::SearchUnavailable.text(lang)) }
            }
            @match (searched, home.search_available) {
                (Some(q), true) => {
                    h2 { (Msg::SearchResultsFor.text(lang)) "“" (q) "”" }
                    @if home.services.is_empty() {
                        p role="status" { (Msg::SearchNoResults.text(lang)) }
                    }
                    (cards(lang, &home.services))
                    p { a href=(home.action) { (Msg::AllServices.text(lang)) } }
                }
                _ => {
                    h2 { (Msg::ServicesOffered.text(lang)) }
                    @if home.services.is_empty() {
                        p { (Msg::NoServices.text(lang)) }
                    }
                    (cards(lang, &home.services))
                }
            }
        },
    )
}

fn cards(lang: Lang, services: &[ServiceCard]) -> Markup {
    html! {
        @if !services.is_empty() {
            ul.cards {
                @for s in services {
                    li.card {
                        h3 { a href=(s.href) { (lang.pick(&s.name.zh, &s.name.en)) } }
                        span.line { (lang.pick(&s.line.zh, &s.line.en)) }
                        p { (lang.pick(&s.summary.zh, &s.summary.en)) }
                    }
                }
            }
        }
    }
}

/// A deadline as the guide states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Days {
    /// Working days (the official calendar).
    Working(u32),
    /// Calendar days.
    Natural(u32),
}

/// One step of how a service is handled.
#[derive(Debug, Clone)]
pub struct GuideStep {
    /// Its name.
    pub name: Bilingual,
    /// Its time limit, if it has one.
    pub deadline: Option<Days>,
}

/// What a service's page shows.
#[derive(Debug, Clone)]
pub struct ServiceGuide {
    /// The service's name.
    pub name: Bilingual,
    /// What it is.
    pub summary: Bilingual,
    /// Its line's name.
    pub line: Bilingual,
    /// Whether individuals may apply.
    pub citizens: bool,
    /// Whether enterprises may apply.
    pub enterprises: bool,
    /// The steps, in order.
    pub steps: Vec<GuideStep>,
    /// The statutory limit for the whole case.
    pub limit: Option<Days>,
    /// Whether an application may be withdrawn before review.
    pub withdraw: bool,
    /// What the applicant fills in.
    pub fields: Vec<Field>,
    /// The portal's home.
    pub back: String,
    /// The application form.
    pub apply: String,
    /// Whether someone is signed in (else applying starts with signing in).
    pub signed_in: bool,
}

fn days(lang: Lang, d: Option<Days>) -> String {
    match d {
        Some(Days::Working(n)) => format!("{n}{}", Msg::WorkingDays.text(lang)),
        Some(Days::Natural(n)) => format!("{n}{}", Msg::NaturalDays.text(lang)),
        None => Msg::NoDeadline.text(lang).to_owned(),
    }
}

/// A service's page: its guide.
pub fn service(frame: &Frame, s: &ServiceGuide) -> Markup {
    let lang = frame.lang;
    page(
        frame,
        html! {
            p { a href=(s.back) { (Msg::BackToServices.text(lang)) } }
            h1 { (lang.pick(&s.name.zh, &s.name.en)) }
            p { (lang.pick(&s.summary.zh, &s.summary.en)) }
            p.apply {
                a.button #apply href=(s.apply) { (Msg::ApplyOnline.text(lang)) }
                @if !s.signed_in { " " span.hint { (Msg::SignInToApply.text(lang)) } }
            }
            section.panel aria-labelledby="who" {
                h2 #who { (Msg::WhoMayApply.text(lang)) }
                ul {
                    @if s.citizens { li { (Msg::ApplicantCitizen.text(lang)) } }
                    @if s.enterprises { li { (Msg::ApplicantEnterprise.text(lang)) } }
                }
                @if s.withdraw { p { (Msg::Withdrawable.text(lang)) } }
            }
            section.panel aria-labelledby="process" {
                h2 #process { (Msg::Process.text(lang)) }
                @if let Some(limit) = s.limit {
                    p { strong { (Msg::StatutoryLimit.text(lang)) } "：" (days(lang, Some(limit))) }
                }
                ol.steps {
                    @for step in &s.steps {
                        li {
                            (lang.pick(&step.name.zh, &step.name.en))
                            " — " (Msg::StepDeadline.text(lang)) "：" (days(lang, step.deadline))
                        }
                    }
                }
            }
            section.panel aria-labelledby="provide" {
                h2 #provide { (Msg::WhatYouProvide.text(lang)) }
                @if s.fields.is_empty() {
                    p { (Msg::NothingToFill.text(lang)) }
                } @else {
                    dl.fields {
                        @for f in &s.fields {
                            dt {
                                (lang.pick(&f.label.zh, &f.label.en))
                                @if f.required {
                                    span.badge.required { (Msg::Required.text(lang)) }
                                } @else {
                                    span.badge { (Msg::Optional.text(lang)) }
                                }
                            }
                            dd { (answer(lang, &f.answer)) }
                        }
                    }
                }
            }
        },
    )
}

fn answer(lang: Lang, a: &Answer) -> String {
    match a {
        Answer::Date => Msg::FormatDate.text(lang).to_owned(),
        Answer::YesNo => Msg::FormatYesNo.text(lang).to_owned(),
        Answer::WholeNumber { minimum, maximum } => {
            let mut s = Msg::FormatWholeNumber.text(lang).to_owned();
            if let (Some(lo), Some(hi)) = (minimum, maximum) {
                s.push_str(&format!("，{} {lo}–{hi}", Msg::FormatRange.text(lang)));
            }
            s
        }
        Answer::Choice(choices) => {
            let labels: Vec<&str> = choices
                .iter()
                .map(|(_, l)| lang.pick(&l.zh, &l.en))
                .collect();
            format!("{}{}", Msg::FormatChoice.text(lang), labels.join("、"))
        }
        Answer::Text => Msg::FormatText.text(lang).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(lang: Lang) -> Frame {
        Frame {
            lang,
            title: "政务服务".into(),
            place: Some(("陆家嘴街道".into(), "/t/shanghai/pudong/lujiazui/".into())),
            switch_href: "?lang=en".into(),
            visitor: crate::layout::Visitor::Anonymous {
                return_to: "/t/x/".into(),
            },
            scripts: &[],
        }
    }

    fn card() -> ServiceCard {
        ServiceCard {
            name: Bilingual::parse("助餐补贴 / Meal subsidy"),
            summary: Bilingual::parse("老年人可申请 / Elders may apply"),
            line: Bilingual::parse("民政 / Civil affairs"),
            href: "/t/x/services/civil-affairs/meal-subsidy".into(),
        }
    }

    #[test]
    fn the_home_page_lists_services_in_the_visitors_language() {
        let home_page = Home {
            query: None,
            search_available: true,
            services: vec![card()],
            action: "/t/x/".into(),
        };
        let zh = home(&frame(Lang::Zh), &home_page).into_string();
        assert!(zh.contains(r#"<html lang="zh-CN">"#));
        assert!(zh.contains("助餐补贴") && zh.contains("本地可办服务"));
        let en = home(&frame(Lang::En), &home_page).into_string();
        assert!(en.contains(r#"<html lang="en">"#));
        assert!(en.contains("Meal subsidy") && en.contains("Services offered here"));
    }

    #[test]
    fn what_a_visitor_types_is_escaped() {
        let home_page = Home {
            query: Some("<script>alert(1)</script>".into()),
            search_available: true,
            services: Vec::new(),
            action: "/t/x/".into(),
        };
        let html = home(&frame(Lang::Zh), &home_page).into_string();
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("没有找到相关服务"));
    }

    #[test]
    fn a_guide_states_deadlines_in_working_days() {
        let guide = ServiceGuide {
            name: Bilingual::parse("助餐补贴 / Meal subsidy"),
            summary: Bilingual::parse("说明 / About"),
            line: Bilingual::parse("民政 / Civil affairs"),
            citizens: true,
            enterprises: false,
            steps: vec![GuideStep {
                name: Bilingual::parse("街道初审 / Street review"),
                deadline: Some(Days::Working(5)),
            }],
            limit: Some(Days::Natural(90)),
            withdraw: true,
            fields: Vec::new(),
            back: "/t/x/".into(),
            apply: "/t/x/services/civil-affairs/meal-subsidy/apply".into(),
            signed_in: false,
        };
        let html = service(&frame(Lang::Zh), &guide).into_string();
        assert!(html.contains("5个工作日"), "{html}");
        assert!(html.contains("90个自然日"));
        assert!(html.contains("个人（需实名认证）") && !html.contains("企业（需实名认证）"));
        let en = service(&frame(Lang::En), &guide).into_string();
        assert!(en.contains("5 working days"));
    }
}
