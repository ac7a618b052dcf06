//! Endpoints of the S3-compatible stores genq knows (Tencent COS, Alibaba OSS, AWS S3,
//! MinIO), and the signing region an endpoint's host implies. Storage targets and Tripo's
//! STS upload both sign S3 requests, so this sits below both.

/// Tencent COS virtual-hosted endpoint: `https://<bucket>-<appid>.cos.<region>.myqcloud.com`.
/// `bucket` may already end in `-<appid>`.
pub fn cos_endpoint(bucket: &str, appid: &str, region: &str) -> String {
    let suffix = format!("-{appid}");
    let full = if bucket.ends_with(&suffix) {
        bucket.to_string()
    } else {
        format!("{bucket}{suffix}")
    };
    format!("https://{full}.cos.{region}.myqcloud.com")
}

/// Alibaba OSS virtual-hosted endpoint: `https://<bucket>.oss-<region>.aliyuncs.com`.
pub fn oss_endpoint(bucket: &str, region: &str) -> String {
    format!("https://{bucket}.oss-{region}.aliyuncs.com")
}

/// AWS S3 endpoint: virtual-hosted `https://<bucket>.s3.<region>.amazonaws.com`, else the
/// regional path-style host `https://s3.<region>.amazonaws.com`.
pub fn aws_endpoint(bucket: &str, region: &str, virtual_hosted: bool) -> String {
    if virtual_hosted {
        format!("https://{bucket}.s3.{region}.amazonaws.com")
    } else {
        format!("https://s3.{region}.amazonaws.com")
    }
}

/// MinIO endpoint (path style; the bucket goes in the path).
pub fn minio_endpoint(host: &str, port: u16, tls: bool) -> String {
    format!("{}://{host}:{port}", if tls { "https" } else { "http" })
}

/// The signing region implied by a COS, OSS or AWS endpoint host.
pub fn infer_region(endpoint: &str) -> Option<String> {
    let host = reqwest::Url::parse(endpoint).ok()?.host_str()?.to_string();
    let labels: Vec<&str> = host.split('.').collect();
    if host.ends_with(".myqcloud.com") {
        // <bucket>.cos.<region>.myqcloud.com or cos.<region>.myqcloud.com
        let i = labels.iter().position(|l| *l == "cos")?;
        return labels.get(i + 1).map(|s| s.to_string());
    }
    if host.ends_with(".aliyuncs.com") {
        let l = labels.iter().find(|l| l.starts_with("oss-"))?;
        let r = l.trim_start_matches("oss-").trim_end_matches("-internal");
        return (!r.is_empty() && r != "accelerate").then(|| r.to_string());
    }
    if host.ends_with(".amazonaws.com") {
        let i = labels
            .iter()
            .position(|l| *l == "s3" || l.starts_with("s3-"))?;
        let next = labels.get(i + 1)?;
        return (*next != "amazonaws").then(|| next.to_string());
    }
    None
}
