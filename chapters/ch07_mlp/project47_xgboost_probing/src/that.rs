//! The " that" categories of spec p47 (Data): which role a " that" plays, judged by the
//! token after it, and the 6-token windows that end with it.

use anyhow::{bail, Result};
use rand::Rng;

/// GPT-2's id of `" that"`.
pub const THAT: u32 = 326;
/// Next tokens that make " that" a complementizer: " he", " she", " it", " they", " we",
/// " I", " you", " the", " a", " an", " this", " that", " these", " those".
pub const POST_COMP: [u32; 14] = [
    339, 673, 340, 484, 356, 314, 345, 262, 257, 281, 428, 326, 777, 883,
];
/// Next tokens that make it a demonstrative pronoun (" that was ..."): discarded.
pub const POST_DP: [u32; 17] = [
    318, 373, 389, 547, 468, 423, 550, 466, 750, 857, 2499, 3022, 22523, 6067, 5419, 10143, 3421,
];

/// The role of one " that".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Complementizer,
    Pronoun,
    Determiner,
}

/// The role a next token gives to the " that" before it (complementizer first, as the
/// notebook tests it: " that that" is a complementizer).
pub fn role_of_next(next: u32) -> Role {
    if POST_COMP.contains(&next) {
        Role::Complementizer
    } else if POST_DP.contains(&next) {
        Role::Pronoun
    } else {
        Role::Determiner
    }
}

/// Positions of " that" by role. Only positions with a next token count (a trailing
/// " that" is ignored); positions with fewer than `context_pre` tokens before them are
/// counted in `too_early` and left out, since their window would be short.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Categories {
    pub complementizer: Vec<usize>,
    pub pronoun: Vec<usize>,
    pub determiner: Vec<usize>,
    pub too_early: usize,
}

pub fn categorise(tokens: &[u32], context_pre: usize) -> Categories {
    let mut c = Categories::default();
    for i in 0..tokens.len().saturating_sub(1) {
        if tokens[i] != THAT {
            continue;
        }
        if i < context_pre {
            c.too_early += 1;
            continue;
        }
        match role_of_next(tokens[i + 1]) {
            Role::Complementizer => c.complementizer.push(i),
            Role::Pronoun => c.pronoun.push(i),
            Role::Determiner => c.determiner.push(i),
        }
    }
    c
}

/// `tokens[i - context_pre ..= i]` for each position.
pub fn windows(tokens: &[u32], positions: &[usize], context_pre: usize) -> Vec<Vec<u32>> {
    positions
        .iter()
        .map(|&i| tokens[i - context_pre..=i].to_vec())
        .collect()
}

/// `n` of `positions` drawn without replacement (in the order drawn).
pub fn sample<R: Rng + ?Sized>(
    positions: &[usize],
    n: usize,
    rng: &mut R,
    what: &str,
) -> Result<Vec<usize>> {
    if positions.len() < n {
        bail!(
            "only {} {what} positions, fewer than --batchsize {n}: lower --batchsize",
            positions.len()
        );
    }
    Ok(rand::seq::index::sample(rng, positions.len(), n)
        .into_iter()
        .map(|k| positions[k])
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// Offline check 4 on a synthetic token list. GPT-2 ids: " he" 339, " was" 373,
    /// " book" 1492, filler 11 (","), 13 (".").
    #[test]
    fn check4_categories_on_a_synthetic_list() {
        let mut t = vec![11u32; 5];
        t.extend([THAT, 339]); // " that he": complementizer at 5
        t.extend([13, 13, 13, 13, 13, THAT, 373]); // " that was": pronoun at 12
        t.extend([13, THAT, 1492]); // " that book": determiner at 15
        t.extend([THAT, THAT, 262]); // " that that": complementizer at 17; " that the" at 18
        t.push(THAT); // trailing: ignored
        let c = categorise(&t, 5);
        assert_eq!(c.complementizer, vec![5, 17, 18]);
        assert_eq!(c.pronoun, vec![12]);
        assert_eq!(c.determiner, vec![15]);
        assert_eq!(c.too_early, 0);
        for w in windows(&t, &[5, 12, 15, 17, 18], 5) {
            assert_eq!(w.len(), 6);
            assert_eq!(*w.last().unwrap(), THAT);
        }
        // a " that" with fewer than 5 tokens before it has no full window
        let c = categorise(&[11, THAT, 339, 11, 11, 11, 11, THAT, 1492], 5);
        assert_eq!(c.too_early, 1);
        assert_eq!(c.determiner, vec![7]);
        assert!(c.complementizer.is_empty());
    }

    #[test]
    fn sampling_is_without_replacement_and_checks_the_size() {
        let pos: Vec<usize> = (10..60).collect();
        let mut rng = StdRng::seed_from_u64(1);
        let mut s = sample(&pos, 50, &mut rng, "x").unwrap();
        s.sort_unstable();
        assert_eq!(s, pos);
        assert!(sample(&pos, 51, &mut rng, "x").is_err());
    }
}
