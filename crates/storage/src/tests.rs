//! The blob store on a local folder: round trips, ranges, tampering, limits and interruptions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path as FsPath;

use super::*;

fn body(data: &[u8], piece: usize) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
    let parts: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(piece.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures_util::stream::iter(parts)
}

fn local(dir: &FsPath) -> BlobStore {
    BlobStore::open(Backend::Local {
        dir: dir.to_path_buf(),
    })
    .unwrap()
}

async fn put(store: &BlobStore, key: &BlobKey, fk: &FileKey, data: &[u8]) -> Uploaded {
    store
        .upload(
            key,
            &Sealing {
                file_key: fk,
                key_id: "dek/test/high",
                wrapped_key: b"wrapped",
            },
            body(data, 7_777),
            1 << 30,
        )
        .await
        .unwrap()
}

async fn read(
    store: &BlobStore,
    key: &BlobKey,
    fk: &FileKey,
    len: u64,
    range: Option<ByteRange>,
) -> Result<Vec<u8>, StorageError> {
    let k = *fk.expose();
    let mut s = store
        .download(key, len, range, move |h| {
            // As the domain does: an unexpected key id or wrapped key does not open.
            if h.wrapped_key != b"wrapped" || h.key_id != "dek/test/high" {
                return Err(StorageError::Integrity);
            }
            Ok(FileKey::from_bytes(&k)?)
        })
        .await?;
    let mut out = Vec::new();
    while let Some(piece) = s.next().await {
        out.extend_from_slice(&piece?);
    }
    Ok(out)
}

fn files(dir: &FsPath) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn sec_61_a_blob_round_trips_and_holds_no_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let store = local(dir.path());
    store.check().await.unwrap();
    let data: Vec<u8> = b"Quarterly access review evidence. ".repeat(20_000);
    let key = BlobKey::new(TenantId::new_random());
    let fk = FileKey::generate().unwrap();
    let done = put(&store, &key, &fk, &data).await;
    assert_eq!(done.size, data.len() as u64);
    assert_eq!(done.sha256, <[u8; 32]>::from(Sha256::digest(&data)));
    let stored = files(dir.path());
    assert_eq!(stored.len(), 1, "{stored:?}");
    let raw = std::fs::read(&stored[0]).unwrap();
    assert!(
        !raw.windows(20).any(|w| w == &data[..20]),
        "plaintext on disk"
    );
    let len = data.len() as u64;
    assert_eq!(read(&store, &key, &fk, len, None).await.unwrap(), data);
    assert!(store.exists(&key).await.unwrap());
}

#[tokio::test]
async fn ranges_read_exactly_the_bytes_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let store = local(dir.path());
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let key = BlobKey::new(TenantId::new_random());
    let fk = FileKey::generate().unwrap();
    put(&store, &key, &fk, &data).await;
    let len = data.len() as u64;
    let chunk = u64::from(DEFAULT_CHUNK);
    for (start, end) in [
        (0, 1),
        (0, chunk),
        (chunk - 1, chunk + 1),
        (5, 200_000),
        (len - 10, len),
        (2 * chunk, 3 * chunk),
        (len, len),
        (100, 100),
    ] {
        let got = read(&store, &key, &fk, len, Some(ByteRange { start, end }))
            .await
            .unwrap();
        assert_eq!(got, &data[start as usize..end as usize], "{start}..{end}");
    }
    assert!(matches!(
        read(
            &store,
            &key,
            &fk,
            len,
            Some(ByteRange {
                start: 0,
                end: len + 1
            })
        )
        .await,
        Err(StorageError::Range)
    ));
    // The database claiming another length than the blob holds is an integrity failure.
    assert!(matches!(
        read(&store, &key, &fk, len - 1, None).await,
        Err(StorageError::Integrity)
    ));
}

#[tokio::test]
async fn empty_and_chunk_sized_files_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = local(dir.path());
    for n in [
        0usize,
        1,
        DEFAULT_CHUNK as usize,
        2 * DEFAULT_CHUNK as usize + 3,
    ] {
        let data = vec![9u8; n];
        let key = BlobKey::new(TenantId::new_random());
        let fk = FileKey::generate().unwrap();
        put(&store, &key, &fk, &data).await;
        assert_eq!(read(&store, &key, &fk, n as u64, None).await.unwrap(), data);
    }
}

#[tokio::test]
async fn sec_62_a_flipped_byte_or_a_cut_fails_the_download() {
    let dir = tempfile::tempdir().unwrap();
    let store = local(dir.path());
    let data = vec![7u8; 300_000];
    let len = data.len() as u64;
    let key = BlobKey::new(TenantId::new_random());
    let fk = FileKey::generate().unwrap();
    put(&store, &key, &fk, &data).await;
    let path = files(dir.path()).remove(0);
    let original = std::fs::read(&path).unwrap();
    for at in [3, 40, original.len() / 2, original.len() - 1] {
        let mut raw = original.clone();
        raw[at] ^= 0x80;
        std::fs::write(&path, &raw).unwrap();
        assert!(
            matches!(
                read(&store, &key, &fk, len, None).await,
                Err(StorageError::Integrity)
            ),
            "flip at {at}"
        );
    }
    std::fs::write(&path, &original[..original.len() - 100]).unwrap();
    assert!(matches!(
        read(&store, &key, &fk, len, None).await,
        Err(StorageError::Integrity)
    ));
    let mut longer = original.clone();
    longer.extend_from_slice(&[0; 16]);
    std::fs::write(&path, &longer).unwrap();
    assert!(matches!(
        read(&store, &key, &fk, len, None).await,
        Err(StorageError::Integrity)
    ));
    // Another file key (as if the wrapped key were swapped) fails too.
    std::fs::write(&path, &original).unwrap();
    let other = FileKey::generate().unwrap();
    let other_bytes = *other.expose();
    let mut s = store
        .download(&key, len, None, move |_| {
            Ok(FileKey::from_bytes(&other_bytes)?)
        })
        .await
        .unwrap();
    assert!(matches!(s.next().await, Some(Err(StorageError::Integrity))));
}

#[tokio::test]
async fn sec_55_too_large_or_interrupted_uploads_leave_no_blob() {
    let dir = tempfile::tempdir().unwrap();
    let store = local(dir.path());
    let fk = FileKey::generate().unwrap();
    let key = BlobKey::new(TenantId::new_random());
    let sealing = Sealing {
        file_key: &fk,
        key_id: "dek/test/high",
        wrapped_key: b"wrapped",
    };
    let big = vec![1u8; 200_000];
    let r = store
        .upload(&key, &sealing, body(&big, 10_000), 100_000)
        .await;
    assert!(matches!(r, Err(StorageError::TooLarge)));
    let broken = futures_util::stream::iter(vec![
        Ok(Bytes::from_static(b"first part")),
        Err(std::io::Error::other("client went away")),
    ]);
    let r = store.upload(&key, &sealing, broken, 1 << 20).await;
    assert!(matches!(r, Err(StorageError::Interrupted)));
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
    assert!(matches!(
        read(&store, &key, &fk, 10, None).await,
        Err(StorageError::NotFound)
    ));
    store.delete(&key).await.unwrap();
}

#[tokio::test]
async fn staging_files_left_by_a_killed_process_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let store = local(dir.path());
    let keep = BlobKey::new(TenantId::new_random());
    let fk = FileKey::generate().unwrap();
    put(&store, &keep, &fk, b"kept").await;
    let staged = dir.path().join("t").join("half-written#1");
    std::fs::create_dir_all(staged.parent().unwrap()).unwrap();
    std::fs::write(&staged, b"partial").unwrap();
    let now = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(4_000_000_000);
    let grace = std::time::Duration::from_secs(3600);
    // Young files stay (an upload may be running); old ones go; finished blobs are never touched.
    assert_eq!(
        store
            .sweep_staging(std::time::SystemTime::UNIX_EPOCH, grace)
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.sweep_staging(now, grace).await.unwrap(), 1);
    assert!(!staged.exists());
    assert_eq!(read(&store, &keep, &fk, 4, None).await.unwrap(), b"kept");
}
