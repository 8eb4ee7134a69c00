//! Files that must load: the shipped examples, the seed processor's own
//! configs (as its user guide and README give them) and the mapping file of
//! the JSON-columns conformance case.

use std::fs;
use std::path::{Path, PathBuf};

use floe_config::{CatalogType, ColumnType, Config, OffsetsBackend, SourceLocation, StateStore, load_mappings};
use serde_yaml_ng::{Mapping, Value};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared seeds and corpus beside the repository, read in place.
fn shared(relative: &str) -> PathBuf {
    manifest_dir().join("../../shared").join(relative)
}

/// The seed document whose name starts with `prefix` (e.g. `000_`).
fn seed(prefix: &str) -> PathBuf {
    let dir = shared("seeds");
    fs::read_dir(&dir)
        .expect("seeds directory beside the repository")
        .map(|entry| entry.expect("directory entry").path())
        .find(|path| path.file_name().is_some_and(|n| n.to_string_lossy().starts_with(prefix)))
        .unwrap_or_else(|| panic!("no seed {prefix}* in {}", dir.display()))
}

fn load(path: &Path) -> Config {
    Config::load(path).unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn every_example_loads() {
    let examples = manifest_dir().join("../examples");
    let mut loaded = 0;
    for entry in fs::read_dir(&examples).expect("examples directory") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|ext| ext == "yaml") {
            load(&path);
            loaded += 1;
        }
    }
    assert!(loaded >= 2, "expected the examples, found {loaded} files");
}

#[test]
fn local_example_is_the_embedded_default() {
    let config = load(&manifest_dir().join("../examples/local.yaml"));
    assert_eq!(
        config.s3.location(),
        SourceLocation::Local { root: PathBuf::from("/var/lib/floe/segments/kafscale-data") }
    );
    assert_eq!(config.iceberg.catalog.kind, CatalogType::Sql);
    assert_eq!(config.iceberg.catalog.sqlite_path(), Some(PathBuf::from("/var/lib/floe/catalog.db")));
    assert_eq!(OffsetsBackend::resolve(&config), StateStore::Sql);
}

#[test]
fn seed_example_uses_rest_and_etcd() {
    let config = load(&manifest_dir().join("../examples/seed-etcd-rest.yaml"));
    assert_eq!(config.iceberg.catalog.kind, CatalogType::Rest);
    assert_eq!(OffsetsBackend::resolve(&config), StateStore::Etcd);
}

/// The ```yaml blocks of a markdown file whose top level has `s3` or
/// `mappings`, i.e. processor config rather than Kubernetes manifests.
fn config_blocks(markdown: &str) -> Vec<Mapping> {
    let mut blocks = Vec::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        let Some(indent) = line.find("```yaml") else {
            continue;
        };
        let block: String = lines
            .by_ref()
            .take_while(|line| line.trim() != "```")
            .map(|line| format!("{}\n", line.get(indent..).unwrap_or("")))
            .collect();
        let top_level = |key: &str| block.lines().any(|line| line.starts_with(key));
        if top_level("s3:") || top_level("mappings:") {
            let value: Value = serde_yaml_ng::from_str(&block).expect("seed block is YAML");
            blocks.push(value.as_mapping().expect("seed block is a mapping").clone());
        }
    }
    blocks
}

fn has(block: &Mapping, key: &str) -> bool {
    block.contains_key(key)
}

fn load_block(block: &Mapping, name: &str) -> Config {
    let text = serde_yaml_ng::to_string(block).expect("YAML");
    Config::from_yaml_str(&text, name).unwrap_or_else(|error| panic!("{error}\n{text}"))
}

#[test]
fn seed_readme_config_loads() {
    let readme = fs::read_to_string(seed("001_")).expect("readme");
    let blocks = config_blocks(&readme);
    assert_eq!(blocks.len(), 1, "the README has one minimal config");
    let config = load_block(&blocks[0], "README minimal config");
    assert_eq!(OffsetsBackend::resolve(&config), StateStore::Etcd);
}

/// The user guide gives "Common fields" and then fragments: another `s3`
/// for MinIO, mappings with and without columns, registry settings. Each
/// fragment is read as the guide means it, on top of the common fields, with
/// the guide's first mapping wherever a fragment brings none.
#[test]
fn seed_user_guide_configs_load() {
    let guide = fs::read_to_string(seed("000_")).expect("guide");
    let blocks = config_blocks(&guide);
    assert_eq!(blocks.len(), 5, "common fields, MinIO, two mapping blocks, registry");

    let (common, fragments): (Vec<&Mapping>, Vec<&Mapping>) = blocks.iter().partition(|block| has(block, "iceberg"));
    let [common] = common[..] else {
        panic!("expected one block with the common fields");
    };
    let first_mappings = fragments
        .iter()
        .find_map(|fragment| fragment.get("mappings"))
        .expect("the guide has a mapping example")
        .clone();

    let mut with_first_mapping = common.clone();
    with_first_mapping.insert("mappings".into(), first_mappings.clone());
    load_block(&with_first_mapping, "user guide: common fields");

    for (index, fragment) in fragments.iter().enumerate() {
        let mut config = common.clone();
        for (key, value) in fragment.iter() {
            config.insert(key.clone(), value.clone());
        }
        if !has(&config, "mappings") {
            config.insert("mappings".into(), first_mappings.clone());
        }
        load_block(&config, &format!("user guide: fragment {index}"));
    }
}

#[test]
fn conformance_mapping_file_is_a_mappings_list() {
    let mappings = load_mappings(&shared("corpus/json_columns/mapping.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(mappings.len(), 1);
    let columns = &mappings[0].schema.columns;
    assert_eq!(columns.len(), 7);
    assert_eq!(columns[0].name, "order_id");
    assert_eq!(columns[0].column_type, ColumnType::Long);
    assert!(columns[0].required);
    assert_eq!(columns[4].column_type, ColumnType::Timestamp);
}

/// A mappings file completes a config that has every other section.
#[test]
fn conformance_mapping_file_completes_a_config() {
    let sections = "\
s3:
  bucket: bucket
  namespace: production
  endpoint: file:///srv/corpus/json_columns
iceberg:
  catalog:
    type: sql
    uri: sqlite:///srv/floe/catalog.db
  warehouse: file:///srv/floe/warehouse
";
    let mappings = fs::read_to_string(shared("corpus/json_columns/mapping.yaml")).expect("mapping file");
    let config = Config::from_yaml_str(&format!("{sections}{mappings}"), "conformance config")
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(config.s3.location(), SourceLocation::Local { root: PathBuf::from("/srv/corpus/json_columns/bucket") });
    assert_eq!(config.mappings, load_mappings(&shared("corpus/json_columns/mapping.yaml")).expect("mappings"));
}

#[test]
fn mappings_file_rejects_other_sections() {
    let error =
        floe_config::mappings_from_yaml_str("s3: {bucket: x}\nmappings: []\n", "m.yaml").expect_err("only mappings");
    assert_eq!(
        error.to_string(),
        "config error in m.yaml: unknown key `s3` (line 1, column 1); accepted keys at the top level: mappings"
    );
}
