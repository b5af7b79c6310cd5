//! End-to-end: file storage (`/blobs`) on the real binary with the local disk storage, on SQLite and
//! PostgreSQL — create, upload and complete in the exact request shapes of both SDKs' `createAndUpload`
//! (the multipart form built from the upload URL's query, the file last, CB headers; `{"size":N}` and
//! `{"blob":{"size":N}}`), info by id and uid, the GET rename, downloads with identical bytes, ETag, ranges
//! and 416, private access (stranger refused, a dialog member the uid was sent to allowed, by header or
//! `?token=`), HTTPS upload URLs, the list, delete, the size limit (413) and expired upload URLs.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::{Db, Server};

const BOTH: [Db; 2] = [Db::Sqlite, Db::Postgres];

/// One user's REST client (plain HTTP, or HTTPS trusting the server's certificate).
#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
    id: i64,
}

impl Api {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("CB-Token", &self.token)
            .header("CB-SDK", "JS 6.1.2 - Client");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    /// Both SDKs' `createAndUpload`: create, multipart upload to the URL in `params`, complete. Returns the
    /// created blob.
    async fn create_and_upload(&self, create: Value, bytes: &[u8], complete: Value) -> Value {
        let (status, created) = self.call(Method::POST, "/blobs.json", Some(create)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let blob = created["blob"].clone();
        let params = blob["blob_object_access"]["params"].as_str().unwrap().to_owned();
        let response = self.upload(&params, bytes).await;
        assert!(
            response.status().is_success(),
            "upload: {}",
            response.text().await.unwrap()
        );
        let (status, body) = self
            .call(
                Method::PUT,
                &format!("/blobs/{}/complete.json", blob["id"]),
                Some(complete),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "complete: {body}");
        assert_eq!(
            body,
            Value::String(String::new()),
            "complete answers an empty body"
        );
        blob
    }

    /// The SDKs' upload step: `{scheme}://{authority}{path}` of the URL, every query parameter a
    /// (percent-decoded) form field in URL order, then `file` as Node's form-data sends a Buffer.
    async fn upload(&self, params: &str, bytes: &[u8]) -> reqwest::Response {
        let url = reqwest::Url::parse(params).unwrap();
        let target = format!("{}://{}{}", url.scheme(), url.host_str().unwrap(), port_of(&url)) + url.path();
        let fields: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let (boundary, body) = form_data(&fields, bytes);
        self.client
            .post(target)
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header("CB-Token", &self.token)
            .header("CB-SDK", "JS 6.1.2 - Client")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn download(&self, path_and_query: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path_and_query}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }
}

fn port_of(url: &reqwest::Url) -> String {
    url.port().map(|p| format!(":{p}")).unwrap_or_default()
}

/// A multipart body the way the `form-data` package writes it.
fn form_data(fields: &[(String, String)], file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "--------------------------512345678901234567890123".to_owned();
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"\r\nContent-Type: application/octet-stream\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (boundary, body)
}

/// Bytes that look like nothing in particular (and contain CR/LF and boundary-ish dashes).
fn payload(len: usize, seed: u8) -> Vec<u8> {
    let mut out: Vec<u8> = (0..len)
        .map(|i| ((i * 7919 + seed as usize * 31) % 251) as u8)
        .collect();
    if len > 64 {
        out[10..14].copy_from_slice(b"\r\n--");
    }
    out
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn users(server: &Server, names: &[&str], https: bool) -> Vec<Api> {
    let (app_id, key, _) = server.create_app("Files");
    let client = if https {
        server.https_client()
    } else {
        reqwest::Client::new()
    };
    let base = if https {
        server.https.clone()
    } else {
        server.http.clone()
    };
    let mut out = Vec::new();
    for name in names {
        let id = server.create_user(app_id, name, "password1");
        let session: Value = client
            .post(format!("{base}/session.json"))
            .json(&json!({"application_id": app_id, "auth_key": key, "user": {"login": name, "password": "password1"}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = session["session"]["token"].as_str().unwrap().to_owned();
        out.push(Api {
            client: client.clone(),
            base: base.clone(),
            token,
            id,
        });
    }
    out
}

#[tokio::test]
async fn create_upload_download_share_delete() {
    for db in BOTH {
        let server = Server::start(db).await;
        flow(&server).await;
    }
}

async fn flow(server: &Server) {
    let [alice, bob, carol] = <[Api; 3]>::try_from(users(server, &["alice", "bob", "carol"], false).await)
        .ok()
        .unwrap();
    let photo = payload(300_000, 1);

    // v3's createAndUpload: `public` only when the app gave it (here: not, so private); `{"size":N}`.
    let (status, created) = alice
        .call(
            Method::POST,
            "/blobs.json",
            Some(json!({"blob": {"name": "photo.png", "content_type": "image/png"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let blob = &created["blob"];
    let (id, uid) = (
        blob["id"].as_i64().unwrap(),
        blob["uid"].as_str().unwrap().to_owned(),
    );
    assert!(
        uid.bytes().any(|b| b.is_ascii_alphabetic()),
        "uid {uid} must contain a letter"
    );
    assert_eq!(blob["public"], json!(false));
    assert_eq!(blob["size"], Value::Null);
    assert_eq!(blob["content_type"], json!("image/png"));
    let access = &blob["blob_object_access"];
    assert_eq!(access["blob_id"], json!(id));
    assert_eq!(access["object_access_type"], json!("Write"));
    assert!(access["expires"].as_str().unwrap().ends_with('Z'));
    let params = access["params"].as_str().unwrap();
    assert!(
        params.starts_with(&format!("{}/blobs/{id}/upload?", server.http)),
        "{params}"
    );
    // Not downloadable, not completable, before the upload.
    let (status, _) = alice
        .call(
            Method::PUT,
            &format!("/blobs/{id}/complete.json"),
            Some(json!({"size": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        alice
            .download(&format!("/blobs/{uid}?token={}", alice.token), &[])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // Only the token in the URL opens the upload.
    let forged = params.replace("token=", "token=0");
    assert_eq!(
        alice.upload(&forged, b"evil").await.status(),
        StatusCode::FORBIDDEN
    );
    let response = alice.upload(params, &photo).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let (status, body) = alice
        .call(
            Method::PUT,
            &format!("/blobs/{id}/complete.json"),
            Some(json!({"size": photo.len()})),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, Value::String(String::new())));
    // The token is spent.
    assert_eq!(
        alice.upload(params, b"replaced").await.status(),
        StatusCode::FORBIDDEN
    );
    // On disk where the local storage keeps it.
    let app_dir = std::fs::read_dir(server.data_dir.path().join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join(&uid).exists())
        .expect("the file under data_dir/blobs/{app}/{uid}");
    assert_eq!(std::fs::read(app_dir.join(&uid)).unwrap(), photo);

    // Info by id (getInfo) and by uid (getFile).
    for path in [
        format!("/blobs/{id}.json"),
        format!("/blobs/{uid}.json"),
        format!("/blobs/{id}"),
    ] {
        let (status, info) = alice.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {info}");
        assert_eq!(info["blob"]["size"], json!(photo.len()));
        assert_eq!(info["blob"]["blob_status"], json!("complete"));
        assert_eq!(info["blob"]["uid"], json!(uid));
    }

    // Downloads: the owner, by privateUrl's `?token=` and by header.
    let full = alice
        .download(&format!("/blobs/{uid}?token={}", alice.token), &[])
        .await;
    assert_eq!(full.status(), StatusCode::OK);
    let etag = format!("\"{}\"", sha256(&photo));
    assert_eq!(full.headers()["content-type"], "image/png");
    assert_eq!(full.headers()["content-length"], photo.len().to_string().as_str());
    assert_eq!(full.headers()["etag"], etag.as_str());
    assert_eq!(full.headers()["accept-ranges"], "bytes");
    assert_eq!(full.bytes().await.unwrap().as_ref(), photo.as_slice());
    let by_header = alice
        .download(&format!("/blobs/{uid}"), &[("CB-Token", &alice.token)])
        .await;
    assert_eq!(by_header.bytes().await.unwrap().as_ref(), photo.as_slice());

    // Ranges.
    let private = format!("/blobs/{uid}?token={}", alice.token);
    let first = alice.download(&private, &[("Range", "bytes=0-9")]).await;
    assert_eq!(first.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        first.headers()["content-range"],
        format!("bytes 0-9/{}", photo.len()).as_str()
    );
    assert_eq!(first.headers()["content-length"], "10");
    assert_eq!(first.bytes().await.unwrap().as_ref(), &photo[..10]);
    let suffix = alice.download(&private, &[("Range", "bytes=-7")]).await;
    assert_eq!(suffix.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(suffix.bytes().await.unwrap().as_ref(), &photo[photo.len() - 7..]);
    let middle = alice.download(&private, &[("Range", "bytes=100000-")]).await;
    assert_eq!(middle.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(middle.bytes().await.unwrap().as_ref(), &photo[100_000..]);
    let beyond = alice
        .download(&private, &[("Range", &format!("bytes={}-", photo.len()))])
        .await;
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        beyond.headers()["content-range"],
        format!("bytes */{}", photo.len()).as_str()
    );
    let stale = alice
        .download(&private, &[("Range", "bytes=0-9"), ("If-Range", "\"other\"")])
        .await;
    assert_eq!(
        stale.status(),
        StatusCode::OK,
        "If-Range with another ETag gets the whole file"
    );
    let cached = alice.download(&private, &[("If-None-Match", &etag)]).await;
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);

    // A stranger: refused with his token, asked for a session without one.
    assert_eq!(
        bob.download(&format!("/blobs/{uid}?token={}", bob.token), &[])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        bob.download(&format!("/blobs/{uid}"), &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        bob.get(&format!("/blobs/{id}.json")).await.0,
        StatusCode::FORBIDDEN
    );

    // Alice sends the uid to Bob: now he may read it (privateUrl, header, getFile, /download); Carol may not.
    let (status, message) = alice
        .call(
            Method::POST,
            "/chat/Message.json",
            Some(json!({"recipient_id": bob.id, "message": "a photo",
                "attachments": [{"type": "image", "uid": uid, "id": id.to_string(), "name": "photo.png"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    let shared = bob
        .download(&format!("/blobs/{uid}?token={}", bob.token), &[])
        .await;
    assert_eq!(shared.status(), StatusCode::OK);
    assert_eq!(shared.bytes().await.unwrap().as_ref(), photo.as_slice());
    let shared = bob
        .download(&format!("/blobs/{uid}/download"), &[("CB-Token", &bob.token)])
        .await;
    assert_eq!(shared.bytes().await.unwrap().as_ref(), photo.as_slice());
    let (status, info) = bob.get(&format!("/blobs/{uid}.json")).await;
    assert_eq!((status, info["blob"]["id"].as_i64()), (StatusCode::OK, Some(id)));
    assert_eq!(
        carol
            .download(&format!("/blobs/{uid}?token={}", carol.token), &[])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // getFileObject: a download URL that works as it is.
    let (status, object) = bob.get(&format!("/blobs/{uid}/object.json?download_url=1")).await;
    assert_eq!(status, StatusCode::OK, "{object}");
    let url = object["blob"]["blob_object_access"]["download_url"]
        .as_str()
        .unwrap();
    assert_eq!(
        bob.client
            .get(url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        photo.as_slice()
    );

    // storage.update: a GET with blob[name]; only the owner renames.
    let (status, renamed) = alice
        .get(&format!("/blobs/{id}.json?blob[name]=holiday.png"))
        .await;
    assert_eq!(
        (status, renamed["blob"]["name"].as_str()),
        (StatusCode::OK, Some("holiday.png"))
    );
    assert_eq!(
        bob.get(&format!("/blobs/{id}.json?blob[name]=mine.png")).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, renamed) = alice
        .call(
            Method::PUT,
            &format!("/blobs/{id}.json"),
            Some(json!({"blob": {"name": "final.png"}})),
        )
        .await;
    assert_eq!(
        (status, renamed["blob"]["name"].as_str()),
        (StatusCode::OK, Some("final.png"))
    );
    let named = alice.download(&private, &[]).await;
    assert_eq!(
        named.headers()["content-disposition"],
        "inline; filename*=UTF-8''final.png"
    );

    // v6's createAndUpload: public by default, `{"blob":{"size":N}}` (the docs' form) also completes.
    let doc = payload(1234, 2);
    let public = alice
        .create_and_upload(
            json!({"blob": {"name": "doc.pdf", "content_type": "application/pdf", "public": true}}),
            &doc,
            json!({"blob": {"size": doc.len().to_string()}}),
        )
        .await;
    let public_uid = public["uid"].as_str().unwrap();
    let anyone = reqwest::get(format!("{}/blobs/{public_uid}", server.http))
        .await
        .unwrap();
    assert_eq!(anyone.status(), StatusCode::OK);
    assert_eq!(anyone.headers()["content-type"], "application/pdf");
    assert_eq!(anyone.bytes().await.unwrap().as_ref(), doc.as_slice());
    let (_, info) = carol.get(&format!("/blobs/{}.json", public["id"])).await;
    assert_eq!(info["blob"]["public"], json!(true));
    // An empty file.
    let empty = alice
        .create_and_upload(
            json!({"blob": {"name": "empty.txt", "content_type": "text/plain"}}),
            b"",
            json!({}),
        )
        .await;
    let got = alice
        .download(
            &format!("/blobs/{}?token={}", empty["uid"].as_str().unwrap(), alice.token),
            &[],
        )
        .await;
    assert_eq!(
        (got.status(), got.headers()["content-length"].to_str().unwrap()),
        (StatusCode::OK, "0")
    );

    // The list: Alice's completed files in the v1 envelope; Bob has none.
    let (status, list) = alice.get("/blobs.json").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["total_entries"], json!(3));
    assert_eq!(
        (list["current_page"].as_i64(), list["per_page"].as_i64()),
        (Some(1), Some(10))
    );
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["blob"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["final.png", "doc.pdf", "empty.txt"]);
    let (_, page) = alice.get("/blobs.json?page=2&per_page=2").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(bob.get("/blobs.json").await.1["total_entries"], json!(0));

    // Delete: not Bob's to delete; Alice's, then it is gone everywhere, bytes included.
    assert_eq!(
        bob.call(Method::DELETE, &format!("/blobs/{id}.json"), None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (status, body) = alice
        .call(Method::DELETE, &format!("/blobs/{id}.json"), None)
        .await;
    assert_eq!((status, body), (StatusCode::OK, Value::String(String::new())));
    assert_eq!(
        alice.get(&format!("/blobs/{id}.json")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        bob.download(&format!("/blobs/{uid}?token={}", bob.token), &[])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        alice
            .call(Method::DELETE, &format!("/blobs/{id}.json"), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert!(!app_dir.join(&uid).exists(), "the bytes are deleted too");
}

#[tokio::test]
async fn https_upload_urls_point_back_over_https() {
    let server = Server::start(Db::Sqlite).await;
    let [alice] = <[Api; 1]>::try_from(users(&server, &["alice"], true).await)
        .ok()
        .unwrap();
    let bytes = payload(70_000, 3);
    let blob = alice
        .create_and_upload(
            json!({"blob": {"name": "v3.jpg", "content_type": "image/jpeg"}}),
            &bytes,
            json!({"size": 70000}),
        )
        .await;
    let params = blob["blob_object_access"]["params"].as_str().unwrap();
    assert!(
        params.starts_with(&format!("{}/blobs/", server.https)),
        "{params}"
    );
    let got = alice
        .download(
            &format!("/blobs/{}?token={}", blob["uid"].as_str().unwrap(), alice.token),
            &[],
        )
        .await;
    assert_eq!(got.bytes().await.unwrap().as_ref(), bytes.as_slice());

    // Behind a proxy: the forwarded scheme and host win; IPv6 literals become host names.
    let (_, created) = alice
        .client
        .post(format!("{}/blobs.json", server.http))
        .header("CB-Token", &alice.token)
        .header("Host", "[::1]:8080")
        .json(&json!({"blob": {"name": "x"}}))
        .send()
        .await
        .map(|r| (r.status(), r))
        .unwrap();
    let created: Value = created.json().await.unwrap();
    let params = created["blob"]["blob_object_access"]["params"].as_str().unwrap();
    assert!(params.starts_with("http://localhost:8080/blobs/"), "{params}");
    let created: Value = alice
        .client
        .post(format!("{}/blobs.json", server.http))
        .header("CB-Token", &alice.token)
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "files.example.com")
        .json(&json!({"blob": {"name": "y"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let params = created["blob"]["blob_object_access"]["params"].as_str().unwrap();
    assert!(params.starts_with("https://files.example.com/blobs/"), "{params}");
}

#[tokio::test]
async fn size_limit_and_expired_upload_urls() {
    let server = Server::start_with(
        Db::Sqlite,
        &[
            ("PALAVER_MAX_BLOB_SIZE", "1048576"),
            ("PALAVER_BLOB_UPLOAD_TTL_SECS", "2"),
        ],
    )
    .await;
    let [alice] = <[Api; 1]>::try_from(users(&server, &["alice"], false).await)
        .ok()
        .unwrap();
    let create = || json!({"blob": {"name": "big.bin", "content_type": "application/octet-stream"}});

    // One byte over: 413, and the client gets to read the answer.
    let (_, created) = alice.call(Method::POST, "/blobs.json", Some(create())).await;
    let params = created["blob"]["blob_object_access"]["params"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = alice.upload(&params, &payload(1_048_577, 4)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["errors"]["base"][0].as_str().unwrap().contains("1048576"),
        "{body}"
    );
    let (status, _) = alice
        .call(
            Method::PUT,
            &format!("/blobs/{}/complete.json", created["blob"]["id"]),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "nothing was stored");
    // Exactly the limit: fine (same blob, the token still works).
    let exact = payload(1_048_576, 5);
    assert_eq!(alice.upload(&params, &exact).await.status(), StatusCode::CREATED);
    // Far over (a declared length beyond what is worth reading): 413 straight away, before the body.
    let mut socket = tokio::net::TcpStream::connect(server.http.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /blobs/{}/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=x\r\n\
         Content-Length: 1000000000\r\n\r\n",
        created["blob"]["id"]
    );
    tokio::io::AsyncWriteExt::write_all(&mut socket, head.as_bytes())
        .await
        .unwrap();
    let mut answer = vec![0u8; 12];
    tokio::io::AsyncReadExt::read_exact(&mut socket, &mut answer)
        .await
        .unwrap();
    assert_eq!(&answer, b"HTTP/1.1 413");

    // An upload URL is good for the upload window only.
    let (_, late) = alice.call(Method::POST, "/blobs.json", Some(create())).await;
    tokio::time::sleep(std::time::Duration::from_millis(2300)).await;
    let params = late["blob"]["blob_object_access"]["params"].as_str().unwrap();
    let response = alice.upload(params, b"too late").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.unwrap().contains("expired"));
    // No session, no files.
    let anonymous = reqwest::Client::new()
        .post(format!("{}/blobs.json", server.http))
        .json(&create())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
