//! The API side of call-to-action links: a link for an event (signed for
//! one address, or a template with a mailing tool's merge tag), and the
//! domain owner's switch that requires signed links.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::find_event;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

/// The mailing tools whose merge tag a link template can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// Mailchimp (and Mandrill): `*|EMAIL|*`.
    Mailchimp,
    /// SendGrid dynamic templates (Handlebars): `{{email}}`.
    Sendgrid,
    /// SendGrid legacy substitutions: `-email-`.
    SendgridLegacy,
    /// Klaviyo: `{{ email }}`.
    Klaviyo,
}

impl Platform {
    /// The tool named `name`.
    pub fn parse(name: &str) -> Option<Platform> {
        match name.trim().to_ascii_lowercase().as_str() {
            "mailchimp" => Some(Platform::Mailchimp),
            "sendgrid" => Some(Platform::Sendgrid),
            "sendgrid-legacy" => Some(Platform::SendgridLegacy),
            "klaviyo" => Some(Platform::Klaviyo),
            _ => None,
        }
    }

    /// The placeholder the tool replaces with the recipient's address.
    pub fn merge_tag(self) -> &'static str {
        match self {
            Platform::Mailchimp => "*|EMAIL|*",
            Platform::Sendgrid => "{{email}}",
            Platform::SendgridLegacy => "-email-",
            Platform::Klaviyo => "{{ email }}",
        }
    }
}

/// What link to make.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CtaQuery {
    /// An address: the answer's `url` is signed for it.
    pub address: Option<String>,
    /// A mailing tool (`mailchimp`, `sendgrid`, `sendgrid-legacy`,
    /// `klaviyo`): the answer's `template` carries its merge tag.
    pub platform: Option<String>,
}

/// A call-to-action link.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CtaLink {
    /// The link's page, without an address (the page asks for one).
    pub page: String,
    /// The link for `address`, signed for it; absent without `address`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The link with the `platform`'s merge tag for the address (unsigned:
    /// a tool cannot sign); absent without `platform`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The merge tag in `template`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_tag: Option<String>,
    /// Whether the domain owner requires signed links (then `template` and
    /// `page` send nothing).
    pub signed_only: bool,
}

/// A call-to-action link for an event: signed for one address, or a
/// template for a mailing tool.
#[utoipa::path(
    get,
    path = "/v1/events/{code}/cta",
    tag = "events",
    params(("code" = String, Path, description = "The event's code"), CtaQuery),
    responses(
        (status = 200, description = "The link", body = CtaLink),
        (status = 400, description = "Not an address", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn cta_link(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(code): ApiPath<String>,
    ApiQuery(q): ApiQuery<CtaQuery>,
) -> ApiResult<Json<CtaLink>> {
    let event = find_event(&state, &caller, &code).await?;
    let platform = match q.platform.as_deref() {
        None => None,
        Some(p) => Some(Platform::parse(p).ok_or_else(|| {
            ApiError::field(
                "platform",
                "a platform is mailchimp, sendgrid, sendgrid-legacy or klaviyo",
            )
        })?),
    };
    let settings = super::db::settings(state.db(), event.scope().owner).await?;
    let page = state.web().url(&format!("e/{}", event.code().as_str()));
    let url = match q.address.as_deref() {
        None => None,
        Some(a) => {
            let address = calinvite_core::EmailAddress::parse(a.trim())
                .map_err(|e| ApiError::field("address", e.to_string()))?;
            let sig = super::cta::sign(&settings.secret, event.code(), address.as_str());
            let mut u = url::Url::parse(&page)
                .map_err(|e| ApiError::bad_request(format!("the public URL: {e}")))?;
            u.query_pairs_mut()
                .append_pair("email", address.as_str())
                .append_pair("sig", &sig);
            Some(u.to_string())
        }
    };
    let template = platform.map(|p| format!("{page}?email={}", p.merge_tag()));
    Ok(Json(CtaLink {
        page,
        url,
        template,
        merge_tag: platform.map(|p| p.merge_tag().to_owned()),
        signed_only: settings.signed_only,
    }))
}

/// The domain owner's call-to-action settings.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CtaSettingsBody {
    /// Whether a call-to-action link sends only when signed for its address.
    pub signed_only: bool,
}

/// A change of the call-to-action settings.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CtaSettingsPatch {
    /// Require signed links (`true`) or take any (`false`).
    pub signed_only: Option<bool>,
}

/// The domain owner's call-to-action settings (a domain owner's key).
#[utoipa::path(
    get,
    path = "/v1/owner/cta",
    tag = "events",
    responses(
        (status = 200, description = "The settings", body = CtaSettingsBody),
        (status = 403, description = "An organizer's key", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_cta_settings(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<CtaSettingsBody>> {
    let owner = caller.require_owner("the call-to-action settings")?;
    let s = super::db::settings(state.db(), owner).await?;
    Ok(Json(CtaSettingsBody {
        signed_only: s.signed_only,
    }))
}

/// Requires signed call-to-action links, or not (a domain owner's key).
#[utoipa::path(
    patch,
    path = "/v1/owner/cta",
    tag = "events",
    request_body = CtaSettingsPatch,
    responses(
        (status = 200, description = "The settings, changed", body = CtaSettingsBody),
        (status = 403, description = "An organizer's key", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn patch_cta_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(patch): ApiJson<CtaSettingsPatch>,
) -> ApiResult<Json<CtaSettingsBody>> {
    let owner = caller.require_owner("the call-to-action settings")?;
    let s = match patch.signed_only {
        Some(on) => {
            tracing::info!(
                owner = owner.0,
                signed_only = on,
                "call-to-action links switched"
            );
            super::db::set_signed_only(state.db(), owner, on).await?
        }
        None => super::db::settings(state.db(), owner).await?,
    };
    Ok(Json(CtaSettingsBody {
        signed_only: s.signed_only,
    }))
}
