//! CPU tests of the ops: gradients against central finite differences,
//! AdamW against a hand-computed example, shape and argument errors. (GPU
//! against CPU, and a small network that must learn XOR on both devices:
//! `tests/nn_gpu_matches_cpu.rs`.)

use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

fn cpu() -> Nn {
    Nn::new(&Compute::Cpu)
}

/// Fixed seeds: these tests are deterministic.
struct Rng(ChaCha8Rng);

impl Rng {
    fn seeded(seed: u64) -> Rng {
        Rng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// `len` values uniform in [-1, 1).
    fn vec(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.0.random_range(-1.0..1.0)).collect()
    }
}

/// Finite-difference step (f32 arithmetic, so not much smaller).
const EPS: f32 = 1e-2;

/// Central differences of `loss` with respect to each element of `at`.
fn numeric_gradient(at: &[f32], mut loss: impl FnMut(&[f32]) -> f64) -> Vec<f64> {
    let mut point = at.to_vec();
    (0..at.len())
        .map(|i| {
            point[i] = at[i] + EPS;
            let up = loss(&point);
            point[i] = at[i] - EPS;
            let down = loss(&point);
            point[i] = at[i];
            (up - down) / (2.0 * f64::from(EPS))
        })
        .collect()
}

/// |analytic − numeric| ≤ 1e-3 + 1e-2·|numeric| per element: the central
/// difference of a smooth f32 function with step 1e-2 is good to about
/// 1e-4 here (rounding ≈ 1e-7·|loss| / 2e-2, curvature ≈ eps²·f''').
fn assert_gradient(what: &str, analytic: &[f32], numeric: &[f64]) {
    assert_eq!(analytic.len(), numeric.len(), "{what}");
    for (i, (&a, &n)) in analytic.iter().zip(numeric).enumerate() {
        let tolerance = 1e-3 + 1e-2 * n.abs();
        assert!((f64::from(a) - n).abs() <= tolerance, "{what}[{i}]: analytic {a}, numeric {n}, tolerance {tolerance}");
    }
}

fn weighted_sum(values: &[f32], weights: &[f32]) -> f64 {
    values.iter().zip(weights).map(|(&v, &w)| f64::from(v) * f64::from(w)).sum()
}

fn check_dense_gradients(act: Activation, seed: u64) {
    let nn = cpu();
    let (n, i, o) = (3, 4, 5);
    let mut rng = Rng::seeded(seed);
    // Away from the ReLU's kink: no pre-activation within 0.05 of zero (a
    // step of EPS moves one by at most EPS·max(|x|, |w|, 1) = 0.01).
    let (x, w, b) = loop {
        let (x, w, b) = (rng.vec(n * i), rng.vec(i * o), rng.vec(o));
        let mut pre = nn.zeros(n, o).expect("zeros");
        let (xt, wt, bt) = (nn.tensor(n, i, &x), nn.tensor(i, o, &w), nn.tensor(1, o, &b));
        nn.dense_forward(&xt.expect("x"), &wt.expect("w"), &bt.expect("b"), Activation::Identity, &mut pre)
            .expect("forward");
        if act == Activation::Identity || nn.read(&pre).expect("read").iter().all(|v| v.abs() > 0.05) {
            break (x, w, b);
        }
    };
    let upstream = rng.vec(n * o);
    let loss = |x: &[f32], w: &[f32], b: &[f32]| {
        let mut y = nn.zeros(n, o).expect("zeros");
        let (x, w, b) = (nn.tensor(n, i, x), nn.tensor(i, o, w), nn.tensor(1, o, b));
        nn.dense_forward(&x.expect("x"), &w.expect("w"), &b.expect("b"), act, &mut y).expect("forward");
        weighted_sum(&nn.read(&y).expect("read"), &upstream)
    };
    let (xt, wt, bt) =
        (nn.tensor(n, i, &x).expect("x"), nn.tensor(i, o, &w).expect("w"), nn.tensor(1, o, &b).expect("b"));
    let mut y = nn.zeros(n, o).expect("zeros");
    nn.dense_forward(&xt, &wt, &bt, act, &mut y).expect("forward");
    let mut dy = nn.tensor(n, o, &upstream).expect("dy");
    let (mut dx, mut dw, mut db) =
        (nn.zeros(n, i).expect("dx"), nn.zeros(i, o).expect("dw"), nn.zeros(1, o).expect("db"));
    // Garbage in the outputs: they must be overwritten, not accumulated into.
    nn.write(&mut dw, &vec![7.0; i * o]).expect("write");
    nn.write(&mut db, &vec![7.0; o]).expect("write");
    nn.dense_backward(&xt, &wt, &y, act, &mut dy, Some(&mut dx), &mut dw, &mut db).expect("backward");
    let what = format!("{act:?}");
    assert_gradient(&format!("{what} dx"), &nn.read(&dx).expect("read"), &numeric_gradient(&x, |x| loss(x, &w, &b)));
    assert_gradient(&format!("{what} dw"), &nn.read(&dw).expect("read"), &numeric_gradient(&w, |w| loss(&x, w, &b)));
    assert_gradient(&format!("{what} db"), &nn.read(&db).expect("read"), &numeric_gradient(&b, |b| loss(&x, &w, b)));
    // Without dx the other gradients are the same.
    let mut dy2 = nn.tensor(n, o, &upstream).expect("dy");
    let mut dw2 = nn.zeros(i, o).expect("dw");
    nn.dense_backward(&xt, &wt, &y, act, &mut dy2, None, &mut dw2, &mut db).expect("backward");
    assert_eq!(nn.read(&dw2).expect("read"), nn.read(&dw).expect("read"));
    assert_eq!(nn.read(&dy2).expect("read"), nn.read(&dy).expect("read"));
}

#[test]
fn dense_identity_gradients_match_finite_differences() {
    for seed in 0..4 {
        check_dense_gradients(Activation::Identity, seed);
    }
}

#[test]
fn dense_relu_gradients_match_finite_differences() {
    for seed in 0..4 {
        check_dense_gradients(Activation::Relu, seed);
    }
}

#[test]
fn dense_forward_computes_the_affine_map() {
    let nn = cpu();
    let x = nn.tensor(2, 3, &[1.0, 2.0, 3.0, -1.0, 0.0, 1.0]).expect("x");
    let w = nn.tensor(3, 2, &[1.0, 0.0, 0.0, 1.0, 1.0, -1.0]).expect("w");
    let b = nn.tensor(1, 2, &[0.5, -0.5]).expect("b");
    let mut y = nn.zeros(2, 2).expect("y");
    nn.dense_forward(&x, &w, &b, Activation::Identity, &mut y).expect("forward");
    assert_eq!(nn.read(&y).expect("read"), [4.5, -1.5, 0.5, -1.5]);
    nn.dense_forward(&x, &w, &b, Activation::Relu, &mut y).expect("forward");
    assert_eq!(nn.read(&y).expect("read"), [4.5, 0.0, 0.5, 0.0]);
}

#[test]
fn embedding_bags_average_and_their_gradient_matches_finite_differences() {
    let nn = cpu();
    let (v, d) = (6, 3);
    let mut rng = Rng::seeded(11);
    let table = rng.vec(v * d);
    // A repeated id, an empty bag, a single id; rows 3 and 4 are in no bag.
    let (ids, offsets) = ([0, 2, 2, 5, 1, 0], [0, 3, 3, 4, 6]);
    let bags = nn.bags(&ids, &offsets, v).expect("bags");
    assert_eq!((bags.len(), bags.vocab()), (4, 6));
    let t = nn.tensor(v, d, &table).expect("table");
    let mut out = nn.tensor(4, d, &[9.0; 12]).expect("out");
    nn.embedding_bag_forward(&t, &bags, &mut out).expect("forward");
    let got = nn.read(&out).expect("read");
    for j in 0..d {
        let expected = (table[j] + 2.0 * table[2 * d + j]) / 3.0;
        assert!((got[j] - expected).abs() < 1e-6, "bag 0 dim {j}: {} vs {expected}", got[j]);
        assert_eq!(got[d + j], 0.0, "the empty bag gives zeros");
        assert_eq!(got[2 * d + j], table[5 * d + j]);
    }
    let upstream = rng.vec(4 * d);
    let loss = |table: &[f32]| {
        let mut out = nn.zeros(4, d).expect("out");
        nn.embedding_bag_forward(&nn.tensor(v, d, table).expect("table"), &bags, &mut out).expect("forward");
        weighted_sum(&nn.read(&out).expect("read"), &upstream)
    };
    let mut dtable = nn.tensor(v, d, &[5.0; 18]).expect("dtable");
    nn.embedding_bag_backward(&nn.tensor(4, d, &upstream).expect("dout"), &bags, &mut dtable).expect("backward");
    let analytic = nn.read(&dtable).expect("read");
    assert_gradient("dtable", &analytic, &numeric_gradient(&table, loss));
    assert!(analytic[3 * d..5 * d].iter().all(|&g| g == 0.0), "untouched rows are zero");
    // A larger table than the vocabulary is fine; its extra rows get zeros.
    let mut wide = nn.tensor(v + 2, d, &[1.0; 24]).expect("dtable");
    nn.embedding_bag_backward(&nn.tensor(4, d, &upstream).expect("dout"), &bags, &mut wide).expect("backward");
    assert_eq!(&nn.read(&wide).expect("read")[..v * d], &analytic[..]);
}

#[test]
fn softmax_cross_entropy_gradient_matches_finite_differences() {
    let nn = cpu();
    let (n, c) = (4, 5);
    let mut rng = Rng::seeded(5);
    let logits: Vec<f32> = rng.vec(n * c).iter().map(|v| 3.0 * v).collect();
    let targets = nn.ids(&[0, 4, 2, 2]).expect("ids");
    let mean_loss = |logits: &[f32]| {
        let (mut losses, mut dlogits) = (nn.zeros(n, 1).expect("losses"), nn.zeros(n, c).expect("dlogits"));
        nn.softmax_cross_entropy(&nn.tensor(n, c, logits).expect("logits"), &targets, &mut losses, &mut dlogits)
            .expect("ce");
        nn.read(&losses).expect("read").iter().map(|&l| f64::from(l)).sum::<f64>() / n as f64
    };
    let (mut losses, mut dlogits) = (nn.zeros(n, 1).expect("losses"), nn.zeros(n, c).expect("dlogits"));
    nn.softmax_cross_entropy(&nn.tensor(n, c, &logits).expect("logits"), &targets, &mut losses, &mut dlogits)
        .expect("ce");
    assert_gradient("dlogits", &nn.read(&dlogits).expect("read"), &numeric_gradient(&logits, mean_loss));
}

#[test]
fn softmax_cross_entropy_is_stable_and_exact_on_a_known_case() {
    let nn = cpu();
    // Logits (0, ln 3) give probabilities (1/4, 3/4); huge logits must not overflow.
    let logits = nn.tensor(2, 2, &[0.0, 3f32.ln(), 1000.0, 1000.0 + 3f32.ln()]).expect("logits");
    let (mut losses, mut dlogits) = (nn.zeros(2, 1).expect("losses"), nn.zeros(2, 2).expect("dlogits"));
    nn.softmax_cross_entropy(&logits, &nn.ids(&[1, 0]).expect("ids"), &mut losses, &mut dlogits).expect("ce");
    let losses = nn.read(&losses).expect("read");
    let expected = [-(0.75f32).ln(), -(0.25f32).ln()];
    for (l, e) in losses.iter().zip(expected) {
        assert!((l - e).abs() < 1e-4, "loss {l}, expected {e}");
    }
    let dlogits = nn.read(&dlogits).expect("read");
    for (g, e) in dlogits.iter().zip([0.125, -0.125, -0.375, 0.375]) {
        assert!((g - e).abs() < 1e-4, "dlogit {g}, expected {e}");
    }
    let mut probs = nn.zeros(2, 2).expect("probs");
    nn.softmax(&logits, &mut probs).expect("softmax");
    for (p, e) in nn.read(&probs).expect("read").iter().zip([0.25, 0.75, 0.25, 0.75]) {
        assert!((p - e).abs() < 1e-5, "probability {p}, expected {e}");
    }
}

#[test]
fn adamw_matches_a_hand_computed_two_step_example() {
    let nn = cpu();
    let hp = AdamW { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 };
    let mut p = nn.tensor(1, 3, &[1.0, -2.0, 0.5]).expect("param");
    let (mut m, mut v) = (nn.zeros(1, 3).expect("m"), nn.zeros(1, 3).expect("v"));
    // Step 1: bias correction turns m/√v into sign(g), so each weight moves
    // by lr after decaying by 1 - lr·wd = 0.999; a zero gradient only decays.
    nn.adamw(&mut p, &nn.tensor(1, 3, &[0.5, -0.1, 0.0]).expect("g"), &mut m, &mut v, &hp, 1).expect("step 1");
    // |got − expected| ≤ relative·|expected| (+1e-12 for zeros).
    let close = |got: Vec<f32>, expected: [f64; 3], relative: f64| {
        for (g, e) in got.iter().zip(expected) {
            assert!((f64::from(*g) - e).abs() <= relative * e.abs() + 1e-12, "got {got:?}, expected {expected:?}");
        }
    };
    // (f32 rounding: 1 - 0.999 is 0.0009999871 in f32, 1.3e-5 off, hence
    // the relative tolerances.)
    close(nn.read(&p).expect("read"), [0.899, -1.898, 0.4995], 1e-6);
    close(nn.read(&m).expect("read"), [0.05, -0.01, 0.0], 1e-6);
    close(nn.read(&v).expect("read"), [0.00025, 0.00001, 0.0], 3e-5);
    // Step 2, by hand (f64): m = 0.9·m + 0.1·g, v = 0.999·v + 0.001·g²,
    // p = 0.999·p − 0.1·(m/0.19)/(√(v/0.001999) + 1e-8).
    nn.adamw(&mut p, &nn.tensor(1, 3, &[0.2, 0.3, -1.0]).expect("g"), &mut m, &mut v, &hp, 2).expect("step 2");
    close(nn.read(&p).expect("read"), [0.808_243_483_9, -1.945_520_991_1, 0.573_414_181_3], 1e-6);
    close(nn.read(&m).expect("read"), [0.065, 0.021, -0.1], 1e-6);
    close(nn.read(&v).expect("read"), [0.000_289_75, 0.000_099_99, 0.001], 3e-5);
    assert!(matches!(
        nn.adamw(&mut p, &nn.zeros(1, 3).expect("g"), &mut m, &mut v, &hp, 0),
        Err(KernelError::Invalid { op: "adamw", .. })
    ));
}

fn assert_shape_error(result: Result<(), KernelError>, op: &str) {
    match result {
        Err(KernelError::Shape { op: got, detail }) => {
            assert_eq!(got, op, "{detail}");
            assert!(!detail.is_empty());
        }
        other => panic!("{op}: expected a shape error, got {other:?}"),
    }
}

#[test]
fn shape_mismatches_are_errors_naming_the_op() {
    let nn = cpu();
    let z = |r, c| nn.zeros(r, c).expect("zeros");
    let (x, w, b) = (z(2, 3), z(3, 4), z(1, 4));
    assert_shape_error(nn.dense_forward(&x, &z(4, 3), &b, Activation::Relu, &mut z(2, 4)), "dense_forward");
    assert_shape_error(nn.dense_forward(&x, &w, &z(1, 3), Activation::Relu, &mut z(2, 4)), "dense_forward");
    assert_shape_error(nn.dense_forward(&x, &w, &b, Activation::Relu, &mut z(4, 2)), "dense_forward");
    let y = z(2, 4);
    let backward = |dy: &mut Tensor, dx: Option<&mut Tensor>, dw: &mut Tensor, db: &mut Tensor| {
        nn.dense_backward(&x, &w, &y, Activation::Identity, dy, dx, dw, db)
    };
    assert_shape_error(backward(&mut z(2, 3), None, &mut z(3, 4), &mut z(1, 4)), "dense_backward");
    assert_shape_error(backward(&mut z(2, 4), Some(&mut z(3, 2)), &mut z(3, 4), &mut z(1, 4)), "dense_backward");
    assert_shape_error(backward(&mut z(2, 4), None, &mut z(4, 3), &mut z(1, 4)), "dense_backward");
    assert_shape_error(backward(&mut z(2, 4), None, &mut z(3, 4), &mut z(4, 1)), "dense_backward");
    let bags = nn.bags(&[0, 1, 2], &[0, 2, 3], 3).expect("bags");
    assert_shape_error(nn.embedding_bag_forward(&z(2, 5), &bags, &mut z(2, 5)), "embedding_bag_forward");
    assert_shape_error(nn.embedding_bag_forward(&z(3, 5), &bags, &mut z(3, 5)), "embedding_bag_forward");
    assert_shape_error(nn.embedding_bag_backward(&z(2, 4), &bags, &mut z(3, 5)), "embedding_bag_backward");
    let targets = nn.ids(&[0, 1]).expect("ids");
    assert_shape_error(
        nn.softmax_cross_entropy(&z(3, 4), &targets, &mut z(3, 1), &mut z(3, 4)),
        "softmax_cross_entropy",
    );
    assert_shape_error(
        nn.softmax_cross_entropy(&z(2, 4), &targets, &mut z(1, 2), &mut z(2, 4)),
        "softmax_cross_entropy",
    );
    assert_shape_error(
        nn.softmax_cross_entropy(&z(2, 4), &targets, &mut z(2, 1), &mut z(2, 3)),
        "softmax_cross_entropy",
    );
    assert_shape_error(nn.softmax(&z(2, 4), &mut z(4, 2)), "softmax");
    let hp = AdamW::default();
    assert_shape_error(nn.adamw(&mut z(2, 4), &z(4, 2), &mut z(2, 4), &mut z(2, 4), &hp, 1), "adamw");
    assert_shape_error(nn.adamw(&mut z(2, 4), &z(2, 4), &mut z(2, 4), &mut z(1, 8), &hp, 1), "adamw");
    assert_shape_error(nn.tensor(2, 2, &[1.0; 3]).map(drop), "tensor");
    assert_shape_error(nn.write(&mut z(2, 2), &[1.0; 5]), "write");
    assert_shape_error(z(2, 6).reshape(5, 2).map(drop), "reshape");
}

#[test]
fn reshape_keeps_the_data() {
    let nn = cpu();
    let t = nn.tensor(4, 3, &(0..12).map(|i| i as f32).collect::<Vec<_>>()).expect("tensor");
    let r = t.reshape(2, 6).expect("reshape");
    assert_eq!((r.rows(), r.cols(), r.len(), r.is_empty()), (2, 6, 12, false));
    assert_eq!(nn.read(&r).expect("read"), (0..12).map(|i| i as f32).collect::<Vec<_>>());
    assert!(nn.zeros(0, 5).expect("zeros").reshape(5, 0).expect("reshape").is_empty());
}

#[test]
fn bad_bags_and_targets_are_errors() {
    let nn = cpu();
    assert!(matches!(nn.bags(&[0, 3], &[0, 2], 3), Err(KernelError::Invalid { op: "bags", .. })));
    assert_shape_error(nn.bags(&[0, 1], &[0, 1], 3).map(drop), "bags");
    assert_shape_error(nn.bags(&[0, 1], &[1, 2], 3).map(drop), "bags");
    assert_shape_error(nn.bags(&[0, 1], &[0, 2, 1, 2], 3).map(drop), "bags");
    assert_shape_error(nn.bags(&[], &[], 3).map(drop), "bags");
    let empty = nn.bags(&[], &[0], 3).expect("no bags");
    assert!(empty.is_empty());
    let (mut losses, mut dlogits) = (nn.zeros(2, 1).expect("losses"), nn.zeros(2, 3).expect("dlogits"));
    let result = nn.softmax_cross_entropy(
        &nn.zeros(2, 3).expect("logits"),
        &nn.ids(&[1, 3]).expect("ids"),
        &mut losses,
        &mut dlogits,
    );
    assert!(matches!(result, Err(KernelError::Invalid { op: "softmax_cross_entropy", .. })), "{result:?}");
}

#[test]
fn handles_can_be_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Nn>();
    send_sync::<Tensor>();
    send_sync::<Ids>();
    send_sync::<Bags>();
}
