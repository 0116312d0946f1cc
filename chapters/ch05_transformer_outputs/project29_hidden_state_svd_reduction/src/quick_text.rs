//! The `--quick` stimuli, written for this project: a short passage (the real run uses
//! the spec's Wikipedia lead paragraph) and a synthetic "photograph" for Part 1 (the real
//! run fetches the spec's Wikimedia Commons picture).

/// A short museum description written for the project.
pub const QUICK_TEXT: &str = "A small museum by the canal shows new art.";

/// A 192 × 256 RGB test picture drawn by code: a sky gradient, a building with windows
/// and a diagonal path, so that its spectrum has a few strong and many weak components.
pub fn quick_image() -> (usize, usize, Vec<[u8; 3]>) {
    let (h, w) = (192usize, 256usize);
    let mut seed: u32 = 12345;
    let mut px = Vec::with_capacity(h * w);
    for y in 0..h {
        for x in 0..w {
            // a little deterministic grain (an LCG), so the spectrum has a long tail
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let grain = ((seed >> 16) % 121) as i32 - 60;
            let sky = [(y / 4) as u8, (y / 3) as u8, (40 + y / 2) as u8];
            let building = (40..200).contains(&x) && y > 60 + x / 8;
            let window = building && (x % 24 < 10) && (y % 20 < 8) && y < 160;
            let path = y > 160 && (x as i64 - (y as i64 - 160) * 3).abs() < 12;
            let c = if window {
                [240, 230, 120]
            } else if building {
                [200, 190, 180]
            } else if path {
                [60, 60, 60]
            } else if y > 160 {
                [20, 70, 25]
            } else {
                sky
            };
            px.push(c.map(|v: u8| (v as i32 + grain).clamp(0, 255) as u8));
        }
    }
    (h, w, px)
}
