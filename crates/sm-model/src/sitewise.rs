//! SiteWise payloads: a message on a SiteWise-exporting stream is one JSON
//! `PutAssetPropertyValueEntry`, as `Util.validate_and_serialize_to_json_bytes` of the SDKs
//! writes it. [`parse_entry`] decodes and validates one with the SDK's limits.

use serde::{Deserialize, Serialize};

use crate::validate::ValidationError;

/// Quality of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Quality {
    /// Good.
    #[serde(rename = "GOOD")]
    Good,
    /// Bad.
    #[serde(rename = "BAD")]
    Bad,
    /// Uncertain.
    #[serde(rename = "UNCERTAIN")]
    Uncertain,
}

/// A value: exactly one of the four fields is set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Variant {
    /// Text value (1..=1024 characters, no control characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    /// Integer value (0..=2147483647, as the SDK validates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integer_value: Option<i64>,
    /// Floating-point value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub double_value: Option<f64>,
    /// Boolean value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boolean_value: Option<bool>,
}

/// A timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeInNanos {
    /// Seconds since the epoch (1..=31556889864403199).
    pub time_in_seconds: i64,
    /// Nanoseconds (0..=999999999).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_in_nanos: Option<i64>,
}

impl TimeInNanos {
    /// The timestamp in nanoseconds since the epoch (saturating).
    pub fn as_nanos(&self) -> i128 {
        i128::from(self.time_in_seconds) * 1_000_000_000
            + i128::from(self.offset_in_nanos.unwrap_or(0))
    }
}

/// One value of a property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetPropertyValue {
    /// The value.
    pub value: Variant,
    /// When it was measured.
    pub timestamp: TimeInNanos,
    /// Its quality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<Quality>,
}

/// Values of one asset property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutAssetPropertyValueEntry {
    /// Entry id (1..=64 of `[a-zA-Z0-9_-]`).
    pub entry_id: String,
    /// Asset id (with `propertyId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_id: Option<String>,
    /// Property id (with `assetId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property_id: Option<String>,
    /// Property alias (instead of the ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property_alias: Option<String>,
    /// 1..=10 values.
    pub property_values: Vec<AssetPropertyValue>,
}

impl PutAssetPropertyValueEntry {
    /// What identifies the property: the alias, or the asset and property ids.
    pub fn property_key(&self) -> String {
        match &self.property_alias {
            Some(a) => format!("alias:{a}"),
            None => format!(
                "id:{}/{}",
                self.asset_id.as_deref().unwrap_or(""),
                self.property_id.as_deref().unwrap_or("")
            ),
        }
    }
}

fn bad(msg: String) -> ValidationError {
    ValidationError::new(msg)
}

fn no_control_chars(field: &str, v: &str, max: usize) -> Result<(), ValidationError> {
    let n = v.chars().count();
    if n == 0 || n > max {
        return Err(bad(format!(
            "{field} must be 1..={max} characters, got {n}"
        )));
    }
    if v.chars().any(|c| c <= '\u{1f}' || c == '\u{7f}') {
        return Err(bad(format!("{field} must not contain control characters")));
    }
    Ok(())
}

/// Decodes one message payload and checks it against the SDK's limits.
pub fn parse_entry(payload: &[u8]) -> Result<PutAssetPropertyValueEntry, ValidationError> {
    let e: PutAssetPropertyValueEntry = serde_json::from_slice(payload)
        .map_err(|err| bad(format!("not a JSON PutAssetPropertyValueEntry: {err}")))?;
    validate_entry(&e)?;
    Ok(e)
}

/// Checks an entry against the SDK's limits.
pub fn validate_entry(e: &PutAssetPropertyValueEntry) -> Result<(), ValidationError> {
    let id_len = e.entry_id.chars().count();
    if !(1..=64).contains(&id_len)
        || !e
            .entry_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(bad(format!(
            "entryId {:?} must be 1..=64 characters of [a-zA-Z0-9_-]",
            e.entry_id
        )));
    }
    if let Some(a) = &e.property_alias {
        no_control_chars("propertyAlias", a, 2048)?;
    } else if e.asset_id.as_deref().unwrap_or("").is_empty()
        || e.property_id.as_deref().unwrap_or("").is_empty()
    {
        return Err(bad(
            "an entry needs propertyAlias, or both assetId and propertyId".into(),
        ));
    }
    let n = e.property_values.len();
    if !(1..=10).contains(&n) {
        return Err(bad(format!(
            "propertyValues must hold 1..=10 values, got {n}"
        )));
    }
    let mut seen = Vec::with_capacity(n);
    for (i, v) in e.property_values.iter().enumerate() {
        let set = [
            v.value.string_value.is_some(),
            v.value.integer_value.is_some(),
            v.value.double_value.is_some(),
            v.value.boolean_value.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if set != 1 {
            return Err(bad(format!(
                "propertyValues[{i}].value must set exactly one of stringValue, integerValue, doubleValue, booleanValue (got {set})"
            )));
        }
        if let Some(s) = &v.value.string_value {
            no_control_chars(&format!("propertyValues[{i}].value.stringValue"), s, 1024)?;
        }
        if let Some(x) = v.value.integer_value {
            if !(0..=2_147_483_647).contains(&x) {
                return Err(bad(format!(
                    "propertyValues[{i}].value.integerValue must be 0..=2147483647, got {x}"
                )));
            }
        }
        if v.value.double_value.is_some_and(|d| !d.is_finite()) {
            return Err(bad(format!(
                "propertyValues[{i}].value.doubleValue must be finite"
            )));
        }
        let t = v.timestamp;
        if !(1..=31_556_889_864_403_199).contains(&t.time_in_seconds) {
            return Err(bad(format!(
                "propertyValues[{i}].timestamp.timeInSeconds must be 1..=31556889864403199, got {}",
                t.time_in_seconds
            )));
        }
        if let Some(ns) = t.offset_in_nanos {
            if !(0..=999_999_999).contains(&ns) {
                return Err(bad(format!(
                    "propertyValues[{i}].timestamp.offsetInNanos must be 0..=999999999, got {ns}"
                )));
            }
        }
        if seen.contains(&t.as_nanos()) {
            return Err(bad(format!(
                "propertyValues[{i}] repeats timestamp {}.{:09}: two values for one property and time conflict",
                t.time_in_seconds,
                t.offset_in_nanos.unwrap_or(0)
            )));
        }
        seen.push(t.as_nanos());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"entryId": "e-1", "propertyAlias": "/plant/line1/temp",
        "propertyValues": [{"value": {"doubleValue": 21.5}, "timestamp": {"timeInSeconds": 1700000000, "offsetInNanos": 5}, "quality": "GOOD"}]}"#;

    #[test]
    fn sdk_shaped_entries_parse() {
        let e = parse_entry(GOOD.as_bytes()).unwrap();
        assert_eq!(e.property_key(), "alias:/plant/line1/temp");
        assert_eq!(e.property_values[0].quality, Some(Quality::Good));
        let ids = r#"{"entryId":"x","assetId":"a","propertyId":"p","propertyValues":[{"value":{"integerValue":3},"timestamp":{"timeInSeconds":1}}]}"#;
        assert_eq!(
            parse_entry(ids.as_bytes()).unwrap().property_key(),
            "id:a/p"
        );
        // Serialized back with the API's names.
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["propertyValues"][0]["timestamp"]["offsetInNanos"], 5);
    }

    #[test]
    fn invalid_entries_are_refused_with_a_reason() {
        let cases = [
            (r#"{"entryId":"e","propertyValues":[]}"#, "propertyAlias"),
            (
                r#"{"entryId":"e","propertyAlias":"a","propertyValues":[]}"#,
                "1..=10",
            ),
            (
                r#"{"entryId":"e f","propertyAlias":"a","propertyValues":[{"value":{"integerValue":1},"timestamp":{"timeInSeconds":1}}]}"#,
                "entryId",
            ),
            (
                r#"{"entryId":"e","propertyAlias":"a","propertyValues":[{"value":{},"timestamp":{"timeInSeconds":1}}]}"#,
                "exactly one",
            ),
            (
                r#"{"entryId":"e","propertyAlias":"a","propertyValues":[{"value":{"integerValue":1,"booleanValue":true},"timestamp":{"timeInSeconds":1}}]}"#,
                "exactly one",
            ),
            (
                r#"{"entryId":"e","propertyAlias":"a","propertyValues":[{"value":{"integerValue":-1},"timestamp":{"timeInSeconds":1}}]}"#,
                "integerValue",
            ),
            (
                r#"{"entryId":"e","propertyAlias":"a","propertyValues":[{"value":{"integerValue":1},"timestamp":{"timeInSeconds":0}}]}"#,
                "timeInSeconds",
            ),
            (
                r#"{"entryId":"e","propertyAlias":"a","propertyValues":[{"value":{"integerValue":1},"timestamp":{"timeInSeconds":1,"offsetInNanos":1000000000}}]}"#,
                "offsetInNanos",
            ),
            (
                r#"{"entryId":"e","propertyAlias":"a","propertyValues":[{"value":{"stringValue":""},"timestamp":{"timeInSeconds":1}}]}"#,
                "stringValue",
            ),
            (
                r#"{"entryId":"e","propertyAlias":"a","propertyValues":[{"value":{"integerValue":1},"timestamp":{"timeInSeconds":1},"quality":"MEH"}]}"#,
                "JSON",
            ),
            (
                r#"{"entryId":"e","propertyAlias":"a","propertyValues":[{"value":{"integerValue":1},"timestamp":{"timeInSeconds":1}},{"value":{"integerValue":2},"timestamp":{"timeInSeconds":1}}]}"#,
                "repeats timestamp",
            ),
            ("not json", "JSON"),
        ];
        for (json, want) in cases {
            let err = parse_entry(json.as_bytes()).unwrap_err();
            assert!(err.message().contains(want), "{json}: {err}");
        }
    }
}
