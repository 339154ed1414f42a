//! The demo landing page made with the first-start demo tenant: a
//! generated season of a fictional 32-team football league — 272 games in
//! 18 weeks (each team plays 17 and has one week off), kickoffs in the
//! home team's zone (New York, Chicago, Denver, Los Angeles), the home
//! team as category, a (fictional) ticket link and each team's logo (an
//! SVG served at `/assets/landing/team/{n}.svg`). The same first-start
//! date always makes the same season.

use axum::extract::Path;
use axum::response::Response;
use calinvite_core::lifecycle::Scope;
use calinvite_core::{EventDraft, Schedule, TimeZone, ZonedDateTime};
use chrono::{DateTime, Datelike as _, NaiveDate, NaiveTime, TimeDelta, Utc, Weekday};

use super::db::{LandingDb, PageRecord};
use super::model::{Colors, Display, DisplayLink, GroupBy, Layout, Settings};
use crate::state::AppState;

/// The demo page's slug.
pub(crate) const SLUG: &str = "demo-season";

/// Teams: name, home zone, colour.
const TEAMS: [(&str, &str, &str); 32] = [
    ("Port Alder Gulls", "America/New_York", "#0b3d91"),
    ("Kingsbridge Foxes", "America/New_York", "#b5371b"),
    ("Marlow Bay Pilots", "America/New_York", "#11576b"),
    ("Eastbrook Lynx", "America/New_York", "#5b2a86"),
    ("Hollis Ironmen", "America/New_York", "#3d3d3d"),
    ("Caldwell Comets", "America/New_York", "#9c1c3d"),
    ("Saltmarsh Herons", "America/New_York", "#1d6b4f"),
    ("Brightwater Otters", "America/New_York", "#7a4a12"),
    ("Fairhaven Stags", "America/New_York", "#2b4c7e"),
    ("Ashford Owls", "America/New_York", "#6b3b1f"),
    ("Lowell Point Badgers", "America/New_York", "#404b69"),
    ("Greyhaven Knights", "America/New_York", "#202a44"),
    ("Prairie City Bison", "America/Chicago", "#7d2e13"),
    ("Lakeshore Wolves", "America/Chicago", "#24507a"),
    ("Red Mill Hornets", "America/Chicago", "#a31f1f"),
    ("Oakridge Hawks", "America/Chicago", "#3b5323"),
    ("Riverbend Cougars", "America/Chicago", "#5e3c58"),
    ("Ironwood Miners", "America/Chicago", "#4a4a4a"),
    ("Sablelake Bears", "America/Chicago", "#2f1e0e"),
    ("Millbrook Coyotes", "America/Chicago", "#8a4b08"),
    ("Stonebridge Bulls", "America/Chicago", "#7b1113"),
    ("Westfield Ravens", "America/Chicago", "#1b1b3a"),
    ("High Mesa Peaks", "America/Denver", "#0f4c5c"),
    ("Silverpine Elk", "America/Denver", "#3e5641"),
    ("Copper Basin Drillers", "America/Denver", "#8c3b0c"),
    ("Red Rock Condors", "America/Denver", "#8e2c2c"),
    ("Bayview Surf", "America/Los_Angeles", "#005f73"),
    ("Sunridge Stallions", "America/Los_Angeles", "#9b2226"),
    ("Pacific Crest Sharks", "America/Los_Angeles", "#14213d"),
    ("Redwood Giants", "America/Los_Angeles", "#6a040f"),
    ("Cypress Point Dolphins", "America/Los_Angeles", "#0a5c36"),
    ("Vista Verde Vipers", "America/Los_Angeles", "#264027"),
];

/// One generated game: week (0–17), home and away team, local kickoff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Game {
    pub(crate) week: usize,
    pub(crate) home: usize,
    pub(crate) away: usize,
    pub(crate) kickoff: chrono::NaiveDateTime,
}

/// The season's games, weeks starting from the first Sunday at least ten
/// days after `today`.
pub(crate) fn season(today: NaiveDate) -> Vec<Game> {
    let n = TEAMS.len();
    // The circle method: round r pairs the teams around a rotating circle.
    let rounds: Vec<Vec<(usize, usize)>> = (0..n - 1)
        .map(|r| {
            let mut ring: Vec<usize> = vec![0];
            ring.extend((0..n - 1).map(|i| 1 + (i + r) % (n - 1)));
            (0..n / 2)
                .map(|i| {
                    let (a, b) = (ring[i], ring[n - 1 - i]);
                    if (r + i) % 2 == 0 { (a, b) } else { (b, a) }
                })
                .collect()
        })
        .collect();
    // 17 rounds make 17 games per team: 16 rounds fill weeks 1 to 16, and
    // the 17th is split over weeks 17 and 18, so that each team has one
    // week off at the end of the season.
    let mut weeks: Vec<Vec<(usize, usize)>> = rounds.into_iter().take(17).collect();
    let last = weeks.pop().unwrap_or_default();
    let (a, b) = last.split_at(last.len() / 2);
    weeks.push(a.to_vec());
    weeks.push(b.to_vec());
    let mut first_sunday = today + TimeDelta::days(10);
    while first_sunday.weekday() != Weekday::Sun {
        first_sunday += TimeDelta::days(1);
    }
    let at = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap_or_default();
    let mut games = Vec::with_capacity(272);
    for (w, pairs) in weeks.iter().enumerate() {
        let sunday = first_sunday + TimeDelta::weeks(w as i64);
        for (i, &(home, away)) in pairs.iter().enumerate() {
            let kickoff = match (w, i) {
                (16 | 17, _) => sunday.and_time(if i % 2 == 0 { at(13, 0) } else { at(16, 25) }),
                (_, 0) => (sunday - TimeDelta::days(3)).and_time(at(20, 15)),
                (_, 1) => (sunday + TimeDelta::days(1)).and_time(at(20, 15)),
                (_, 2) => sunday.and_time(at(20, 20)),
                _ => sunday.and_time(if i % 2 == 0 { at(13, 0) } else { at(16, 25) }),
            };
            games.push(Game {
                week: w,
                home,
                away,
                kickoff,
            });
        }
    }
    games.sort_by_key(|g| (g.kickoff, g.home));
    games
}

/// Team `n`'s logo: a disc in its colour with its initials.
pub(crate) fn logo(n: usize) -> Option<String> {
    let (name, _, colour) = TEAMS.get(n)?;
    let initials: String = name
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .take(3)
        .collect();
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 64 64\" width=\"64\" height=\"64\">\
         <circle cx=\"32\" cy=\"32\" r=\"30\" fill=\"{colour}\" stroke=\"#fff\" stroke-width=\"3\"/>\
         <text x=\"32\" y=\"39\" text-anchor=\"middle\" font-family=\"sans-serif\" font-weight=\"700\" \
         font-size=\"20\" fill=\"#fff\">{initials}</text></svg>"
    ))
}

/// `GET /assets/landing/team/{n}.svg`.
pub(crate) async fn team_logo(Path(file): Path<String>) -> Response {
    let svg = file
        .strip_suffix(".svg")
        .and_then(|n| n.parse::<usize>().ok())
        .and_then(logo);
    match svg {
        Some(s) => super::asset(s, "image/svg+xml"),
        None => crate::web::error_page(
            crate::web::Lang::En,
            axum::http::StatusCode::NOT_FOUND,
            "Not found",
            "No such image.",
        ),
    }
}

/// Makes the season's events for organizer `scope` with their display
/// extras, and the `demo-season` page (grouped by week).
pub(crate) async fn make(state: &AppState, scope: Scope, now: DateTime<Utc>) -> Result<(), String> {
    let p = state.pipeline();
    let landing = LandingDb(state.db());
    let mut codes = Vec::with_capacity(272);
    for g in season(now.date_naive()) {
        let (home, zone, _) = TEAMS[g.home];
        let (away, _, _) = TEAMS[g.away];
        let tz = TimeZone::parse(zone).map_err(|e| e.to_string())?;
        let start = ZonedDateTime::new(g.kickoff, tz).map_err(|e| e.to_string())?;
        let end = ZonedDateTime::new(g.kickoff + TimeDelta::minutes(195), tz)
            .map_err(|e| e.to_string())?;
        let schedule = Schedule::timed(start, end).map_err(|e| e.to_string())?;
        let city = home.rsplit_once(' ').map_or(home, |(c, _)| c);
        let draft = EventDraft::new(format!("{away} at {home}"), schedule)
            .description(format!(
                "Week {} of the Northfield Football League season (a demo).",
                g.week + 1
            ))
            .location(format!("{city} Stadium, {city}"));
        let code = p
            .create_event(scope, draft)
            .await
            .map_err(|e| e.to_string())?;
        let display = Display {
            image_url: Some(format!("/assets/landing/team/{}.svg", g.home)),
            links: vec![DisplayLink {
                label: "Tickets".to_owned(),
                url: format!("https://tickets.example/nfl-demo/{}", code),
            }],
            text: Some(format!("Week {}: {away} visit {home}", g.week + 1)),
            category: Some(home.to_owned()),
        };
        landing
            .set_display(scope.owner, code.as_str(), &display, now)
            .await
            .map_err(|e| e.to_string())?;
        codes.push(code.to_string());
    }
    let page = PageRecord {
        slug: SLUG.to_owned(),
        scope,
        settings: Settings {
            layout: Layout::Multi,
            title: "Northfield Football League — the season".to_owned(),
            intro: Some(
                "Every game of the season: tick the ones you want and get each as a calendar \
                 invitation, at kickoff time in your own calendar."
                    .to_owned(),
            ),
            colors: Colors {
                background: Some("#f7f7f2".to_owned()),
                text: Some("#16202a".to_owned()),
                accent: Some("#0b5a3c".to_owned()),
            },
            logo_url: None,
            background_url: None,
            events: Some(codes),
            group_by: GroupBy::Week,
            language: "en".to_owned(),
            private: false,
        },
        revision: 1,
        created_at: now,
        updated_at: now,
    };
    landing
        .insert_page(&page)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_season_of_272_games_with_one_week_off_each() {
        let today = NaiveDate::from_ymd_opt(2026, 8, 20).unwrap();
        let games = season(today);
        assert_eq!(games.len(), 272);
        assert_eq!(games, season(today));
        let mut played = [0usize; 32];
        let mut weeks = [[false; 32]; 18];
        for g in &games {
            assert_ne!(g.home, g.away);
            for t in [g.home, g.away] {
                played[t] += 1;
                assert!(!weeks[g.week][t], "team {t} plays twice in week {}", g.week);
                weeks[g.week][t] = true;
            }
        }
        assert!(played.iter().all(|&p| p == 17));
        for t in 0..32 {
            assert_eq!(
                weeks.iter().filter(|w| !w[t]).count(),
                1,
                "team {t}'s weeks off"
            );
        }
        assert!(games[0].kickoff.date() > today);
        let zones: std::collections::BTreeSet<&str> = TEAMS.iter().map(|t| t.1).collect();
        assert_eq!(zones.len(), 4);
        assert!(logo(31).unwrap().contains("VVV"));
        assert!(logo(32).is_none());
    }
}
