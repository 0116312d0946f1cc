//! Reading `config.json` as transformers 4.x and 5.x write it.
//!
//! Both versions name the sizes the same way; transformers 5 (checked against 5.23.0,
//! with 4.57.6 for the 4.x side) differs in what else it writes:
//! - GPT-NeoX's rotary settings are nested, `"rope_parameters": {"partial_rotary_factor",
//!   "rope_theta", "rope_type"}`, instead of the top-level `rotary_pct` /
//!   `rotary_emb_base` (which 4.57 writes together with copies named
//!   `partial_rotary_factor` / `rope_theta` and `"rope_scaling": null`). [`neox_rope`]
//!   reads both layouts.
//! - `tie_word_embeddings` is written for every architecture (4.57 wrote it only where
//!   the class default says so); unset token ids are written as `null`, and
//!   `eos_token_id` may be a list.
//! - BERT and RoBERTa get `is_decoder` and `add_cross_attention` (false), and lose
//!   `position_embedding_type` (transformers 5 implements absolute positions only).
//! - `dtype` (4.56 and later; `torch_dtype` before) names the dtype the weights were
//!   saved in. It is not read: the stored dtype comes from the weight files and the
//!   compute dtype from [`super::LoadOptions`].
//!
//! The rules here: `null` means "not set" (the class default applies, as it does in
//! transformers), and a key that is present with a value of the wrong type, or with a
//! value this crate does not implement, is an error that names the key and the value —
//! never a silent fallback to the default.

use anyhow::{bail, Result};
use serde_json::Value;

/// The largest size a config may give for any count (layers, heads, widths, vocabulary,
/// context, window): 2^31 - 1, thousands of times what any published model uses. With
/// every size below it, no product the loaders form from sizes (`3 * d_model`,
/// `4 * d_model`, a shape in `i64`) can overflow; whether a size is the right one is
/// then decided by the weights' shapes, which are compared before anything is built
/// from it.
pub(crate) const MAX_SIZE: usize = i32::MAX as usize;

/// A `config.json` with the name of the architecture it is read for (errors say
/// "GPT-2 config.json: ...").
pub(crate) struct Config<'a> {
    raw: &'a Value,
    what: &'a str,
}

impl<'a> Config<'a> {
    /// `what` names the architecture, e.g. `"GPT-NeoX"`.
    pub fn new(raw: &'a Value, what: &'a str) -> Self {
        Config { raw, what }
    }

    /// The architecture name given to [`Config::new`].
    pub fn what(&self) -> &str {
        self.what
    }

    /// The value of `key`, None when it is absent or `null`.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.raw.get(key).filter(|v| !v.is_null())
    }

    fn wrong_type(&self, key: &str, v: &Value, expected: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "{} config.json: {key:?} is {v}, expected {expected}; fix the value in config.json",
            self.what
        )
    }

    /// A whole number >= 0.
    pub fn usize(&self, key: &str) -> Result<Option<usize>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) => Ok(Some(n as usize)),
                None => Err(self.wrong_type(key, v, "a whole number >= 0")),
            },
        }
    }

    /// A size (a count of layers, heads, dimensions, tokens or positions): a whole number
    /// in `1..=MAX_SIZE`. Zero and anything larger are errors that name the key, read
    /// before anything is allocated from the value.
    pub fn size(&self, key: &str) -> Result<Option<usize>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if (1..=MAX_SIZE as u64).contains(&n) => Ok(Some(n as usize)),
                Some(0) => bail!(
                    "{} config.json: {key:?} is 0; a model needs at least 1: fix the value in \
                     config.json",
                    self.what
                ),
                Some(n) => bail!(
                    "{} config.json: {key:?} is {n}, larger than any model can be (at most \
                     {MAX_SIZE}): the file is damaged or not this model's config",
                    self.what
                ),
                None => Err(self.wrong_type(key, v, "a whole number >= 1")),
            },
        }
    }

    /// A number.
    pub fn f64(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(x) => Ok(Some(x)),
                None => Err(self.wrong_type(key, v, "a number")),
            },
        }
    }

    /// true or false.
    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.as_bool() {
                Some(b) => Ok(Some(b)),
                None => Err(self.wrong_type(key, v, "true or false")),
            },
        }
    }

    /// A string.
    pub fn str(&self, key: &str) -> Result<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.as_str() {
                Some(s) => Ok(Some(s)),
                None => Err(self.wrong_type(key, v, "a string")),
            },
        }
    }

    /// A token id: an integer, or a list holding one (transformers 5 allows
    /// `eos_token_id` to be a list; a list of several ids is refused, since the crate
    /// keeps one end-of-text id).
    pub fn token_id(&self, key: &str) -> Result<Option<i64>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let one = match v {
            Value::Array(items) if items.len() == 1 => &items[0],
            Value::Array(items) if items.is_empty() => return Ok(None),
            Value::Array(_) => bail!(
                "{} config.json: {key:?} lists several token ids ({v}); only one is supported: \
                 keep the main one in config.json",
                self.what
            ),
            other => other,
        };
        one.as_i64()
            .map(Some)
            .ok_or_else(|| self.wrong_type(key, v, "a token id (an integer)"))
    }

    /// The sizes `keys` (see [`Config::size`]), all required: one error lists every
    /// missing key.
    pub fn required<const N: usize>(&self, keys: [&str; N]) -> Result<[usize; N]> {
        let mut out = [0; N];
        let mut missing = Vec::new();
        for (slot, k) in out.iter_mut().zip(keys) {
            match self.size(k)? {
                Some(n) => *slot = n,
                None => missing.push(k),
            }
        }
        if !missing.is_empty() {
            bail!(
                "{} config.json needs {}; missing: {}",
                self.what,
                keys.join(", "),
                missing.join(", ")
            );
        }
        Ok(out)
    }

    /// An error when the flag `key` is present and not `supported` (`why` says what the
    /// other value would mean).
    pub fn refuse_flag(&self, key: &str, supported: bool, why: &str) -> Result<()> {
        match self.bool(key)? {
            Some(b) if b != supported => bail!(
                "{} config.json: {key:?} is {b}, which is not supported ({why}); only {supported} is",
                self.what
            ),
            _ => Ok(()),
        }
    }

    /// `tie_word_embeddings`, or `default` (the architecture's class default in
    /// transformers) when unset.
    pub fn tied(&self, default: bool) -> Result<bool> {
        Ok(self.bool("tie_word_embeddings")?.unwrap_or(default))
    }
}

/// GPT-NeoX's rotary embedding settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rope {
    /// Fraction of each head's dimensions that is rotated.
    pub partial_rotary_factor: f64,
    /// Base of the rotary frequencies.
    pub theta: f64,
}

/// The keys a plain ("default") rope parameter set may hold.
const ROPE_KEYS: [&str; 4] = ["rope_type", "type", "rope_theta", "partial_rotary_factor"];

/// GPT-NeoX's rotary settings from either layout: transformers 5's nested
/// `rope_parameters` (or the older name of that object, `rope_scaling`), or 4.x's
/// top-level `rotary_pct` / `rotary_emb_base`; defaults 0.25 and 10000 as in both
/// versions. Where both layouts give a value they must agree. The top-level copies
/// `partial_rotary_factor` / `rope_theta` that 4.57 writes are ignored by both
/// transformers versions when they read a GPT-NeoX config, so one that disagrees with
/// the value in use is an error rather than a value silently dropped. A `rope_type`
/// other than `"default"` (linear, dynamic, yarn, ... scaling) is refused by name.
pub(crate) fn neox_rope(c: &Config) -> Result<Rope> {
    let what = c.what();
    let object = |key: &str| -> Result<Option<&serde_json::Map<String, Value>>> {
        match c.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(v) => Err(c.wrong_type(key, v, "an object such as {\"rope_type\": \"default\"}")),
        }
    };
    let params = match (object("rope_parameters")?, object("rope_scaling")?) {
        (Some(p), Some(s)) if p != s => bail!(
            "{what} config.json has both rope_parameters {} and rope_scaling {}, which differ: \
             keep one (transformers 5 writes rope_parameters)",
            Value::Object(p.clone()),
            Value::Object(s.clone())
        ),
        (Some(p), _) => Some(("rope_parameters", p)),
        (None, Some(s)) => Some(("rope_scaling", s)),
        (None, None) => None,
    };
    let mut nested_fraction = None;
    let mut nested_theta = None;
    if let Some((name, p)) = params {
        let text = |k: &str| -> Result<Option<&str>> {
            match p.get(k).filter(|v| !v.is_null()) {
                None => Ok(None),
                Some(v) => v.as_str().map(Some).ok_or_else(|| {
                    c.wrong_type(&format!("{name}.{k}"), v, "a string such as \"default\"")
                }),
            }
        };
        let number = |k: &str| -> Result<Option<f64>> {
            match p.get(k).filter(|v| !v.is_null()) {
                None => Ok(None),
                Some(v) => v
                    .as_f64()
                    .map(Some)
                    .ok_or_else(|| c.wrong_type(&format!("{name}.{k}"), v, "a number")),
            }
        };
        let rope_type = match (text("rope_type")?, text("type")?) {
            (Some(a), Some(b)) if a != b => {
                bail!("{what} config.json: {name} gives rope_type {a:?} and type {b:?}; keep one")
            }
            (Some(a), _) | (None, Some(a)) => a,
            (None, None) => "default",
        };
        if rope_type != "default" {
            bail!(
                "{what} config.json: {name}.rope_type {rope_type:?} is not supported: only plain \
                 rotary embeddings (rope_type \"default\") are implemented, and a {rope_type:?} \
                 RoPE rescales positions or frequencies, so the outputs would be wrong"
            );
        }
        if let Some(k) = p.keys().find(|k| !ROPE_KEYS.contains(&k.as_str())) {
            bail!(
                "{what} config.json: {name}.{k} ({}) is not supported: plain rotary embeddings \
                 take only {}",
                p[k],
                ROPE_KEYS.join(", ")
            );
        }
        nested_fraction = number("partial_rotary_factor")?.map(|x| (name, x));
        nested_theta = number("rope_theta")?.map(|x| (name, x));
    }
    let pick = |nested: Option<(&str, f64)>,
                nested_key: &str,
                legacy_key: &str,
                copy_key: &str,
                default: f64|
     -> Result<f64> {
        let legacy = c.f64(legacy_key)?;
        let value = match (nested, legacy) {
            (Some((name, a)), Some(b)) if a != b => bail!(
                "{what} config.json gives two values for the same setting: \
                 {name}.{nested_key} {a} (transformers 5) and {legacy_key} {b} (transformers 4); \
                 make them agree"
            ),
            (Some((_, a)), _) => a,
            (None, Some(b)) => b,
            (None, None) => default,
        };
        if let Some(copy) = c.f64(copy_key)? {
            if copy != value {
                let source = match (nested, legacy) {
                    (Some((name, _)), _) => format!("{name}.{nested_key}"),
                    (None, Some(_)) => legacy_key.to_string(),
                    (None, None) => "the default".to_string(),
                };
                bail!(
                    "{what} config.json: the top-level {copy_key} {copy} disagrees with {source} \
                     {value}; transformers reads {source} and ignores a top-level {copy_key} in a \
                     GPT-NeoX config: make them agree"
                );
            }
        }
        Ok(value)
    };
    let partial_rotary_factor = pick(
        nested_fraction,
        "partial_rotary_factor",
        "rotary_pct",
        "partial_rotary_factor",
        0.25,
    )?;
    let theta = pick(
        nested_theta,
        "rope_theta",
        "rotary_emb_base",
        "rope_theta",
        10000.0,
    )?;
    if !(0.0..=1.0).contains(&partial_rotary_factor) {
        bail!("{what} config.json: the rotary fraction {partial_rotary_factor} must lie in [0, 1]");
    }
    if !(theta.is_finite() && theta > 0.0) {
        bail!("{what} config.json: the rotary base (rope_theta) {theta} must be a positive number");
    }
    Ok(Rope {
        partial_rotary_factor,
        theta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rope(v: Value) -> Result<Rope> {
        neox_rope(&Config::new(&v, "GPT-NeoX"))
    }

    #[test]
    fn both_rotary_layouts_give_the_same_settings() {
        let want = Rope {
            partial_rotary_factor: 0.5,
            theta: 500.0,
        };
        // transformers 5
        let tf5 = json!({"rope_parameters": {"partial_rotary_factor": 0.5, "rope_theta": 500, "rope_type": "default"}});
        assert_eq!(rope(tf5).unwrap(), want);
        // transformers 4.57 (with its copies and the null rope_scaling)
        let tf4 = json!({"rotary_pct": 0.5, "rotary_emb_base": 500, "partial_rotary_factor": 0.5,
                         "rope_theta": 500, "rope_scaling": null});
        assert_eq!(rope(tf4).unwrap(), want);
        // older 4.x: only the two original keys; the legacy "type" name of rope_type
        assert_eq!(
            rope(json!({"rotary_pct": 0.5, "rotary_emb_base": 500})).unwrap(),
            want
        );
        assert_eq!(
            rope(json!({"rope_scaling": {"type": "default", "rope_theta": 500, "partial_rotary_factor": 0.5}}))
                .unwrap(),
            want
        );
        // nothing given: transformers' defaults
        assert_eq!(
            rope(json!({})).unwrap(),
            Rope {
                partial_rotary_factor: 0.25,
                theta: 10000.0
            }
        );
    }

    #[test]
    fn token_ids_may_be_null_or_a_one_element_list() {
        let v = json!({"a": null, "b": [7], "c": 3, "d": [1, 2], "e": "x"});
        let c = Config::new(&v, "GPT-2");
        assert_eq!(c.token_id("a").unwrap(), None);
        assert_eq!(c.token_id("missing").unwrap(), None);
        assert_eq!(c.token_id("b").unwrap(), Some(7));
        assert_eq!(c.token_id("c").unwrap(), Some(3));
        assert!(format!("{}", c.token_id("d").unwrap_err()).contains("several"));
        assert!(format!("{}", c.token_id("e").unwrap_err()).contains("\"e\""));
    }

    #[test]
    fn sizes_are_bounded_before_use() {
        let v = json!({"a": 0, "b": 1, "c": 2147483647u64, "d": 2147483648u64, "e": -3,
                       "f": 16.0, "g": "16", "h": null});
        let c = Config::new(&v, "GPT-2");
        assert_eq!(c.size("b").unwrap(), Some(1));
        assert_eq!(c.size("c").unwrap(), Some(MAX_SIZE));
        assert_eq!(c.size("h").unwrap(), None);
        assert_eq!(c.size("missing").unwrap(), None);
        for (k, says) in [
            ("a", "\"a\" is 0"),
            ("d", "\"d\" is 2147483648, larger than any model"),
            ("e", "\"e\" is -3"),
            ("f", "\"f\" is 16.0"),
            ("g", "\"g\" is \"16\""),
        ] {
            let e = c.size(k).unwrap_err().to_string();
            assert!(e.contains(says), "{k}: {e}");
        }
        let e = c.required(["b", "d"]).unwrap_err().to_string();
        assert!(e.contains("\"d\" is 2147483648"), "{e}");
    }

    #[test]
    fn required_names_every_missing_key() {
        let v = json!({"n_embd": 16, "n_layer": null});
        let e = Config::new(&v, "GPT-2")
            .required(["n_embd", "n_layer", "n_head"])
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("missing: n_layer, n_head"), "{e}");
    }
}
