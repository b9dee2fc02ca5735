//! `ToSql`/`FromSql` for values stored as text (feature `postgres`): the
//! one definition, used here for [`crate::Size`] and [`crate::ImageFormat`]
//! and by `avatar-adapters` for its own domain types.

#[doc(hidden)]
pub use {bytes, postgres_types};

use crate::variant::{ImageFormat, Size};

/// The boxed error `FromSql` returns.
pub type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// Implements `ToSql` and `FromSql` for `$ty`, stored as text: written with
/// its `as_str()`, read through `$parse`, a `fn(&str) -> Result<$ty,
/// BoxError>`, so a stored value that does not parse is an error.
#[macro_export]
macro_rules! text_column {
    ($ty:ty, $parse:expr) => {
        impl $crate::sql::postgres_types::ToSql for $ty {
            fn to_sql(
                &self,
                ty: &$crate::sql::postgres_types::Type,
                out: &mut $crate::sql::bytes::BytesMut,
            ) -> Result<$crate::sql::postgres_types::IsNull, $crate::sql::BoxError> {
                $crate::sql::postgres_types::ToSql::to_sql(&self.as_str(), ty, out)
            }

            fn accepts(ty: &$crate::sql::postgres_types::Type) -> bool {
                <&str as $crate::sql::postgres_types::ToSql>::accepts(ty)
            }

            $crate::sql::postgres_types::to_sql_checked!();
        }

        impl<'a> $crate::sql::postgres_types::FromSql<'a> for $ty {
            fn from_sql(
                ty: &$crate::sql::postgres_types::Type,
                raw: &'a [u8],
            ) -> Result<Self, $crate::sql::BoxError> {
                let parse: fn(&str) -> Result<$ty, $crate::sql::BoxError> = $parse;
                parse(<&str as $crate::sql::postgres_types::FromSql>::from_sql(
                    ty, raw,
                )?)
            }

            fn accepts(ty: &$crate::sql::postgres_types::Type) -> bool {
                <&str as $crate::sql::postgres_types::FromSql>::accepts(ty)
            }
        }
    };
}

text_column!(ImageFormat, |text| ImageFormat::parse(text)
    .ok_or_else(|| format!("unknown image format {text:?}").into()));
text_column!(Size, |text| Size::parse(text)
    .ok_or_else(|| format!("unknown size {text:?}").into()));
