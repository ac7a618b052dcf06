//! Storage targets: named places outputs are copied to after download (`[storage.NAME]` in
//! `config.toml`): any S3-compatible store (Tencent COS, Alibaba OSS, MinIO, AWS S3) or a
//! local directory. Keys are content-derived and puts are create-only, so an upload can be
//! repeated safely and an identical object already there counts as done.
//!
//! Examples (`access_key_env`/`secret_key_env` name environment variables; `*_cmd` run a
//! command that prints the value):
//!
//! ```toml
//! # Tencent COS: the bucket is <name>-<APPID>; buckets created since 2024 need
//! # virtual-hosted style, with the bucket in the endpoint host.
//! [storage.cos]
//! type = "s3"
//! endpoint = "https://examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com"
//! region = "ap-guangzhou"
//! bucket = "examplebucket-1250000000"
//! virtual_hosted = true
//! access_key_env = "COS_SECRET_ID"
//! secret_key_env = "COS_SECRET_KEY"
//! acl = "public-read"
//! acl_header = "x-cos-acl"
//!
//! # Alibaba OSS: virtual-hosted only.
//! [storage.oss]
//! type = "s3"
//! endpoint = "https://examplebucket.oss-cn-hangzhou.aliyuncs.com"
//! region = "cn-hangzhou"
//! bucket = "examplebucket"
//! virtual_hosted = true
//! access_key_env = "OSS_ACCESS_KEY_ID"
//! secret_key_env = "OSS_ACCESS_KEY_SECRET"
//! public_url = "https://cdn.example.com"
//!
//! # MinIO: path style on its own host.
//! [storage.minio]
//! type = "s3"
//! endpoint = "http://127.0.0.1:9000"
//! bucket = "genq"
//! access_key_env = "MINIO_ROOT_USER"
//! secret_key_env = "MINIO_ROOT_PASSWORD"
//!
//! # AWS S3.
//! [storage.aws]
//! type = "s3"
//! endpoint = "https://examplebucket.s3.eu-west-1.amazonaws.com"
//! region = "eu-west-1"
//! bucket = "examplebucket"
//! virtual_hosted = true
//! access_key_env = "AWS_ACCESS_KEY_ID"
//! secret_key_env = "AWS_SECRET_ACCESS_KEY"
//!
//! [storage.archive]
//! type = "dir"
//! path = "/srv/genq-archive"
//! ```
//!
//! The URL recorded for an upload is `public_url` + `/` + key when `public_url` is set, else
//! the endpoint form (`<endpoint>/<key>` virtual-hosted, `<endpoint>/<bucket>/<key>` path
//! style; `file://` paths for `dir` targets).

mod dir;
mod error;
mod key;
mod s3;
mod target;

pub use error::StorageError;
pub use key::{DEFAULT_KEY_TEMPLATE, KeyContext, KeyTemplate, PLACEHOLDERS};
pub use s3::BuildOptions;
pub use target::{StorageTarget, Uploaded};
