//! S3 upload planning, sans-IO.
//!
//! This crate owns how a file becomes S3 calls: a single `PutObject` when the file is at most
//! `sizeThresholdForMultipartUploadBytes`, else a multipart upload whose part size is at least
//! the configured minimum (5 MiB, S3's own minimum for all but the last part) and grown so that
//! no file needs more than 10,000 parts; and the order of the calls ([`Upload`]): create,
//! parts, complete — resuming from the parts a previous run already uploaded.
//!
//! # Drive loop
//!
//! The runtime builds an [`Upload`] from the file size ([`Upload::new`]), then repeatedly asks
//! [`Upload::next`] for the next [`Step`], performs it (reading the part's byte range from the
//! file), and reports it (`created`, `part_done`, `completed`). After a restart it calls
//! [`Upload::resume`] with the upload id and the parts S3 lists (ListParts): parts whose size
//! matches the plan are not sent again. Nothing here touches a file or the network.

/// S3's smallest part (except the last): 5 MiB.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's largest part: 5 GiB.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// S3's most parts per upload.
pub const MAX_PARTS: u64 = 10_000;
/// The largest object S3 accepts from a multipart upload at these limits.
pub const MAX_OBJECT: u64 = MAX_PART_SIZE * MAX_PARTS;

/// How a file is uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// One `PutObject`.
    Single,
    /// A multipart upload of `parts` parts of `part_size` bytes (the last may be shorter).
    Multipart {
        /// Bytes per part.
        part_size: u64,
        /// Number of parts.
        parts: u64,
    },
}

/// Why a file cannot be uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError(pub String);

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PlanError {}

/// Plans the upload of a `size`-byte file: single PUT up to `threshold` bytes, else multipart
/// with parts of at least `min_part` (raised to 5 MiB if lower), grown to stay within 10,000.
pub fn plan(size: u64, threshold: u64, min_part: u64) -> Result<Plan, PlanError> {
    if size <= threshold.min(MAX_PART_SIZE) {
        return Ok(Plan::Single);
    }
    if size > MAX_OBJECT {
        return Err(PlanError(format!(
            "file of {size} bytes is larger than S3's largest object ({MAX_OBJECT} bytes)"
        )));
    }
    let floor = min_part.clamp(MIN_PART_SIZE, MAX_PART_SIZE);
    let part_size = floor.max(size.div_ceil(MAX_PARTS));
    Ok(Plan::Multipart {
        part_size,
        parts: size.div_ceil(part_size),
    })
}

/// The next call of an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `PutObject` of the whole file.
    PutObject,
    /// `CreateMultipartUpload`.
    Create,
    /// `UploadPart` of part `number` (1-based): bytes `offset .. offset + len` of the file.
    UploadPart {
        /// Part number, 1..=10,000.
        number: u32,
        /// Byte offset in the file.
        offset: u64,
        /// Byte length.
        len: u64,
    },
    /// `CompleteMultipartUpload` with these (part number, ETag) pairs.
    Complete(Vec<(u32, String)>),
    /// Nothing left.
    Done,
}

/// The progress of one upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    size: u64,
    plan: Plan,
    upload_id: Option<String>,
    etags: Vec<Option<String>>,
    done: bool,
}

impl Upload {
    /// A new upload of a `size`-byte file.
    pub fn new(size: u64, threshold: u64, min_part: u64) -> Result<Self, PlanError> {
        let plan = plan(size, threshold, min_part)?;
        let parts = match plan {
            Plan::Single => 0,
            Plan::Multipart { parts, .. } => parts as usize,
        };
        Ok(Self {
            size,
            plan,
            upload_id: None,
            etags: vec![None; parts],
            done: false,
        })
    }

    /// The plan.
    pub fn plan(&self) -> Plan {
        self.plan
    }

    /// The multipart upload id, once created.
    pub fn upload_id(&self) -> Option<&str> {
        self.upload_id.as_deref()
    }

    /// Byte range of part `number` (1-based).
    pub fn part_range(&self, number: u32) -> Option<(u64, u64)> {
        let Plan::Multipart { part_size, parts } = self.plan else {
            return None;
        };
        let i = u64::from(number).checked_sub(1)?;
        if i >= parts {
            return None;
        }
        let offset = i * part_size;
        Some((offset, part_size.min(self.size - offset)))
    }

    /// Bytes already uploaded (parts reported done).
    pub fn uploaded_bytes(&self) -> u64 {
        (1..=self.etags.len() as u32)
            .filter(|n| self.etags[*n as usize - 1].is_some())
            .filter_map(|n| self.part_range(n))
            .map(|(_, len)| len)
            .sum()
    }

    /// The next call to make.
    pub fn next(&self) -> Step {
        if self.done {
            return Step::Done;
        }
        match self.plan {
            Plan::Single => Step::PutObject,
            Plan::Multipart { .. } => {
                if self.upload_id.is_none() {
                    return Step::Create;
                }
                if let Some(i) = self.etags.iter().position(Option::is_none) {
                    let number = i as u32 + 1;
                    let (offset, len) = self.part_range(number).expect("index within parts");
                    return Step::UploadPart {
                        number,
                        offset,
                        len,
                    };
                }
                Step::Complete(
                    self.etags
                        .iter()
                        .enumerate()
                        .map(|(i, e)| (i as u32 + 1, e.clone().unwrap_or_default()))
                        .collect(),
                )
            }
        }
    }

    /// The multipart upload was created.
    pub fn created(&mut self, upload_id: String) {
        self.upload_id = Some(upload_id);
    }

    /// Part `number` was uploaded with this ETag.
    pub fn part_done(&mut self, number: u32, etag: String) {
        if let Some(slot) = (number as usize)
            .checked_sub(1)
            .and_then(|i| self.etags.get_mut(i))
        {
            *slot = Some(etag);
        }
    }

    /// The object exists (PutObject or CompleteMultipartUpload succeeded).
    pub fn completed(&mut self) {
        self.done = true;
    }

    /// Continues an interrupted multipart upload: `listed` = (part number, ETag, size) from
    /// ListParts. Parts whose size matches the plan count as done; the others are sent again.
    /// Returns the bytes that need not be sent again.
    pub fn resume(&mut self, upload_id: String, listed: &[(u32, String, u64)]) -> u64 {
        self.upload_id = Some(upload_id);
        for (n, etag, size) in listed {
            if self.part_range(*n).is_some_and(|(_, len)| len == *size) && !etag.is_empty() {
                self.part_done(*n, etag.clone());
            }
        }
        self.uploaded_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn threshold_and_part_sizes() {
        assert_eq!(plan(0, 5 * MIB, 5 * MIB).unwrap(), Plan::Single);
        assert_eq!(plan(5 * MIB, 5 * MIB, 5 * MIB).unwrap(), Plan::Single);
        assert_eq!(
            plan(5 * MIB + 1, 5 * MIB, 5 * MIB).unwrap(),
            Plan::Multipart {
                part_size: 5 * MIB,
                parts: 2
            }
        );
        assert_eq!(
            plan(64 * MIB, 5 * MIB, 1).unwrap(),
            Plan::Multipart {
                part_size: 5 * MIB,
                parts: 13
            }
        );
        // 100 GiB needs parts above 5 MiB to stay within 10,000.
        let Plan::Multipart { part_size, parts } = plan(100 << 30, 5 * MIB, 5 * MIB).unwrap()
        else {
            panic!()
        };
        assert!(parts <= MAX_PARTS && part_size * parts >= 100 << 30 && part_size > 5 * MIB);
        assert!(plan(MAX_OBJECT + 1, 5 * MIB, 5 * MIB).is_err());
    }

    #[test]
    fn steps_and_resume() {
        let mut u = Upload::new(12 * MIB, 5 * MIB, 5 * MIB).unwrap();
        assert_eq!(u.next(), Step::Create);
        u.created("id".into());
        assert_eq!(
            u.next(),
            Step::UploadPart {
                number: 1,
                offset: 0,
                len: 5 * MIB
            }
        );
        u.part_done(1, "e1".into());
        assert_eq!(
            u.next(),
            Step::UploadPart {
                number: 2,
                offset: 5 * MIB,
                len: 5 * MIB
            }
        );
        // Restart: S3 lists part 1 and a short part 2 (interrupted) → only part 2 and 3 again.
        let mut r = Upload::new(12 * MIB, 5 * MIB, 5 * MIB).unwrap();
        let kept = r.resume(
            "id".into(),
            &[(1, "e1".into(), 5 * MIB), (2, "e2".into(), MIB)],
        );
        assert_eq!(kept, 5 * MIB);
        assert_eq!(
            r.next(),
            Step::UploadPart {
                number: 2,
                offset: 5 * MIB,
                len: 5 * MIB
            }
        );
        r.part_done(2, "e2b".into());
        r.part_done(3, "e3".into());
        assert_eq!(
            r.next(),
            Step::Complete(vec![(1, "e1".into()), (2, "e2b".into()), (3, "e3".into())])
        );
        r.completed();
        assert_eq!(r.next(), Step::Done);
        let mut s = Upload::new(1, 5 * MIB, 5 * MIB).unwrap();
        assert_eq!(s.next(), Step::PutObject);
        s.completed();
        assert_eq!(s.next(), Step::Done);
    }

    proptest! {
        /// Parts cover the file exactly, in order, each within S3's limits, at most 10,000.
        #[test]
        fn parts_cover_the_file(size in 0u64..(200u64 << 30), threshold in (5 * MIB)..(64 * MIB), min_part in 0u64..(64 * MIB)) {
            let u = Upload::new(size, threshold, min_part).unwrap();
            match u.plan() {
                Plan::Single => prop_assert!(size <= threshold),
                Plan::Multipart { part_size, parts } => {
                    prop_assert!(size > threshold);
                    prop_assert!(parts <= MAX_PARTS);
                    prop_assert!(part_size >= MIN_PART_SIZE && part_size >= min_part.min(MAX_PART_SIZE));
                    prop_assert!(part_size <= MAX_PART_SIZE);
                    let mut next = 0;
                    for n in 1..=parts as u32 {
                        let (off, len) = u.part_range(n).unwrap();
                        prop_assert_eq!(off, next);
                        prop_assert!(len >= 1 && len <= part_size);
                        if u64::from(n) < parts {
                            prop_assert_eq!(len, part_size);
                        }
                        next = off + len;
                    }
                    prop_assert_eq!(next, size);
                    prop_assert!(u.part_range(parts as u32 + 1).is_none());
                }
            }
        }
    }
}
