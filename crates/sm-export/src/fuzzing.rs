//! Fuzzing entry points (filled below).
