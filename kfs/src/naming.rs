//! Object names of a segment: `segment-{base_offset:020}.kfs` and `.index`.

const PREFIX: &str = "segment-";
const DIGITS: usize = 20;

/// Which of a segment's two objects a name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    Segment,
    Index,
}

impl ObjectKind {
    fn extension(self) -> &'static str {
        match self {
            ObjectKind::Segment => ".kfs",
            ObjectKind::Index => ".index",
        }
    }
}

pub fn segment_object_name(base: i64) -> String {
    object_name(base, ObjectKind::Segment)
}

pub fn index_object_name(base: i64) -> String {
    object_name(base, ObjectKind::Index)
}

fn object_name(base: i64, kind: ObjectKind) -> String {
    format!("{PREFIX}{base:0DIGITS$}{}", kind.extension())
}

/// Parses the last path component of an object key. Only names brokers write
/// are accepted: exactly 20 decimal digits of a non-negative base offset.
pub fn parse_object_name(name: &str) -> Option<(i64, ObjectKind)> {
    let name = name.rsplit('/').next()?;
    let rest = name.strip_prefix(PREFIX)?;
    let (digits, kind) = [ObjectKind::Segment, ObjectKind::Index]
        .into_iter()
        .find_map(|kind| Some((rest.strip_suffix(kind.extension())?, kind)))?;
    if digits.len() != DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(segment_object_name(0), "segment-00000000000000000000.kfs");
        assert_eq!(index_object_name(57), "segment-00000000000000000057.index");
        assert_eq!(
            parse_object_name("production/orders/0/segment-00000000000000000116.kfs"),
            Some((116, ObjectKind::Segment))
        );
        assert_eq!(parse_object_name("segment-09223372036854775807.index"), Some((i64::MAX, ObjectKind::Index)));
    }

    #[test]
    fn foreign_names_are_not_segments() {
        for name in [
            "segment-0000000000000000000.kfs",
            "segment-00000000000000000000.kfsx",
            "segment-+0000000000000000000.kfs",
            "segment-99999999999999999999.kfs",
            "segment--0000000000000000001.kfs",
            "orders/lfs/blob",
            "segment-.index",
        ] {
            assert_eq!(parse_object_name(name), None, "{name}");
        }
    }
}
