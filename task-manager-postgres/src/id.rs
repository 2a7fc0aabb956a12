//! Task ids as PostgreSQL `uuid`s: the 128 bits of a [`TaskId`], sent and read in binary.

use std::error::Error;

use bytes::BytesMut;
use task_manager_core::TaskId;
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};

/// A [`TaskId`] as a statement parameter or a column value of type `uuid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PgId(pub(crate) TaskId);

impl ToSql for PgId {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        // A uuid's binary form is its 16 bytes, most significant first.
        out.extend_from_slice(&self.0.as_u128().to_be_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::UUID
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for PgId {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        let bytes: [u8; 16] = raw
            .try_into()
            .map_err(|_| format!("a uuid is 16 bytes, this one {}", raw.len()))?;
        Ok(PgId(TaskId::from_u128(u128::from_be_bytes(bytes))))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::UUID
    }
}
