//! Colours: matplotlib's tab10 cycle and a few colormaps.

/// An sRGB colour, 0..=255 per channel.
pub type Rgb = (u8, u8, u8);

/// matplotlib's tab10 colours by name: `tab::RED` is matplotlib's `"tab:red"`, the red of
/// its default colour cycle (not `"red"`, which is pure (255, 0, 0)).
pub mod tab {
    use super::Rgb;
    pub const BLUE: Rgb = (31, 119, 180);
    pub const ORANGE: Rgb = (255, 127, 14);
    pub const GREEN: Rgb = (44, 160, 44);
    pub const RED: Rgb = (214, 39, 40);
    pub const PURPLE: Rgb = (148, 103, 189);
    pub const BROWN: Rgb = (140, 86, 75);
    pub const PINK: Rgb = (227, 119, 194);
    pub const GREY: Rgb = (127, 127, 127);
    pub const OLIVE: Rgb = (188, 189, 34);
    pub const CYAN: Rgb = (23, 190, 207);
}

/// matplotlib's `"black"`.
pub const BLACK: Rgb = (0, 0, 0);
/// matplotlib's `"white"`.
pub const WHITE: Rgb = (255, 255, 255);
/// matplotlib's `"gray"` / `"grey"` (not tab10's grey, [`tab::GREY`]).
pub const GREY: Rgb = (128, 128, 128);

/// matplotlib's default colour cycle (`tab10`).
const TAB10: [Rgb; 10] = [
    tab::BLUE,
    tab::ORANGE,
    tab::GREEN,
    tab::RED,
    tab::PURPLE,
    tab::BROWN,
    tab::PINK,
    tab::GREY,
    tab::OLIVE,
    tab::CYAN,
];

/// The `i`-th colour of matplotlib's default colour cycle (tab10), wrapping around after 10.
pub fn cycle_color(i: usize) -> Rgb {
    TAB10[i % TAB10.len()]
}

/// Converts a colour given as 0..1 floats (matplotlib style) to [`Rgb`]; values are clamped,
/// NaN maps to 0.
pub fn rgb_f(r: f64, g: f64, b: f64) -> Rgb {
    (unit_to_u8(r), unit_to_u8(g), unit_to_u8(b))
}

fn unit_to_u8(v: f64) -> u8 {
    if v.is_nan() {
        0
    } else {
        (v.clamp(0.0, 1.0) * 255.0).round() as u8
    }
}

/// A continuous colormap, sampled with [`Colormap::color`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Colormap {
    /// matplotlib's default perceptually uniform map (dark purple -> yellow).
    #[default]
    Viridis,
    /// Perceptually uniform, dark blue -> magenta -> yellow.
    Plasma,
    /// Black -> white.
    Gray,
    /// Diverging: blue for low values, white in the middle, red for high values
    /// (matplotlib's `RdBu_r`).
    RdBu,
    /// Perceptually uniform, black -> purple -> light yellow.
    Magma,
    /// Sequential white -> dark red (matplotlib's `Reds`, ColorBrewer 9 classes).
    Reds,
    /// Cyan -> magenta (matplotlib's `cool`: r = t, g = 1 - t, b = 1).
    Cool,
    /// White -> yellow -> orange -> black (matplotlib's `afmhot_r`: `afmhot` at `1 - t`,
    /// where `afmhot(x)` is r = 2x, g = 2x - 1/2, b = 2x - 1, each clipped to 0..1).
    AfmHotR,
}

impl Colormap {
    /// The colour at position `t` in 0..1 (clamped; NaN gives the middle of the map).
    pub fn color(&self, t: f64) -> Rgb {
        let t = if t.is_nan() { 0.5 } else { t.clamp(0.0, 1.0) };
        match self {
            Colormap::Viridis => sample_listed(&VIRIDIS, t),
            Colormap::Plasma => sample_listed(&PLASMA, t),
            Colormap::Magma => sample_listed(&MAGMA, t),
            Colormap::Gray => rgb_f(t, t, t),
            Colormap::RdBu => sample_even(&RDBU_R, t),
            Colormap::Reds => sample_even(&REDS, t),
            Colormap::Cool => rgb_f(t, 1.0 - t, 1.0),
            Colormap::AfmHotR => {
                let x = 1.0 - t;
                rgb_f(2.0 * x, 2.0 * x - 0.5, 2.0 * x - 1.0)
            }
        }
    }
}

/// Linear interpolation in a table of `(index in 0..=255, [r, g, b] in 0..1)` anchors.
fn sample_listed(table: &[(u8, [f64; 3])], t: f64) -> Rgb {
    let pos = t * 255.0;
    let mut k = 0;
    while k + 2 < table.len() && f64::from(table[k + 1].0) < pos {
        k += 1;
    }
    let (i0, c0) = table[k];
    let (i1, c1) = table[k + 1];
    let f = ((pos - f64::from(i0)) / (f64::from(i1) - f64::from(i0))).clamp(0.0, 1.0);
    let mix = |a: f64, b: f64| a + (b - a) * f;
    rgb_f(mix(c0[0], c1[0]), mix(c0[1], c1[1]), mix(c0[2], c1[2]))
}

/// Linear interpolation in a table of evenly spaced 0..255 colours.
fn sample_even(table: &[Rgb], t: f64) -> Rgb {
    let pos = t * (table.len() - 1) as f64;
    let k = (pos.floor() as usize).min(table.len() - 2);
    let f = pos - k as f64;
    let (a, b) = (table[k], table[k + 1]);
    let mix = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * f).round() as u8;
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// ColorBrewer Reds (9 classes), as matplotlib's `Reds`.
const REDS: [Rgb; 9] = [
    (255, 245, 240),
    (254, 224, 210),
    (252, 187, 161),
    (252, 146, 114),
    (251, 106, 74),
    (239, 59, 44),
    (203, 24, 29),
    (165, 15, 21),
    (103, 0, 13),
];

/// ColorBrewer RdBu (11 classes), reversed so that low values are blue.
const RDBU_R: [Rgb; 11] = [
    (5, 48, 97),
    (33, 102, 172),
    (67, 147, 195),
    (146, 197, 222),
    (209, 229, 240),
    (247, 247, 247),
    (253, 219, 199),
    (244, 165, 130),
    (214, 96, 77),
    (178, 24, 43),
    (103, 0, 31),
];

// Every 8th entry (plus the last) of matplotlib's 256-entry listed colormaps
// (`matplotlib/_cm_listed.py`); linear interpolation between them stays within
// about one 8-bit step of the full tables.

const VIRIDIS: [(u8, [f64; 3]); 33] = [
    (0, [0.267004, 0.004874, 0.329415]),
    (8, [0.277018, 0.050344, 0.375715]),
    (16, [0.282327, 0.094955, 0.417331]),
    (24, [0.282884, 0.135920, 0.453427]),
    (32, [0.278826, 0.175490, 0.483397]),
    (40, [0.270595, 0.214069, 0.507052]),
    (48, [0.258965, 0.251537, 0.524736]),
    (56, [0.244972, 0.287675, 0.537260]),
    (64, [0.229739, 0.322361, 0.545706]),
    (72, [0.214298, 0.355619, 0.551184]),
    (80, [0.199430, 0.387607, 0.554642]),
    (88, [0.185556, 0.418570, 0.556753]),
    (96, [0.172719, 0.448791, 0.557885]),
    (104, [0.160665, 0.478540, 0.558115]),
    (112, [0.149039, 0.508051, 0.557250]),
    (120, [0.137770, 0.537492, 0.554906]),
    (128, [0.127568, 0.566949, 0.550556]),
    (136, [0.120565, 0.596422, 0.543611]),
    (144, [0.120638, 0.625828, 0.533488]),
    (152, [0.132268, 0.655014, 0.519661]),
    (160, [0.157851, 0.683765, 0.501686]),
    (168, [0.196571, 0.711827, 0.479221]),
    (176, [0.246070, 0.738910, 0.452024]),
    (184, [0.304148, 0.764704, 0.419943]),
    (192, [0.369214, 0.788888, 0.382914]),
    (200, [0.440137, 0.811138, 0.340967]),
    (208, [0.515992, 0.831158, 0.294279]),
    (216, [0.595839, 0.848717, 0.243329]),
    (224, [0.678489, 0.863742, 0.189503]),
    (232, [0.762373, 0.876424, 0.137064]),
    (240, [0.845561, 0.887322, 0.099702]),
    (248, [0.926106, 0.897330, 0.104071]),
    (255, [0.993248, 0.906157, 0.143936]),
];

const PLASMA: [(u8, [f64; 3]); 33] = [
    (0, [0.050383, 0.029803, 0.527975]),
    (8, [0.132381, 0.022258, 0.563250]),
    (16, [0.193374, 0.018354, 0.590330]),
    (24, [0.248032, 0.014439, 0.612868]),
    (32, [0.299855, 0.009561, 0.631624]),
    (40, [0.350150, 0.004382, 0.646298]),
    (48, [0.399411, 0.000859, 0.656133]),
    (56, [0.447714, 0.002080, 0.660240]),
    (64, [0.494877, 0.011990, 0.657865]),
    (72, [0.540570, 0.034950, 0.648640]),
    (80, [0.584391, 0.068579, 0.632812]),
    (88, [0.625987, 0.103312, 0.611305]),
    (96, [0.665129, 0.138566, 0.585582]),
    (104, [0.701769, 0.174005, 0.557296]),
    (112, [0.736019, 0.209439, 0.527908]),
    (120, [0.768090, 0.244817, 0.498465]),
    (128, [0.798216, 0.280197, 0.469538]),
    (136, [0.826588, 0.315714, 0.441316]),
    (144, [0.853319, 0.351553, 0.413734]),
    (152, [0.878423, 0.387932, 0.386600]),
    (160, [0.901807, 0.425087, 0.359688]),
    (168, [0.923287, 0.463251, 0.332801]),
    (176, [0.942598, 0.502639, 0.305816]),
    (184, [0.959424, 0.543431, 0.278701]),
    (192, [0.973416, 0.585761, 0.251540]),
    (200, [0.984199, 0.629718, 0.224595]),
    (208, [0.991365, 0.675355, 0.198453]),
    (216, [0.994474, 0.722691, 0.174381]),
    (224, [0.993033, 0.771720, 0.154808]),
    (232, [0.986509, 0.822401, 0.143557]),
    (240, [0.974443, 0.874622, 0.144061]),
    (248, [0.956808, 0.928152, 0.152409]),
    (255, [0.940015, 0.975158, 0.131326]),
];

const MAGMA: [(u8, [f64; 3]); 33] = [
    (0, [0.001462, 0.000466, 0.013866]),
    (8, [0.013708, 0.011771, 0.068667]),
    (16, [0.039608, 0.031090, 0.133515]),
    (24, [0.074257, 0.052017, 0.202660]),
    (32, [0.113094, 0.065492, 0.276784]),
    (40, [0.159018, 0.068354, 0.352688]),
    (48, [0.211718, 0.061992, 0.418647]),
    (56, [0.265447, 0.060237, 0.461840]),
    (64, [0.316654, 0.071690, 0.485380]),
    (72, [0.366012, 0.090314, 0.497960]),
    (80, [0.414709, 0.110431, 0.504662]),
    (88, [0.463508, 0.129893, 0.507652]),
    (96, [0.512831, 0.148179, 0.507648]),
    (104, [0.562866, 0.165368, 0.504692]),
    (112, [0.613617, 0.181811, 0.498536]),
    (120, [0.664915, 0.198075, 0.488836]),
    (128, [0.716387, 0.214982, 0.475290]),
    (136, [0.767398, 0.233705, 0.457755]),
    (144, [0.816914, 0.255895, 0.436461]),
    (152, [0.863320, 0.283729, 0.412403]),
    (160, [0.904281, 0.319610, 0.388137]),
    (168, [0.937221, 0.364929, 0.368567]),
    (176, [0.960949, 0.418323, 0.359630]),
    (184, [0.976690, 0.476226, 0.364466]),
    (192, [0.986700, 0.535582, 0.382210]),
    (200, [0.992785, 0.594891, 0.410283]),
    (208, [0.996096, 0.653659, 0.446213]),
    (216, [0.997325, 0.711848, 0.488154]),
    (224, [0.996898, 0.769591, 0.534892]),
    (232, [0.995131, 0.827052, 0.585701]),
    (240, [0.992440, 0.884330, 0.640099]),
    (248, [0.989434, 0.941470, 0.697519]),
    (255, [0.987053, 0.991438, 0.749504]),
];
