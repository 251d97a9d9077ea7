//! What the monitor does, decided from what it sees, with no cluster: the
//! init container's plan before the node starts, and the sidecar's steps
//! once it runs. Callers carry the plans out (resolve a tag with a pod,
//! patch the StatefulSet, wipe the volume, write the record).

use super::image::ImageRef;
use super::record::{Interruption, TestRecord, TestStatus};

/// The init container's plan for this pod.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InitPlan {
    /// The node's image is a moving tag: resolve `tag` to a digest, pin
    /// the StatefulSet to it and replace this pod (the new pod starts or
    /// resumes the test of that digest).
    Resolve {
        /// The image whose tag to resolve.
        tag: ImageRef,
    },
    /// The volume holds a test of this very image: keep the node's data.
    Resume {
        /// The record to write back (with the interruption, if it had not
        /// synced yet).
        record: TestRecord,
    },
    /// A new test: wipe the node's data, archive `previous`, write
    /// `record`.
    Start {
        /// The new test.
        record: TestRecord,
        /// The test it replaces, marked superseded if it had not synced.
        previous: Option<TestRecord>,
    },
}

/// Plans a start of a pod whose node runs `image`, with `current` the
/// record on its volume, at `now`; `why` says what stopped the previous
/// pod (recorded on a test that resumes before it synced).
pub fn plan_init(image: &ImageRef, current: Option<&TestRecord>, now: u64, why: &str) -> InitPlan {
    if !image.is_pinned() {
        return InitPlan::Resolve { tag: image.clone() };
    }
    let pinned = image.to_string();
    match current {
        Some(record) if same_image(&record.image, image) => {
            let mut record = record.clone();
            if !record.is_synced() {
                record.interruptions.push(Interruption::new(now, why));
            }
            InitPlan::Resume { record }
        }
        _ => InitPlan::Start {
            record: TestRecord::start(&pinned, now),
            previous: current.map(|old| {
                let mut old = old.clone();
                if matches!(old.status, TestStatus::Syncing) {
                    old.status = TestStatus::Superseded {
                        at: now,
                        by: pinned.clone(),
                    };
                }
                old
            }),
        },
    }
}

/// Whether a recorded image is `image`: the same repository and digest
/// (the tag is only a name for it).
fn same_image(recorded: &str, image: &ImageRef) -> bool {
    ImageRef::parse(recorded)
        .is_ok_and(|r| r.repository == image.repository && r.digest == image.digest)
}

/// The record once the node reports itself synced at `now` with
/// `disk_bytes` of data; a test already synced keeps its first result.
pub fn synced(record: &TestRecord, now: u64, disk_bytes: u64) -> TestRecord {
    let mut record = record.clone();
    if !record.is_synced() {
        record.status = TestStatus::Synced {
            synced_at: now,
            duration_secs: now.saturating_sub(record.started_at),
            disk_bytes,
        };
    }
    record
}

/// What a check of the moving tag found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageCheck {
    /// The tag still names the image under test.
    Unchanged,
    /// The tag names a new build: roll the StatefulSet to `image`.
    Changed {
        /// The new digest-pinned image.
        image: ImageRef,
    },
}

/// Compares the image under test with the digest its tag resolves to now.
pub fn check_image(under_test: &ImageRef, resolved_digest: &str) -> ImageCheck {
    if under_test.digest.as_deref() == Some(resolved_digest) {
        ImageCheck::Unchanged
    } else {
        ImageCheck::Changed {
            image: under_test.pinned_to(resolved_digest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn image(digest: &str) -> ImageRef {
        ImageRef::parse(&format!("tmpnet/litecoind:latest@{digest}")).unwrap()
    }

    #[test]
    fn a_moving_tag_is_resolved_before_anything_else() {
        let tag = ImageRef::parse("tmpnet/litecoind:latest").unwrap();
        let current = TestRecord::start(&image(A).to_string(), 1);
        assert_eq!(
            plan_init(&tag, Some(&current), 5, "x"),
            InitPlan::Resolve { tag: tag.clone() },
            "never a wipe on an unpinned image"
        );
    }

    #[test]
    fn an_empty_volume_starts_a_test() {
        match plan_init(&image(A), None, 10, "first start") {
            InitPlan::Start { record, previous } => {
                assert_eq!(record.image, image(A).to_string());
                assert_eq!(record.started_at, 10);
                assert_eq!(record.status, TestStatus::Syncing);
                assert_eq!(previous, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_same_image_resumes_and_records_why_it_stopped() {
        let current = TestRecord::start(&image(A).to_string(), 10);
        match plan_init(
            &image(A),
            Some(&current),
            70,
            "evicted: the node ran low on memory",
        ) {
            InitPlan::Resume { record } => {
                assert_eq!(record.started_at, 10, "the test goes on");
                assert_eq!(
                    record.interruptions,
                    [Interruption::new(70, "evicted: the node ran low on memory")]
                );
            }
            other => panic!("{other:?}"),
        }
        // The recorded tag is only a name: the digest decides.
        let renamed = TestRecord::start(&format!("tmpnet/litecoind:v1@{A}"), 10);
        assert!(matches!(
            plan_init(&image(A), Some(&renamed), 70, "x"),
            InitPlan::Resume { .. }
        ));
        // A restart after the sync is no interruption of the test.
        let done = synced(&current, 50, 1 << 20);
        match plan_init(&image(A), Some(&done), 90, "restarted") {
            InitPlan::Resume { record } => assert!(record.interruptions.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_new_digest_starts_a_new_test_and_supersedes_an_unfinished_one() {
        let current = TestRecord::start(&image(A).to_string(), 10);
        match plan_init(&image(B), Some(&current), 99, "rolled") {
            InitPlan::Start { record, previous } => {
                assert_eq!(record.image, image(B).to_string());
                assert_eq!(
                    previous.unwrap().status,
                    TestStatus::Superseded {
                        at: 99,
                        by: image(B).to_string()
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        let done = synced(&current, 50, 7);
        match plan_init(&image(B), Some(&done), 99, "rolled") {
            InitPlan::Start { previous, .. } => assert!(previous.unwrap().is_synced()),
            other => panic!("{other:?}"),
        }
        // Another repository with the same digest is another image.
        let other_repo = ImageRef::parse(&format!("other/node@{A}")).unwrap();
        assert!(matches!(
            plan_init(&other_repo, Some(&current), 99, "x"),
            InitPlan::Start { .. }
        ));
    }

    #[test]
    fn a_sync_is_recorded_once_with_its_duration_and_disk() {
        let record = TestRecord::start("i", 100);
        let first = synced(&record, 160, 4096);
        assert_eq!(
            first.status,
            TestStatus::Synced {
                synced_at: 160,
                duration_secs: 60,
                disk_bytes: 4096
            }
        );
        assert_eq!(synced(&first, 500, 1), first, "the first result stays");
    }

    #[test]
    fn a_new_digest_of_the_tag_rolls_the_test() {
        assert_eq!(check_image(&image(A), A), ImageCheck::Unchanged);
        assert_eq!(
            check_image(&image(A), B),
            ImageCheck::Changed { image: image(B) }
        );
    }
}
