//! The domain owner and its organizers: who may send calendar invitations
//! to the owner's ingest mailbox, and their settings.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use calinvite_core::EmailAddress;
use calinvite_core::lifecycle::{
    AllowEntry, DomainOwner, OrganizerAccount, OrganizerId, OwnerId, PipelineError, Scope,
    Settings, Store as _,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::keys::NewKeyBody;
use super::{OrganizerBody, Page, PageQuery, SettingsBody, SettingsPatch};
use crate::extract::{
    ApiJson, ApiPath, ApiQuery, Caller, decode_cursor, encode_cursor, page_limit,
};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

/// A domain owner: one sending domain and its mailboxes.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct OwnerBody {
    /// Its id.
    pub id: u64,
    /// Its name, shown as the sender of notices.
    pub name: String,
    /// The domain of invitation UIDs and Message-IDs.
    pub mail_domain: String,
    /// Where organizers send calendar invitations for calinvite to adopt.
    pub ingest_address: String,
    /// The ORGANIZER and From of every invitation: answers come here.
    pub reply_address: String,
    /// The envelope sender: delivery reports come here.
    pub bounce_address: String,
    /// The defaults of its organizers.
    pub settings: SettingsBody,
}

impl From<&DomainOwner> for OwnerBody {
    fn from(o: &DomainOwner) -> Self {
        OwnerBody {
            id: o.id.0,
            name: o.name.clone(),
            mail_domain: o.mail_domain.clone(),
            ingest_address: o.ingest.as_str().to_owned(),
            reply_address: o.reply.as_str().to_owned(),
            bounce_address: o.bounce.as_str().to_owned(),
            settings: o.settings.into(),
        }
    }
}

/// Changes to the domain owner.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerPatch {
    /// A new name.
    pub name: Option<String>,
    /// Changes to the defaults of its organizers.
    pub settings: Option<SettingsPatch>,
}

/// A new organizer.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganizer {
    /// Its name.
    pub name: String,
    /// The address it sends its calendar invitations from.
    pub address: String,
    /// More addresses allowed to act as it.
    #[serde(default)]
    pub more_addresses: Vec<String>,
    /// Domains whose every address may act as it (`example.com`).
    #[serde(default)]
    pub domains: Vec<String>,
    /// Where notices and reports go (default: `address`).
    pub notify: Option<String>,
    /// Its own settings (default: the domain owner's).
    pub settings: Option<SettingsPatch>,
    /// Also make an API key for it (shown once in the answer).
    #[serde(default)]
    pub create_key: bool,
}

/// A registered organizer, and its key when one was asked for.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OrganizerCreated {
    /// The organizer.
    pub organizer: OrganizerBody,
    /// Its API key, shown this once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<NewKeyBody>,
    /// Invitations held from its addresses before it was registered, and
    /// what each became (they went through as if they arrived now).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub released: Vec<super::held::ReleasedBody>,
}

/// Changes to an organizer: the fields given are replaced.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizerPatch {
    /// A new name.
    pub name: Option<String>,
    /// The addresses allowed to act as it (all of them).
    pub addresses: Option<Vec<String>>,
    /// The domains allowed to act as it (all of them).
    pub domains: Option<Vec<String>>,
    /// Where notices and reports go.
    pub notify: Option<String>,
    /// Changes to its own settings (starting from those in force).
    pub settings: Option<SettingsPatch>,
    /// `true`: drop its own settings and take the domain owner's.
    #[serde(default)]
    pub inherit_settings: bool,
}

pub(crate) fn address(pointer: &str, text: &str) -> ApiResult<EmailAddress> {
    EmailAddress::parse(text.trim()).map_err(|e| ApiError::field(pointer, e.to_string()))
}

fn domain(pointer: &str, text: &str) -> ApiResult<String> {
    let d = text.trim().trim_end_matches('.').to_ascii_lowercase();
    // A domain is what follows the @ of an address.
    EmailAddress::parse(&format!("x@{d}"))
        .map(|a| a.domain().to_owned())
        .map_err(|_| ApiError::field(pointer, "not a domain name"))
}

fn name(pointer: &str, text: &str) -> ApiResult<String> {
    let n = text.trim();
    if n.is_empty() || n.chars().count() > 200 || n.chars().any(char::is_control) {
        return Err(ApiError::field(
            pointer,
            "a name of 1 to 200 characters, no control characters",
        ));
    }
    Ok(n.to_owned())
}

async fn owner(state: &AppState, id: OwnerId) -> ApiResult<DomainOwner> {
    state
        .pipeline()
        .store()
        .owner(id)
        .await
        .map_err(PipelineError::from)?
        .ok_or_else(|| ApiError::not_found("domain owner"))
}

async fn account(state: &AppState, scope: Scope) -> ApiResult<OrganizerAccount> {
    state
        .pipeline()
        .store()
        .organizer(scope)
        .await
        .map_err(PipelineError::from)?
        .ok_or_else(|| ApiError::not_found(format!("organizer {}", scope.organizer.0)))
}

/// Fails with 409 when another organizer of the owner already allows
/// `address` (mail from it would have two organizers).
async fn check_free(
    state: &AppState,
    owner: OwnerId,
    except: Option<OrganizerId>,
    allow: &[AllowEntry],
) -> ApiResult<()> {
    let others = state
        .pipeline()
        .store()
        .organizers(owner)
        .await
        .map_err(PipelineError::from)?;
    for other in others.iter().filter(|o| Some(o.scope.organizer) != except) {
        for e in allow {
            let taken = match e {
                AllowEntry::Address(a) => other.allows(a),
                AllowEntry::Domain(d) => other.allow.contains(&AllowEntry::Domain(d.clone())),
            };
            if taken {
                return Err(ApiError::conflict(format!(
                    "organizer {} already sends as {}",
                    other.scope.organizer.0,
                    match e {
                        AllowEntry::Address(a) => a.as_str().to_owned(),
                        AllowEntry::Domain(d) => format!("@{d}"),
                    }
                )));
            }
        }
    }
    Ok(())
}

/// Registers an organizer under `owner` with the next free id.
pub(crate) async fn register(
    state: &AppState,
    owner_id: OwnerId,
    new: &NewOrganizer,
) -> ApiResult<OrganizerAccount> {
    let owner = owner(state, owner_id).await?;
    let name = name("/name", &new.name)?;
    let first = address("/address", &new.address)?;
    let mut allow = vec![AllowEntry::Address(first.clone())];
    for (i, a) in new.more_addresses.iter().enumerate() {
        allow.push(AllowEntry::Address(address(
            &format!("/more_addresses/{i}"),
            a,
        )?));
    }
    for (i, d) in new.domains.iter().enumerate() {
        allow.push(AllowEntry::Domain(domain(&format!("/domains/{i}"), d)?));
    }
    let notify = match &new.notify {
        Some(n) => address("/notify", n)?,
        None => first,
    };
    if allow
        .iter()
        .any(|e| matches!(e, AllowEntry::Address(a) if owner.serves(a)))
    {
        return Err(ApiError::field(
            "/address",
            "that is one of calinvite's own mailboxes",
        ));
    }
    check_free(state, owner_id, None, &allow).await?;
    // The next id no one has taken: the store's organizers and the
    // server's claims both count.
    let store_max = state
        .pipeline()
        .store()
        .organizers(owner_id)
        .await
        .map_err(PipelineError::from)?
        .iter()
        .map(|o| o.scope.organizer.0)
        .max()
        .unwrap_or(0);
    let mut next = store_max.max(state.db().max_organizer(owner_id).await?) + 1;
    let now = state.now();
    let scope = loop {
        let scope = Scope::new(owner_id, OrganizerId(next));
        if state.db().claim_organizer(scope, now).await? {
            break scope;
        }
        next += 1;
    };
    let mut account = OrganizerAccount::new(scope, name, notify).with_allow_list(allow);
    if let Some(patch) = &new.settings {
        account = account.with_settings(patch.apply(owner.settings));
    }
    state.pipeline().register_organizer(account.clone()).await?;
    tracing::info!(
        owner = owner_id.0,
        organizer = scope.organizer.0,
        "organizer registered"
    );
    Ok(account)
}

/// The domain owner of the key.
#[utoipa::path(
    get,
    path = "/v1/owner",
    tag = "organizers",
    responses((status = 200, description = "The domain owner", body = OwnerBody))
)]
pub(crate) async fn get_owner(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<OwnerBody>> {
    Ok(Json(OwnerBody::from(&owner(&state, caller.owner()).await?)))
}

/// Changes the domain owner's name or the defaults of its organizers
/// (a domain owner's key).
#[utoipa::path(
    patch,
    path = "/v1/owner",
    tag = "organizers",
    request_body = OwnerPatch,
    responses(
        (status = 200, description = "The domain owner, changed", body = OwnerBody),
        (status = 403, description = "An organizer's key", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn patch_owner(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(patch): ApiJson<OwnerPatch>,
) -> ApiResult<Json<OwnerBody>> {
    let id = caller.require_owner("changing the domain owner")?;
    let mut o = owner(&state, id).await?;
    if let Some(n) = &patch.name {
        o.name = name("/name", n)?;
    }
    if let Some(s) = &patch.settings {
        o.settings = s.apply(o.settings);
    }
    state.pipeline().register_owner(o.clone()).await?;
    Ok(Json(OwnerBody::from(&o)))
}

/// The organizers the key sees, in id order.
#[utoipa::path(
    get,
    path = "/v1/organizers",
    tag = "organizers",
    params(PageQuery),
    responses((status = 200, description = "A page of organizers", body = Page<OrganizerBody>))
)]
pub(crate) async fn list_organizers(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<OrganizerBody>>> {
    let limit = page_limit(q.limit)?;
    let after: u64 = match decode_cursor(q.cursor.as_deref())? {
        Some(c) => c.parse().map_err(|_| crate::extract::bad_cursor())?,
        None => 0,
    };
    let o = owner(&state, caller.owner()).await?;
    let mut all: Vec<OrganizerAccount> = state
        .pipeline()
        .store()
        .organizers(o.id)
        .await
        .map_err(PipelineError::from)?
        .into_iter()
        .filter(|a| caller.sees(a.scope) && a.scope.organizer.0 > after)
        .collect();
    all.sort_by_key(|a| a.scope.organizer);
    let more = all.len() > limit;
    all.truncate(limit);
    let next_cursor = more
        .then(|| {
            all.last()
                .map(|a| encode_cursor(&a.scope.organizer.0.to_string()))
        })
        .flatten();
    let items = all
        .iter()
        .map(|a| OrganizerBody::new(a, o.settings, o.ingest.as_str()))
        .collect();
    Ok(Json(Page { items, next_cursor }))
}

/// Registers an organizer: the address it sends its calendar invitations
/// from may then send them to the owner's ingest mailbox (a domain owner's
/// key).
#[utoipa::path(
    post,
    path = "/v1/organizers",
    tag = "organizers",
    request_body = NewOrganizer,
    responses(
        (status = 201, description = "Registered", body = OrganizerCreated,
            headers(("Location" = String, description = "The organizer's URL"))),
        (status = 403, description = "An organizer's key", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another organizer sends as that address", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_organizer(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewOrganizer>,
) -> ApiResult<impl IntoResponse> {
    let owner_id = caller.require_owner("registering an organizer")?;
    let account = register(&state, owner_id, &new).await?;
    let key = if new.create_key {
        Some(
            super::keys::make_key(
                &state,
                owner_id,
                Some(account.scope.organizer),
                &account.name,
            )
            .await?,
        )
    } else {
        None
    };
    // The owner vouches for the address: what it sent before is released.
    let released = state.newcomers().release_allowed(&account).await;
    let o = owner(&state, owner_id).await?;
    let body = OrganizerCreated {
        organizer: OrganizerBody::new(&account, o.settings, o.ingest.as_str()),
        key,
        released: released.iter().map(Into::into).collect(),
    };
    let location = format!("/v1/organizers/{}", account.scope.organizer.0);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(body),
    ))
}

/// One organizer.
#[utoipa::path(
    get,
    path = "/v1/organizers/{id}",
    tag = "organizers",
    params(("id" = u64, Path, description = "The organizer's id")),
    responses((status = 200, description = "The organizer", body = OrganizerBody))
)]
pub(crate) async fn get_organizer(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<u64>,
) -> ApiResult<Json<OrganizerBody>> {
    let scope = caller.scope_of(id)?;
    let a = account(&state, scope).await?;
    let o = owner(&state, scope.owner).await?;
    Ok(Json(OrganizerBody::new(&a, o.settings, o.ingest.as_str())))
}

/// Changes an organizer: its name, who may act as it, where its notices
/// go, its settings. Who may act as it and `inbound_auth` are the domain
/// owner's to change (an organizer's key gets 403).
#[utoipa::path(
    patch,
    path = "/v1/organizers/{id}",
    tag = "organizers",
    params(("id" = u64, Path, description = "The organizer's id")),
    request_body = OrganizerPatch,
    responses(
        (status = 200, description = "The organizer, changed", body = OrganizerBody),
        (status = 403, description = "An organizer's key changing who may send as it or how that mail is authenticated", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another organizer sends as that address", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn patch_organizer(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<u64>,
    ApiJson(patch): ApiJson<OrganizerPatch>,
) -> ApiResult<Json<OrganizerBody>> {
    let scope = caller.scope_of(id)?;
    // Who may send as an organizer, and how their mail is authenticated,
    // decide whose mail becomes its events: the domain owner's to set.
    let touches_trust = patch.addresses.is_some()
        || patch.domains.is_some()
        || patch.settings.is_some_and(|s| s.inbound_auth.is_some());
    if touches_trust {
        caller.require_owner(
            "changing who may send as an organizer, or how that mail is authenticated,",
        )?;
    }
    let mut a = account(&state, scope).await?;
    let o = owner(&state, scope.owner).await?;
    if let Some(n) = &patch.name {
        a.name = name("/name", n)?;
    }
    if patch.addresses.is_some() || patch.domains.is_some() {
        let mut allow = Vec::new();
        match &patch.addresses {
            Some(list) => {
                for (i, x) in list.iter().enumerate() {
                    allow.push(AllowEntry::Address(address(&format!("/addresses/{i}"), x)?));
                }
            }
            None => allow.extend(
                a.allow
                    .iter()
                    .filter(|e| matches!(e, AllowEntry::Address(_)))
                    .cloned(),
            ),
        }
        match &patch.domains {
            Some(list) => {
                for (i, d) in list.iter().enumerate() {
                    allow.push(AllowEntry::Domain(domain(&format!("/domains/{i}"), d)?));
                }
            }
            None => allow.extend(
                a.allow
                    .iter()
                    .filter(|e| matches!(e, AllowEntry::Domain(_)))
                    .cloned(),
            ),
        }
        if allow.is_empty() {
            return Err(ApiError::field(
                "/addresses",
                "an organizer needs at least one address or domain",
            ));
        }
        if allow
            .iter()
            .any(|e| matches!(e, AllowEntry::Address(x) if o.serves(x)))
        {
            return Err(ApiError::field(
                "/addresses",
                "that is one of calinvite's own mailboxes",
            ));
        }
        check_free(&state, scope.owner, Some(scope.organizer), &allow).await?;
        a = a.with_allow_list(allow);
    }
    if let Some(n) = &patch.notify {
        a.notify = address("/notify", n)?;
    }
    if patch.inherit_settings {
        a.settings = None;
    }
    if let Some(s) = &patch.settings {
        let base: Settings = a.settings.unwrap_or(o.settings);
        a.settings = Some(s.apply(base));
    }
    state.pipeline().register_organizer(a.clone()).await?;
    if patch.addresses.is_some() || patch.domains.is_some() {
        // Invitations held from addresses it has now are released.
        state.newcomers().release_allowed(&a).await;
    }
    Ok(Json(OrganizerBody::new(&a, o.settings, o.ingest.as_str())))
}
