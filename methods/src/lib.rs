//! The statistical and machine-learning methods of chapters 4–7, re-exported by
//! `common` as `common::ml`.
//!
//! Each method gives the answer its Python reference gives on the same data (scipy,
//! scikit-learn, statsmodels, xgboost): the fixtures in `assets/fixtures/methods/`
//! hold fixed inputs and the reference outputs, written by
//! `scripts/make_method_fixtures.sh`, and the tests in `methods/tests/` compare.
//! This crate does not depend on libtorch, so it builds and tests in seconds.
//! Inputs are `ndarray` arrays: `x: [n_samples, n_features]`, `y: [n_samples]`.
//!
//! | module | what |
//! |---|---|
//! | [`check`] | input validation shared by every method (finite values, shapes, classes) |
//! | [`regression`] | ordinary least squares with intercept: coefficients, SEs, t/p, F, R² |
//! | [`curve_fit`] | Levenberg–Marquardt nonlinear least squares (scipy `curve_fit`) |
//! | [`decomposition`] | PCA through SVD, participation ratio, effective dimensionality |
//! | [`descriptive`] | percentiles, binned statistics, Gaussian KDE |
//! | [`logistic`] | multinomial L2 logistic regression (sklearn), L1 logistic (statsmodels) |
//! | [`split`] | stratified train/test split |
//! | [`tree`] | CART decision tree classifier with Gini importances |
//! | [`tsne`] | exact t-SNE |
//! | [`kendall`] | Kendall's τ-b with scipy's exact/asymptotic p-value |
//! | [`hypothesis`] | t-tests, McNemar, Bonferroni, Benjamini–Hochberg, Cohen's d, Fisher z, permutation tests |
//! | [`mutual_info`] | histogram and Kraskov (KSG) mutual information, Minkowski distances |
//! | [`xgboost`] | gradient-boosted trees through the real XGBoost library (C API) |

pub mod check;
pub mod curve_fit;
pub mod decomposition;
pub mod descriptive;
pub mod hypothesis;
pub mod kendall;
pub mod logistic;
pub mod mutual_info;
pub mod regression;
pub mod split;
pub mod tree;
pub mod tsne;
pub mod xgboost;
