//! [`Keyword`]: the one way calinvite writes a fieldless enum as a word and
//! reads it back — in reports, logs, CSV exports, store columns and (with the
//! `serde` feature) serialized state, which all use the same lower-case,
//! hyphenated names.

/// A fieldless enum written as a stable keyword (`hard-bounced`,
/// `accepted-or-tentative`, `needs-action` …).
///
/// The names never change once released: stores keep them in columns and
/// serialized rows, so a renamed keyword would make existing data
/// unreadable. Every value has exactly one keyword, and
/// [`from_keyword`](Keyword::from_keyword) reads back exactly what
/// [`keyword`](Keyword::keyword) writes (and nothing else: no case folding,
/// no aliases).
///
/// ```
/// use calinvite_core::Keyword;
/// use calinvite_core::lifecycle::DeliveryState;
///
/// assert_eq!(DeliveryState::HardBounced.keyword(), "hard-bounced");
/// assert_eq!(DeliveryState::from_keyword("hard-bounced"), Some(DeliveryState::HardBounced));
/// assert_eq!(DeliveryState::from_keyword("Hard-Bounced"), None);
/// for state in DeliveryState::ALL {
///     assert_eq!(DeliveryState::from_keyword(state.keyword()), Some(*state));
/// }
/// ```
pub trait Keyword: Copy + Sized + 'static {
    /// Every value, in declaration order.
    const ALL: &'static [Self];

    /// The value's keyword.
    fn keyword(self) -> &'static str;

    /// The value a keyword names, if any (exact match).
    fn from_keyword(keyword: &str) -> Option<Self>;
}

/// Implements [`Keyword`] for a fieldless enum from one table, so the two
/// directions (and `ALL`) cannot drift apart; the `match` in `keyword` makes
/// a new variant without a keyword a compile error.
macro_rules! keywords {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $crate::keyword::Keyword for $ty {
            const ALL: &'static [Self] = &[$($ty::$variant),+];

            fn keyword(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }

            fn from_keyword(keyword: &str) -> Option<Self> {
                match keyword {
                    $($name => Some($ty::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

pub(crate) use keywords;
