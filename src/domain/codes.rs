//! Enums with stable text codes: the one place that decides how a domain enum is written in a
//! database row or a log leaf. A code never changes once released (rows hold it).

/// Declares an enum whose variants each have a text code, with `ALL`, `code()` and `from_code()`
/// (an exhaustive match one way, a search of `ALL` the other, so no inverse table is kept by hand).
macro_rules! coded_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable text code.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            /// The value with text code `code`.
            pub fn from_code(code: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.code() == code)
            }
        }
    };
}

pub(crate) use coded_enum;

/// Space-separated codes of `values`.
pub fn join<T: Copy>(
    values: impl IntoIterator<Item = T>,
    code: impl Fn(T) -> &'static str,
) -> String {
    values.into_iter().map(code).collect::<Vec<_>>().join(" ")
}

/// The values of space-separated `codes`; `None` if one is unknown.
pub fn split<T>(codes: &str, from_code: impl Fn(&str) -> Option<T>) -> Option<Vec<T>> {
    codes.split_whitespace().map(from_code).collect()
}
