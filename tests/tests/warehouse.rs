//! The warehouse FileIO against a real S3 server: what iceberg-rust asks of
//! it when floe writes and maintains a table (whole and multipart writes,
//! ranged reads, sizes, deletes), checked byte for byte.

use std::collections::HashMap;

use bytes::Bytes;
use floe_storage::warehouse_file_io;
use floe_tests::services::services;

/// A file of `len` bytes that differ from one offset to the next, so a
/// misplaced part or range shows.
fn pattern(len: usize) -> Bytes {
    (0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into()
}

#[test]
fn table_files_round_trip_through_s3() {
    let Some(services) = services("table_files_round_trip_through_s3") else { return };
    let bucket = "floe-warehouse-io";
    services.create_bucket(bucket);
    let props = HashMap::from([
        ("s3.endpoint".to_string(), services.s3.clone()),
        ("s3.region".to_string(), "us-east-1".to_string()),
        ("s3.path-style-access".to_string(), "true".to_string()),
    ]);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let io = warehouse_file_io(&props);
        let large = format!("s3://{bucket}/db/t/data/large.parquet");
        let small = format!("s3://{bucket}/db/t/metadata/v1.metadata.json");

        // 20 MiB in 1 MiB writes: three parts, the last short.
        let content = pattern(20 << 20);
        let mut writer = io.new_output(&large).unwrap().writer().await.unwrap();
        for chunk in content.chunks(1 << 20) {
            writer.write(Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        writer.close().await.unwrap();
        assert!(writer.close().await.unwrap_err().to_string().contains("closed already"));

        let input = io.new_input(&large).unwrap();
        assert_eq!(input.metadata().await.unwrap().size, content.len() as u64);
        assert!(input.read().await.unwrap() == content, "the whole file reads back as written");
        let reader = input.reader().await.unwrap();
        let across_parts = (8 << 20) - 100..(8 << 20) + 100;
        assert_eq!(
            reader.read(across_parts.clone()).await.unwrap(),
            content.slice(across_parts.start as usize..across_parts.end as usize)
        );
        assert_eq!(reader.read(5..5).await.unwrap(), Bytes::new());

        io.new_output(&small).unwrap().write(Bytes::from_static(b"{}")).await.unwrap();
        assert_eq!(io.new_input(&small).unwrap().read().await.unwrap(), Bytes::from_static(b"{}"));
        assert!(io.exists(&small).await.unwrap());

        io.delete(&small).await.unwrap();
        assert!(!io.exists(&small).await.unwrap());
        io.delete(&small).await.expect("deleting what is gone is not an error");
        io.delete_prefix(&format!("s3://{bucket}/db/t")).await.unwrap();
        assert!(!io.exists(&large).await.unwrap());

        let missing = io.new_input(format!("s3://{bucket}/db/t/none")).unwrap().read().await.unwrap_err();
        assert!(missing.to_string().contains("db/t/none"), "{missing}");
    });
}
