//! `/blobs`: file storage (docs/protocol.md#rest-blobs) the way both SDKs' `storage` module drives it.
//!
//! * `POST /blobs` makes the row; its `blob_object_access.params` is an upload URL back at this server
//!   (`{base}/blobs/{id}/upload?key={uid}&token={one-time token}`) whose query the SDKs turn into multipart
//!   form fields, the file last (`POST /blobs/{id}/upload`).
//! * `PUT /blobs/{id}/complete` (`{"size":N}` or `{"blob":{"size":N}}`) makes the file downloadable.
//! * `GET /blobs/{id}[.json]`, `GET /blobs/{uid}.json`: the Blob; with `blob[name]` (the SDKs' `update`,
//!   sent as GET) a rename. `PUT /blobs/{id}` renames too, `DELETE /blobs/{id}` deletes, `GET /blobs` lists.
//! * `GET /blobs/{uid}` (no `.json`: the SDKs' `publicUrl`/`privateUrl`) and `GET /blobs/{uid}/download`:
//!   the bytes, streamed, with ranges, ETag (the SHA-256) and `?token=` for private files.
//!
//! The rules (who may read what) are `palaver_core::blobs`.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Input};
use crate::params::{flag, integer, parse_urlencoded, text};
use crate::{render, ApiState, JsonSuffix, OverTls};
use axum::body::Body;
use axum::extract::{FromRequestParts, Multipart, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::TryStreamExt;
use palaver_core::blobs::{Blob, BlobChange, BlobError, BlobRef, BlobRequest, DEFAULT_PER_PAGE};
use palaver_core::sessions::Caller;
use palaver_core::CoreError;
use serde_json::{json, Map, Value};
use std::io;
use std::ops::Range;
use tokio::io::AsyncReadExt;
use tokio_util::io::{ReaderStream, StreamReader};

/// How much of a refused upload is still read (and thrown away) so the client gets to see the answer
/// instead of a reset connection.
const DRAIN_LIMIT: u64 = 16 * 1024 * 1024;
/// Form fields before the file: how many, how long.
const MAX_FIELDS: usize = 32;
const MAX_FIELD_BYTES: usize = 8 * 1024;
/// Download chunk size.
const READ_CHUNK: usize = 64 * 1024;

/// The base URL of the server as this request reached it: `PALAVER_PUBLIC_URL` if set, otherwise the
/// scheme (`X-Forwarded-Proto`, or TLS or not) and host (`X-Forwarded-Host`, `Host`) the request came with.
/// IPv6 literals are replaced by host names: the SDKs cannot parse them in upload URLs.
pub struct BaseUrl(pub String);

impl FromRequestParts<ApiState> for BaseUrl {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<BaseUrl, ApiError> {
        if let Some(url) = &state.core.blob_config.public_url {
            return Ok(BaseUrl(url.trim_end_matches('/').to_owned()));
        }
        Ok(BaseUrl(base_url(parts, &state.domain)))
    }
}

fn first_header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn base_url(parts: &Parts, domain: &str) -> String {
    let scheme = match first_header(parts, "x-forwarded-proto") {
        Some(proto) if proto.eq_ignore_ascii_case("https") => "https",
        Some(proto) if proto.eq_ignore_ascii_case("http") => "http",
        _ if parts.extensions.get::<OverTls>().is_some() => "https",
        _ => match parts.uri.scheme_str() {
            Some("https") => "https",
            _ => "http",
        },
    };
    let host = first_header(parts, "x-forwarded-host")
        .or_else(|| first_header(parts, "host"))
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("localhost");
    format!("{scheme}://{}", host_name(host, domain))
}

/// `host[:port]` made safe for an URL the SDK parses: IPv6 literals become `localhost` (loopback) or the
/// XMPP domain; anything with odd characters becomes the domain.
fn host_name(host: &str, domain: &str) -> String {
    if let Some(rest) = host.strip_prefix('[') {
        let (address, port) = rest.split_once(']').unwrap_or((rest, ""));
        let name = if address == "::1" { "localhost" } else { domain };
        return format!("{name}{port}");
    }
    let safe = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b':' || b == b'_');
    if safe {
        host.to_owned()
    } else {
        domain.to_owned()
    }
}

/// The fields of a blob request: inside `blob` (`{"blob":{…}}`, `blob[name]=…`) or at the top level.
fn blob_fields(params: &Map<String, Value>) -> &Map<String, Value> {
    match params.get("blob") {
        Some(Value::Object(fields)) => fields,
        _ => params,
    }
}

fn id_of(segment: &str) -> ApiResult<i64> {
    match BlobRef::parse(segment) {
        BlobRef::Id(id) => Ok(id),
        BlobRef::Uid(_) => Err(ApiError::NotFound),
    }
}

fn one(blob: &Blob) -> Json<Value> {
    Json(json!({ "blob": render::blob(blob) }))
}

fn blob_error(error: BlobError) -> Response {
    match error {
        BlobError::Core(error) => ApiError::Core(error).into_response(),
        BlobError::TooLarge { max } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            Json(json!({"errors": {"base": [format!("The file is larger than the limit of {max} bytes")]}})),
        )
            .into_response(),
        BlobError::BadUpload(message) => {
            ApiError::BadRequest(format!("The upload could not be read: {message}")).into_response()
        }
        BlobError::Storage(error) => {
            tracing::error!(%error, "file storage failure");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"errors": ["Internal server error"]})),
            )
                .into_response()
        }
    }
}

// --- POST /blobs ---

/// `POST /blobs`: 201 `{"blob": Blob + blob_object_access}` with the upload URL.
pub async fn create(
    State(state): State<ApiState>,
    auth: Auth,
    BaseUrl(base): BaseUrl,
    Input(params): Input,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let fields = blob_fields(&params);
    let request = BlobRequest {
        name: text(fields.get("name")),
        content_type: text(fields.get("content_type")),
        public: flag(fields.get("public")),
    };
    let created = state.core.blobs().create(&auth.caller, request).await?;
    let blob = &created.blob;
    // Only unreserved characters in the values, so the SDK's decodeURIComponent gives them back as they are.
    let params = format!(
        "{base}/blobs/{}/upload?key={}&token={}",
        blob.id, blob.uid, created.upload_token
    );
    let mut body = render::blob(blob);
    body["blob_object_access"] = json!({
        "id": blob.id,
        "blob_id": blob.id,
        "expires": palaver_core::clock::iso8601(created.upload_expires_at),
        "object_access_type": "Write",
        "params": params,
    });
    Ok((StatusCode::CREATED, Json(json!({ "blob": body }))))
}

// --- POST /blobs/{id}/upload ---

/// The upload: multipart form fields (`key`, `token`, anything else is ignored; the query string may carry
/// them too), then the `file` part, streamed to the storage. 201 `{"blob": Blob}`.
pub async fn upload(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: axum::extract::RawQuery,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let id = match id_of(&id) {
        Ok(id) => id,
        Err(error) => return error.into_response(),
    };
    let max = state.core.blob_config.max_size;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max.saturating_add(DRAIN_LIMIT)) {
        // Far too large to read through: answer now and let the connection go.
        let mut response = blob_error(BlobError::TooLarge { max });
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    let mut multipart = match multipart {
        Ok(multipart) => multipart,
        Err(rejection) => {
            return ApiError::BadRequest(format!("Expected a multipart/form-data upload: {rejection}"))
                .into_response()
        }
    };
    let mut fields = query
        .0
        .map(|q| parse_urlencoded(q.as_bytes()))
        .unwrap_or_default();
    let mut budget = DRAIN_LIMIT;
    let mut count = 0;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return ApiError::BadRequest("The upload has no file part".into()).into_response(),
            Err(error) => {
                return ApiError::BadRequest(format!("Malformed multipart body: {error}")).into_response()
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name != "file" {
            count += 1;
            match read_field(field).await {
                Some(value) if count <= MAX_FIELDS => {
                    fields.insert(name, Value::String(value));
                }
                _ => {
                    return ApiError::BadRequest("Too many or too long form fields before the file".into())
                        .into_response()
                }
            }
            continue;
        }
        let part_type = field.content_type().map(str::to_owned);
        let content_type = text(fields.get("Content-Type")).or(part_type);
        let key = text(fields.get("key"));
        let upload_token = text(fields.get("token")).unwrap_or_default();
        let mut reader = StreamReader::new(field.map_err(io::Error::other));
        let outcome = state
            .core
            .blobs()
            .upload(
                id,
                key.as_deref(),
                &upload_token,
                content_type.as_deref(),
                &mut reader,
            )
            .await;
        return match outcome {
            Ok(blob) => {
                drop(reader);
                drain_rest(&mut multipart, &mut budget).await;
                (StatusCode::CREATED, one(&blob)).into_response()
            }
            Err(error) => {
                // Read what is left (up to a limit) so the client gets the answer.
                if let Ok(read) =
                    tokio::io::copy(&mut (&mut reader).take(budget), &mut tokio::io::sink()).await
                {
                    budget -= read;
                }
                drop(reader);
                drain_rest(&mut multipart, &mut budget).await;
                blob_error(error)
            }
        };
    }
}

/// A text field, or `None` when it is longer than `MAX_FIELD_BYTES` or not UTF-8.
async fn read_field(mut field: axum::extract::multipart::Field<'_>) -> Option<String> {
    let mut value = Vec::new();
    while let Some(chunk) = field.chunk().await.ok()? {
        if value.len() + chunk.len() > MAX_FIELD_BYTES {
            return None;
        }
        value.extend_from_slice(&chunk);
    }
    String::from_utf8(value).ok()
}

/// Reads the parts after the file, within the budget.
async fn drain_rest(multipart: &mut Multipart, budget: &mut u64) {
    while *budget > 0 {
        let Ok(Some(mut field)) = multipart.next_field().await else {
            return;
        };
        while let Ok(Some(chunk)) = field.chunk().await {
            *budget = budget.saturating_sub(chunk.len() as u64);
            if *budget == 0 {
                return;
            }
        }
    }
}

// --- PUT /blobs/{id}/complete ---

/// `PUT /blobs/{id}/complete`: 200, empty (the SDKs read text).
pub async fn complete(
    State(state): State<ApiState>,
    auth: Auth,
    Path(id): Path<String>,
    Input(params): Input,
) -> ApiResult<StatusCode> {
    let id = id_of(&id)?;
    let size = integer(params.get("size")).or_else(|| integer(blob_fields(&params).get("size")));
    state.core.blobs().complete(&auth.caller, id, size).await?;
    Ok(StatusCode::OK)
}

// --- GET /blobs ---

/// `GET /blobs?page=&per_page=`: the caller's files in the v1 envelope.
pub async fn list(State(state): State<ApiState>, auth: Auth, Input(params): Input) -> ApiResult<Json<Value>> {
    let page = integer(params.get("page")).unwrap_or(1).max(1);
    let per_page = integer(params.get("per_page"))
        .unwrap_or(DEFAULT_PER_PAGE)
        .clamp(1, palaver_core::blobs::MAX_PER_PAGE);
    let (blobs, total) = state.core.blobs().list(&auth.caller, page, per_page).await?;
    let items: Vec<Value> = blobs.iter().map(|b| json!({ "blob": render::blob(b) })).collect();
    Ok(Json(json!({
        "current_page": page,
        "per_page": per_page,
        "total_entries": total,
        "items": items,
    })))
}

// --- GET /blobs/{id|uid} ---

/// `GET /blobs/{id}` (with or without `.json`) and `GET /blobs/{uid}.json`: the Blob, renamed first when
/// `blob[name]` is given (the SDKs' `storage.update`). `GET /blobs/{uid}` without `.json`: the file.
pub async fn show(
    State(state): State<ApiState>,
    Path(segment): Path<String>,
    json_suffix: Option<axum::Extension<JsonSuffix>>,
    headers: HeaderMap,
    Input(params): Input,
) -> Result<Response, ApiError> {
    let blob_ref = BlobRef::parse(&segment);
    if let (BlobRef::Uid(_), None) = (blob_ref, &json_suffix) {
        return download_file(&state, blob_ref, &headers, &params).await;
    }
    let caller = caller(&state, &headers, &params)
        .await?
        .ok_or(CoreError::SessionRequired)?;
    let blob = state.core.blobs().info(&caller, blob_ref).await?;
    let change = change_of(blob_fields_only(&params));
    if change != BlobChange::default() {
        let blob = state.core.blobs().update(&caller, blob.id, change).await?;
        return Ok(one(&blob).into_response());
    }
    Ok(one(&blob).into_response())
}

/// `GET /blobs/{uid}/download`: the file.
pub async fn download(
    State(state): State<ApiState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    Input(params): Input,
) -> Result<Response, ApiError> {
    download_file(&state, BlobRef::parse(&segment), &headers, &params).await
}

/// `GET /blobs/{uid}/object?download_url=1`: the Blob with a download URL (`?token=` of the caller's own
/// session for private files).
pub async fn object(
    State(state): State<ApiState>,
    auth: Auth,
    BaseUrl(base): BaseUrl,
    Path(segment): Path<String>,
) -> ApiResult<Json<Value>> {
    let blob = state
        .core
        .blobs()
        .info(&auth.caller, BlobRef::parse(&segment))
        .await?;
    let url = if blob.public {
        format!("{base}/blobs/{}", blob.uid)
    } else {
        format!("{base}/blobs/{}?token={}", blob.uid, auth.token)
    };
    let mut body = render::blob(&blob);
    body["blob_object_access"] = json!({
        "id": blob.id,
        "blob_id": blob.id,
        "object_access_type": "Read",
        "params": url,
        "download_url": url,
    });
    Ok(Json(json!({ "blob": body })))
}

/// Only what a `blob` object holds (a GET's other parameters are not a change).
fn blob_fields_only(params: &Map<String, Value>) -> Option<&Map<String, Value>> {
    match params.get("blob") {
        Some(Value::Object(fields)) => Some(fields),
        _ => None,
    }
}

fn change_of(fields: Option<&Map<String, Value>>) -> BlobChange {
    let Some(fields) = fields else {
        return BlobChange::default();
    };
    BlobChange {
        name: text(fields.get("name")),
        public: fields.get("public").map(|v| flag(Some(v))),
    }
}

// --- PUT, DELETE /blobs/{id} ---

/// `PUT /blobs/{id}` `{"blob":{"name":…,"public":…}}`.
pub async fn update(
    State(state): State<ApiState>,
    auth: Auth,
    Path(id): Path<String>,
    Input(params): Input,
) -> ApiResult<Json<Value>> {
    let id = id_of(&id)?;
    let blob = state
        .core
        .blobs()
        .update(&auth.caller, id, change_of(Some(blob_fields(&params))))
        .await?;
    Ok(one(&blob))
}

/// `DELETE /blobs/{id}`: 200, empty.
pub async fn delete(
    State(state): State<ApiState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.core.blobs().delete(&auth.caller, id_of(&id)?).await?;
    Ok(StatusCode::OK)
}

// --- Downloads ---

/// The caller behind `CB-Token` or `?token=`, if any; a dead token counts as none.
async fn caller(
    state: &ApiState,
    headers: &HeaderMap,
    params: &Map<String, Value>,
) -> ApiResult<Option<Caller>> {
    let from_header = headers
        .get("cb-token")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    let Some(token) = from_header.or_else(|| text(params.get("token")).filter(|t| !t.is_empty())) else {
        return Ok(None);
    };
    match state.core.sessions().authenticate(&token).await {
        Ok(caller) => Ok(Some(caller)),
        Err(CoreError::SessionRequired) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq)]
enum Ranged {
    Whole,
    Part(Range<u64>),
    Unsatisfiable,
}

/// One `bytes=` range (`a-b`, `a-`, `-n`); several ranges or a malformed header get the whole file, as RFC
/// 9110 allows.
fn parse_range(value: &str, size: u64) -> Ranged {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ranged::Whole;
    };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ranged::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // The last n bytes.
        return match last.parse::<u64>() {
            Ok(0) => Ranged::Unsatisfiable,
            Ok(_) if size == 0 => Ranged::Unsatisfiable,
            Ok(n) => Ranged::Part(size.saturating_sub(n)..size),
            Err(_) => Ranged::Whole,
        };
    }
    let Ok(start) = first.parse::<u64>() else {
        return Ranged::Whole;
    };
    let end = if last.is_empty() {
        size
    } else {
        match last.parse::<u64>() {
            Ok(last) if last >= start => last.saturating_add(1).min(size),
            _ => return Ranged::Whole,
        }
    };
    if start >= size {
        return Ranged::Unsatisfiable;
    }
    Ranged::Part(start..end)
}

fn etag_matches(header_value: Option<&HeaderValue>, etag: &str) -> bool {
    header_value.and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
    })
}

/// `inline; filename*=UTF-8''…` (RFC 6266 / 8187).
fn content_disposition(name: &str) -> HeaderValue {
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    HeaderValue::from_str(&format!("inline; filename*=UTF-8''{encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static("inline"))
}

async fn download_file(
    state: &ApiState,
    blob: BlobRef<'_>,
    headers: &HeaderMap,
    params: &Map<String, Value>,
) -> Result<Response, ApiError> {
    let viewer = caller(state, headers, params).await?;
    let blob = state.core.blobs().readable(blob, viewer.as_ref()).await?;
    let size = blob.size.unwrap_or(0).max(0) as u64;
    let etag = format!("\"{}\"", blob.checksum.as_deref().unwrap_or(&blob.uid));
    let mut response = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(
            header::CACHE_CONTROL,
            if blob.public {
                "public, max-age=3600"
            } else {
                "private, no-cache"
            },
        )
        // Files are the users' content: never let a browser run them as this origin's pages.
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'");
    if etag_matches(headers.get(header::IF_NONE_MATCH), &etag) {
        return Ok(response
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .unwrap_or_default());
    }
    // `If-Range` with another validator: the range is for another version, send everything.
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .is_none_or(|v| etag_matches(Some(v), &etag));
    let ranged = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(value) if if_range_ok => parse_range(value, size),
        _ => Ranged::Whole,
    };
    let (status, range) = match ranged {
        Ranged::Unsatisfiable => {
            return Ok(response
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{size}"))
                .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
                .body(Body::from(
                    json!({"errors": [format!("The range is not satisfiable: the file has {size} bytes")]})
                        .to_string(),
                ))
                .unwrap_or_default());
        }
        Ranged::Whole => (StatusCode::OK, None),
        Ranged::Part(range) => {
            response = response.header(
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{size}", range.start, range.end - 1),
            );
            (StatusCode::PARTIAL_CONTENT, Some(range))
        }
    };
    let length = range.as_ref().map(|r| r.end - r.start).unwrap_or(size);
    let reader = match state.core.blobs().open(&blob, range).await {
        Ok(reader) => reader,
        Err(error) => return Ok(blob_error(error)),
    };
    let content_type = HeaderValue::from_str(&blob.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    Ok(response
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, length)
        .header(header::CONTENT_DISPOSITION, content_disposition(&blob.name))
        .body(Body::from_stream(ReaderStream::with_capacity(reader, READ_CHUNK)))
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-99", 1000), Ranged::Part(0..100));
        assert_eq!(parse_range("bytes=900-", 1000), Ranged::Part(900..1000));
        assert_eq!(parse_range("bytes=-10", 1000), Ranged::Part(990..1000));
        assert_eq!(parse_range("bytes=-5000", 1000), Ranged::Part(0..1000));
        assert_eq!(parse_range("bytes=990-5000", 1000), Ranged::Part(990..1000));
        assert_eq!(parse_range("bytes=1000-", 1000), Ranged::Unsatisfiable);
        assert_eq!(parse_range("bytes=1000-1001", 1000), Ranged::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 1000), Ranged::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Ranged::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 1000), Ranged::Whole);
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), Ranged::Whole);
        assert_eq!(parse_range("items=0-1", 1000), Ranged::Whole);
        assert_eq!(parse_range("bytes=x-1", 1000), Ranged::Whole);
    }

    #[test]
    fn hosts_in_upload_urls() {
        assert_eq!(host_name("127.0.0.1:8080", "chat.example.com"), "127.0.0.1:8080");
        assert_eq!(host_name("[::1]:8080", "chat.example.com"), "localhost:8080");
        assert_eq!(
            host_name("[2001:db8::1]:8443", "chat.example.com"),
            "chat.example.com:8443"
        );
        assert_eq!(host_name("evil\"host", "chat.example.com"), "chat.example.com");
    }

    #[test]
    fn file_names_are_encoded() {
        assert_eq!(
            content_disposition("a b.png"),
            "inline; filename*=UTF-8''a%20b.png"
        );
        assert_eq!(
            content_disposition("фото.jpg"),
            "inline; filename*=UTF-8''%D1%84%D0%BE%D1%82%D0%BE.jpg"
        );
    }
}
