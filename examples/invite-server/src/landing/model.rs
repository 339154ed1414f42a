//! What a landing page and an event's display extras are, as the API
//! takes and gives them and as they are stored (JSON in one column).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One event, or a list of them.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Layout {
    /// A list of events (the default).
    #[default]
    Multi,
    /// One event, large: the page's first upcoming event.
    Single,
}

/// How a multi-event page groups its events.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum GroupBy {
    /// One group.
    #[default]
    None,
    /// By week (Monday to Sunday, in each event's own zone).
    Week,
    /// By the events' display category (events without one last).
    Category,
}

/// A page's colours, `#rrggbb`: text and accent need 4.5:1 contrast
/// against the background (WCAG AA).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Colors {
    /// The page's background (default `#ffffff`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) background: Option<String>,
    /// Text (default `#1f2328`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) text: Option<String>,
    /// Links and the button (default `#0b5cad`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) accent: Option<String>,
}

/// What a page shows and how: kept as one JSON value per page.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) layout: Layout,
    pub(crate) title: String,
    #[serde(default)]
    pub(crate) intro: Option<String>,
    #[serde(default)]
    pub(crate) colors: Colors,
    #[serde(default)]
    pub(crate) logo_url: Option<String>,
    #[serde(default)]
    pub(crate) background_url: Option<String>,
    /// Chosen event codes in page order; `None`: every upcoming event.
    #[serde(default)]
    pub(crate) events: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) group_by: GroupBy,
    pub(crate) language: String,
    #[serde(default)]
    pub(crate) private: bool,
}

/// A link an event shows.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct DisplayLink {
    /// What the link says (1 to 60 characters).
    pub(crate) label: String,
    /// Where it goes (https).
    pub(crate) url: String,
}

/// What a landing page shows with an event besides the event itself.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Display {
    /// An image (https, or an inline `data:image/…;base64,` of at most 64 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) image_url: Option<String>,
    /// Up to 5 links (tickets, a stream, …).
    #[serde(default)]
    pub(crate) links: Vec<DisplayLink>,
    /// A short line (at most 200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) text: Option<String>,
    /// A category (a team, a track; at most 60 characters): pages may
    /// group by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) category: Option<String>,
}
