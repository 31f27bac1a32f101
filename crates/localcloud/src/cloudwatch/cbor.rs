//! CBOR (RFC 8949) as rpcv2Cbor uses it, to and from the awsJson documents
//! the operations take, so they see the same input whichever transport a
//! client chose.
//!
//! Decoding takes every major type, definite and indefinite lengths, and
//! half, single and double floats. As awsJson would carry them: tag 1 (epoch
//! time) becomes its number, byte strings become base64, and NaN and the
//! infinities become "NaN", "Infinity" and "-Infinity". Bignums and other
//! tags are refused: nothing CloudWatch takes is one, and Smithy says to fail
//! rather than lose precision. A declared length is checked against the bytes
//! left before anything is allocated, and nesting is bounded, so a hostile
//! body costs no more than its size.
//!
//! Encoding needs what JSON does not say: which numbers are timestamps (tag 1)
//! and which are doubles, since aws-smithy-cbor reads a double only from a
//! CBOR float and an integer only from a CBOR integer. The caller gives each
//! member's `Kind` by name.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Number, Value};

/// Far deeper than any CloudWatch input (metric math nests six levels).
pub const MAX_DEPTH: usize = 32;

const BREAK: u8 = 0xff;
const INDEFINITE: u8 = 31;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub offset: usize,
    pub reason: String,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at byte {})", self.reason, self.offset)
    }
}

/// One data item, the whole of `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut decoder = Decoder { bytes, pos: 0 };
    let value = decoder.item(0)?;
    if decoder.pos != bytes.len() {
        return Err(decoder.error("trailing bytes after the data item"));
    }
    Ok(value)
}

struct Decoder<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// A data item's initial byte split, and the argument that follows it
/// (0 for an indefinite length).
struct Head {
    major: u8,
    info: u8,
    arg: u64,
}

impl<'a> Decoder<'a> {
    fn error(&self, reason: impl Into<String>) -> DecodeError {
        self.error_at(self.pos, reason)
    }

    fn error_at(&self, offset: usize, reason: impl Into<String>) -> DecodeError {
        DecodeError {
            offset,
            reason: reason.into(),
        }
    }

    fn remaining(&self) -> u64 {
        (self.bytes.len() - self.pos) as u64
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.error(format!(
                "the body ends inside an item ({n} bytes declared, {} left)",
                self.remaining()
            )));
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.bytes[start..self.pos])
    }

    fn big_endian(&mut self, width: u64) -> Result<u64, DecodeError> {
        Ok(self
            .take(width)?
            .iter()
            .fold(0, |n, &b| (n << 8) | u64::from(b)))
    }

    fn head(&mut self) -> Result<Head, DecodeError> {
        let initial = self.take(1)?[0];
        let (major, info) = (initial >> 5, initial & 0x1f);
        let arg = match info {
            0..=23 => u64::from(info),
            24..=27 => self.big_endian(1 << (info - 24))?,
            INDEFINITE => 0,
            _ => return Err(self.error(format!("reserved additional information {info}"))),
        };
        Ok(Head { major, info, arg })
    }

    /// Consumes a break if one is next.
    fn at_break(&mut self) -> Result<bool, DecodeError> {
        match self.bytes.get(self.pos) {
            Some(&BREAK) => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) => Ok(false),
            None => Err(self.error("the body ends inside an indefinite-length item")),
        }
    }

    fn item(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let start = self.pos;
        let head = self.head()?;
        let indefinite = head.info == INDEFINITE;
        if indefinite && matches!(head.major, 0 | 1 | 6) {
            return Err(self.error_at(start, "an integer or tag cannot be indefinite"));
        }
        match head.major {
            0 => Ok(Value::from(head.arg)),
            1 => negative(head.arg)
                .ok_or_else(|| self.error_at(start, "a negative integer below -2^63")),
            2 => Ok(Value::String(BASE64.encode(self.string(&head)?))),
            3 => self.text(&head).map(Value::String),
            4 => self.array(&head, depth),
            5 => self.map(&head, depth).map(Value::Object),
            6 => self.tagged(head.arg, depth),
            _ => self.simple(&head, start),
        }
    }

    /// A byte or text string's content, its chunks joined when indefinite.
    fn string(&mut self, head: &Head) -> Result<Vec<u8>, DecodeError> {
        if head.info != INDEFINITE {
            return Ok(self.take(head.arg)?.to_vec());
        }
        let mut content = Vec::new();
        while !self.at_break()? {
            let at = self.pos;
            let chunk = self.head()?;
            if chunk.major != head.major || chunk.info == INDEFINITE {
                return Err(self.error_at(
                    at,
                    "an indefinite-length string's chunks must be definite strings of its type",
                ));
            }
            let bytes = self.take(chunk.arg)?;
            // RFC 8949 3.2.3: each chunk of a text string is valid UTF-8 on its own.
            if head.major == 3 && std::str::from_utf8(bytes).is_err() {
                return Err(self.error_at(at, "a text string chunk is not valid UTF-8"));
            }
            content.extend_from_slice(bytes);
        }
        Ok(content)
    }

    fn text(&mut self, head: &Head) -> Result<String, DecodeError> {
        let start = self.pos;
        String::from_utf8(self.string(head)?)
            .map_err(|_| self.error_at(start, "a text string is not valid UTF-8"))
    }

    /// Refuses a count of items the bytes left cannot hold (each takes at
    /// least `min_bytes`), before allocating for them.
    fn check_count(&self, count: u64, min_bytes: u64) -> Result<usize, DecodeError> {
        if count.saturating_mul(min_bytes) > self.remaining() {
            return Err(self.error(format!(
                "{count} items declared, {} bytes left",
                self.remaining()
            )));
        }
        Ok(count as usize)
    }

    fn array(&mut self, head: &Head, depth: usize) -> Result<Value, DecodeError> {
        let mut items = Vec::new();
        if head.info == INDEFINITE {
            while !self.at_break()? {
                items.push(self.item(depth + 1)?);
            }
        } else {
            items.reserve(self.check_count(head.arg, 1)?);
            for _ in 0..head.arg {
                items.push(self.item(depth + 1)?);
            }
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, head: &Head, depth: usize) -> Result<Map<String, Value>, DecodeError> {
        let mut map = Map::new();
        if head.info == INDEFINITE {
            while !self.at_break()? {
                self.entry(&mut map, depth)?;
            }
        } else {
            self.check_count(head.arg, 2)?;
            for _ in 0..head.arg {
                self.entry(&mut map, depth)?;
            }
        }
        Ok(map)
    }

    /// A key and its value; structure members and map keys are text.
    fn entry(&mut self, map: &mut Map<String, Value>, depth: usize) -> Result<(), DecodeError> {
        let at = self.pos;
        let head = self.head()?;
        if head.major != 3 {
            return Err(self.error_at(at, "map keys must be text strings"));
        }
        let key = self.text(&head)?;
        let value = self.item(depth + 1)?;
        if map.insert(key, value).is_some() {
            return Err(self.error_at(at, "a map key appears twice"));
        }
        Ok(())
    }

    fn tagged(&mut self, tag: u64, depth: usize) -> Result<Value, DecodeError> {
        let at = self.pos;
        match tag {
            1 => match self.item(depth + 1)? {
                Value::Number(n) => Ok(Value::Number(n)),
                _ => Err(self.error_at(at, "tag 1 (epoch time) must hold a finite number")),
            },
            2 | 3 => Err(self.error_at(at, "bignums (tags 2 and 3) are not supported")),
            _ => Err(self.error_at(at, format!("tag {tag} is not supported"))),
        }
    }

    /// Major type 7: booleans, null, undefined (null, as Smithy says) and floats.
    fn simple(&self, head: &Head, start: usize) -> Result<Value, DecodeError> {
        match head.info {
            20 => Ok(Value::Bool(false)),
            21 => Ok(Value::Bool(true)),
            22 | 23 => Ok(Value::Null),
            25 => Ok(float(half_to_f64(head.arg as u16))),
            26 => Ok(float(f64::from(f32::from_bits(head.arg as u32)))),
            27 => Ok(float(f64::from_bits(head.arg))),
            INDEFINITE => Err(self.error_at(start, "a break outside an indefinite-length item")),
            _ => Err(self.error_at(start, format!("simple value {} is not supported", head.arg))),
        }
    }
}

/// Major type 1 holds -1 - n.
fn negative(n: u64) -> Option<Value> {
    i64::try_from(n).ok().map(|n| Value::from(-1 - n))
}

/// A float as awsJson carries it: a number, or the name of a value JSON lacks.
fn float(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => Value::from("NaN"),
        None if f > 0.0 => Value::from("Infinity"),
        None => Value::from("-Infinity"),
    }
}

/// IEEE 754 binary16, as RFC 8949 appendix D decodes it.
fn half_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 == 0 { 1.0 } else { -1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let mantissa = f64::from(bits & 0x3ff);
    sign * match exponent {
        0 => mantissa * 2f64.powi(-24),
        31 if mantissa == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1.0 + mantissa / 1024.0) * 2f64.powi(exponent - 15),
    }
}

/// How the model types a member, where a JSON value cannot tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// As the value is: whole numbers as integers, others as doubles.
    Plain,
    /// Epoch seconds, sent as tag 1 over a double.
    Timestamp,
    Double,
    /// A map whose values are doubles (a datapoint's ExtendedStatistics).
    DoubleMap,
    /// A base64 string, sent as a byte string.
    Blob,
}

/// `value` as CBOR; `kind_of` types each structure member by its name.
/// Null members are left out, as Smithy requires.
pub fn encode(value: &Value, kind_of: &dyn Fn(&str) -> Kind) -> Vec<u8> {
    let mut encoder = Encoder {
        out: Vec::new(),
        kind_of,
    };
    encoder.value(value, Kind::Plain);
    encoder.out
}

struct Encoder<'a> {
    out: Vec<u8>,
    kind_of: &'a dyn Fn(&str) -> Kind,
}

impl Encoder<'_> {
    /// The shortest head for `arg`, as Smithy asks of every number.
    fn head(&mut self, major: u8, arg: u64) {
        let major = major << 5;
        match arg {
            0..=23 => self.out.push(major | arg as u8),
            24..=0xff => self.out.extend([major | 24, arg as u8]),
            0x100..=0xffff => {
                self.out.push(major | 25);
                self.out.extend((arg as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                self.out.push(major | 26);
                self.out.extend((arg as u32).to_be_bytes());
            }
            _ => {
                self.out.push(major | 27);
                self.out.extend(arg.to_be_bytes());
            }
        }
    }

    fn value(&mut self, value: &Value, kind: Kind) {
        match value {
            Value::Null => self.out.push(0xf6),
            Value::Bool(b) => self.out.push(if *b { 0xf5 } else { 0xf4 }),
            Value::Number(n) => self.number(n, kind),
            Value::String(s) => self.string(s, kind),
            Value::Array(items) => {
                self.head(4, items.len() as u64);
                for item in items {
                    self.value(item, kind);
                }
            }
            Value::Object(map) => self.map(map, kind),
        }
    }

    fn map(&mut self, map: &Map<String, Value>, kind: Kind) {
        let members: Vec<_> = map.iter().filter(|(_, v)| !v.is_null()).collect();
        self.head(5, members.len() as u64);
        for (name, value) in members {
            self.text(name);
            let kind = match kind {
                Kind::DoubleMap => Kind::Double,
                _ => (self.kind_of)(name),
            };
            self.value(value, kind);
        }
    }

    fn number(&mut self, n: &Number, kind: Kind) {
        let f = n.as_f64().unwrap_or(f64::NAN);
        match kind {
            Kind::Timestamp => {
                self.head(6, 1);
                self.double(f);
            }
            Kind::Double | Kind::DoubleMap => self.double(f),
            Kind::Plain | Kind::Blob => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => self.head(0, u),
                (_, Some(i)) => self.negative(i),
                _ if f.fract() == 0.0 && f.abs() < 9.0e18 => self.integer(f as i64),
                _ => self.double(f),
            },
        }
    }

    fn integer(&mut self, i: i64) {
        match u64::try_from(i) {
            Ok(u) => self.head(0, u),
            Err(_) => self.negative(i),
        }
    }

    fn negative(&mut self, i: i64) {
        self.head(1, (-1 - i) as u64);
    }

    fn double(&mut self, f: f64) {
        self.out.push(0xfb);
        self.out.extend(f.to_bits().to_be_bytes());
    }

    fn string(&mut self, s: &str, kind: Kind) {
        match (kind, s) {
            // How awsJson, and so the operations, write what JSON has no number for.
            (Kind::Double, "NaN") => self.double(f64::NAN),
            (Kind::Double, "Infinity") => self.double(f64::INFINITY),
            (Kind::Double, "-Infinity") => self.double(f64::NEG_INFINITY),
            (Kind::Blob, _) => match BASE64.decode(s) {
                Ok(bytes) => {
                    self.head(2, bytes.len() as u64);
                    self.out.extend(bytes);
                }
                Err(_) => self.text(s),
            },
            _ => self.text(s),
        }
    }

    fn text(&mut self, s: &str) {
        self.head(3, s.len() as u64);
        self.out.extend(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn plain(_: &str) -> Kind {
        Kind::Plain
    }

    fn decoded(s: &str) -> Value {
        decode(&hex(s)).unwrap()
    }

    fn refused(bytes: &[u8]) -> String {
        decode(bytes).unwrap_err().reason
    }

    #[test]
    fn round_trips_documents() {
        let document = json!({
            "AlarmName": "cpu high ☃",
            "Period": 60,
            "Big": u64::MAX,
            "Negative": -500,
            "Min": i64::MIN,
            "Ratio": 0.25,
            "Enabled": true,
            "Off": false,
            "Empty": {},
            "Dimensions": [{"Name": "LoadBalancer", "Value": "app/x/1"}, [], [1, 2]],
        });
        assert_eq!(decode(&encode(&document, &plain)).unwrap(), document);
    }

    #[test]
    fn integers_take_the_shortest_head() {
        for (n, bytes) in [
            (json!(0), "00"),
            (json!(23), "17"),
            (json!(24), "18 18"),
            (json!(256), "19 0100"),
            (json!(65536), "1a 00010000"),
            (json!(4294967296u64), "1b 0000000100000000"),
            (json!(-1), "20"),
            (json!(-500), "39 01f3"),
            (json!(60.0), "18 3c"),
        ] {
            assert_eq!(encode(&n, &plain), hex(bytes), "{n}");
        }
    }

    #[test]
    fn every_float_width_decodes() {
        for (bytes, expected) in [
            ("f9 3c00", json!(1.0)),
            ("f9 7bff", json!(65504.0)),
            ("f9 0001", json!(5.960464477539063e-8)),
            ("f9 c400", json!(-4.0)),
            ("f9 7c00", json!("Infinity")),
            ("f9 fc00", json!("-Infinity")),
            ("f9 7e00", json!("NaN")),
            ("fa 47c35000", json!(100000.0)),
            ("fa 7f800000", json!("Infinity")),
            ("fb 3ff199999999999a", json!(1.1)),
            ("fb 7ff8000000000000", json!("NaN")),
        ] {
            assert_eq!(decoded(bytes), expected, "{bytes}");
        }
    }

    #[test]
    fn indefinite_lengths_decode() {
        // RFC 8949 appendix A.
        assert_eq!(decoded("5f 42 0102 43 030405 ff"), json!("AQIDBAU="));
        assert_eq!(
            decoded("7f 65 7374726561 64 6d696e67 ff"),
            json!("streaming")
        );
        assert_eq!(
            decoded("9f 01 82 02 03 9f 04 05 ff ff"),
            json!([1, [2, 3], [4, 5]])
        );
        assert_eq!(
            decoded("bf 61 61 01 61 62 9f 02 03 ff ff"),
            json!({"a": 1, "b": [2, 3]})
        );
        assert_eq!(decoded("bf ff"), json!({}));
    }

    #[test]
    fn timestamps_are_tag_1_both_ways() {
        assert_eq!(decoded("c1 1a 514b67b0"), json!(1363896240));
        assert_eq!(decoded("c1 fb 41d452d9ec200000"), json!(1363896240.5));
        let kind = |name: &str| match name {
            "T" => Kind::Timestamp,
            _ => Kind::Plain,
        };
        let encoded = encode(&json!({"T": 1363896240.5, "Ts": 1}), &|name| {
            kind(&name[..1])
        });
        assert_eq!(
            encoded,
            hex("a2 61 54 c1 fb 41d452d9ec200000 62 5473 c1 fb 3ff0000000000000")
        );
    }

    #[test]
    fn doubles_blobs_and_nulls_encode_as_the_model_says() {
        let kind = |name: &str| match name {
            "D" => Kind::Double,
            "M" => Kind::DoubleMap,
            "B" => Kind::Blob,
            _ => Kind::Plain,
        };
        for (value, expected) in [
            (
                json!({"D": [5, "NaN"]}),
                "a1 61 44 82 fb 4014000000000000 fb 7ff8000000000000",
            ),
            (
                json!({"M": {"p99": 2}}),
                "a1 61 4d a1 63 703939 fb 4000000000000000",
            ),
            (json!({"B": "AQI="}), "a1 61 42 42 0102"),
            (json!({"N": null, "P": "NaN"}), "a1 61 50 63 4e614e"),
        ] {
            assert_eq!(encode(&value, &kind), hex(expected), "{value}");
        }
    }

    #[test]
    fn malformed_inputs_are_errors() {
        for (bytes, reason) in [
            ("", "ends inside"),
            ("61", "ends inside"),
            ("1c", "reserved"),
            ("ff", "break outside"),
            ("01 01", "trailing"),
            ("61 ff", "UTF-8"),
            ("7f 61 ff ff", "UTF-8"),
            ("a1 01 01", "keys must be text"),
            ("a2 61 61 01 61 61 02", "twice"),
            ("7f 41 00 ff", "chunks"),
            ("5f 5f ff ff", "chunks"),
            ("9f 01", "indefinite-length item"),
            ("1f", "cannot be indefinite"),
            ("c2 41 01", "bignums"),
            ("c3 41 01", "bignums"),
            ("d8 20 61 61", "tag 32"),
            ("c1 61 61", "tag 1"),
            ("c1 f9 7e00", "tag 1"),
            ("f0", "simple value 16"),
            ("f8 ff", "simple value 255"),
            ("3b ffffffffffffffff", "below -2^63"),
            ("9b ffffffffffffffff", "items declared"),
            ("bb 7fffffffffffffff", "items declared"),
            ("5b ffffffffffffffff", "ends inside"),
        ] {
            let why = refused(&hex(bytes));
            assert!(why.contains(reason), "{bytes}: {why}");
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let nested = |depth: usize| [vec![0x81; depth], vec![0x01]].concat();
        assert!(decode(&nested(MAX_DEPTH)).is_ok());
        assert!(refused(&nested(MAX_DEPTH + 1)).contains("nested deeper"));
        assert!(refused(&vec![0x9f; 100_000]).contains("nested deeper"));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let bytes: Vec<u8> = (0..seed % 24)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (seed >> 33) as u8
                })
                .collect();
            let _ = decode(&bytes);
        }
    }
}
