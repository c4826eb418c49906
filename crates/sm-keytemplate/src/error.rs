//! Errors of key validation and rendering.

use std::fmt;

/// Why a key is invalid ([`crate::validate_key`]) or cannot be rendered ([`crate::render`]).
///
/// Positions are 0-based character (not byte) indexes into the key. Upstream, every variant is
/// a non-retryable failure of the export task: the same key fails the same way every time.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The key is empty or longer than [`crate::MAX_KEY_CHARS`] characters.
    Length {
        /// The key's length in characters.
        chars: usize,
    },
    /// A character that the SDK's key pattern forbids outside placeholders.
    ForbiddenCharacter {
        /// Character index in the key.
        index: usize,
        /// The offending character.
        character: char,
    },
    /// A `!{...}` placeholder that is malformed or cannot be resolved.
    Placeholder {
        /// Character index of the placeholder's `!` in the key.
        index: usize,
        /// The placeholder as written, from `!{` to its `}` (or to the end of the key when it
        /// is unterminated).
        placeholder: String,
        /// What is wrong with it.
        reason: PlaceholderError,
    },
}

/// What is wrong with one `!{name:pattern}` placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlaceholderError {
    /// `!{` without a closing `}`.
    Unterminated,
    /// No `:` between the namespace and the pattern.
    MissingColon,
    /// The namespace is not made of ASCII letters only (the SDK's key pattern).
    InvalidName,
    /// The pattern holds a character other than an ASCII letter or `/` (the SDK's key pattern).
    InvalidPatternCharacter(char),
    /// Nothing after the `:`.
    EmptyPattern,
    /// A namespace other than `timestamp` (case-sensitive), the only one the reference defines.
    UnknownNamespace(String),
    /// The `timestamp` pattern is not a valid `DateTimeFormatter` pattern, or uses a letter
    /// this implementation does not support.
    Pattern(PatternError),
}

/// Why a `java.time.format.DateTimeFormatter` pattern is rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatternError {
    /// A letter Java does not define (`Unknown pattern letter` in Java).
    UnknownLetter(char),
    /// A letter Java defines (era, zone, offset, nano-of-day, day period, padding, …) that this
    /// implementation deliberately does not support.
    UnsupportedLetter(char),
    /// A letter repeated more often than Java allows (`Too many pattern letters` in Java).
    TooManyLetters {
        /// The pattern letter.
        letter: char,
        /// How many times it is repeated.
        count: usize,
        /// The largest count Java accepts for it.
        max: usize,
    },
    /// `y`, `u` or `Y` repeated 11 to 18 times for a year that is not negative: Java 17 throws
    /// `ArrayIndexOutOfBoundsException` when printing it (a bug in its `SignStyle.EXCEEDS_PAD`
    /// check), so the reference cannot render such a key either.
    JavaCannotPrint {
        /// The pattern letter.
        letter: char,
        /// How many times it is repeated.
        count: usize,
    },
    /// A `'` that opens quoted text but is never closed.
    UnterminatedQuote,
    /// `{`, `}` or `#`, which Java reserves.
    ReservedCharacter(char),
    /// A `]` that closes no optional section `[`.
    UnmatchedBracket,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length { chars: 0 } => write!(
                f,
                "the S3 key is empty (it must be 1 to {} characters)",
                crate::MAX_KEY_CHARS
            ),
            Self::Length { chars } => write!(
                f,
                "the S3 key is {chars} characters long (it must be 1 to {} characters)",
                crate::MAX_KEY_CHARS
            ),
            Self::ForbiddenCharacter { index, character } => write!(
                f,
                "the S3 key contains {character:?} at index {index}, which is not allowed \
                 (forbidden: \\ {{ }} space % ` [ ] \" ' > < ~ # ^ ? |, except in a \
                 !{{name:pattern}} placeholder)"
            ),
            Self::Placeholder {
                index,
                placeholder,
                reason,
            } => write!(
                f,
                "S3 key placeholder `{placeholder}` at index {index}: {reason}"
            ),
        }
    }
}

impl std::error::Error for KeyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Placeholder {
                reason: PlaceholderError::Pattern(e),
                ..
            } => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for PlaceholderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unterminated => f.write_str("`!{` is never closed by `}`"),
            Self::MissingColon => {
                f.write_str("expected `!{namespace:pattern}` but there is no `:`")
            }
            Self::InvalidName => f.write_str("the namespace must be one or more ASCII letters"),
            Self::InvalidPatternCharacter(c) => write!(
                f,
                "the pattern contains {c:?}; only ASCII letters and `/` are allowed"
            ),
            Self::EmptyPattern => f.write_str("the pattern after `:` is empty"),
            Self::UnknownNamespace(name) => write!(
                f,
                "unknown namespace {name:?}; only `timestamp` is supported"
            ),
            Self::Pattern(e) => write!(f, "invalid timestamp pattern: {e}"),
        }
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownLetter(c) => write!(f, "unknown pattern letter {c:?}"),
            Self::UnsupportedLetter(c) => write!(
                f,
                "pattern letter {c:?} is not supported (supported: y u Y M L Q q d D E e w W \
                 a h H k K m s S)"
            ),
            Self::TooManyLetters { letter, count, max } => write!(
                f,
                "pattern letter {letter:?} is repeated {count} times; at most {max} allowed"
            ),
            Self::JavaCannotPrint { letter, count } => write!(
                f,
                "pattern letter {letter:?} repeated {count} times cannot be printed: Java 17's \
                 DateTimeFormatter fails on 11 to 18 year letters; use at most 10"
            ),
            Self::UnterminatedQuote => f.write_str("a quoted literal `'` is never closed"),
            Self::ReservedCharacter(c) => write!(
                f,
                "{c:?} is reserved in date-time patterns (quote it to print it)"
            ),
            Self::UnmatchedBracket => f.write_str("`]` without a previous `[`"),
        }
    }
}

impl std::error::Error for PatternError {}
