//! Upload and download throughput of the blob store on a local folder, encrypted versus the
//! same path without encryption (issue 6; the goal is ≥ 70 %). Run with
//! `cargo bench -p attest-storage --features bench --bench throughput`; sizes in MiB can be
//! chosen with `ATTEST_BENCH_SIZES=10,100,1024`, repetitions with `ATTEST_BENCH_REPS` (5; the
//! median is printed) and the folder with `ATTEST_BENCH_DIR`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic
)]
#![allow(clippy::disallowed_methods)] // a benchmark measures wall-clock time

use std::time::Instant;

use attest_crypto::stream::FileKey;
use attest_storage::{Backend, BlobKey, BlobStore, Sealing};
use attest_types::TenantId;
use bytes::Bytes;
use futures_util::StreamExt as _;

const MIB: u64 = 1024 * 1024;

/// `total` bytes as 1 MiB pieces of incompressible data (one buffer, shared).
fn source(total: u64) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let block: Vec<u8> = (0..MIB)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect();
    let block = Bytes::from(block);
    let pieces = total / MIB;
    futures_util::stream::iter((0..pieces).map(move |_| Ok(block.clone())))
}

fn rate(bytes: u64, started: Instant) -> f64 {
    bytes as f64 / MIB as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let sizes: Vec<u64> = std::env::var("ATTEST_BENCH_SIZES")
        .unwrap_or_else(|_| "10,100,1024".to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let base = std::env::var("ATTEST_BENCH_DIR").map_or_else(|_| std::env::temp_dir(), Into::into);
    let dir = tempfile::tempdir_in(base).unwrap();
    let store = BlobStore::open(Backend::Local {
        dir: dir.path().to_path_buf(),
    })
    .unwrap();
    let tenant = TenantId::new_random();
    let reps: usize = std::env::var("ATTEST_BENCH_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    println!(
        "size_mib,operation,encrypted_mib_s,plain_mib_s,ratio   (median of {reps}, order alternating)"
    );
    for mib in sizes {
        let total = mib * MIB;
        let mut runs: [Vec<f64>; 4] = Default::default();
        for rep in 0..reps {
            // Alternate which path goes first, so neither always meets the other's writeback.
            let order = if rep % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for encrypted in order {
                let (up, down) = if encrypted {
                    encrypted_round(&store, tenant, total).await
                } else {
                    plain_round(&store, tenant, total).await
                };
                let at = if encrypted { 0 } else { 2 };
                runs[at].push(up);
                runs[at + 1].push(down);
            }
        }
        let [up_enc, down_enc, up_plain, down_plain] = runs.map(median);
        println!(
            "{mib},upload,{up_enc:.0},{up_plain:.0},{:.2}",
            up_enc / up_plain
        );
        println!(
            "{mib},download,{down_enc:.0},{down_plain:.0},{:.2}",
            down_enc / down_plain
        );
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Uploads and downloads `total` bytes encrypted; returns MiB/s both ways.
async fn encrypted_round(store: &BlobStore, tenant: TenantId, total: u64) -> (f64, f64) {
    let fk = FileKey::generate().unwrap();
    let sealing = Sealing {
        file_key: &fk,
        key_id: "dek/bench/high",
        wrapped_key: &[0u8; 61],
    };
    let key = BlobKey::new(tenant);
    let t = Instant::now();
    store
        .upload(&key, &sealing, source(total), u64::MAX)
        .await
        .unwrap();
    let up = rate(total, t);
    let k = *fk.expose();
    let t = Instant::now();
    let mut s = store
        .download(&key, total, None, move |_| Ok(FileKey::from_bytes(&k)?))
        .await
        .unwrap();
    let mut n = 0u64;
    while let Some(p) = s.next().await {
        n += p.unwrap().len() as u64;
    }
    assert_eq!(n, total);
    let down = rate(total, t);
    store.delete(&key).await.unwrap();
    (up, down)
}

/// The same path without encryption.
async fn plain_round(store: &BlobStore, tenant: TenantId, total: u64) -> (f64, f64) {
    let key = BlobKey::new(tenant);
    let t = Instant::now();
    store
        .upload_unencrypted_for_benchmark(&key, source(total), u64::MAX)
        .await
        .unwrap();
    let up = rate(total, t);
    let t = Instant::now();
    let mut s = store
        .download_unencrypted_for_benchmark(&key)
        .await
        .unwrap();
    let mut n = 0u64;
    while let Some(p) = s.next().await {
        n += p.unwrap().len() as u64;
    }
    assert_eq!(n, total);
    let down = rate(total, t);
    store.delete(&key).await.unwrap();
    (up, down)
}
