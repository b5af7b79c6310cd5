//! Users of an application: sign-up, profile reads and updates, password changes, account deletion and
//! the list/filter calls.

use crate::accounts::UserQuery;
use crate::credentials::derive_credentials;
use crate::error::StoreError;
use crate::events::Event;
use crate::model::{Profile, User};
use crate::sessions::Caller;
use crate::{Core, CoreError, CoreResult};

/// Passwords shorter than this are refused, as ConnectyCube does.
pub const MIN_PASSWORD_LEN: usize = 8;
/// The largest page a list call returns.
pub const MAX_PAGE: i64 = 100;

/// `PUT /users/{id}`: profile changes and, optionally, a new password with the old one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserUpdate {
    pub patch: ProfilePatch,
    pub password: Option<String>,
    pub old_password: Option<String>,
}

/// A user to create in bulk.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewUser {
    pub profile: Profile,
    pub password: String,
}

#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    /// Users inserted per transaction.
    pub batch: usize,
    /// Derive once per distinct password: users with the same password share its salt and hashes. For
    /// load-test accounts, where it turns an hour of hashing into seconds; never for real users.
    pub share_equal_passwords: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            batch: 500,
            share_equal_passwords: false,
        }
    }
}

pub struct UserService {
    core: Core,
}

impl UserService {
    pub(crate) fn new(core: Core) -> UserService {
        UserService { core }
    }

    /// Creates a user with a password. Needs a login or an e-mail.
    pub async fn signup(&self, app_id: i64, profile: Profile, password: Option<String>) -> CoreResult<User> {
        let profile = checked_new_user(profile, password.as_deref())?;
        let password = password.unwrap_or_default();
        let iterations = self.core.settings.scram_iterations;
        let credentials = tokio::task::spawn_blocking(move || derive_credentials(&password, iterations))
            .await
            .map_err(|e| CoreError::Rejected(e.to_string()))?;
        let now = self.core.clock.now_millis();
        self.core
            .store
            .create_user(app_id, &profile, &credentials, false, now)
            .await
            .map_err(conflict_to_invalid)
    }

    /// Creates many users at once (bulk provisioning): each is checked as in sign-up, the password
    /// derivations run on every core, and the inserts go in transactions of `options.batch` users. A
    /// batch that fails is retried user by user, so only the offending users fail. One result per input,
    /// in order.
    pub async fn import(
        &self,
        app_id: i64,
        users: Vec<NewUser>,
        options: ImportOptions,
    ) -> Vec<CoreResult<User>> {
        let mut results: Vec<Option<CoreResult<User>>> = Vec::with_capacity(users.len());
        let mut valid: Vec<(usize, Profile, usize)> = Vec::new(); // (input index, profile, secret index)
        let mut secrets: Vec<String> = Vec::new();
        let mut secret_of: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for (index, user) in users.into_iter().enumerate() {
            match checked_new_user(user.profile, Some(&user.password)) {
                Ok(profile) => {
                    let secret = if options.share_equal_passwords {
                        *secret_of.entry(user.password.clone()).or_insert_with(|| {
                            secrets.push(user.password.clone());
                            secrets.len() - 1
                        })
                    } else {
                        secrets.push(user.password);
                        secrets.len() - 1
                    };
                    valid.push((index, profile, secret));
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let credentials = match self.derive_all(secrets).await {
            Ok(c) => c,
            Err(e) => {
                return results
                    .into_iter()
                    .map(|r| r.unwrap_or_else(|| Err(CoreError::Rejected(e.to_string()))))
                    .collect()
            }
        };
        let now = self.core.clock.now_millis();
        for batch in valid.chunks(options.batch.max(1)) {
            let rows: Vec<(Profile, crate::model::Credentials)> = batch
                .iter()
                .map(|(_, profile, secret)| (profile.clone(), credentials[*secret].clone()))
                .collect();
            match self.core.store.create_users(app_id, &rows, now).await {
                Ok(created) => {
                    for ((index, _, _), user) in batch.iter().zip(created) {
                        results[*index] = Some(Ok(user));
                    }
                }
                Err(_) => {
                    for ((index, _, _), (profile, creds)) in batch.iter().zip(&rows) {
                        let one = self
                            .core
                            .store
                            .create_user(app_id, profile, creds, false, now)
                            .await
                            .map_err(conflict_to_invalid);
                        results[*index] = Some(one);
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.expect("every input has a result"))
            .collect()
    }

    /// Derives credentials for every secret, spread over the available cores.
    async fn derive_all(&self, secrets: Vec<String>) -> CoreResult<Vec<crate::model::Credentials>> {
        let iterations = self.core.settings.scram_iterations;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_task = secrets.len().div_ceil(cores).max(1);
        let mut tasks = Vec::new();
        let mut rest = secrets;
        while !rest.is_empty() {
            let tail = rest.split_off(per_task.min(rest.len()));
            let chunk = std::mem::replace(&mut rest, tail);
            tasks.push(tokio::task::spawn_blocking(move || {
                chunk
                    .iter()
                    .map(|secret| derive_credentials(secret, iterations))
                    .collect::<Vec<_>>()
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.map_err(|e| CoreError::Rejected(e.to_string()))?);
        }
        Ok(all)
    }

    pub async fn get(&self, app_id: i64, user_id: i64) -> CoreResult<User> {
        self.core
            .store
            .user(app_id, user_id)
            .await?
            .ok_or(CoreError::NotFound)
    }

    pub async fn by_login(&self, app_id: i64, login: &str) -> CoreResult<User> {
        self.core
            .store
            .user_by_login(app_id, login.trim())
            .await?
            .ok_or(CoreError::NotFound)
    }

    pub async fn by_email(&self, app_id: i64, email: &str) -> CoreResult<User> {
        self.core
            .store
            .user_by_email(app_id, email.trim())
            .await?
            .ok_or(CoreError::NotFound)
    }

    /// The page of users matching `query`, and how many match in all.
    pub async fn list(&self, query: &UserQuery) -> CoreResult<(Vec<User>, i64)> {
        let mut query = query.clone();
        query.limit = query.limit.clamp(1, MAX_PAGE);
        query.skip = query.skip.max(0);
        Ok(self.core.store.list_users(&query).await?)
    }

    /// Updates the caller's own profile. Changing the password needs the old one.
    pub async fn update(&self, caller: &Caller, user_id: i64, update: UserUpdate) -> CoreResult<User> {
        let own_id = caller.user_id()?;
        if own_id != user_id {
            return Err(CoreError::Forbidden(
                "You can update only your own profile".into(),
            ));
        }
        let mut user = self.get(caller.app_id, user_id).await?;
        update.patch.apply(&mut user.profile);
        let mut profile = normalized(user.profile);
        let mut errors = Vec::new();
        if profile.login.is_none() && profile.email.is_none() {
            errors.push(("base".to_owned(), "login or email is required".to_owned()));
        }
        validate_profile(&profile, &mut errors);
        if let Some(password) = &update.password {
            if password.chars().count() < MIN_PASSWORD_LEN {
                errors.push((
                    "password".into(),
                    format!("is too short (minimum is {MIN_PASSWORD_LEN} characters)"),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(CoreError::Invalid(errors));
        }
        if let Some(password) = update.password {
            self.change_password(caller.app_id, user_id, password, update.old_password)
                .await?;
        }
        profile.user_tags = profile.user_tags.map(|t| normalize_tags(&t));
        let now = self.core.clock.now_millis();
        self.core
            .store
            .update_user(caller.app_id, user_id, &profile, now)
            .await
            .map_err(conflict_to_invalid)?
            .ok_or(CoreError::NotFound)
    }

    /// Deletes the caller's own account with its sessions.
    pub async fn delete(&self, caller: &Caller, user_id: i64) -> CoreResult<()> {
        if caller.user_id()? != user_id {
            return Err(CoreError::Forbidden(
                "You can delete only your own account".into(),
            ));
        }
        if self.core.store.delete_user(caller.app_id, user_id).await? {
            self.core
                .events
                .publish(Event::UserDeleted {
                    app_id: caller.app_id,
                    user_id,
                })
                .await;
            Ok(())
        } else {
            Err(CoreError::NotFound)
        }
    }

    async fn change_password(
        &self,
        app_id: i64,
        user_id: i64,
        password: String,
        old: Option<String>,
    ) -> CoreResult<()> {
        let stored = self
            .core
            .store
            .credentials(app_id, user_id)
            .await?
            .ok_or(CoreError::NotFound)?;
        let old = old.ok_or_else(|| CoreError::invalid("old_password", "can't be blank"))?;
        let valid = self
            .core
            .passwords()
            .verify(app_id, user_id, stored, &old, None)
            .await?;
        if !valid {
            return Err(CoreError::invalid("old_password", "is incorrect"));
        }
        let iterations = self.core.settings.scram_iterations;
        let fresh = tokio::task::spawn_blocking(move || derive_credentials(&password, iterations))
            .await
            .map_err(|e| CoreError::Rejected(e.to_string()))?;
        self.core.store.set_credentials(app_id, user_id, &fresh).await?;
        Ok(())
    }
}

/// A new user's profile, normalised, if it and the password pass sign-up's rules.
fn checked_new_user(profile: Profile, password: Option<&str>) -> CoreResult<Profile> {
    let mut profile = normalized(profile);
    let mut errors = Vec::new();
    if profile.login.is_none() && profile.email.is_none() {
        errors.push(("base".to_owned(), "login or email is required".to_owned()));
    }
    validate_profile(&profile, &mut errors);
    match password {
        None => errors.push(("password".into(), "can't be blank".into())),
        Some(p) if p.chars().count() < MIN_PASSWORD_LEN => errors.push((
            "password".into(),
            format!("is too short (minimum is {MIN_PASSWORD_LEN} characters)"),
        )),
        _ => {}
    }
    if !errors.is_empty() {
        return Err(CoreError::Invalid(errors));
    }
    profile.user_tags = profile.user_tags.map(|t| normalize_tags(&t));
    Ok(profile)
}

/// Trims text fields and turns empty ones into "not set".
fn normalized(mut profile: Profile) -> Profile {
    fn clean(field: &mut Option<String>) {
        *field = field
            .take()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
    }
    for field in [
        &mut profile.login,
        &mut profile.email,
        &mut profile.full_name,
        &mut profile.phone,
        &mut profile.website,
        &mut profile.avatar,
        &mut profile.external_id,
        &mut profile.facebook_id,
        &mut profile.twitter_id,
        &mut profile.user_tags,
    ] {
        clean(field);
    }
    profile
}

fn validate_profile(profile: &Profile, errors: &mut Vec<(String, String)>) {
    if let Some(login) = &profile.login {
        if login.chars().count() > 50 {
            errors.push(("login".into(), "is too long (maximum is 50 characters)".into()));
        }
    }
    if let Some(email) = &profile.email {
        let well_formed = email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.ends_with('.')
        }) && !email.contains(char::is_whitespace);
        if !well_formed {
            errors.push(("email".into(), "is invalid".into()));
        }
    }
    if let Some(name) = &profile.full_name {
        if name.chars().count() > 200 {
            errors.push((
                "full_name".into(),
                "is too long (maximum is 200 characters)".into(),
            ));
        }
    }
}

/// `"vip, accountant,,vip"` → `"vip,accountant"`.
pub fn normalize_tags(tags: &str) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for tag in tags.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if !seen.contains(&tag) {
            seen.push(tag);
        }
    }
    seen.join(",")
}

fn conflict_to_invalid(error: StoreError) -> CoreError {
    match error {
        StoreError::Conflict(field) => CoreError::invalid(&field, "has already been taken"),
        other => CoreError::Store(other),
    }
}

/// A partial update of a profile: `Some(None)` clears a field, `None` leaves it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfilePatch {
    pub login: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub full_name: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub website: Option<Option<String>>,
    pub custom_data: Option<Option<String>>,
    pub avatar: Option<Option<String>>,
    pub blob_id: Option<Option<i64>>,
    pub external_user_id: Option<Option<i64>>,
    pub external_id: Option<Option<String>>,
    pub facebook_id: Option<Option<String>>,
    pub twitter_id: Option<Option<String>>,
    pub user_tags: Option<Option<String>>,
    pub timezone: Option<Option<i64>>,
}

impl ProfilePatch {
    /// Applies the patch to a profile.
    pub fn apply(&self, profile: &mut Profile) {
        fn set<T: Clone>(target: &mut Option<T>, change: &Option<Option<T>>) {
            if let Some(value) = change {
                *target = value.clone();
            }
        }
        set(&mut profile.login, &self.login);
        set(&mut profile.email, &self.email);
        set(&mut profile.full_name, &self.full_name);
        set(&mut profile.phone, &self.phone);
        set(&mut profile.website, &self.website);
        set(&mut profile.custom_data, &self.custom_data);
        set(&mut profile.avatar, &self.avatar);
        set(&mut profile.blob_id, &self.blob_id);
        set(&mut profile.external_user_id, &self.external_user_id);
        set(&mut profile.external_id, &self.external_id);
        set(&mut profile.facebook_id, &self.facebook_id);
        set(&mut profile.twitter_id, &self.twitter_id);
        set(&mut profile.user_tags, &self.user_tags);
        set(&mut profile.timezone, &self.timezone);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_trimmed_and_deduplicated() {
        assert_eq!(normalize_tags(" vip, accountant,,vip "), "vip,accountant");
    }

    #[test]
    fn profile_validation_names_the_fields() {
        let mut errors = Vec::new();
        let profile = Profile {
            email: Some("not-an-email".into()),
            ..Profile::default()
        };
        validate_profile(&profile, &mut errors);
        assert_eq!(errors, vec![("email".to_string(), "is invalid".to_string())]);
    }
}
