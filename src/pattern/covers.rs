//! Implication between patterns: "every event `required` matches is matched by `existing`"
//! (spec §12.2), and equivalence as implication both ways.
//!
//! Owns `Coverage`, `Equivalence`, `Relation` and the DNF procedure. The procedure is sound but
//! incomplete: `Covers` is only returned when every disjunct of `required` is implied, atom by
//! atom, by some disjunct of `existing` (or cannot match at all); `NotCovered` is only returned
//! with a synthesised witness event that the evaluator confirms (`required` matches it and
//! `existing` does not); everything else is `Unknown` with a reason. No CloudTrail domain
//! axioms (§12.3) are used, so an extra `eventSource` guard makes a filter "not covering" even
//! though real CloudTrail never emits that name from another source.
//!
//! The work is bounded: only `required` is expanded (at most [`DNF_CAP`] disjuncts), `existing`
//! is evaluated as a formula on each disjunct, and every step is counted against
//! [`WORK_BUDGET`], past which the answer is `Unknown`. Counting steps rather than time keeps
//! answers identical on every machine and under any load.

use std::collections::HashMap;

use serde_json::{Map, Value as Json};

use super::ast::*;
use super::eval::{cmp_json, num_holds, Event, FieldNum};
use super::Pattern;

/// Cap on DNF expansion (§12.2 step 1); beyond it the answer is `Unknown`.
pub const DNF_CAP: usize = 4096;

/// How much work one [`covers`] call may do, in steps (see [`covers_with_budget`]); beyond it
/// the answer is `Unknown`. Counted, not timed, so answers are the same on every machine.
///
/// Deciding coverage is quadratic in the number of DNF disjuncts, and a 500-character pattern
/// can expand to thousands of them: without a bound, two odd filters kept `cwfix plan` busy
/// for minutes. Every CIS and Security Hub pattern against any other needs a few thousand
/// steps at most; two 4096-disjunct patterns can need hundreds of millions.
pub const WORK_BUDGET: u64 = 2_000_000;

/// The answer to "does `existing` cover `required`?".
#[derive(Debug, Clone, PartialEq)]
pub enum Coverage {
    /// Proven: every event `required` matches, `existing` matches too.
    Covers,
    /// Disproven: `witness` is an event `required` matches and `existing` does not (checked
    /// with the evaluator before being reported).
    NotCovered { reason: String, witness: Option<Json> },
    /// Neither proven nor disproven.
    Unknown { reason: String },
}

impl Coverage {
    /// True only for a proven `Covers`.
    pub fn is_covered(&self) -> bool {
        matches!(self, Coverage::Covers)
    }

    /// `covers`, `not_covered` or `unknown` (the JSON spelling).
    pub fn label(&self) -> &'static str {
        match self {
            Coverage::Covers => "covers",
            Coverage::NotCovered { .. } => "not_covered",
            Coverage::Unknown { .. } => "unknown",
        }
    }

    /// The reason, if any.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Coverage::Covers => None,
            Coverage::NotCovered { reason, .. } | Coverage::Unknown { reason } => Some(reason),
        }
    }

    /// The witness event, if any.
    pub fn witness(&self) -> Option<&Json> {
        match self {
            Coverage::NotCovered { witness, .. } => witness.as_ref(),
            _ => None,
        }
    }
}

/// Both directions of coverage between `a` and `b`.
#[derive(Debug, Clone, PartialEq)]
pub struct Equivalence {
    pub a_covers_b: Coverage,
    pub b_covers_a: Coverage,
}

/// The relation summarised from an `Equivalence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Equivalent,
    ACoversB,
    BCoversA,
    Neither,
    Unknown,
}

impl Relation {
    /// `equivalent`, `a_covers_b`, `b_covers_a`, `neither`, `unknown`.
    pub fn label(self) -> &'static str {
        match self {
            Relation::Equivalent => "equivalent",
            Relation::ACoversB => "a_covers_b",
            Relation::BCoversA => "b_covers_a",
            Relation::Neither => "neither",
            Relation::Unknown => "unknown",
        }
    }
}

impl Equivalence {
    /// Summarise; anything not fully decided is `Unknown`.
    pub fn relation(&self) -> Relation {
        use Coverage::*;
        match (&self.a_covers_b, &self.b_covers_a) {
            (Covers, Covers) => Relation::Equivalent,
            (Covers, NotCovered { .. }) => Relation::ACoversB,
            (NotCovered { .. }, Covers) => Relation::BCoversA,
            (NotCovered { .. }, NotCovered { .. }) => Relation::Neither,
            _ => Relation::Unknown,
        }
    }

    /// True only when both directions are proven.
    pub fn is_equivalent(&self) -> bool {
        self.relation() == Relation::Equivalent
    }
}

/// Does `existing` match every event that `required` matches? (Work bounded by [`WORK_BUDGET`].)
pub fn covers(existing: &Pattern, required: &Pattern) -> Coverage {
    covers_with_budget(existing, required, WORK_BUDGET)
}

/// [`covers`], each answer worked out once per process.
///
/// `covers` is a pure function of the two patterns' text, and a plan asks the same question
/// many times: per control, per filter, and in an organization per account, whose filters come
/// from the same code. Profiling 100 accounts x 4 regions put a quarter of the plan's CPU here.
/// Keyed by source text, so two spellings of one pattern are two entries, never a wrong answer.
pub fn covers_remembered(existing: &Pattern, required: &Pattern) -> Coverage {
    type Memo = std::collections::HashMap<(String, String), Coverage>;
    static MEMO: std::sync::OnceLock<std::sync::Mutex<Memo>> = std::sync::OnceLock::new();
    // Bounded so that a long-lived process fed endless distinct patterns cannot grow without end.
    const MAX_ENTRIES: usize = 65_536;
    let memo = MEMO.get_or_init(Default::default);
    let key = (existing.source().to_string(), required.source().to_string());
    if let Some(c) = memo.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return c.clone();
    }
    let c = covers(existing, required);
    let mut m = memo.lock().unwrap_or_else(|e| e.into_inner());
    if m.len() >= MAX_ENTRIES {
        m.clear();
    }
    m.insert(key, c.clone());
    c
}

/// [`covers`] with an explicit work budget.
///
/// A step is one unit of the procedure's inner loops: one atom-against-atom implication test,
/// one 64-atom word of a set operation, one node of the covering pattern's formula evaluated
/// on a disjunct; each candidate witness event built and evaluated costs 40 steps per atom
/// and node involved. When the steps needed exceed `budget` the answer is `Unknown`, with a
/// reason that says so and how large both patterns expand.
pub fn covers_with_budget(existing: &Pattern, required: &Pattern, budget: u64) -> Coverage {
    if existing.body == required.body {
        return Coverage::Covers;
    }
    if let Body::Terms(t) = &existing.body {
        if t.required.is_empty() && t.excluded.is_empty() && t.optional.is_empty() {
            return Coverage::Covers; // the empty pattern matches every event
        }
    }
    match (&existing.body, &required.body) {
        (Body::Json(_), Body::Json(_)) => covers_json(existing, required, budget),
        (Body::Terms(e), Body::Terms(r)) => covers_terms(existing, required, e, r),
        (Body::Sd(_), Body::Sd(_)) => Coverage::Unknown {
            reason: "space-delimited patterns are only compared for identical canonical forms".into(),
        },
        _ => Coverage::Unknown {
            reason: format!(
                "a {} pattern and a {} pattern are not compared (their events are read differently)",
                existing.kind().as_str(),
                required.kind().as_str()
            ),
        },
    }
}

/// `covers` both ways.
pub fn equivalent(a: &Pattern, b: &Pattern) -> Equivalence {
    equivalent_with_budget(a, b, WORK_BUDGET)
}

/// [`equivalent`] with an explicit work budget for each direction.
pub fn equivalent_with_budget(a: &Pattern, b: &Pattern, budget: u64) -> Equivalence {
    Equivalence { a_covers_b: covers_with_budget(a, b, budget), b_covers_a: covers_with_budget(b, a, budget) }
}

// ---------------------------------------------------------------------------------------- DNF

/// A JSON pattern prepared for `covers`: each distinct condition once (`atoms`, in order of
/// first appearance), the expression over their indices, and its DNF when that is at most
/// [`DNF_CAP`] disjuncts. Interning makes a disjunct a few integers and lets `covers` test each
/// pair of distinct atoms once instead of once per pair of disjuncts.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    atoms: Vec<Cond>,
    expr: Expr<u32>,
    /// Nodes of `expr`: the cost of evaluating it once.
    nodes: usize,
    /// Number of DNF disjuncts (saturating).
    disjuncts: u128,
    /// The DNF, each disjunct in the order its atoms appear; `None` beyond `DNF_CAP`.
    dnf: Option<Vec<Vec<u32>>>,
}

/// Number of DNF disjuncts of `e` (saturating), computed without expanding.
fn dnf_len<A>(e: &Expr<A>) -> u128 {
    match e {
        Expr::Atom(_) => 1,
        Expr::Or(c) => c.iter().fold(0u128, |n, c| n.saturating_add(dnf_len(c))),
        Expr::And(c) => c.iter().fold(1u128, |n, c| n.saturating_mul(dnf_len(c))),
    }
}

pub(crate) fn prepare(e: &Expr<Cond>) -> Prepared {
    let mut atoms = Vec::new();
    let mut index = HashMap::new();
    let expr = intern(e, &mut atoms, &mut index);
    let disjuncts = dnf_len(&expr);
    let dnf = (disjuncts <= DNF_CAP as u128).then(|| expand(&expr, atoms.len()));
    Prepared { atoms, nodes: count_nodes(&expr), expr, disjuncts, dnf }
}

fn intern(e: &Expr<Cond>, atoms: &mut Vec<Cond>, index: &mut HashMap<String, u32>) -> Expr<u32> {
    match e {
        Expr::Atom(c) => {
            // The canonical spelling identifies an atom (it is how `canon` de-duplicates).
            let i = *index.entry(c.to_string()).or_insert_with(|| {
                atoms.push(c.clone());
                (atoms.len() - 1) as u32
            });
            Expr::Atom(i)
        }
        Expr::And(c) => Expr::And(c.iter().map(|c| intern(c, atoms, index)).collect()),
        Expr::Or(c) => Expr::Or(c.iter().map(|c| intern(c, atoms, index)).collect()),
    }
}

fn count_nodes<A>(e: &Expr<A>) -> usize {
    match e {
        Expr::Atom(_) => 1,
        Expr::And(c) | Expr::Or(c) => 1 + c.iter().map(count_nodes).sum::<usize>(),
    }
}

/// The DNF proper (§12.2 step 1), over `n_atoms` interned atoms. Intermediate products never
/// exceed the final count (every expression has at least one disjunct), which `prepare`
/// checked against the cap.
fn expand(e: &Expr<u32>, n_atoms: usize) -> Vec<Vec<u32>> {
    match e {
        Expr::Atom(i) => vec![vec![*i]],
        Expr::Or(children) => children.iter().flat_map(|c| expand(c, n_atoms)).collect(),
        Expr::And(children) => {
            let mut acc: Vec<Vec<u32>> = vec![Vec::new()];
            for c in children {
                let d = expand(c, n_atoms);
                let mut next = Vec::with_capacity(acc.len() * d.len());
                for a in &acc {
                    // Membership as bits: a disjunct may hold every atom of the pattern.
                    let present = bits_of(n_atoms, a.iter().map(|&i| i as usize));
                    for b in &d {
                        let mut conj = a.clone();
                        let mut added = present.clone();
                        for &atom in b {
                            let (w, bit) = (atom as usize / 64, 1u64 << (atom % 64));
                            if added[w] & bit == 0 {
                                added[w] |= bit;
                                conj.push(atom);
                            }
                        }
                        next.push(conj);
                    }
                }
                acc = next;
            }
            acc
        }
    }
}

/// Does the monotone formula `e` hold when exactly the atoms in `set` are true? That is the
/// case exactly when some DNF disjunct of `e` lies within `set`, so the covering pattern never
/// needs expanding: one walk of its tree replaces a scan of its (possibly thousands of)
/// disjuncts.
fn holds_within(e: &Expr<u32>, set: &[u64]) -> bool {
    match e {
        Expr::Atom(i) => set[*i as usize / 64] >> (*i % 64) & 1 == 1,
        Expr::And(c) => c.iter().all(|c| holds_within(c, set)),
        Expr::Or(c) => c.iter().any(|c| holds_within(c, set)),
    }
}

/// One disjunct with its atoms resolved.
type Conj<'a> = Vec<&'a Cond>;

fn conj_text(c: &[&Cond]) -> String {
    c.iter().map(|a| format!("({a})")).collect::<Vec<_>>().join(" && ")
}

// ---------------------------------------------------------------------------------------- atoms

/// Language inclusion of wildcard strings: every text `p` matches, `q` matches.
fn str_subset(p: &StrPat, q: &StrPat) -> bool {
    use StrPat::*;
    match (p, q) {
        (_, Any) => true,
        (Exact(l), q) => q.matches(l),
        (Prefix(a), Prefix(b)) => a.starts_with(b.as_str()),
        (Suffix(a), Suffix(b)) => a.ends_with(b.as_str()),
        (Prefix(a) | Suffix(a) | Contains(a), Contains(b)) => a.contains(b.as_str()),
        _ => false,
    }
}

/// No text matches both `p` and `q` (only the cases that are easy to decide).
fn str_disjoint(p: &StrPat, q: &StrPat) -> bool {
    use StrPat::*;
    match (p, q) {
        (Exact(l), q) | (q, Exact(l)) => !q.matches(l),
        (Prefix(a), Prefix(b)) => !a.starts_with(b.as_str()) && !b.starts_with(a.as_str()),
        (Suffix(a), Suffix(b)) => !a.ends_with(b.as_str()) && !b.ends_with(a.as_str()),
        _ => false,
    }
}

/// `p ⊢ q` for atoms on the same selector (§12.2 step 4). Each rule holds node by node, so it
/// is also sound for existential (wildcard) selectors.
fn implies(p: &Cond, q: &Cond) -> bool {
    if p.sel != q.sel {
        return false;
    }
    if p == q {
        return true;
    }
    use CmpOp::*;
    match (&p.test, &q.test) {
        // Anything that needs a scalar node implies `= *` (existence of a scalar); IS NULL and
        // NOT EXISTS do not.
        (Test::Cmp(..) | Test::IsTrue | Test::IsFalse, Test::Cmp(Eq, Value::Str(StrPat::Any))) => true,
        (Test::Cmp(Eq, Value::Str(a)), Test::Cmp(Eq, Value::Str(b))) => str_subset(a, b),
        // `=` guarantees a present scalar, which `!=` needs.
        (Test::Cmp(Eq, Value::Str(a)), Test::Cmp(Ne, Value::Str(b))) => str_disjoint(a, b),
        (Test::Cmp(Ne, Value::Str(a)), Test::Cmp(Ne, Value::Str(b))) => str_subset(b, a),
        // `= number` ⊢ relational would assume `=` only holds on numbers ([U] §11.1).
        (Test::Cmp(po, Value::Num(a)), Test::Cmp(qo, Value::Num(b))) => num_implies(*po, a, *qo, b),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------- numbers
//
// The evaluator's number rule (`eval::FieldNum`) splits the values a field can hold into two
// kinds that compare differently: integer texts compare exactly with integer literals (and,
// rounded to f64, with other literals), every other number compares as f64. Both kinds occur
// in real events, so `x po a ⊢ x qo b` must hold for each. Each relation with a fixed literal
// is monotone in the field's value, so the premise's satisfying values form an up-set (`>`,
// `>=`) or a down-set (`<`, `<=`): the implication holds exactly when the premise's extreme
// value (its least or greatest member) satisfies the conclusion. Comparing the literals' f64
// values instead (as this code once did) calls `> 9007199254740993` and `> 9007199254740992`
// equivalent, though `{"n":9007199254740993}` tells them apart.

/// `x po a ⊢ x qo b` for every number the evaluator may find in `x`.
fn num_implies(po: CmpOp, a: &Number, qo: CmpOp, b: &Number) -> bool {
    match (upward(po), upward(qo)) {
        (Some(p), Some(q)) if p == q => {}
        // `=`/`!=`, or opposite directions: no claim.
        _ => return false,
    }
    let float_ok = float_extreme(po, a).is_some_and(|x| num_holds(FieldNum::Float(x), qo, b));
    let int_ok = int_extreme(po, a).is_some_and(|n| num_holds(FieldNum::Int(n), qo, b));
    float_ok && int_ok
}

/// `Some(true)` for `>`/`>=`, `Some(false)` for `<`/`<=`.
fn upward(op: CmpOp) -> Option<bool> {
    match op {
        CmpOp::Gt | CmpOp::Ge => Some(true),
        CmpOp::Lt | CmpOp::Le => Some(false),
        CmpOp::Eq | CmpOp::Ne => None,
    }
}

/// The least (`>`, `>=`) or greatest (`<`, `<=`) f64 field value `x` with `x op lit`; `None`
/// when there is none (e.g. `> +inf`, from a literal too large for f64).
fn float_extreme(op: CmpOp, lit: &Number) -> Option<f64> {
    let v = lit.value;
    let x = match op {
        CmpOp::Gt => v.next_up(),
        CmpOp::Lt => v.next_down(),
        _ => v,
    };
    num_holds(FieldNum::Float(x), op, lit).then_some(x)
}

/// The least (`>`, `>=`) or greatest (`<`, `<=`) integer field value `n` with `n op lit`;
/// `None` when there is none or it lies beyond ±2^126 (then no claim is made).
fn int_extreme(op: CmpOp, lit: &Number) -> Option<i128> {
    use CmpOp::*;
    if let Some(i) = lit.as_int() {
        // Exact comparison: the extreme is the literal or its neighbour.
        return match op {
            Gt => i.checked_add(1),
            Lt => i.checked_sub(1),
            _ => Some(i),
        };
    }
    // A fraction or exponent literal: the field is rounded to f64 first. Bracket the extreme
    // between an integer known to fail and one known to hold, then bisect (rounding is
    // monotone, so the satisfying integers are contiguous). Near 2^53 and beyond, several
    // integers round to the same f64, hence the search rather than a formula.
    let v = lit.value;
    let holds = |n: i128| num_holds(FieldNum::Int(n), op, lit);
    let int = |x: f64| (x.is_finite() && x.abs() < 2f64.powi(126)).then_some(x as i128);
    let (fail, hold) = match op {
        // round(floor(v)) <= v fails `> v`; round(ceil(next_up(v))) >= next_up(v) > v holds.
        Gt => (int(v.floor())?, int(v.next_up().ceil())?),
        Ge => (int(v.next_down().floor())?, int(v.ceil())?),
        Lt => (int(v.ceil())?, int(v.next_down().floor())?),
        Le => (int(v.next_up().ceil())?, int(v.floor())?),
        Eq | Ne => return None,
    };
    // Trust the brackets only once the evaluator confirms them.
    if holds(fail) || !holds(hold) {
        return None;
    }
    let (mut fail, mut hold) = (fail, hold);
    while fail.abs_diff(hold) > 1 {
        let mid = fail + (hold - fail) / 2;
        if holds(mid) {
            hold = mid;
        } else {
            fail = mid;
        }
    }
    Some(hold)
}

/// Two atoms that no single node satisfies together (§12.2 step 2). Only selectors without
/// wildcards are considered: they select at most one node, so two atoms on them talk about the
/// same value.
fn clash(p: &Cond, q: &Cond) -> bool {
    if p.sel.has_wildcard() || q.sel != p.sel {
        return false;
    }
    let one_way = |x: &Test, y: &Test| match (x, y) {
        (Test::NotExists, Test::NotExists) => false,
        (Test::NotExists, _) => true,
        (Test::IsNull, Test::IsNull) => false,
        (Test::IsNull, _) => true,
        (Test::IsTrue, Test::IsFalse) => true,
        (Test::Cmp(CmpOp::Eq, Value::Str(a)), Test::Cmp(CmpOp::Eq, Value::Str(b))) => str_disjoint(a, b),
        (Test::Cmp(CmpOp::Eq, Value::Str(a)), Test::Cmp(CmpOp::Ne, Value::Str(b))) => str_subset(a, b),
        _ => false,
    };
    one_way(&p.test, &q.test) || one_way(&q.test, &p.test)
}

// ---------------------------------------------------------------------------------------- work budget

/// Steps left; running out aborts the comparison (see [`covers_with_budget`]).
struct Work {
    left: u64,
}

/// The budget ran out.
struct Exhausted;

impl Work {
    fn spend(&mut self, steps: usize) -> Result<(), Exhausted> {
        let steps = u64::try_from(steps).unwrap_or(u64::MAX);
        match self.left.checked_sub(steps) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(Exhausted),
        }
    }
}

/// A set of atom indices, 64 to a word.
type Bits = Vec<u64>;

fn bits_of(n_atoms: usize, members: impl IntoIterator<Item = usize>) -> Bits {
    let mut b = vec![0u64; n_atoms.div_ceil(64)];
    for i in members {
        b[i / 64] |= 1 << (i % 64);
    }
    b
}

// ---------------------------------------------------------------------------------------- JSON coverage

fn covers_json(existing: &Pattern, required: &Pattern, budget: u64) -> Coverage {
    let (Some(a), Some(b)) = (existing.prepared(), required.prepared()) else {
        return Coverage::Unknown { reason: "not JSON patterns".into() };
    };
    let Some(b_dnf) = &b.dnf else {
        return Coverage::Unknown {
            reason: format!(
                "the disjunctive normal form of the covered pattern has {} disjuncts, more than the {DNF_CAP} cwfix expands",
                b.disjuncts
            ),
        };
    };
    let mut work = Work { left: budget };
    match decide(a, b, b_dnf, existing, required, &mut work) {
        Ok(c) => c,
        Err(Exhausted) => Coverage::Unknown {
            reason: format!(
                "comparing them needs more than {budget} steps, the work budget (the covering pattern has {} \
                 conditions in {} disjuncts, the covered one {} in {})",
                a.atoms.len(),
                a.disjuncts,
                b.atoms.len(),
                b.disjuncts
            ),
        },
    }
}

/// §12.2 steps 2–5: every satisfiable disjunct of `b` must be implied, atom by atom, by some
/// disjunct of `a`; a disjunct that is not gets a witness search. The atoms of `a` implied by
/// some atom of a disjunct form a set, and some disjunct of `a` lies within it exactly when
/// `a`'s formula holds on it ([`holds_within`]): linear in the size of `a`, not in its DNF.
fn decide(
    a: &Prepared,
    b: &Prepared,
    b_dnf: &[Vec<u32>],
    existing: &Pattern,
    required: &Pattern,
    work: &mut Work,
) -> Result<Coverage, Exhausted> {
    let (na, nb) = (a.atoms.len(), b.atoms.len());
    let (wa, wb) = (na.div_ceil(64), nb.div_ceil(64));
    work.spend(nb * (na + nb))?;
    // Row i of `implied`: the atoms of `a` that atom i of `b` implies. Row i of `clashes`: the
    // atoms of `b` no node can satisfy together with atom i. Flat, one allocation each.
    let mut implied = vec![0u64; nb * wa];
    let mut clashes = vec![0u64; nb * wb];
    for (i, p) in b.atoms.iter().enumerate() {
        for (j, q) in a.atoms.iter().enumerate() {
            if implies(p, q) {
                implied[i * wa + j / 64] |= 1 << (j % 64);
            }
        }
        for (j, q) in b.atoms.iter().enumerate().skip(i + 1) {
            if clash(p, q) {
                clashes[i * wb + j / 64] |= 1 << (j % 64);
                clashes[j * wb + i / 64] |= 1 << (i % 64);
            }
        }
    }
    let resolve = |bd: &[u32]| -> Conj<'_> { bd.iter().map(|&i| &b.atoms[i as usize]).collect() };
    let mut falsify: Option<Vec<&Selector>> = None;
    let far = literal_bound(a.atoms.iter().chain(&b.atoms));
    // Steps per candidate event: building it and evaluating both patterns on it.
    let per_event = |bd: &[u32]| WITNESS_COST * (bd.len() + a.nodes + b.nodes);
    let mut first_uncovered: Option<&[u32]> = None;
    let (mut members, mut reach) = (vec![0u64; wb], vec![0u64; wa]);
    for bd in b_dnf {
        work.spend(bd.len() * (wa + wb) + a.nodes)?;
        if bd.len() > 1 {
            members.fill(0);
            for &i in bd {
                members[i as usize / 64] |= 1 << (i % 64);
            }
            let row = |i: u32| &clashes[i as usize * wb..][..wb];
            if bd.iter().any(|&i| row(i).iter().zip(&members).any(|(x, y)| x & y != 0)) {
                continue; // cannot match: vacuously covered
            }
        }
        reach.fill(0);
        for &i in bd {
            for (r, x) in reach.iter_mut().zip(&implied[i as usize * wa..][..wa]) {
                *r |= x;
            }
        }
        if holds_within(&a.expr, &reach) {
            continue;
        }
        // Not implied: look for an event that tells the patterns apart. Disjuncts are tried in
        // order and the first witness wins, as if all uncovered disjuncts were listed first.
        first_uncovered.get_or_insert(bd);
        let falsify = falsify.get_or_insert_with(|| falsified_selectors(a));
        let conj = resolve(bd);
        if let Some(w) = find_witness(&conj, falsify, far, existing, required, work, per_event(bd))? {
            return Ok(Coverage::NotCovered {
                reason: format!("the case `{}` implies no disjunct of the covering pattern", conj_text(&conj)),
                witness: Some(w),
            });
        }
    }
    Ok(match first_uncovered {
        None => Coverage::Covers,
        Some(bd) => Coverage::Unknown {
            reason: format!(
                "cannot prove that `{}` is covered, and no counterexample event was found",
                conj_text(&resolve(bd))
            ),
        },
    })
}

/// Steps charged per atom of the disjunct and per node of either pattern for each candidate
/// witness event: building it and evaluating both patterns on it costs far more than a word
/// operation of the implication test (measured: about the same time per step).
const WITNESS_COST: usize = 40;

/// Selectors the covering pattern requires absent (`NOT EXISTS`, no wildcard), which witness
/// candidates may fill in to falsify it; in order of first appearance in its DNF (in the
/// expression when the DNF was not expanded).
fn falsified_selectors(a: &Prepared) -> Vec<&Selector> {
    let order: Vec<u32> = match &a.dnf {
        Some(d) => d.iter().flatten().copied().collect(),
        None => (0..a.atoms.len() as u32).collect(),
    };
    let mut seen = vec![false; a.atoms.len()];
    let mut out = Vec::new();
    for i in order {
        let c = &a.atoms[i as usize];
        if !std::mem::replace(&mut seen[i as usize], true) && matches!(c.test, Test::NotExists) && !c.sel.has_wildcard()
        {
            out.push(&c.sel);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------- witnesses

const FILLER: &str = "cwfix-witness";

fn num_json(x: f64) -> Json {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        Json::from(x as i64)
    } else {
        serde_json::Number::from_f64(x).map(Json::Number).unwrap_or(Json::Null)
    }
}

/// An integer as a JSON number when serde_json can hold it exactly, else as a numeric string
/// (which the evaluator also compares as a number, [U] §11.1).
fn int_json(i: i128) -> Json {
    if let Ok(x) = i64::try_from(i) {
        Json::from(x)
    } else if let Ok(x) = u64::try_from(i) {
        Json::from(x)
    } else {
        Json::from(i.to_string())
    }
}

/// Candidate node values that may satisfy `t`.
fn candidates(t: &Test, out: &mut Vec<Json>) {
    use CmpOp::*;
    match t {
        Test::IsNull => out.push(Json::Null),
        Test::IsTrue => out.push(Json::Bool(true)),
        Test::IsFalse => out.push(Json::Bool(false)),
        Test::NotExists => {}
        Test::Cmp(Eq, Value::Str(p)) => match p {
            StrPat::Exact(s) => out.push(Json::from(s.as_str())),
            StrPat::Prefix(s) => out.extend([Json::from(s.as_str()), Json::from(format!("{s}Cwfix"))]),
            StrPat::Suffix(s) => out.extend([Json::from(s.as_str()), Json::from(format!("Cwfix{s}"))]),
            StrPat::Contains(s) => out.extend([Json::from(s.as_str()), Json::from(format!("Cwfix{s}Cwfix"))]),
            StrPat::Any => out.push(Json::from(FILLER)),
        },
        Test::Cmp(Ne, Value::Str(_) | Value::Re(_)) => out.extend([Json::from(FILLER), Json::from("cwfix-witness-2")]),
        Test::Cmp(Eq, Value::Re(r)) => {
            // Only regexes that are a plain word (possibly anchored) are easy to satisfy.
            let core = r.src.trim_start_matches('^').trim_end_matches('$');
            if !core.is_empty() && core.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                out.push(Json::from(core));
            }
        }
        Test::Cmp(op, Value::Num(n)) => {
            let v = n.value;
            if let Some(up) = upward(*op) {
                // The boundary values first, as an integer and as an f64 (`eval::FieldNum`):
                // they separate literals that differ only past 2^53 or by their spelling.
                if let Some(i) = int_extreme(*op, n) {
                    out.push(int_json(i));
                    if let Some(j) = if up { i.checked_add(1) } else { i.checked_sub(1) } {
                        out.push(int_json(j));
                    }
                }
                out.extend(float_extreme(*op, n).and_then(serde_json::Number::from_f64).map(Json::Number));
            }
            match op {
                Eq => out.push(serde_json::from_str(&n.text).unwrap_or_else(|_| num_json(v))),
                Ne => match n.as_int().and_then(|i| Some((i.checked_add(1)?, i.checked_sub(1)?))) {
                    Some((above, below)) => out.extend([int_json(above), int_json(below)]),
                    None => out.extend([num_json(v + 1.0), num_json(v - 1.0)]),
                },
                Gt => out.extend([num_json(v + 1.0), num_json(v + 0.5)]),
                Ge => out.extend([num_json(v), num_json(v + 1.0)]),
                Lt => out.extend([num_json(v - 1.0), num_json(v - 0.5)]),
                Le => out.extend([num_json(v), num_json(v - 1.0)]),
            }
        }
        // Relational operators with a string or regex do not parse.
        Test::Cmp(_, Value::Str(_) | Value::Re(_)) => {}
    }
}

fn test_node(t: &Test, n: &Json) -> bool {
    match t {
        Test::IsNull => n.is_null(),
        Test::IsTrue => n == &Json::Bool(true),
        Test::IsFalse => n == &Json::Bool(false),
        Test::NotExists => false,
        Test::Cmp(op, v) => cmp_json(n, *op, v),
    }
}

/// Set `value` at the path of `sel` in `doc`, creating objects/arrays; `false` on a conflict.
fn set_path(doc: &mut Json, segs: &[Seg], value: Json) -> bool {
    let Some((seg, rest)) = segs.split_first() else {
        if doc.is_null() {
            *doc = value;
            return true;
        }
        return false;
    };
    let key = match seg {
        Seg::Name(n) => Some(n.clone()),
        Seg::AnyField => Some("cwfix".to_string()),
        Seg::Index(_) | Seg::AnyIndex => None,
    };
    match key {
        Some(k) => {
            if doc.is_null() {
                *doc = Json::Object(Map::new());
            }
            let Json::Object(m) = doc else { return false };
            let child = m.entry(k).or_insert(Json::Null);
            set_path(child, rest, value)
        }
        None => {
            let idx = match seg {
                Seg::Index(i) if *i < 64 => *i,
                Seg::Index(_) => return false,
                _ => 0,
            };
            if doc.is_null() {
                *doc = Json::Array(Vec::new());
            }
            let Json::Array(a) = doc else { return false };
            while a.len() <= idx {
                a.push(Json::Null);
            }
            set_path(&mut a[idx], rest, value)
        }
    }
}

/// Build an event from disjunct `b` (§12.2 step 5) and keep it only if the evaluator agrees
/// that `required` matches it and `existing` does not. Each selector gets the candidate values
/// that satisfy all its tests, and a few picks are tried: the first and the last candidate
/// (with and without a value for the selectors the existing pattern requires to be absent),
/// then a number far beyond every literal, then each further candidate in turn.
fn find_witness(
    b: &[&Cond],
    falsify: &[&Selector],
    far: f64,
    existing: &Pattern,
    required: &Pattern,
    work: &mut Work,
    per_event: usize,
) -> Result<Option<Json>, Exhausted> {
    let mut groups: Vec<(&Selector, Vec<&Test>)> = Vec::new();
    for c in b {
        match groups.iter_mut().find(|(s, _)| *s == &c.sel) {
            Some((_, tests)) => tests.push(&c.test),
            None => groups.push((&c.sel, vec![&c.test])),
        }
    }
    // (selector, satisfying candidates, satisfying far value)
    let mut choices: Vec<(&Selector, Vec<Json>, Option<Json>)> = Vec::new();
    for (sel, tests) in &groups {
        if tests.iter().any(|t| matches!(t, Test::NotExists)) {
            continue; // leave absent; a clash with other tests is caught by verification
        }
        let fits = |v: &Json| tests.iter().all(|t| test_node(t, v));
        let mut cands = Vec::new();
        tests.iter().for_each(|t| candidates(t, &mut cands));
        let sat: Vec<Json> = cands.into_iter().filter(fits).collect();
        if sat.is_empty() {
            return Ok(None);
        }
        let mut far_cands = Vec::new();
        tests.iter().for_each(|t| far_candidates(t, far, &mut far_cands));
        choices.push((sel, sat, far_cands.into_iter().find(fits)));
    }
    let deepest = choices.iter().map(|c| c.1.len()).max().unwrap_or(1);
    let mut picks = vec![(Pick::First, false), (Pick::Last, false), (Pick::First, true), (Pick::Last, true)];
    for pick in std::iter::once(Pick::Far).chain((1..deepest.min(MAX_NTH)).map(Pick::Nth)) {
        picks.extend([(pick, false), (pick, true)]);
    }
    let mut tried: Vec<Json> = Vec::new();
    'picks: for (pick, fill) in picks {
        let mut doc = Json::Object(Map::new());
        for (sel, sat, far_value) in &choices {
            let v = match pick {
                Pick::First => &sat[0],
                Pick::Last => &sat[sat.len() - 1],
                Pick::Far => far_value.as_ref().unwrap_or(&sat[0]),
                Pick::Nth(n) => &sat[n.min(sat.len() - 1)],
            };
            if !set_path(&mut doc, &sel.segs, v.clone()) {
                continue 'picks;
            }
        }
        if fill {
            for sel in falsify {
                if !groups.iter().any(|(s, _)| s == sel) {
                    // Ignore conflicts: the verification below decides.
                    let _ = set_path(&mut doc, &sel.segs, Json::from(FILLER));
                }
            }
        }
        if tried.contains(&doc) {
            continue;
        }
        work.spend(per_event)?;
        if verify(&doc, existing, required) {
            return Ok(Some(doc));
        }
        tried.push(doc);
    }
    Ok(None)
}

/// Which satisfying candidate `find_witness` takes for every selector.
#[derive(Clone, Copy)]
enum Pick {
    First,
    Last,
    /// A number far beyond the literals (see `far_candidates`), else the first.
    Far,
    /// The n-th (clamped to the last).
    Nth(usize),
}

/// The candidate lists are short; picks beyond this add nothing.
const MAX_NTH: usize = 8;

/// For `>`/`>=` (`<`/`<=`) a value beyond every number literal of both patterns (`far` is
/// their largest magnitude): it tells `> 5` from a covering pattern that bounds the other
/// side, such as `< 9007199254740991`, where the boundary values do not.
fn far_candidates(t: &Test, far: f64, out: &mut Vec<Json>) {
    if let Test::Cmp(op, Value::Num(_)) = t {
        if let Some(up) = upward(*op) {
            let far = far * 2.0 + 1e6;
            out.push(num_json(if up { far } else { -far }));
        }
    }
}

/// The largest finite magnitude of a number literal among `atoms` (0 without any).
fn literal_bound<'a>(atoms: impl IntoIterator<Item = &'a Cond>) -> f64 {
    atoms
        .into_iter()
        .filter_map(|c| match &c.test {
            Test::Cmp(_, Value::Num(n)) if n.value.is_finite() => Some(n.value.abs()),
            _ => None,
        })
        .fold(0.0, f64::max)
}

fn verify(doc: &Json, existing: &Pattern, required: &Pattern) -> bool {
    let ev = Event::from_value(doc.clone());
    required.matches(&ev) && !existing.matches(&ev)
}

// ---------------------------------------------------------------------------------------- terms

/// Terms outside the documented contract (unquoted punctuation, [U] §11.10) are only compared
/// for identity.
fn in_contract(t: &Term) -> bool {
    match t {
        Term::Text { text, quoted } => *quoted || is_plain_term(text),
        Term::Regex(_) => true,
    }
}

/// Every text containing `p` contains `q`.
fn term_implies(p: &Term, q: &Term) -> bool {
    if p == q {
        return true;
    }
    match (p, q) {
        (Term::Text { text: a, .. }, Term::Text { text: b, .. }) => {
            in_contract(p) && in_contract(q) && a.contains(b.as_str())
        }
        _ => false,
    }
}

fn covers_terms(existing: &Pattern, required: &Pattern, e: &TermPattern, r: &TermPattern) -> Coverage {
    // The events of `r` as a union of (must contain, must not contain) sets.
    let disjuncts: Vec<(Vec<&Term>, Vec<&Term>)> = if !r.required.is_empty() || !r.excluded.is_empty() {
        vec![(r.required.iter().collect(), r.excluded.iter().collect())]
    } else if !r.optional.is_empty() {
        r.optional.iter().map(|t| (vec![t], Vec::new())).collect()
    } else {
        vec![(Vec::new(), Vec::new())]
    };
    let and_mode = !e.required.is_empty() || !e.excluded.is_empty();
    for (req, exc) in &disjuncts {
        let ok = if and_mode {
            e.required.iter().all(|q| req.iter().any(|p| term_implies(p, q)))
                // `x` absent is guaranteed when some excluded `y` occurs in every text with `x`.
                && e.excluded.iter().all(|x| exc.iter().any(|y| term_implies(x, y)))
        } else {
            e.optional.iter().any(|q| req.iter().any(|p| term_implies(p, q)))
        };
        if ok {
            continue;
        }
        let shown: Vec<String> = req.iter().map(|t| t.to_string()).collect();
        let texts: Option<Vec<&str>> = req
            .iter()
            .map(|t| match t {
                Term::Text { text, .. } => Some(text.as_str()),
                Term::Regex(_) => None,
            })
            .collect();
        if let Some(texts) = texts {
            let mut m = Map::new();
            m.insert("message".into(), Json::from(texts.join(" ")));
            let doc = Json::Object(m);
            if verify(&doc, existing, required) {
                return Coverage::NotCovered {
                    reason: format!(
                        "events containing {} match the required pattern but not the existing one",
                        if shown.is_empty() { "anything".to_string() } else { shown.join(" and ") }
                    ),
                    witness: Some(doc),
                };
            }
        }
        return Coverage::Unknown {
            reason: "cannot prove that the term pattern is covered, and no counterexample was found".into(),
        };
    }
    Coverage::Covers
}
