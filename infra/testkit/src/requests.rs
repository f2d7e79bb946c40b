//! Requests to the app under test, and what they answer.

use axum::body::Body;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::TestApp;

impl TestApp {
    /// Sends a request through the Router; returns status, headers and
    /// the body's bytes, whatever they are.
    pub async fn send_raw(&self, req: Request<Body>) -> (StatusCode, http::HeaderMap, Bytes) {
        let resp = self
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("router answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, headers, bytes)
    }

    /// Sends a request through the Router; returns status, headers and JSON body.
    pub async fn send(&self, req: Request<Body>) -> Response {
        let (status, headers, bytes) = self.send_raw(req).await;
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("body is not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        Response {
            status,
            headers,
            json,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut b = Request::get(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>) -> Response {
        let mut b = Request::post(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        let mut b = Request::delete(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        let mut b = Request::post(path).header("content-type", "application/json");
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        self.send(b.body(Body::from(body.to_string())).unwrap())
            .await
    }

    /// `POST /receipts` with the given multipart parts.
    pub async fn upload_parts(&self, token: Option<&str>, parts: &[Part<'_>]) -> Response {
        self.upload_with("/receipts", token, &[], parts).await
    }

    /// A multipart POST to `path` (`/receipts?priority=high`, say) with
    /// extra headers (`Idempotency-Key`).
    pub async fn upload_with(
        &self,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        parts: &[Part<'_>],
    ) -> Response {
        let (content_type, body) = multipart_body(parts);
        let mut b = Request::post(path).header("content-type", content_type);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.send(b.body(Body::from(body)).unwrap()).await
    }

    /// Uploads a valid PNG for `user` and returns the new receipt's id.
    pub async fn upload_png(&self, user: &str) -> i64 {
        let token = self.token(user);
        let r = self
            .upload_parts(
                Some(&token),
                &[Part::File {
                    name: "file",
                    file_name: "receipt.png",
                    content_type: "image/png",
                    bytes: &png_bytes(),
                }],
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        r.json["id"].as_i64().unwrap()
    }

    /// Inserts `n` pending receipts for `user` straight into the database
    /// (as uploads leave them), oldest first; returns their ids.
    pub async fn seed_pending(&self, user: &str, n: usize) -> Vec<i64> {
        let mut ids = Vec::new();
        for i in 0..n {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO receipts (user_id, bucket, object_key, file_name, content_type, size_bytes, created_at) \
                 VALUES ($1, $2, $3, $4, 'image/png', 100, now() - make_interval(secs => $5)) RETURNING id",
            )
            .bind(user)
            .bind(&self.bucket)
            .bind(format!("uploads/{user}/seed-{i}-{}.png", uuid::Uuid::new_v4()))
            .bind(format!("seed-{i}.png"))
            .bind((n - i) as f64)
            .fetch_one(&self.pool)
            .await
            .unwrap();
            ids.push(id);
        }
        ids
    }

    /// Like `seed_pending`, and each receipt's image is in the bucket.
    pub async fn seed_uploaded(&self, user: &str, n: usize) -> Vec<i64> {
        let ids = self.seed_pending(user, n).await;
        for id in &ids {
            let key: String = sqlx::query_scalar("SELECT object_key FROM receipts WHERE id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await
                .unwrap();
            self.put_png(&key).await;
        }
        ids
    }

    /// Puts the test PNG at `key` in the test's bucket (as a client
    /// uploading straight to S3 would).
    pub async fn put_png(&self, key: &str) {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(png_bytes().into())
            .send()
            .await
            .unwrap();
    }

    /// Asks for a presigned PUT as `user` and uploads the test PNG to it;
    /// returns the upload-url answer.
    pub async fn upload_png_presigned(&self, user: &str) -> Value {
        let r = self
            .post_json(
                "/receipts/upload-url",
                Some(&self.token(user)),
                &serde_json::json!({"content_type": "image/png"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        assert!(post_presigned(&r.json, png_bytes()).await.is_success());
        r.json
    }
}

/// POSTs `body` to a presigned upload (an upload-url answer) as the form
/// S3 expects: every field it names, then the file. Returns S3's status.
pub async fn post_presigned(upload: &Value, body: Vec<u8>) -> reqwest::StatusCode {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in upload["fields"].as_object().expect("fields") {
        form = form.text(k.clone(), v.as_str().unwrap().to_owned());
    }
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(body).file_name("upload"),
    );
    assert_eq!(upload["method"], "POST");
    reqwest::Client::new()
        .post(upload["upload_url"].as_str().expect("upload_url"))
        .multipart(form)
        .send()
        .await
        .expect("S3 answers the presigned POST")
        .status()
}

pub struct Response {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub json: Value,
}

impl Response {
    /// Asserts the design's error shape and returns the code.
    pub fn error_code(&self) -> &str {
        let code = self.json["error"]["code"].as_str();
        let msg = self.json["error"]["message"].as_str();
        assert!(
            code.is_some() && msg.is_some_and(|m| !m.is_empty()),
            "not the JSON error shape: {}",
            self.json
        );
        code.unwrap()
    }
}

pub enum Part<'a> {
    File {
        name: &'a str,
        file_name: &'a str,
        content_type: &'a str,
        bytes: &'a [u8],
    },
    Text {
        name: &'a str,
        value: &'a str,
    },
}

pub fn multipart_body(parts: &[Part<'_>]) -> (String, Vec<u8>) {
    let boundary = format!("----test{}", uuid::Uuid::new_v4().simple());
    let mut body = Vec::new();
    for p in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match p {
            Part::File {
                name,
                file_name,
                content_type,
                bytes,
            } => {
                body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n"
                    )
                    .as_bytes(),
                );
                body.extend_from_slice(bytes);
            }
            Part::Text { name, value } => {
                body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}")
                        .as_bytes(),
                );
            }
        }
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A real 2×2 grayscale PNG, built here (signature, IHDR, IDAT, a tEXt
/// comment unique to the call, IEND, with CRCs).
pub fn png_bytes() -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn adler32(data: &[u8]) -> u32 {
        let (mut a, mut b) = (1u32, 0u32);
        for &d in data {
            a = (a + u32::from(d)) % 65521;
            b = (b + a) % 65521;
        }
        (b << 16) | a
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut c = kind.to_vec();
        c.extend_from_slice(data);
        out.extend_from_slice(&c);
        out.extend_from_slice(&crc32(&c).to_be_bytes());
    }
    // Two rows of two gray pixels, each row led by filter type 0.
    let raw = [0u8, 0x00, 0xFF, 0u8, 0xFF, 0x00];
    let mut zlib = vec![0x78, 0x01, 0x01];
    zlib.extend_from_slice(&(raw.len() as u16).to_le_bytes());
    zlib.extend_from_slice(&(!(raw.len() as u16)).to_le_bytes());
    zlib.extend_from_slice(&raw);
    zlib.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&2u32.to_be_bytes());
    ihdr.extend_from_slice(&2u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &zlib);
    // A comment unique to this call: two calls are two different files
    // (of one length), as two photos are, and not duplicates of each other.
    let comment = format!("Comment\0{}", uuid::Uuid::new_v4().simple());
    chunk(&mut png, b"tEXt", comment.as_bytes());
    chunk(&mut png, b"IEND", &[]);
    png
}
