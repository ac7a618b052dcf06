//! The names plain enums go by on the wire, on the command line and in the database,
//! written once per enum: `wire_names!` makes its `ALL`, `as_str` and `Display`, and with a
//! description its `FromStr`, whose error lists the names.

/// `wire_names!(Type, "what it is" { Variant => "name", … })`; leave out `"what it is"`
/// for an enum that is not parsed strictly.
macro_rules! wire_names {
    ($ty:ident $(, $what:literal)? { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every variant, in declaration order.
            pub const ALL: [$ty; [$($name),+].len()] = [$($ty::$variant),+];

            /// The name on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        $(
            impl std::str::FromStr for $ty {
                type Err = String;
                fn from_str(s: &str) -> Result<Self, Self::Err> {
                    $crate::wire_names::parse_name(&$ty::ALL, $ty::as_str, $what, s)
                }
            }
        )?
    };
}
pub(crate) use wire_names;

/// The value of `all` named `name`; the error names `what` was asked for and the names allowed.
pub(crate) fn parse_name<T: Copy>(
    all: &[T],
    as_str: fn(T) -> &'static str,
    what: &str,
    name: &str,
) -> Result<T, String> {
    all.iter()
        .copied()
        .find(|v| as_str(*v) == name)
        .ok_or_else(|| {
            let allowed: Vec<_> = all.iter().map(|v| as_str(*v)).collect();
            format!("unknown {what} {name:?}; allowed: {}", allowed.join(", "))
        })
}
