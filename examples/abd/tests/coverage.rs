//! ABD declares exactly the coverage points its node marks.

use std::collections::BTreeSet;

#[test]
fn declared_points_are_the_marked_ones() {
    let source = include_str!("../src/node.rs");
    let marked: BTreeSet<&str> =
        source.match_indices("reached(\"").filter_map(|(at, m)| source[at + m.len()..].split('"').next()).collect();
    let declared: BTreeSet<&str> = faultline_example_abd::INFO.coverage.iter().map(|p| p.name).collect();
    assert_eq!(declared.len(), faultline_example_abd::INFO.coverage.len(), "a point declared twice");
    assert_eq!(marked, declared);
}
