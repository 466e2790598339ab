//! Column arithmetic: where an addition carries and where a subtraction borrows.
//!
//! Problem classes ("carries into the hundreds column", "borrows across a
//! zero") and the teacher's systematic mistakes are both defined on the
//! columns of written, schoolbook arithmetic; this module is that analysis.
//! Columns are numbered from the units: 0 = units, 1 = tens, 2 = hundreds.

/// The columns into which the written addition `a + b` carries (a carry out
/// of column `i` arrives in column `i + 1`), lowest first. Negative operands
/// have no schoolbook columns: they give no carries.
pub fn carry_columns(a: i64, b: i64) -> Vec<u32> {
    let mut columns = Vec::new();
    if a < 0 || b < 0 {
        return columns;
    }
    let (mut a, mut b, mut carry, mut column) = (a, b, 0, 0);
    while a > 0 || b > 0 {
        carry = i64::from(a % 10 + b % 10 + carry >= 10);
        column += 1;
        if carry == 1 {
            columns.push(column);
        }
        a /= 10;
        b /= 10;
    }
    columns
}

/// One borrow of the written subtraction `a - b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Borrow {
    /// The column that needs the borrow (its digit of `a` is too small).
    pub column: u32,
    /// Whether this column's digit of `a` is a 0 that itself had to lend:
    /// the borrow passes "across a zero", the classic place to slip.
    pub across_zero: bool,
}

/// The borrows of the written subtraction `a - b`, lowest column first.
/// Empty unless `0 <= b <= a`.
pub fn borrows(a: i64, b: i64) -> Vec<Borrow> {
    let mut out = Vec::new();
    if b < 0 || a < b {
        return out;
    }
    let (mut a, mut b, mut borrow_in, mut column) = (a, b, false, 0);
    while a > 0 || b > 0 {
        let digit = a % 10 - i64::from(borrow_in);
        let needs = digit < b % 10;
        if needs {
            out.push(Borrow { column, across_zero: borrow_in && a % 10 == 0 });
        }
        borrow_in = needs;
        a /= 10;
        b /= 10;
        column += 1;
    }
    out
}

/// The number of decimal digits of `n` (1 for 0; the sign is ignored).
pub fn digit_count(n: i64) -> u32 {
    n.unsigned_abs().checked_ilog10().map_or(1, |l| l + 1)
}

/// `10^column`, saturating.
pub fn place_value(column: u32) -> i64 {
    10i64.saturating_pow(column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_are_found_by_column() {
        assert_eq!(carry_columns(12, 34), Vec::<u32>::new());
        assert_eq!(carry_columns(19, 1), vec![1]);
        assert_eq!(carry_columns(950, 50), vec![2, 3]);
        assert_eq!(carry_columns(455, 39), vec![1]);
        assert_eq!(carry_columns(999, 1), vec![1, 2, 3]);
        assert_eq!(carry_columns(-5, 9), Vec::<u32>::new());
    }

    #[test]
    fn borrows_are_found_and_zeros_flagged() {
        assert_eq!(borrows(57, 23), vec![]);
        assert_eq!(borrows(52, 27), vec![Borrow { column: 0, across_zero: false }]);
        assert_eq!(
            borrows(1003, 7),
            vec![
                Borrow { column: 0, across_zero: false },
                Borrow { column: 1, across_zero: true },
                Borrow { column: 2, across_zero: true },
            ]
        );
        assert_eq!(
            borrows(405, 7),
            vec![Borrow { column: 0, across_zero: false }, Borrow { column: 1, across_zero: true }]
        );
        // A zero that does not have to lend is not "across a zero".
        assert_eq!(borrows(1050, 7), vec![Borrow { column: 0, across_zero: false }]);
        assert_eq!(borrows(5, 7), vec![]);
    }

    #[test]
    fn digit_counts_and_place_values() {
        assert_eq!(digit_count(0), 1);
        assert_eq!(digit_count(9), 1);
        assert_eq!(digit_count(10), 2);
        assert_eq!(digit_count(-1234), 4);
        assert_eq!(place_value(3), 1000);
        assert_eq!(place_value(40), i64::MAX);
    }
}
