//! Gradient-boosted trees through the real XGBoost library (its C API), for project 47's
//! probes (spec p47, "Methods").
//!
//! There is no mature pure-Rust XGBoost, and re-implementing it would only approximate the
//! reference, so this module calls `libxgboost.so` itself: the same library, the same
//! version (3.2.0) and the same calls as the Python package's native API (`xgb.train`,
//! `Booster.predict`, `Booster.get_score`). Predictions and importances are then the
//! Python numbers, not a look-alike.
//!
//! The library is loaded at run time with `libloading` (no link-time dependency, so the
//! workspace builds without it) from `$ML4LLM_XGBOOST_LIB` if set, else from
//! `<workspace>/.libxgboost/lib/libxgboost.so`, the link `./scripts/setup.sh` makes to the
//! PyPI `xgboost-cpu` wheel it installs into `.venv`. Once loaded it stays loaded for the
//! life of the process (unloading a library whose OpenMP worker threads may still exist is
//! not safe).
//!
//! Every C call's return code is checked and a failure carries XGBoost's own message
//! (`XGBGetLastError`, without its stack trace). Parameters XGBoost does not know are an
//! error too: the booster is created with `validate_parameters = 1`, as Python does, and
//! the "Parameters: { ... } are not used" warning XGBoost then logs is turned into an `Err`.
//!
//! Note on "gain": XGBoost's split gain (the `gain` importance and the dump's `gain`) is
//! `T(G_L)²/(H_L+λ) + T(G_R)²/(H_R+λ) − T(G)²/(H+λ)`, without the ½ of the textbook
//! formula and without subtracting γ (γ only prunes). The tests check this on a hand-built
//! dataset.
//!
//! ```no_run
//! use methods::xgboost::{Importance, XgbClassifier, XgbParams};
//! # fn main() -> anyhow::Result<()> {
//! # let x = ndarray::Array2::<f64>::zeros((8, 2)); let y = vec![0, 1, 0, 1, 0, 1, 0, 1];
//! let params = XgbParams { reg_alpha: 5.0, reg_lambda: 5.0, ..XgbParams::default() }; // p47 Part 4
//! let clf = XgbClassifier::fit(x.view(), &y, &params)?;
//! let p = clf.predict_proba(x.view())?; // P(y = 1)
//! let gain = clf.importance(Importance::Gain)?; // (feature index, mean gain), used features only
//! # Ok(()) }
//! ```

use std::cell::RefCell;
use std::ffi::{c_char, c_float, c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context, Result};
use libloading::Library;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use crate::check;

/// The environment variable that overrides where `libxgboost.so` is loaded from.
pub const LIB_ENV: &str = "ML4LLM_XGBOOST_LIB";

type BstUlong = u64;
type Handle = *mut c_void;

/// `<workspace>/.libxgboost/lib/libxgboost.so`, or `$ML4LLM_XGBOOST_LIB` when it is set
/// and not empty.
pub fn default_lib_path() -> PathBuf {
    match std::env::var_os(LIB_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(".libxgboost/lib/libxgboost.so"),
    }
}

/// The loaded XGBoost library: its C functions, resolved once.
pub struct XgbLib {
    path: PathBuf,
    version: (i32, i32, i32),
    get_last_error: unsafe extern "C" fn() -> *const c_char,
    register_log_callback: unsafe extern "C" fn(extern "C" fn(*const c_char)) -> c_int,
    dmatrix_create_from_mat:
        unsafe extern "C" fn(*const c_float, BstUlong, BstUlong, c_float, *mut Handle) -> c_int,
    dmatrix_set_float_info:
        unsafe extern "C" fn(Handle, *const c_char, *const c_float, BstUlong) -> c_int,
    dmatrix_num_row: unsafe extern "C" fn(Handle, *mut BstUlong) -> c_int,
    dmatrix_num_col: unsafe extern "C" fn(Handle, *mut BstUlong) -> c_int,
    dmatrix_free: unsafe extern "C" fn(Handle) -> c_int,
    booster_create: unsafe extern "C" fn(*const Handle, BstUlong, *mut Handle) -> c_int,
    booster_free: unsafe extern "C" fn(Handle) -> c_int,
    booster_set_param: unsafe extern "C" fn(Handle, *const c_char, *const c_char) -> c_int,
    booster_update_one_iter: unsafe extern "C" fn(Handle, c_int, Handle) -> c_int,
    booster_boosted_rounds: unsafe extern "C" fn(Handle, *mut c_int) -> c_int,
    #[allow(clippy::type_complexity)]
    booster_predict_from_dmatrix: unsafe extern "C" fn(
        Handle,
        Handle,
        *const c_char,
        *mut *const BstUlong,
        *mut BstUlong,
        *mut *const c_float,
    ) -> c_int,
    #[allow(clippy::type_complexity)]
    booster_feature_score: unsafe extern "C" fn(
        Handle,
        *const c_char,
        *mut BstUlong,
        *mut *const *const c_char,
        *mut BstUlong,
        *mut *const BstUlong,
        *mut *const c_float,
    ) -> c_int,
    #[allow(clippy::type_complexity)]
    booster_dump_model_ex: unsafe extern "C" fn(
        Handle,
        *const c_char,
        c_int,
        *const c_char,
        *mut BstUlong,
        *mut *const *const c_char,
    ) -> c_int,
    booster_save_json_config:
        unsafe extern "C" fn(Handle, *mut BstUlong, *mut *const c_char) -> c_int,
    // Kept last and never dropped: see the module documentation.
    _lib: std::mem::ManuallyDrop<Library>,
}

/// Libraries loaded so far, by path, so that loading twice resolves nothing twice.
static LOADED: Mutex<Vec<Arc<XgbLib>>> = Mutex::new(Vec::new());

impl XgbLib {
    /// The library at [`default_lib_path`].
    pub fn load() -> Result<Arc<XgbLib>> {
        Self::open(&default_lib_path())
    }

    /// The library at `path`. A missing file is an error that says how to install it.
    pub fn open(path: &Path) -> Result<Arc<XgbLib>> {
        if !path.is_file() {
            bail!(
                "libxgboost.so not found at {}: run ./scripts/setup.sh once (it installs the PyPI \
                 xgboost-cpu wheel into .venv), or set {LIB_ENV}",
                path.display()
            );
        }
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(lib) = loaded.iter().find(|l| l.path == canonical) {
            return Ok(lib.clone());
        }
        // SAFETY: loading runs the library's initialisers; libxgboost's only set up its
        // registries. The path is a file the caller chose to load as XGBoost.
        let lib = unsafe { Library::new(&canonical) }.with_context(|| {
            format!(
                "{} exists but could not be loaded as a shared library \
                 (re-run ./scripts/setup.sh, or point {LIB_ENV} at a working libxgboost.so)",
                canonical.display()
            )
        })?;
        let lib = Arc::new(Self::resolve(lib, canonical)?);
        loaded.push(lib.clone());
        Ok(lib)
    }

    fn resolve(lib: Library, path: PathBuf) -> Result<XgbLib> {
        macro_rules! sym {
            ($name:literal) => {
                sym(&lib, $name, &path)?
            };
        }
        let version_fn: unsafe extern "C" fn(*mut c_int, *mut c_int, *mut c_int) =
            sym!("XGBoostVersion");
        let (mut major, mut minor, mut patch) = (0, 0, 0);
        // SAFETY: XGBoostVersion writes three ints through valid pointers.
        unsafe { version_fn(&mut major, &mut minor, &mut patch) };
        Ok(XgbLib {
            version: (major, minor, patch),
            get_last_error: sym!("XGBGetLastError"),
            register_log_callback: sym!("XGBRegisterLogCallback"),
            dmatrix_create_from_mat: sym!("XGDMatrixCreateFromMat"),
            dmatrix_set_float_info: sym!("XGDMatrixSetFloatInfo"),
            dmatrix_num_row: sym!("XGDMatrixNumRow"),
            dmatrix_num_col: sym!("XGDMatrixNumCol"),
            dmatrix_free: sym!("XGDMatrixFree"),
            booster_create: sym!("XGBoosterCreate"),
            booster_free: sym!("XGBoosterFree"),
            booster_set_param: sym!("XGBoosterSetParam"),
            booster_update_one_iter: sym!("XGBoosterUpdateOneIter"),
            booster_boosted_rounds: sym!("XGBoosterBoostedRounds"),
            booster_predict_from_dmatrix: sym!("XGBoosterPredictFromDMatrix"),
            booster_feature_score: sym!("XGBoosterFeatureScore"),
            booster_dump_model_ex: sym!("XGBoosterDumpModelEx"),
            booster_save_json_config: sym!("XGBoosterSaveJsonConfig"),
            path,
            _lib: std::mem::ManuallyDrop::new(lib),
        })
    }

    /// `(major, minor, patch)` as the library reports it (`XGBoostVersion`).
    pub fn version(&self) -> (i32, i32, i32) {
        self.version
    }

    /// The file this library was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `Ok` when a C call returned 0, else an error with XGBoost's message.
    fn check(&self, rc: c_int, call: &str) -> Result<()> {
        if rc == 0 {
            return Ok(());
        }
        // SAFETY: XGBGetLastError returns a NUL-terminated thread-local string.
        let msg = unsafe { cstr_lossy((self.get_last_error)()) };
        Err(anyhow!("XGBoost {call} failed: {}", tidy(&msg)))
    }
}

/// The function `name` of `lib`, as a pointer of type `T`.
fn sym<T: Copy>(lib: &Library, name: &str, path: &Path) -> Result<T> {
    // SAFETY: every caller declares `T` as the C API's signature of `name` in XGBoost's
    // c_api.h (2.x and 3.x); the pointer is only used while `lib`, which is never
    // unloaded, is alive.
    let s = unsafe { lib.get::<T>(format!("{name}\0").as_bytes()) }.with_context(|| {
        format!(
            "{} has no function {name}: it is not XGBoost >= 2.0 \
             (re-run ./scripts/setup.sh, or point {LIB_ENV} at XGBoost 3.2.0)",
            path.display()
        )
    })?;
    Ok(*s)
}

/// A C string as Rust text (empty for a null pointer).
///
/// # Safety
/// `p` is null or points to a NUL-terminated string.
unsafe fn cstr_lossy(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// XGBoost's message without its stack trace, timestamp and trailing blank lines.
fn tidy(msg: &str) -> String {
    let msg = msg.split("\nStack trace:").next().unwrap_or(msg).trim();
    // "[20:45:39] /workspace/src/x.cc:27: text" -> "/workspace/src/x.cc:27: text"
    let msg = match msg.strip_prefix('[').and_then(|m| m.split_once("] ")) {
        Some((stamp, rest))
            if stamp.len() <= 8 && stamp.chars().all(|c| c.is_ascii_digit() || c == ':') =>
        {
            rest
        }
        _ => msg,
    };
    msg.to_string()
}

fn cstring(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| anyhow!("{what} {s:?} holds a NUL byte"))
}

thread_local! {
    /// Messages XGBoost logged on this thread since the last [`take_log`].
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// XGBoost's log callback: keeps the message for [`take_log`] (the last 64 at most) and
/// shows it on stderr, as XGBoost's default logger would. Never panics (it runs inside C).
extern "C" fn log_callback(msg: *const c_char) {
    use std::io::Write;
    // SAFETY: XGBoost passes a NUL-terminated message.
    let text = unsafe { cstr_lossy(msg) };
    let _ = writeln!(std::io::stderr(), "{}", text.trim_end());
    let _ = LOG.try_with(|l| {
        if let Ok(mut l) = l.try_borrow_mut() {
            if l.len() >= 64 {
                l.remove(0);
            }
            l.push(text);
        }
    });
}

fn take_log() -> Vec<String> {
    LOG.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

/// Training data (features and optional labels) in XGBoost's memory. Freed on drop.
pub struct DMatrix {
    lib: Arc<XgbLib>,
    handle: Handle,
    n_rows: usize,
    n_cols: usize,
}

// SAFETY: a DMatrix is a heap object of XGBoost's, not tied to the thread that made it;
// XGBoost's per-thread state (last error, log callback) is read per call. It is not Sync.
unsafe impl Send for DMatrix {}

impl DMatrix {
    /// `x: [n_samples, n_features]` (finite; XGBoost keeps float32, as Python's DMatrix
    /// does) and, for training, the labels `y: [n_samples]` (finite).
    pub fn new(lib: &Arc<XgbLib>, x: ArrayView2<f64>, y: Option<ArrayView1<f64>>) -> Result<Self> {
        let (n, d) = x.dim();
        check::at_least(n, 1, "XGBoost DMatrix rows")?;
        check::at_least(d, 1, "XGBoost DMatrix features")?;
        check::finite_2d(x, "XGBoost features x")?;
        if let Some(y) = y {
            check::rows_match(n, y.len(), 1, "XGBoost DMatrix")?;
            check::finite_1d(y, "XGBoost labels y")?;
        }
        let data: Vec<f32> = x.iter().map(|&v| v as f32).collect(); // row-major
        let mut handle: Handle = std::ptr::null_mut();
        // SAFETY: `data` holds n·d floats in row-major order; XGBoost copies them.
        let rc = unsafe {
            (lib.dmatrix_create_from_mat)(
                data.as_ptr(),
                n as BstUlong,
                d as BstUlong,
                f32::NAN,
                &mut handle,
            )
        };
        lib.check(rc, "XGDMatrixCreateFromMat")?;
        let m = DMatrix {
            lib: lib.clone(),
            handle,
            n_rows: n,
            n_cols: d,
        };
        if let Some(y) = y {
            m.set_float_info("label", y)?;
        }
        let (mut rows, mut cols) = (0 as BstUlong, 0 as BstUlong);
        // SAFETY: valid handle and out-pointers.
        m.lib.check(
            unsafe { (m.lib.dmatrix_num_row)(m.handle, &mut rows) },
            "XGDMatrixNumRow",
        )?;
        m.lib.check(
            unsafe { (m.lib.dmatrix_num_col)(m.handle, &mut cols) },
            "XGDMatrixNumCol",
        )?;
        if (rows as usize, cols as usize) != (n, d) {
            bail!("XGBoost made a {rows}x{cols} DMatrix from a {n}x{d} matrix");
        }
        Ok(m)
    }

    /// Sets a float field (`"label"`, `"weight"`, `"base_margin"`), one value per row.
    pub fn set_float_info(&self, field: &str, v: ArrayView1<f64>) -> Result<()> {
        check::rows_match(self.n_rows, v.len(), 1, &format!("XGBoost DMatrix {field}"))?;
        check::finite_1d(v, &format!("XGBoost {field}"))?;
        let vals: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        let name = cstring(field, "DMatrix field")?;
        // SAFETY: valid handle, NUL-terminated name, `vals` holds n_rows floats.
        let rc = unsafe {
            (self.lib.dmatrix_set_float_info)(
                self.handle,
                name.as_ptr(),
                vals.as_ptr(),
                vals.len() as BstUlong,
            )
        };
        self.lib
            .check(rc, &format!("XGDMatrixSetFloatInfo({field})"))
    }

    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    pub fn n_cols(&self) -> usize {
        self.n_cols
    }
}

impl Drop for DMatrix {
    fn drop(&mut self) {
        // SAFETY: the handle came from XGDMatrixCreateFromMat and is freed once.
        unsafe { (self.lib.dmatrix_free)(self.handle) };
    }
}

/// XGBoost's parameters as project 47 uses them. [`Default`] is spec p47 Part 1 (the
/// `XGBClassifier(n_estimators=100, max_depth=2, learning_rate=0.05, subsample=0.8,
/// colsample_bytree=0.8, eval_metric="logloss")` of the notebook, everything else XGBoost's
/// default); Part 4 adds `reg_alpha: 5.0, reg_lambda: 5.0`.
#[derive(Clone, Debug, PartialEq)]
pub struct XgbParams {
    /// `objective`: `binary:logistic`, `multi:softprob` (set `num_class`), `reg:squarederror`…
    pub objective: String,
    /// `num_class`, for the `multi:` objectives.
    pub num_class: Option<usize>,
    /// Boosting rounds (sklearn's `n_estimators`, `num_boost_round` of `xgb.train`).
    pub n_estimators: usize,
    pub max_depth: usize,
    /// `eta`.
    pub learning_rate: f64,
    pub subsample: f64,
    pub colsample_bytree: f64,
    /// `lambda` (L2 on leaf weights).
    pub reg_lambda: f64,
    /// `alpha` (L1 on leaf weights).
    pub reg_alpha: f64,
    /// `gamma` (`min_split_loss`).
    pub gamma: f64,
    pub min_child_weight: f64,
    /// Histogram bins per feature (`hist` only).
    pub max_bin: usize,
    /// `hist`, `exact`, `approx` or `auto`.
    pub tree_method: String,
    /// `eval_metric` (only reported by evaluation; does not change the trees).
    pub eval_metric: Option<String>,
    /// `seed` of the row and column subsampling (XGBoost's default 0).
    pub seed: u64,
    /// Threads; 0 = XGBoost's default (all cores). `hist` gives the same trees for any count.
    pub nthread: usize,
    /// Any other XGBoost parameter, by its XGBoost name, set after the fields above.
    pub extra: Vec<(String, String)>,
}

impl Default for XgbParams {
    fn default() -> Self {
        XgbParams {
            objective: "binary:logistic".into(),
            num_class: None,
            n_estimators: 100,
            max_depth: 2,
            learning_rate: 0.05,
            subsample: 0.8,
            colsample_bytree: 0.8,
            reg_lambda: 1.0,
            reg_alpha: 0.0,
            gamma: 0.0,
            min_child_weight: 1.0,
            max_bin: 256,
            tree_method: "hist".into(),
            eval_metric: Some("logloss".into()),
            seed: 0,
            nthread: 0,
            extra: Vec::new(),
        }
    }
}

impl XgbParams {
    /// The `(name, value)` pairs given to `XGBoosterSetParam`, in order.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = vec![
            ("validate_parameters".into(), "1".into()),
            ("objective".into(), self.objective.clone()),
            ("max_depth".into(), self.max_depth.to_string()),
            ("eta".into(), self.learning_rate.to_string()),
            ("subsample".into(), self.subsample.to_string()),
            ("colsample_bytree".into(), self.colsample_bytree.to_string()),
            ("lambda".into(), self.reg_lambda.to_string()),
            ("alpha".into(), self.reg_alpha.to_string()),
            ("gamma".into(), self.gamma.to_string()),
            ("min_child_weight".into(), self.min_child_weight.to_string()),
            ("max_bin".into(), self.max_bin.to_string()),
            ("tree_method".into(), self.tree_method.clone()),
            ("seed".into(), self.seed.to_string()),
            ("nthread".into(), self.nthread.to_string()),
        ];
        if let Some(k) = self.num_class {
            p.push(("num_class".into(), k.to_string()));
        }
        if let Some(m) = &self.eval_metric {
            p.push(("eval_metric".into(), m.clone()));
        }
        p.extend(self.extra.iter().cloned());
        p
    }
}

/// What `Booster.get_score(importance_type=...)` reports per feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Importance {
    /// Number of splits on the feature.
    Weight,
    /// Mean split gain over the feature's splits.
    Gain,
    /// Mean hessian sum (cover) over the feature's splits.
    Cover,
    TotalGain,
    TotalCover,
}

impl Importance {
    pub fn as_str(self) -> &'static str {
        match self {
            Importance::Weight => "weight",
            Importance::Gain => "gain",
            Importance::Cover => "cover",
            Importance::TotalGain => "total_gain",
            Importance::TotalCover => "total_cover",
        }
    }
}

/// A trained XGBoost model. Freed on drop.
pub struct Booster {
    lib: Arc<XgbLib>,
    handle: Handle,
}

// SAFETY: as for DMatrix; prediction output buffers are copied out before returning.
unsafe impl Send for Booster {}

impl Drop for Booster {
    fn drop(&mut self) {
        // SAFETY: the handle came from XGBoosterCreate and is freed once.
        unsafe { (self.lib.booster_free)(self.handle) };
    }
}

impl Booster {
    /// `xgb.train(params, dtrain, num_boost_round = params.n_estimators)`. Errors name the
    /// bad parameter in XGBoost's own words (unknown names included).
    pub fn train(dtrain: &DMatrix, params: &XgbParams) -> Result<Booster> {
        check::at_least(
            params.n_estimators,
            1,
            "XGBoost n_estimators (boosting rounds)",
        )?;
        let lib = &dtrain.lib;
        let mut handle: Handle = std::ptr::null_mut();
        // SAFETY: one valid DMatrix handle in the cache list.
        let rc = unsafe { (lib.booster_create)(&dtrain.handle, 1, &mut handle) };
        lib.check(rc, "XGBoosterCreate")?;
        let booster = Booster {
            lib: lib.clone(),
            handle,
        };
        for (name, value) in params.to_pairs() {
            booster.set_param(&name, &value)?;
        }
        // XGBoost keeps its log callback per thread: route this thread's messages to LOG.
        // SAFETY: a static extern "C" fn that outlives the library.
        lib.check(
            unsafe { (lib.register_log_callback)(log_callback) },
            "XGBRegisterLogCallback",
        )?;
        take_log();
        for iter in 0..params.n_estimators {
            let it =
                c_int::try_from(iter).map_err(|_| anyhow!("too many boosting rounds: {iter}"))?;
            // SAFETY: valid booster and DMatrix handles.
            let rc = unsafe { (lib.booster_update_one_iter)(booster.handle, it, dtrain.handle) };
            lib.check(rc, &format!("XGBoosterUpdateOneIter (round {iter})"))?;
            if iter == 0 {
                // The first round configures the learner, which validates the parameters.
                if let Some(w) = take_log().iter().find(|m| m.contains("are not used")) {
                    bail!(
                        "XGBoost does not know these parameters: {} (check their names in XgbParams::extra)",
                        tidy(w).replace('\n', " ")
                    );
                }
            }
        }
        Ok(booster)
    }

    /// `XGBoosterSetParam(name, value)`.
    pub fn set_param(&self, name: &str, value: &str) -> Result<()> {
        let (n, v) = (
            cstring(name, "parameter name")?,
            cstring(value, "parameter value")?,
        );
        // SAFETY: valid handle and NUL-terminated strings.
        let rc = unsafe { (self.lib.booster_set_param)(self.handle, n.as_ptr(), v.as_ptr()) };
        self.lib
            .check(rc, &format!("XGBoosterSetParam({name} = {value})"))
    }

    /// Rounds trained so far.
    pub fn boosted_rounds(&self) -> Result<usize> {
        let mut n: c_int = 0;
        // SAFETY: valid handle and out-pointer.
        let rc = unsafe { (self.lib.booster_boosted_rounds)(self.handle, &mut n) };
        self.lib.check(rc, "XGBoosterBoostedRounds")?;
        Ok(n.max(0) as usize)
    }

    /// `Booster.predict(d, output_margin=margin, strict_shape=True)`: `[n_rows, n_groups]`,
    /// one column for binary and regression objectives, `num_class` for `multi:softprob`.
    /// The values are XGBoost's float32 results, widened.
    pub fn predict(&self, d: &DMatrix, margin: bool) -> Result<Array2<f64>> {
        let config = format!(
            r#"{{"type": {}, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": true}}"#,
            if margin { 1 } else { 0 }
        );
        let config = cstring(&config, "prediction config")?;
        let (mut shape, mut dim, mut out): (*const BstUlong, BstUlong, *const c_float) =
            (std::ptr::null(), 0, std::ptr::null());
        // SAFETY: valid handles and out-pointers; XGBoost owns the output buffers until the
        // next call on this booster, and they are copied below.
        let rc = unsafe {
            (self.lib.booster_predict_from_dmatrix)(
                self.handle,
                d.handle,
                config.as_ptr(),
                &mut shape,
                &mut dim,
                &mut out,
            )
        };
        self.lib.check(rc, "XGBoosterPredictFromDMatrix")?;
        if shape.is_null() || out.is_null() || dim != 2 {
            bail!("XGBoost returned a prediction of {dim} dimensions, expected 2 (strict_shape)");
        }
        // SAFETY: XGBoost wrote `dim` = 2 sizes to `shape` and their product floats to `out`.
        let (rows, cols) = unsafe { (*shape as usize, *shape.add(1) as usize) };
        if rows != d.n_rows {
            bail!("XGBoost returned {rows} predictions for {} rows", d.n_rows);
        }
        // SAFETY: as above.
        let vals = unsafe { std::slice::from_raw_parts(out, rows * cols) };
        let vals: Vec<f64> = vals.iter().map(|&v| f64::from(v)).collect();
        if let Some(i) = vals.iter().position(|v| !v.is_finite()) {
            bail!("XGBoost predicted a non-finite value at position {i}: check the training data and parameters");
        }
        Ok(Array2::from_shape_vec((rows, cols), vals)?)
    }

    /// `Booster.get_score(importance_type=kind)`: `(feature index, score)` for the features
    /// used in at least one split, by feature index. Scores are XGBoost's float32, widened.
    pub fn importance(&self, kind: Importance) -> Result<Vec<(usize, f64)>> {
        let config = cstring(
            &format!(
                r#"{{"importance_type": "{}", "feature_map": ""}}"#,
                kind.as_str()
            ),
            "importance config",
        )?;
        let mut n_features: BstUlong = 0;
        let mut names: *const *const c_char = std::ptr::null();
        let mut dim: BstUlong = 0;
        let mut shape: *const BstUlong = std::ptr::null();
        let mut scores: *const c_float = std::ptr::null();
        // SAFETY: valid handle and out-pointers; outputs are copied before the next call.
        let rc = unsafe {
            (self.lib.booster_feature_score)(
                self.handle,
                config.as_ptr(),
                &mut n_features,
                &mut names,
                &mut dim,
                &mut shape,
                &mut scores,
            )
        };
        self.lib.check(rc, "XGBoosterFeatureScore")?;
        let n = n_features as usize;
        if n == 0 {
            return Ok(Vec::new());
        }
        // SAFETY: `shape` holds `dim` sizes.
        let per_feature = if dim == 1 {
            1
        } else {
            unsafe { *shape.add(1) as usize }
        };
        if per_feature != 1 {
            bail!("XGBoost returned {per_feature} importance values per feature (a linear booster?); only tree boosters are supported");
        }
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            // SAFETY: XGBoost returned `n` names and `n` scores.
            let (name, score) = unsafe { (cstr_lossy(*names.add(i)), *scores.add(i)) };
            let idx = name
                .strip_prefix('f')
                .and_then(|s| s.parse::<usize>().ok())
                .ok_or_else(|| anyhow!("XGBoost named a feature {name:?}, expected f<index>"))?;
            out.push((idx, f64::from(score)));
        }
        out.sort_by_key(|&(i, _)| i);
        Ok(out)
    }

    /// The trees as XGBoost's JSON dump (`Booster.get_dump(dump_format="json",
    /// with_stats=...)`), one string per tree. With stats, split nodes carry `gain` and
    /// `cover`.
    pub fn dump_json(&self, with_stats: bool) -> Result<Vec<String>> {
        let (fmap, format) = (cstring("", "feature map")?, cstring("json", "dump format")?);
        let mut len: BstUlong = 0;
        let mut arr: *const *const c_char = std::ptr::null();
        // SAFETY: valid handle, strings and out-pointers; outputs copied below.
        let rc = unsafe {
            (self.lib.booster_dump_model_ex)(
                self.handle,
                fmap.as_ptr(),
                c_int::from(with_stats),
                format.as_ptr(),
                &mut len,
                &mut arr,
            )
        };
        self.lib.check(rc, "XGBoosterDumpModelEx")?;
        // SAFETY: XGBoost returned `len` strings.
        Ok((0..len as usize)
            .map(|i| unsafe { cstr_lossy(*arr.add(i)) })
            .collect())
    }

    /// The learner's configuration as JSON (`Booster.save_config()`).
    pub fn config_json(&self) -> Result<String> {
        let mut len: BstUlong = 0;
        let mut s: *const c_char = std::ptr::null();
        // SAFETY: valid handle and out-pointers.
        let rc = unsafe { (self.lib.booster_save_json_config)(self.handle, &mut len, &mut s) };
        self.lib.check(rc, "XGBoosterSaveJsonConfig")?;
        // SAFETY: NUL-terminated string owned by XGBoost until the next call.
        Ok(unsafe { cstr_lossy(s) })
    }
}

/// A binary XGBoost classifier on 0/1 labels, as the notebook's `XGBClassifier`:
/// `objective binary:logistic`, predicted class = `P(y = 1) > 0.5`.
pub struct XgbClassifier {
    booster: Booster,
    n_features: usize,
}

impl XgbClassifier {
    /// Trains on `x: [n_samples, n_features]` and labels `y` in {0, 1} (both present)
    /// with the library at [`default_lib_path`].
    pub fn fit(x: ArrayView2<f64>, y: &[usize], params: &XgbParams) -> Result<Self> {
        Self::fit_with(&XgbLib::load()?, x, y, params)
    }

    /// As [`XgbClassifier::fit`], with a given library.
    pub fn fit_with(
        lib: &Arc<XgbLib>,
        x: ArrayView2<f64>,
        y: &[usize],
        params: &XgbParams,
    ) -> Result<Self> {
        if params.objective != "binary:logistic" {
            bail!(
                "XgbClassifier is binary (objective binary:logistic), got objective {:?}: use DMatrix and Booster for others",
                params.objective
            );
        }
        check::rows_match(x.nrows(), y.len(), 2, "XgbClassifier::fit")?;
        let classes = check::classes(y, 1, "XgbClassifier::fit")?;
        if classes != [0, 1] {
            bail!("XgbClassifier::fit needs labels 0 and 1, got classes {classes:?}");
        }
        let labels: Array1<f64> = y.iter().map(|&c| c as f64).collect();
        let d = DMatrix::new(lib, x, Some(labels.view()))?;
        let booster = Booster::train(&d, params)?;
        Ok(XgbClassifier {
            booster,
            n_features: x.ncols(),
        })
    }

    /// `P(y = 1)` for each row of `x`.
    pub fn predict_proba(&self, x: ArrayView2<f64>) -> Result<Array1<f64>> {
        self.column(x, false)
    }

    /// The margin (log-odds, base score included) for each row of `x`.
    pub fn predict_margin(&self, x: ArrayView2<f64>) -> Result<Array1<f64>> {
        self.column(x, true)
    }

    fn column(&self, x: ArrayView2<f64>, margin: bool) -> Result<Array1<f64>> {
        if x.ncols() != self.n_features {
            bail!(
                "the model was trained on {} features, x has {}",
                self.n_features,
                x.ncols()
            );
        }
        let d = DMatrix::new(&self.booster.lib, x, None)?;
        Ok(self.booster.predict(&d, margin)?.column(0).to_owned())
    }

    /// The predicted class, 1 where `P(y = 1) > 0.5`.
    pub fn predict(&self, x: ArrayView2<f64>) -> Result<Vec<usize>> {
        Ok(self
            .predict_proba(x)?
            .iter()
            .map(|&p| usize::from(p > 0.5))
            .collect())
    }

    /// Fraction of rows whose predicted class equals `y`.
    pub fn accuracy(&self, x: ArrayView2<f64>, y: &[usize]) -> Result<f64> {
        check::rows_match(x.nrows(), y.len(), 1, "XgbClassifier::accuracy")?;
        let pred = self.predict(x)?;
        Ok(pred.iter().zip(y).filter(|(p, t)| p == t).count() as f64 / y.len() as f64)
    }

    /// `get_score(importance_type=kind)`: used features only, by index.
    pub fn importance(&self, kind: Importance) -> Result<Vec<(usize, f64)>> {
        self.booster.importance(kind)
    }

    pub fn booster(&self) -> &Booster {
        &self.booster
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_drops_timestamp_and_stack_trace() {
        let m = "[20:45:39] /workspace/src/data/data.cc:568: Check failed: valid\nStack trace:\n  [bt] (0) x";
        assert_eq!(
            tidy(m),
            "/workspace/src/data/data.cc:568: Check failed: valid"
        );
        assert_eq!(
            tidy("value 1.5 for Parameter subsample"),
            "value 1.5 for Parameter subsample"
        );
    }

    #[test]
    fn default_params_are_p47_part1() {
        let p = XgbParams::default().to_pairs();
        let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("eta"), Some("0.05"));
        assert_eq!(get("max_depth"), Some("2"));
        assert_eq!(get("subsample"), Some("0.8"));
        assert_eq!(get("lambda"), Some("1"));
        assert_eq!(get("tree_method"), Some("hist"));
        assert_eq!(get("validate_parameters"), Some("1"));
        assert_eq!(get("num_class"), None);
    }
}
